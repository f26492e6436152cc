"""The two classic baselines of the polyphonic-music benchmark, fitted on training frames.

Independent notes: every key j on with its training frequency, add-a smoothed
(a = 1/2, Krichevsky-Trofimov; N training frames, c_j of them with key j on):

    p_j = (c_j + a) / (N + 2a)
    log P(x_t) = sum_j x_{t,j} log p_j + (1 - x_{t,j}) log(1 - p_j)

One on/off Markov chain per key: p_j(s) = P(x_{t,j} = 1 | x_{t-1,j} = s) from the training
transitions within each piece (n_j(s) frames with key j in state s followed by another
frame, c_j(s) of those followed by key j on), smoothed the same way:

    p_j(s) = (c_j(s) + a) / (n_j(s) + 2a)
    log P(x_t | x_{t-1}) = sum_j x_{t,j} log p_j(x_{t-1,j}) + (1 - x_{t,j}) log(1 - p_j(x_{t-1,j}))

with x_{-1} the empty frame. Both give per-frame log-likelihoods for saurus.music.frame_eval,
the path a model's scores take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SMOOTHING = 0.5  # a: add-a to every count, 2a to the total


def bernoulli_log(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(T,) sum_j x log p + (1 - x) log(1 - p), p broadcast to x's (T, 88)."""
    return np.where(x, np.log(p), np.log1p(-p)).sum(axis=1)


@dataclass(frozen=True)
class IndependentNotes:
    p: np.ndarray  # (88,) P(key j on)

    @classmethod
    def fit(cls, pieces: Sequence[np.ndarray], smoothing: float = SMOOTHING) -> IndependentNotes:
        x = np.concatenate(pieces).astype(bool)
        return cls((x.sum(axis=0) + smoothing) / (len(x) + 2 * smoothing))

    def log_likelihoods(self, piece: np.ndarray) -> np.ndarray:
        """(T,) log P(x_t) of every frame of the piece."""
        return bernoulli_log(np.asarray(piece, bool), self.p[None, :])


@dataclass(frozen=True)
class NoteMarkov:
    p: np.ndarray  # (2, 88): p[s, j] = P(key j on | key j was s in the frame before)

    @classmethod
    def fit(cls, pieces: Sequence[np.ndarray], smoothing: float = SMOOTHING) -> NoteMarkov:
        before = np.concatenate([p[:-1] for p in pieces]).astype(bool)
        after = np.concatenate([p[1:] for p in pieces]).astype(bool)
        on = np.stack([(~before & after).sum(axis=0), (before & after).sum(axis=0)])
        seen = np.stack([(~before).sum(axis=0), before.sum(axis=0)])
        return cls((on + smoothing) / (seen + 2 * smoothing))

    def log_likelihoods(self, piece: np.ndarray) -> np.ndarray:
        """(T,) log P(x_t | x_{t-1}) of every frame, the first after an empty frame."""
        x = np.asarray(piece, bool)
        before = np.vstack([np.zeros((1, x.shape[1]), bool), x[:-1]])
        return bernoulli_log(x, np.where(before, self.p[1], self.p[0]))
