"""MIDI <-> piano-roll frames on a grid of `step` quarter notes (one quarter: the chorales).

Frame t covers the beats [t s, (t+1) s), s = step. A note from onset a to end b (in
quarter notes, whatever the tempo) sounds in the frames

    round(a / s) <= t < max(round(b / s), round(a / s) + 1)

(rounded half up: an onset moves by at most s/2, and a note shorter than that still
sounds in one frame). Column j is MIDI pitch 21 + j; drum tracks are left out, and so are
notes outside the piano's 88 keys (with a warning). The way back writes each run of
frames in which a pitch sounds as one note, so frames -> MIDI -> frames is exact up to
silent frames at the end (a piece ends with its last note; the chorales all do); a note
struck again at once (two quarters of one pitch in a row) comes back as one longer note,
as in every piano roll.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from saurus.errors import DataError
from saurus.music.jsb import LOWEST, PITCHES
from saurus.music.tokens import music_packages, read_score, write_score

QUARTER = 1.0  # the chorales' grid, in quarter notes
MAX_FRAMES = 100_000  # per piece: 100,000 quarters is some seven hours at 240 BPM
TICKS_PER_QUARTER = 480  # of the MIDI files written: a step of 1/3 or 1/16 is whole ticks


def score_frames(score: Any, *, step: float = QUARTER) -> np.ndarray:
    """A symusic Score as (T, 88) bool frames of `step` quarter notes."""
    check_step(step)
    tpq = float(score.ticks_per_quarter)
    onsets, ends, pitches = [], [], []
    for track in score.tracks:
        if track.is_drum:
            continue
        notes = track.notes.numpy()
        onsets.append(notes["time"] / tpq)
        ends.append((notes["time"] + notes["duration"].astype(np.int64)) / tpq)
        pitches.append(notes["pitch"].astype(np.int64))
    if not pitches or not sum(len(p) for p in pitches):
        raise DataError("the MIDI file holds no notes (drums aside)")
    a, b, pitch = np.concatenate(onsets), np.concatenate(ends), np.concatenate(pitches)
    inside = (pitch >= LOWEST) & (pitch < LOWEST + PITCHES)
    if not inside.all():
        warnings.warn(
            f"{int((~inside).sum())} notes outside the piano's keys (MIDI {LOWEST}..{LOWEST + PITCHES - 1}) "
            "were left out",
            stacklevel=2,
        )
        if not inside.any():
            raise DataError("the MIDI file holds no notes on the piano's 88 keys")
        a, b, pitch = a[inside], b[inside], pitch[inside]
    first = np.floor(a / step + 0.5).astype(np.int64)
    last = np.maximum(np.floor(b / step + 0.5).astype(np.int64), first + 1)  # one past the end
    frames = int(last.max())
    if frames > MAX_FRAMES:
        raise DataError(f"the piece is {frames:,} frames of {step:g} quarters; more than {MAX_FRAMES:,}")
    roll = np.zeros((frames + 1, PITCHES), np.int32)  # +1 at a note's start, -1 past its end
    np.add.at(roll, (first, pitch - LOWEST), 1)
    np.add.at(roll, (last, pitch - LOWEST), -1)
    return np.cumsum(roll, axis=0)[:frames] > 0


def midi_frames(path: str | Path, *, step: float = QUARTER) -> np.ndarray:
    """A MIDI file as (T, 88) bool frames of `step` quarter notes."""
    return score_frames(read_score(path), step=step)


def frames_score(
    frames: np.ndarray, *, step: float = QUARTER, tempo: float = 100.0, velocity: int = 64
) -> Any:
    """(T, 88) frames as a one-track piano Score: each run of a sounding pitch one note."""
    check_step(step)
    x = checked_frames(frames)
    with music_packages():
        import symusic

    score = symusic.Score(TICKS_PER_QUARTER)
    score.tempos.append(symusic.Tempo(time=0, qpm=float(tempo)))
    track = symusic.Track(name="piano", program=0, is_drum=False)
    edges = np.diff(np.pad(x.astype(np.int8), ((1, 1), (0, 0))), axis=0)  # +1 starts, -1 ends
    starts, ends = np.nonzero(edges.T == 1), np.nonzero(edges.T == -1)  # pitch-major, in time order
    ticks = step * TICKS_PER_QUARTER
    for column, t0, t1 in zip(starts[0], starts[1], ends[1], strict=True):
        on, off = round(t0 * ticks), round(t1 * ticks)
        track.notes.append(symusic.Note(on, off - on, int(column) + LOWEST, velocity))
    track.notes.sort()
    score.tracks.append(track)
    return score


def write_frames_midi(frames: np.ndarray, path: str | Path, **options: Any) -> int:
    """Write frames as a MIDI file (atomically, options as `frames_score`); the notes written."""
    return write_score(frames_score(frames, **options), path)


def check_step(step: float) -> None:
    if not (step * TICKS_PER_QUARTER >= 1 and step <= 64):
        raise DataError(f"a frame of {step!r} quarter notes is out of range (1/{TICKS_PER_QUARTER} to 64)")


def checked_frames(frames: np.ndarray) -> np.ndarray:
    """`frames` as a (T, 88) bool array; anything else is a DataError."""
    x = np.asarray(frames)
    if x.ndim != 2 or x.shape[1] != PITCHES:
        raise DataError(f"frames are {x.shape}, not (T, {PITCHES})")
    if x.dtype != bool and not ((x == 0) | (x == 1)).all():
        raise DataError("frames hold values other than 0 and 1")
    return x.astype(bool)
