"""MIDI <-> piano-roll frames: the grid, and round trips (frames -> MIDI -> frames equal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("symusic")
pytest.importorskip("scipy")
import symusic

from saurus.errors import DataError
from saurus.music import frames as fr
from saurus.music.frames import frames_score, midi_frames, score_frames, write_frames_midi
from saurus.music.jsb import load_jsb
from saurus.music.tokens import notes_of


def score_of(notes: list[tuple[int, int, int]], tpq: int = 96, drums: tuple = ()) -> symusic.Score:
    """A Score of (onset tick, duration ticks, pitch) notes, plus drum notes."""
    score = symusic.Score(tpq)
    for is_drum, rows in ((False, notes), (True, drums)):
        track = symusic.Track(name="t", program=0, is_drum=is_drum)
        for on, length, pitch in rows:
            track.notes.append(symusic.Note(on, length, pitch, 80))
        score.tracks.append(track)
    return score


def test_every_jsb_test_chorale_survives_a_midi_file(data_dir: Path, tmp_path: Path) -> None:
    pieces = load_jsb(data_dir / "JSB_Chorales.mat")["test"]
    for i, piece in enumerate(pieces):
        path = tmp_path / f"{i}.mid"
        assert write_frames_midi(piece, path) > 0
        assert np.array_equal(midi_frames(path), piece), i


@pytest.mark.parametrize("step", [1.0, 0.5, 1 / 3, 0.25, 2.0])
def test_random_frames_round_trip_on_any_grid(step: float) -> None:
    rng = np.random.default_rng(int(step * 12))
    x = rng.random((40, 88)) < 0.1
    x[-1, 60] = True  # a piece ends with its last note
    back = score_frames(symusic.Score.from_midi(frames_score(x, step=step).dumps_midi()), step=step)
    assert np.array_equal(back, x)


def test_notes_land_on_the_nearest_frame() -> None:
    c4, e4 = 60 - 21, 64 - 21
    score = score_of(
        [(10, 190, 60), (150, 20, 64), (300, 96, 64)],  # (0.10..2.08), a grace note (1.56..1.77), (3.1..4.1)
        drums=[(0, 960, 36)],
    )
    x = score_frames(score)
    assert x.shape == (4, 88) and x.sum() == 4
    assert x[:2, c4].all() and x[2, e4] and x[3, e4]
    halves = score_frames(score, step=0.5)
    assert halves.shape == (8, 88) and np.flatnonzero(halves[:, c4]).tolist() == [0, 1, 2, 3]


def test_the_tempo_does_not_move_the_grid() -> None:
    score = score_of([(0, 96, 60), (96, 192, 67)])
    slow = score.copy()
    slow.tempos.append(symusic.Tempo(time=0, qpm=40.0))
    assert np.array_equal(score_frames(slow), score_frames(score))


def test_midi_on_the_grid_comes_back_note_for_note(tmp_path: Path) -> None:
    notes = [(0, 480, 60), (480, 960, 64), (0, 1440, 48), (960, 480, 67)]
    x = score_frames(score_of(notes, tpq=480))
    write_frames_midi(x, tmp_path / "back.mid", tempo=90.0)
    back = symusic.Score.from_midi((tmp_path / "back.mid").read_bytes())
    assert [n[2:] for n in notes_of(back)] == sorted((p, on / 480, d / 480) for on, d, p in notes)
    assert back.tempos[0].qpm == pytest.approx(90.0)


def test_a_note_struck_again_becomes_one_note() -> None:
    x = score_frames(score_of([(0, 96, 60), (96, 96, 60)]))
    assert [n[2:] for n in notes_of(frames_score(x))] == [(60, 0.0, 2.0)]


def test_out_of_range_pitches_warn_and_are_left_out() -> None:
    with pytest.warns(UserWarning, match="1 notes outside the piano's keys"):
        x = score_frames(score_of([(0, 96, 10), (0, 96, 60)]))
    assert x.sum() == 1
    with pytest.raises(DataError, match="no notes on the piano's 88 keys"), pytest.warns(UserWarning):
        score_frames(score_of([(0, 96, 120)]))


def test_what_cannot_be_frames_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="no notes"):
        score_frames(score_of([], drums=[(0, 96, 36)]))
    for step in (0.0, -1.0, float("nan"), 1e-4, 100.0):
        with pytest.raises(DataError, match="out of range"):
            score_frames(score_of([(0, 96, 60)]), step=step)
    with pytest.raises(DataError, match=r"not \(T, 88\)"):
        frames_score(np.zeros((3, 87), bool))
    with pytest.raises(DataError, match="other than 0 and 1"):
        frames_score(np.full((3, 88), 2))
    monkeypatch.setattr(fr, "MAX_FRAMES", 10)
    with pytest.raises(DataError, match="more than 10"):
        score_frames(score_of([(0, 96 * 11, 60)]))
