"""`saurus music …` as a user runs it: train on MIDI, improvise, evaluate; and the splits."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

symusic = pytest.importorskip("symusic")
pytest.importorskip("miditok")
from helpers import assert_one_line_error, saurus  # noqa: E402

from saurus.data.corpus import StreamCorpus  # noqa: E402
from saurus.generation.sampling import Decoding  # noqa: E402
from saurus.generation.scoring import evaluate  # noqa: E402
from saurus.music.pieces import Piece, load_pieces  # noqa: E402
from saurus.music.sample import improvise, load_music_model  # noqa: E402
from saurus.music.token_text import SEPARATOR, TokenTable, hold_out, pieces_text  # noqa: E402
from saurus.music.tokens import encode_midi, read_score, tempo_of  # noqa: E402

MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)


def write_piece(path: Path, key: int, bars: int = 8, tempo: float = 100.0) -> None:
    """Eighth notes up and down a major scale, with a bass note per bar."""
    score = symusic.Score(480)
    melody, bass = symusic.Track(program=0, name="melody"), symusic.Track(program=32, name="bass")
    for i in range(bars * 8):
        step = MAJOR[i % 8] if (i // 8) % 2 == 0 else MAJOR[7 - i % 8]
        melody.notes.append(symusic.Note(time=i * 240, duration=240, pitch=60 + key + step, velocity=80))
    for b in range(bars):
        bass.notes.append(symusic.Note(time=b * 1920, duration=1920, pitch=36 + key, velocity=90))
    score.tracks.extend([melody, bass])
    score.tempos.append(symusic.Tempo(time=0, qpm=tempo))
    score.time_signatures.append(symusic.TimeSignature(time=0, numerator=4, denominator=4))
    score.dump_midi(str(path))


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("songs")
    for key in range(5):
        write_piece(folder / f"scale{key}.mid", key)
    (folder / "notes.txt").write_text("not music")  # ignored: not a MIDI file
    return folder


@pytest.fixture(scope="module")
def model(songs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "songs.saurus"
    result = saurus("music", "train", songs, "-o", out, "--iterations", "150", "--hidden", "64", "-q")
    assert result.returncode == 0, result.stderr
    assert "5 pieces" in result.stderr and "validating on 1 piece" in result.stderr
    return out


def test_hold_out_keeps_whole_pieces_and_is_seeded():
    pieces = [Piece(str(i), ("Bar_None", f"Pitch_{60 + i}"), None) for i in range(10)]
    train, held = hold_out(pieces, 0.2, seed=7)
    assert len(held) == 2 and len(train) == 8
    assert {p.name for p in train} | {p.name for p in held} == {str(i) for i in range(10)}
    assert hold_out(pieces, 0.2, seed=7) == (train, held)
    assert hold_out(pieces, 0.2, seed=8) != (train, held)
    assert hold_out(pieces, 0.0, seed=7) == (pieces, [])


def test_a_single_piece_gives_up_its_last_bars():
    tokens = tuple(t for bar in range(10) for t in ("Bar_None", "Position_0", f"Pitch_{60 + bar}"))
    [head], [tail] = hold_out([Piece("one", tokens, None)], 0.25, seed=0)
    assert head.tokens + tail.tokens == tokens
    assert tail.tokens[0] == "Bar_None"  # cut at a bar line
    assert len(tail.tokens) == 6  # the first bar line at or after token 22 (75% of 30) is token 24


def test_training_on_a_folder_writes_a_music_model(model: Path, songs: Path):
    music = load_music_model(str(model))
    assert music.model.mode == "stream"
    assert set(music.table.tokens) == {t for f in sorted(songs.glob("*.mid")) for t in encode_midi(f)}
    assert music.model.vocab.size == len(music.table.tokens) + 1  # and the piece separator


def test_the_validation_loss_is_that_of_the_held_out_piece(model: Path, songs: Path, tmp_path: Path):
    """eval reports what evaluate() gives on the held-out piece's text, per token and per note."""
    music = load_music_model(str(model))
    pieces = load_pieces(songs)
    _, [held] = hold_out(pieces, 0.1, seed=42)
    expected = evaluate(music.model, StreamCorpus(pieces_text(music.table, [held])))
    result = saurus("music", "eval", model, held.path, "--samples", "2")
    assert result.returncode == 0, result.stderr
    assert f"nll per token  {expected.nats:.4f} nats" in result.stdout
    assert f"nll per note   {expected.total_nats / held.notes:.4f} nats" in result.stdout
    assert "pitch_class_overlap" in result.stdout


