"""Training batches for the engine, time-major: inputs, targets (T, B) and a mask.

lines:  each example is "\\n" + name -> name + "\\n" (the end token doubles as the start
        token). Names of similar length share a batch (sorted by length with random ties,
        batches in random order), padded at the end; the mask marks real characters.
stream: truncated BPTT over seq_len chunks. "consecutive": the text is cut into B tracks
        read left to right, so each batch continues the last one and the trainer carries
        the state (without back-propagating into it); "random": B chunks from random
        offsets, each starting from a zero state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from saurus.errors import OptionError

BATCHINGS = ("consecutive", "random")


@dataclass(frozen=True)
class Batch:
    inputs: np.ndarray  # (T, B) int64
    targets: np.ndarray  # (T, B) int64
    mask: np.ndarray | None  # (T, B) 1.0 for real characters; None when all are real
    fresh: bool  # start from a zero state (False: carry the previous batch's final state)

    @property
    def chars(self) -> int:
        return self.targets.size if self.mask is None else int(self.mask.sum())


class LineBatches:
    """Padded, length-grouped batches of names; iterate for one epoch."""

    def __init__(self, names: Sequence[np.ndarray], eos: int, batch_size: int) -> None:
        if not names:
            raise OptionError("there are no training examples")
        self.batch_size = min(batch_size, len(names))
        self.lengths = np.array([len(n) + 1 for n in names])
        width = int(self.lengths.max())
        self.inputs = np.full((len(names), width), eos, dtype=np.int64)
        self.targets = np.full((len(names), width), eos, dtype=np.int64)
        for row, name in enumerate(names):
            self.inputs[row, 1 : len(name) + 1] = name
            self.targets[row, : len(name)] = name
        self.mask = (np.arange(width)[None, :] < self.lengths[:, None]).astype(np.float32)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        order = np.lexsort((rng.random(len(self.lengths)), self.lengths))
        chunks = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for k in rng.permutation(len(chunks)):
            rows = chunks[k]
            T = int(self.lengths[rows].max())
            mask = self.mask[rows, :T].T
            yield Batch(
                self.inputs[rows, :T].T.copy(),
                self.targets[rows, :T].T.copy(),
                None if mask.all() else mask.copy(),
                fresh=True,
            )


class StreamBatches:
    """seq_len chunks of one long text, B at a time; iterate for one epoch."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, batching: str) -> None:
        if batching not in BATCHINGS:
            raise OptionError(f"unknown batching {batching!r}; choose one of: {', '.join(BATCHINGS)}")
        if len(ids) < seq_len + 2:
            raise OptionError(
                f"the training text ({len(ids)} characters) must be longer than --seq-len ({seq_len}) + 1"
            )
        self.ids, self.seq_len, self.batching = ids, seq_len, batching
        # no more tracks than the text can fill with at least one chunk each
        self.batch_size = max(1, min(batch_size, (len(ids) - 1) // seq_len))

    def __len__(self) -> int:
        return max(1, (len(self.ids) - 1) // (self.batch_size * self.seq_len))

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        B, T = self.batch_size, self.seq_len
        if self.batching == "random":
            starts = rng.integers(0, len(self.ids) - T, size=(len(self), B))
            offsets = np.arange(T)[:, None]
            for row in starts:
                pos = row[None, :] + offsets
                yield Batch(self.ids[pos], self.ids[pos + 1], None, fresh=True)
            return
        # a random shift each epoch moves the chunk boundaries
        shift = int(rng.integers(0, T)) if len(self.ids) - 1 >= B * T + T else 0
        per_track = (len(self.ids) - 1 - shift) // B
        span = per_track * B
        inputs = self.ids[shift : shift + span].reshape(B, per_track)
        targets = self.ids[shift + 1 : shift + span + 1].reshape(B, per_track)
        for k, t in enumerate(range(0, per_track - T + 1, T)):
            yield Batch(inputs[:, t : t + T].T.copy(), targets[:, t : t + T].T.copy(), None, fresh=k == 0)
