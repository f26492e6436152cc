"""Exact per-frame log-likelihoods of pieces under a frame-notes model (NumPy engine).

For piece i with ids y_1..y_L (frame t's pitches ascending, then FRAME_END) and inputs
x_k = y_{k-1} (x_1 = FRAME_END):

    log q_k = log_softmax(z_k + log_mask[x_k])
    log P(x_t | x_<t) = sum over the ids k of frame t of log q_k(y_k)

which frame_eval turns into the NLL per frame of a split ("all" frames, or "skip-first").
Pieces are scored in padded batches of near-equal lengths (saurus.music.length_batches);
a padded batch gives each piece what it gets alone, since a row's logits never read
another row and padding comes after its ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saurus.models.recurrent import CharModel
from saurus.music.frame_eval import Convention, nll_per_frame
from saurus.music.frame_model import FrameModel, padded_ids, piece_ids, pitches_of
from saurus.music.frame_tokens import frame_log_likelihoods, masked_log_softmax
from saurus.music.length_batches import by_length

BATCH = 16  # pieces per forward pass


def logits_of(model: FrameModel, inputs: np.ndarray) -> np.ndarray:
    """Logits (L, B, V) of time-major inputs (L, B), every row from the model's start."""
    if isinstance(model, CharModel):
        return model.forward(inputs, model.zero_state(inputs.shape[1]))[0]
    return model.forward(inputs)


def id_log_probs(model: FrameModel, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """log q_k(y_k) for every id of each sequence, (L_i,) float64 each."""
    pitches = pitches_of(model)

    def score(group: list[np.ndarray]) -> list[np.ndarray]:
        inputs, targets, _ = padded_ids(group, pitches)
        logq = masked_log_softmax(logits_of(model, inputs), inputs, pitches)
        picked = np.take_along_axis(logq, targets[..., None], axis=-1)[..., 0]
        return [picked[: len(y), b] for b, y in enumerate(group)]

    return by_length(sequences, BATCH, score)


def piece_log_likelihoods(model: FrameModel, pieces: Sequence[np.ndarray]) -> list[np.ndarray]:
    """(T_i,) log P(x_t | x_<t) for each (T_i, P) piece."""
    sequences = piece_ids(pieces)
    pitches = pitches_of(model)
    return [
        frame_log_likelihoods(y, lq, pitches)
        for y, lq in zip(sequences, id_log_probs(model, sequences), strict=True)
    ]


def frame_nll(model: FrameModel, pieces: Sequence[np.ndarray]) -> dict[Convention, float]:
    """{"all": ..., "skip-first": ...}: the NLL per frame (nats) of the pieces."""
    return nll_per_frame(piece_log_likelihoods(model, pieces))