def test_the_model_learns_the_scales(model: Path, songs: Path):
    """Trained on four scales, the held-out fifth scores far better than a uniform guess."""
    result = saurus("music", "eval", model, songs / "scale3.mid", "--samples", "1")
    nll = float(result.stdout.split("nll per token")[1].split()[0])
    assert nll < 0.5 * np.log(load_music_model(str(model)).model.vocab.size)


def test_same_seed_same_bytes_and_mido_and_music21_read_it(model: Path, tmp_path: Path):
    a, b, c = tmp_path / "a.mid", tmp_path / "b.mid", tmp_path / "c.mid"
    for out, seed in ((a, "1"), (b, "1"), (c, "2")):
        result = saurus("music", "sample", model, "-o", out, "--seed", seed, "--bars", "4")
        assert result.returncode == 0, result.stderr
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    mido = pytest.importorskip("mido")
    ons = [m for track in mido.MidiFile(a).tracks for m in track if m.type == "note_on" and m.velocity > 0]
    assert ons
    music21 = pytest.importorskip("music21")
    assert len(music21.converter.parse(a).flatten().notes) > 0


def test_bars_and_length_are_honoured(model: Path, tmp_path: Path):
    out = tmp_path / "bars.mid"
    assert saurus("music", "sample", model, "-o", out, "--seed", "3", "--bars", "3").returncode == 0
    score = read_score(out)
    onsets = [n.time for track in score.tracks for n in track.notes]
    assert onsets and max(onsets) < 3 * 4 * score.ticks_per_quarter  # every note starts in the 3 bars
    music = load_music_model(str(model))
    drawn = improvise(music, np.random.default_rng(3), Decoding(), bars=3)
    assert drawn.count("Bar_None") == 3  # the drawing stopped before a fourth bar line
    out = tmp_path / "len.mid"
    result = saurus("music", "sample", model, "-o", out, "--seed", "3", "--length", "40")
    assert result.returncode == 0 and "drew 40 tokens" in result.stderr


