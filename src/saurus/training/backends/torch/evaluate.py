"""Validation loss computed by the torch module itself, equal (to float32 rounding) to what
saurus.generation.scoring gives for the exported NumPy model, without the export.

The same target sequences (names + end token, or the text in segments), each read as
START, t_0, ..., t_{n-2} predicting t_0, ..., t_{n-1}; START reads the end token where the
vocabulary has one, else a zero input embedding. Loss = -sum log p(t_i) over all targets.

Recurrent models run the padded batch through time in chunks, carrying the state.
Transformers reproduce the NumPy generation cache's windows: the first C = context inputs
in one window; after that, with keep = C // 2 and stride S = C - keep, the inputs from r
to r + S - 1 (r = C, C + S, ...) are predicted by a window that starts keep inputs before r
(positions renumbered from 0). All windows of all sequences go through in batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from saurus.data.corpus import Corpus
from saurus.generation.scoring import LossReport, targets_of
from saurus.models.transformer import window_spans
from saurus.protocol import START
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM

TIME_CHUNK = 128  # recurrent: time steps per forward call
WINDOW_BATCH = 64  # transformer: windows per forward call


def inputs_of(targets: np.ndarray) -> np.ndarray:
    """START, t_0, ..., t_{n-2}."""
    return np.concatenate([[START], targets[:-1]]).astype(np.int64)


def embedded_ids(ids: torch.Tensor, start_id: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """ids with START replaced (by the end token, or by 0 with a mask to zero its embedding)."""
    starts = ids == START
    if start_id is not None:
        return torch.where(starts, start_id, ids), None
    return torch.where(starts, 0, ids), starts


@torch.no_grad()
def recurrent_nats(
    module: RecurrentLM,
    sequences: Sequence[np.ndarray],
    start_id: int | None,
    chunks: int | None = None,
    cats: np.ndarray | None = None,
) -> float:
    """The summed loss over the first `chunks` time chunks (None: all); `cats`: each
    sequence's category (a labelled model)."""
    device = next(module.parameters()).device
    cat_ids = None if cats is None else torch.from_numpy(np.asarray(cats, dtype=np.int64)).to(device)
    length = max(len(s) for s in sequences)
    inputs = np.zeros((len(sequences), length), dtype=np.int64)
    targets = np.full((len(sequences), length), -1, dtype=np.int64)
    for row, seq in enumerate(sequences):
        inputs[row, : len(seq)] = inputs_of(seq)
        targets[row, : len(seq)] = seq
    state, total = None, 0.0
    for t in range(0, length, TIME_CHUNK)[:chunks]:
        ids, zero = embedded_ids(torch.from_numpy(inputs[:, t : t + TIME_CHUNK]).to(device), start_id)
        x = module.inputs(ids, cat_ids)
        if zero is not None:
            x = x.masked_fill(zero[..., None], 0.0)
        out, state = module.rnn(x, state)
        total += nll_sum(module.head(out), torch.from_numpy(targets[:, t : t + TIME_CHUNK]).to(device))
    return total


def windows_of(seq: np.ndarray, context: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(inputs, targets, first scored position) for each window the NumPy cache would use."""
    inputs = inputs_of(seq)
    return [(inputs[a:b], seq[a:b], first) for a, b, first in window_spans(len(seq), context)]


@torch.no_grad()
def transformer_nats(
    module: TransformerLM,
    sequences: Sequence[np.ndarray],
    start_id: int | None,
    chunks: int | None = None,
    cats: np.ndarray | None = None,
) -> float:
    """The summed loss over the first `chunks` batches of windows (None: all); `cats`: each
    sequence's category (a labelled model)."""
    device = next(module.parameters()).device
    labels = np.zeros(len(sequences), np.int64) if cats is None else np.asarray(cats, np.int64)
    windows = [
        (*w, k) for seq, k in zip(sequences, labels, strict=True) for w in windows_of(seq, module.context)
    ]
    total = 0.0
    for first in range(0, len(windows), WINDOW_BATCH)[:chunks]:
        group = windows[first : first + WINDOW_BATCH]
        width = max(len(w[0]) for w in group)
        inputs = np.zeros((len(group), width), dtype=np.int64)
        targets = np.full((len(group), width), -1, dtype=np.int64)
        for row, (ins, outs, scored_from, _) in enumerate(group):
            inputs[row, : len(ins)] = ins
            targets[row, scored_from : len(outs)] = outs[scored_from:]
        ids, zero = embedded_ids(torch.from_numpy(inputs).to(device), start_id)
        group_cats = None
        if cats is not None:
            group_cats = torch.tensor([w[3] for w in group], dtype=torch.int64, device=device)
        logits, _ = module(ids, zero_inputs=zero, cats=group_cats)
        total += nll_sum(logits, torch.from_numpy(targets).to(device))
    return total


def nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """-sum log softmax(logits)[target] over the targets that are not -1, in float32."""
    flat = logits.float().reshape(-1, logits.shape[-1])
    return float(F.cross_entropy(flat, targets.reshape(-1), ignore_index=-1, reduction="sum"))


def summed_nats(
    module: torch.nn.Module,
    sequences: Sequence[np.ndarray],
    start_id: int | None,
    chunks: int | None = None,
    cats: np.ndarray | None = None,
) -> float:
    """The summed loss of either kind of module, in eval mode (its mode is restored)."""
    was_training = module.training
    module.eval()
    try:
        if isinstance(module, TransformerLM):
            return transformer_nats(module, sequences, start_id, chunks, cats)
        assert isinstance(module, RecurrentLM)
        return recurrent_nats(module, sequences, start_id, chunks, cats)
    finally:
        module.train(was_training)


def torch_loss(module: torch.nn.Module, model: Any, corpus: Corpus) -> LossReport:
    """The validation loss of `module` on `corpus` (see the module docstring)."""
    sequences = targets_of(model, corpus)
    total = summed_nats(module, sequences, model.vocab.eos_id, cats=labels_of(corpus))
    return LossReport(total, sum(len(s) for s in sequences))


def labels_of(corpus: Corpus) -> np.ndarray | None:
    """Each example's category, for a labelled corpus; else None."""
    labels = getattr(corpus, "labels", None)
    return None if labels is None else np.asarray(labels, dtype=np.int64)


def estimate_torch_seconds(module: torch.nn.Module, model: Any, corpus: Corpus) -> float:
    """How long torch_loss will take: its first chunk, timed, times the number of chunks."""
    sequences = targets_of(model, corpus)
    if isinstance(module, TransformerLM):
        windows = sum(len(windows_of(s, module.context)) for s in sequences)
        chunks = -(-windows // WINDOW_BATCH)
    else:
        chunks = -(-max(len(s) for s in sequences) // TIME_CHUNK)
    start = time.perf_counter()
    summed_nats(module, sequences, model.vocab.eos_id, chunks=1, cats=labels_of(corpus))
    return (time.perf_counter() - start) * chunks
