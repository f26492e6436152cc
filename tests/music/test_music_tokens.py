"""MIDI to tokens and back: the pinned tokenizer, and what a round trip keeps."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("symusic")
pytest.importorskip("miditok")

from saurus.errors import DataError
from saurus.music.tokens import (
    GRID_PER_BEAT,
    decode_tokens,
    encode_midi,
    music_packages,
    notes_of,
    read_score,
    tempo_of,
    tokenizer,
)

METHENY_NOTES = 12_962
HALF_GRID = 0.5 / GRID_PER_BEAT  # beats: the most an onset may move


@pytest.fixture(scope="module")
def metheny(data_dir: Path) -> Path:
    return data_dir / "original_metheny.mid"


def test_the_tokenizer_is_pinned():
    """A different miditok release or configuration would change the tokens of every model."""
    vocab = sorted(tokenizer().vocab)
    assert len(vocab) == 802
    digest = hashlib.sha256("\n".join(vocab).encode()).hexdigest()
    assert digest == "2e350470b6728f927a433c4abe741cf58f3af3af7761cdbe842324d51f6be495"
    assert {"Tempo_112.0", "Pitch_0", "Pitch_127", "Program_-1", "Position_31", "TimeSig_4/4"} <= set(vocab)


def test_metheny_round_trip_keeps_every_note_and_pitch(metheny: Path, tmp_path: Path):
    """All 12,962 notes come back with identical pitches and programs, each onset within
    half a grid step (1/16 beat) of the original, and the tempo (112 BPM) exactly."""
    tokens = encode_midi(metheny)
    out = tmp_path / "rt.mid"
    assert decode_tokens(tokens, out) == METHENY_NOTES
    before, after = notes_of(read_score(metheny)), notes_of(read_score(out))
    assert len(before) == len(after) == METHENY_NOTES

    def voice(row: tuple) -> tuple[int, int]:  # drum kits share one track on the way back
        program, drum, pitch = row[:3]
        return (-1 if drum else program, pitch)

    assert Counter(map(voice, before)) == Counter(map(voice, after))
    worst = 0.0
    for key in set(map(voice, before)):
        a = sorted(r[3] for r in before if voice(r) == key)
        b = sorted(r[3] for r in after if voice(r) == key)
        worst = max(worst, max(abs(x - y) for x, y in zip(a, b, strict=True)))
    assert worst <= HALF_GRID + 1e-9
    assert worst > 0  # the file is unquantised: the grid really moved some onsets
    assert tempo_of(read_score(out)) == pytest.approx(112.0, abs=0.01)
    assert [(ts.numerator, ts.denominator) for ts in read_score(out).time_signatures][:1] == [(4, 4)]


def test_the_round_trip_is_stable(metheny: Path, tmp_path: Path):
    """After one round trip (which merges tracks of one program and so may reorder notes
    that share an onset), decoding and encoding again gives the very same tokens."""
    decode_tokens(encode_midi(metheny), tmp_path / "a.mid")
    once = encode_midi(tmp_path / "a.mid")
    decode_tokens(once, tmp_path / "b.mid")
    assert encode_midi(tmp_path / "b.mid") == once
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()


def test_mido_reads_the_written_file(metheny: Path, tmp_path: Path):
    mido = pytest.importorskip("mido")
    decode_tokens(encode_midi(metheny), tmp_path / "a.mid", tempo=90)
    midi = mido.MidiFile(tmp_path / "a.mid")
    ons = sum(1 for track in midi.tracks for m in track if m.type == "note_on" and m.velocity > 0)
    assert ons == METHENY_NOTES
    tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
    assert tempos and mido.tempo2bpm(tempos[0]) == pytest.approx(90, abs=0.01)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"not midi at all", "not a MIDI file"), (b"MThd\x00\x00\x00\x06\x00", "damaged MIDI file")],
)
def test_files_that_are_not_midi_are_refused(tmp_path: Path, content: bytes, fragment: str):
    path = tmp_path / "x.mid"
    path.write_bytes(content)
    with pytest.raises(DataError, match=fragment):
        encode_midi(path)


def test_a_folder_is_not_a_midi_file(tmp_path: Path):
    with pytest.raises(DataError, match="is a folder"):
        encode_midi(tmp_path)


def test_unknown_tokens_are_refused(tmp_path: Path):
    with pytest.raises(DataError, match="not REMI tokens"):
        decode_tokens(["Bar_None", "Pitch_999"], tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()


def test_a_missing_package_is_one_clear_line():
    with pytest.raises(Exception, match=r"pip install 'saurus\[music\]'"), music_packages():
        raise ModuleNotFoundError("No module named 'symusic'", name="symusic")


def test_a_huge_file_is_refused_before_reading(tmp_path: Path):
    from saurus.music.tokens import MAX_MIDI_BYTES

    path = tmp_path / "huge.mid"
    with path.open("wb") as f:
        f.write(b"MThd")
        f.truncate(MAX_MIDI_BYTES + 1)  # sparse: nothing is really written
    with pytest.raises(DataError, match="is refused"):
        encode_midi(path)