def test_a_prime_is_continued_and_tempo_and_wav_are_written(model: Path, songs: Path, tmp_path: Path):
    out, wav = tmp_path / "more.mid", tmp_path / "more.wav"
    prime = songs / "scale1.mid"
    result = saurus(
        "music", "sample", model, "-o", out, "--prime", prime, "--length", "30", "--seed", "0",
        "--tempo", "90", "--wav", wav,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert encode_midi(out)[4:20] == encode_midi(prime)[4:20]  # the opening, after the tempo token
    assert tempo_of(read_score(out)) == pytest.approx(90, abs=0.01)
    with wave.open(str(wav)) as w:
        assert w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2
        assert w.getnframes() / 22050 > 5  # the prime alone is 8 bars at 90 BPM: 21 s
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 0 < np.abs(samples).max() <= 32767


def test_music_mistakes_end_in_one_line_and_touch_nothing(model: Path, songs: Path, tmp_path: Path):
    names = tmp_path / "names.txt"
    names.write_text("anna\nbob\ncleo\n" * 5)
    kept = tmp_path / "kept.mid"
    kept.write_bytes(b"mine")
    text_model = tmp_path / "names.saurus"
    assert saurus("train", names, "-o", text_model, "--iterations", "2", "-q").returncode == 0
    before = {p: p.read_bytes() for p in (kept, model, names, text_model)}
    cases = [
        (("music", "sample", model, "-o", kept), "already exists; pass --overwrite"),
        (("music", "sample", model, "-o", model, "--overwrite"), "is an input"),
        (("music", "sample", text_model, "-o", tmp_path / "x.mid"), "not a music model"),
        (("music", "sample", names, "-o", tmp_path / "x.mid"), "not a saurus model"),
        (("music", "sample", model, "-o", tmp_path / "x.mid", "--bars", "0"), "--bars"),
        (("music", "sample", model, "-o", tmp_path / "x.mid", "--tempo", "9999"), "BPM"),
        (("music", "sample", model, "-o", tmp_path / "x.mid", "--greedy", "--top-k", "3"), "--greedy"),
        (("music", "sample", model, "-o", tmp_path / "x.mid", "--prime", names), "not a MIDI file"),
        (("music", "train", names, "-o", tmp_path / "m.saurus"), "not a MIDI file"),
        (("music", "train", tmp_path / "nowhere", "-o", tmp_path / "m.saurus"), "no such MIDI file"),
        (("music", "train", songs, "-o", tmp_path / "m.saurus", "--model", "classic"), "classic"),
        (("music", "train", songs, "-o", model), "--overwrite"),
        (("music", "train", songs, "-o", tmp_path / "m.saurus", "--bogus"), "saurus music train --help"),
        (("music", "roundtrip", names, "-o", tmp_path / "r.mid"), "not a MIDI file"),
        (("music", "eval", model, names), "not a MIDI file"),
        (("music", "eval", names, songs), "not a saurus model"),
    ]
    for args, fragment in cases:
        assert_one_line_error(saurus(*args), fragment)
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "x.mid").exists() and not (tmp_path / "m.saurus").exists()


def test_roundtrip_command(songs: Path, tmp_path: Path):
    out = tmp_path / "rt.mid"
    result = saurus("music", "roundtrip", songs / "scale0.mid", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "72 notes -> " in result.stderr and "-> 72 notes" in result.stderr
    assert encode_midi(out) == encode_midi(songs / "scale0.mid")


def test_bach_comes_from_music21_and_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("SAURUS_CACHE_DIR", str(tmp_path / "cache"))
    pieces = load_pieces("bach", limit=3)
    assert len(pieces) == 3 and all(p.notes > 50 for p in pieces)
    [cache] = (tmp_path / "cache" / "music").glob("bach-chorales-*.json")
    assert load_pieces("bach", limit=3) == pieces  # from the cache now
    cache.write_text("{damaged")
    assert load_pieces("bach", limit=3) == pieces  # a damaged cache is rebuilt


def test_bach_trains_and_samples_end_to_end(tmp_path: Path):
    """The issue's check, on six chorales and a short budget: a MIDI file with notes."""
    pytest.importorskip("music21")
    env_cache = {"SAURUS_CACHE_DIR": str(tmp_path / "cache")}
    import os

    os.environ.update(env_cache)
    try:
        out = tmp_path / "bach.saurus"
        result = saurus("music", "train", "bach", "--max-pieces", "6", "-o", out, "--time-budget", "8", "-q")
        assert result.returncode == 0, result.stderr
        assert "validating on 1 piece" in result.stderr
        new = tmp_path / "new.mid"
        assert saurus("music", "sample", out, "-o", new, "--seed", "1").returncode == 0
    finally:
        del os.environ["SAURUS_CACHE_DIR"]
    mido = pytest.importorskip("mido")
    assert any(m.type == "note_on" for track in mido.MidiFile(new).tracks for m in track)


def test_separators_split_pieces_in_the_text():
    table = TokenTable(("Bar_None", "Pitch_60"))
    text = pieces_text(table, [Piece("a", ("Bar_None", "Pitch_60"), None), Piece("b", ("Pitch_60",), None)])
    assert text.count(SEPARATOR) == 2
    assert table.tokens_of(text) == ["Bar_None", "Pitch_60", "Pitch_60"]
