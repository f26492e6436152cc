"""Negative log-likelihood per frame, as the polyphonic-music papers report it.

Given log l_{i,t} = log P(x_{i,t} | x_{i,<t}) for every frame t = 0..T_i-1 of piece i (frame
0 predicted from an empty frame), the score of a split is summed over all its frames and
divided by their number, so a long piece weighs more (Boulanger-Lewandowski 2012):

    "all"        NLL = - sum_i sum_{t=0}^{T_i-1} log l_{i,t}  /  sum_i T_i
    "skip-first" NLL = - sum_i sum_{t=1}^{T_i-1} log l_{i,t}  /  sum_i (T_i - 1)

"skip-first" is locuslab/TCN's music_test.py (x = seq[:-1], y = seq[1:]: the first frame
is never predicted), the convention of the published JSB figures (11.09 for independent
notes, 10.49 for one on/off Markov chain per note). In a padded (B, W) batch of piece
lengths T_i, the scored positions are the mask

    m_{i,t} = [t < T_i] and (t >= 1 for "skip-first")

and a FrameNLL keeps the sum and the count apart, so batches add up before the one
division: padding never enters the average, whatever it holds (NaN included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from saurus.errors import DataError

Convention = Literal["all", "skip-first"]
CONVENTIONS: tuple[Convention, ...] = ("all", "skip-first")


@dataclass(frozen=True)
class FrameNLL:
    """Nats summed over the scored frames, and their number; add batches, divide once."""

    nats: float = 0.0
    frames: int = 0

    def __add__(self, other: FrameNLL) -> FrameNLL:
        return FrameNLL(self.nats + other.nats, self.frames + other.frames)

    @property
    def per_frame(self) -> float:
        if self.frames == 0:
            raise DataError("no frames to score (every piece has at most the unscored first frame)")
        return self.nats / self.frames


def scored_mask(lengths: np.ndarray, width: int, convention: Convention) -> np.ndarray:
    """(B, width) bool: m_{i,t} = [t < T_i] and, for "skip-first", [t >= 1]."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose {' or '.join(CONVENTIONS)}")
    t = np.arange(width)[None, :]
    lengths = np.asarray(lengths, dtype=np.int64)[:, None]
    if (lengths > width).any() or (lengths < 0).any():
        raise ValueError(f"piece lengths must lie in 0..{width}, the batch's width")
    first = 1 if convention == "skip-first" else 0
    return (t < lengths) & (t >= first)


def padded_nll(log_likelihoods: np.ndarray, lengths: np.ndarray, convention: Convention) -> FrameNLL:
    """The scored frames of a padded (B, W) batch of log l_{i,t}; padding is never read."""
    ll = np.asarray(log_likelihoods, dtype=np.float64)
    mask = scored_mask(lengths, ll.shape[1], convention)
    return FrameNLL(-float(np.where(mask, ll, 0.0).sum()), int(mask.sum()))


def pieces_nll(pieces: Iterable[np.ndarray], convention: Convention) -> FrameNLL:
    """The scored frames of pieces given one (T_i,) array of log l_{i,t} each."""
    total = FrameNLL()
    for ll in pieces:
        ll = np.asarray(ll, dtype=np.float64).reshape(1, -1)
        total = total + padded_nll(ll, np.array([ll.shape[1]]), convention)
    return total


def nll_per_frame(pieces: Sequence[np.ndarray]) -> dict[Convention, float]:
    """{"all": ..., "skip-first": ...}: NLL per frame (nats) of a split under both conventions."""
    return {c: pieces_nll(pieces, c).per_frame for c in CONVENTIONS}


def pad(pieces: Sequence[np.ndarray], fill: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Pieces' (T_i,) arrays as one (B, max T_i) batch filled with `fill`, and the lengths."""
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    out = np.full((len(pieces), int(lengths.max(initial=0))), fill, dtype=np.float64)
    for i, p in enumerate(pieces):
        out[i, : len(p)] = p
    return out, lengths
