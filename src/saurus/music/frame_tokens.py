"""The notes of a frame as tokens: its sounding pitches in ascending order, then FRAME_END.

With P pitches (88: column j is MIDI pitch 21 + j) the ids are p in 0..P-1 and
FRAME_END = P, V = P + 1 of them. A piece of frames x_1..x_T is the id sequence

    y = p_11 < p_12 < ... FRAME_END  p_21 < ... FRAME_END  ...  (an empty frame: FRAME_END alone)

A model reads y_<k and gives logits z_k over the V ids. The grammar allows, after the
previous id y_{k-1} (FRAME_END at the start of a piece),

    allowed[prev, next] = next > prev   if prev is a pitch   (a higher pitch or FRAME_END)
                        = true          if prev = FRAME_END  (any pitch, or an empty frame)

and log_mask = 0 where allowed, -inf elsewhere. Then

    log q_k = log_softmax(z_k + log_mask[y_{k-1}])
    log P(x_t | x_<t) = sum of log q_k(y_k) over the ids of frame t (FRAME_END included)

is a proper distribution over all 2^P frames: each frame is exactly one path of allowed
ids ending in FRAME_END, every path ends within P + 1 ids (after pitch P-1 only FRAME_END
is allowed), and at every step the allowed ids share probability 1.
"""

from __future__ import annotations

import numpy as np

from saurus.errors import DataError
from saurus.music.jsb import PITCHES

FRAME_END = PITCHES  # id 88
VOCAB = PITCHES + 1


def frames_to_ids(frames: np.ndarray) -> np.ndarray:
    """(T, P) bool frames as ids: each frame's pitches ascending, then FRAME_END = P."""
    x = np.asarray(frames, dtype=bool)
    ends = np.ones((x.shape[0], 1), dtype=bool)
    return np.nonzero(np.hstack([x, ends]))[1].astype(np.int64)  # row-major: ascending, end last


def ids_to_frames(ids: np.ndarray, pitches: int = PITCHES) -> np.ndarray:
    """Ids back to (T, P) bool frames; ids the grammar does not allow are a DataError."""
    y = np.asarray(ids, dtype=np.int64)
    end = pitches
    if y.size and (y.min() < 0 or y.max() > end):
        raise DataError(f"frame ids run from 0 to {end}; found {int(y.min())}..{int(y.max())}")
    if y.size and y[-1] != end:
        raise DataError("the ids end inside a frame (the last id is not FRAME_END)")
    wrong = ~allowed_next(pitches)[previous_ids(y, pitches), y]
    if wrong.any():
        k = int(np.argmax(wrong))
        raise DataError(f"id {k} ({int(y[k])}) may not follow {int(y[k - 1])}: pitches go up within a frame")
    is_end = y == end
    frame = np.cumsum(is_end) - is_end  # the frame each id belongs to
    x = np.zeros((int(is_end.sum()), pitches), dtype=bool)
    x[frame[~is_end], y[~is_end]] = True
    return x


def allowed_next(pitches: int = PITCHES) -> np.ndarray:
    """(V, V) bool: allowed[prev, next]; after a pitch only a higher one or FRAME_END."""
    ids = np.arange(pitches + 1)
    return (ids[None, :] > ids[:, None]) | (ids[:, None] == pitches)


def log_mask(pitches: int = PITCHES) -> np.ndarray:
    """(V, V) float: 0 where `allowed_next`, -inf elsewhere; add row y_{k-1} to the logits z_k."""
    return np.where(allowed_next(pitches), 0.0, -np.inf)


def previous_ids(ids: np.ndarray, pitches: int = PITCHES) -> np.ndarray:
    """The id each position is predicted after: FRAME_END at the start of a piece."""
    y = np.asarray(ids, dtype=np.int64)
    return np.concatenate([[pitches], y[:-1]]).astype(np.int64)


def masked_log_softmax(logits: np.ndarray, previous: np.ndarray, pitches: int = PITCHES) -> np.ndarray:
    """log_softmax(z + log_mask[prev]) over the last axis: (..., V) logits, (...) previous ids."""
    z = np.asarray(logits, dtype=np.float64) + log_mask(pitches)[np.asarray(previous)]
    top = z.max(axis=-1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=-1, keepdims=True))


def frame_log_likelihoods(ids: np.ndarray, id_log_probs: np.ndarray, pitches: int = PITCHES) -> np.ndarray:
    """(T,) log P(x_t | x_<t): the log-probabilities of each frame's ids, FRAME_END included."""
    y = np.asarray(ids, dtype=np.int64)
    is_end = y == pitches
    if y.size and not is_end[-1]:
        raise DataError("the ids end inside a frame (the last id is not FRAME_END)")
    frame = np.cumsum(is_end) - is_end
    return np.bincount(frame, weights=np.asarray(id_log_probs, np.float64), minlength=int(is_end.sum()))
