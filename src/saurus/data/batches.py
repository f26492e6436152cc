"""Training batches for the engine, time-major: inputs, targets (T, B) and a mask.

lines:  each example is "\\n" + name -> name + "\\n" (the end token doubles as the start
        token). Names of similar length share a batch (sorted by length with random ties,
        batches in random order), padded at the end; the mask marks real characters.
stream: truncated BPTT over seq_len chunks. "consecutive": the text is cut into B tracks
        read left to right, so each batch continues the last one and the trainer carries
        the state (without back-propagating into it); "random": B chunks from random
        offsets, each starting from a zero state.

An epoch's order is drawn from the generator when `epoch()` is called, and `epoch(rng,
start)` gives its batches from the start-th on; a Cursor goes through epoch after epoch and
can save its place and restore it exactly (to resume a run mid-epoch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saurus.errors import OptionError

BATCHINGS = ("consecutive", "random")


@dataclass(frozen=True)
class Batch:
    inputs: np.ndarray  # (T, B) int64
    targets: np.ndarray  # (T, B) int64
    mask: np.ndarray | None  # (T, B) 1.0 for real characters; None when all are real
    fresh: bool  # start from a zero state (False: carry the previous batch's final state)
    cats: np.ndarray | None = None  # (B,) int64 each name's category (labelled names), else None

    @property
    def chars(self) -> int:
        return self.targets.size if self.mask is None else int(self.mask.sum())


class LineBatches:
    """Padded, length-grouped batches of names; iterate for one epoch."""

    def __init__(
        self,
        names: Sequence[np.ndarray],
        eos: int,
        batch_size: int,
        labels: Sequence[int] | None = None,
    ) -> None:
        if not names:
            raise OptionError("there are no training examples")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
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

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        """One epoch's batches from the `start`-th on. The order is drawn from `rng` when
        this is called, so a run can be resumed mid-epoch: the same rng state and `start`
        give the rest of the same epoch."""
        order = np.lexsort((rng.random(len(self.lengths)), self.lengths))
        chunks = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        picked = [chunks[k] for k in rng.permutation(len(chunks))]
        return self.batches(picked[start:])

    def batches(self, chunks: list[np.ndarray]) -> Iterator[Batch]:
        for rows in chunks:
            T = int(self.lengths[rows].max())
            mask = self.mask[rows, :T].T
            yield Batch(
                self.inputs[rows, :T].T.copy(),
                self.targets[rows, :T].T.copy(),
                None if mask.all() else mask.copy(),
                fresh=True,
                cats=None if self.labels is None else self.labels[rows],
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

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        """One epoch's batches from the `start`-th on, drawn from `rng` when this is called
        (see LineBatches.epoch)."""
        B, T = self.batch_size, self.seq_len
        if self.batching == "random":
            starts = rng.integers(0, len(self.ids) - T, size=(len(self), B))
            return self.random_chunks(starts[start:])
        # a random shift each epoch moves the chunk boundaries
        shift = int(rng.integers(0, T)) if len(self.ids) - 1 >= B * T + T else 0
        return self.consecutive(shift, start)

    def random_chunks(self, starts: np.ndarray) -> Iterator[Batch]:
        offsets = np.arange(self.seq_len)[:, None]
        for row in starts:
            pos = row[None, :] + offsets
            # int64, as Batch holds them (a text mapped from disk has uint8 or uint16 ids)
            x, y = self.ids[pos].astype(np.int64, copy=False), self.ids[pos + 1].astype(np.int64, copy=False)
            yield Batch(x, y, None, fresh=True)

    def consecutive(self, shift: int, start: int) -> Iterator[Batch]:
        """B tracks read left to right from `shift`; the first batch of an epoch is fresh."""
        B, T = self.batch_size, self.seq_len
        per_track = (len(self.ids) - 1 - shift) // B
        span = per_track * B
        inputs = self.ids[shift : shift + span].reshape(B, per_track)
        targets = self.ids[shift + 1 : shift + span + 1].reshape(B, per_track)
        for k, t in enumerate(range(0, per_track - T + 1, T)):
            if k >= start:
                x, y = inputs[:, t : t + T].T, targets[:, t : t + T].T
                yield Batch(x.astype(np.int64, order="C"), y.astype(np.int64, order="C"), None, fresh=k == 0)


class Cursor:
    """Epoch after epoch of `batches`, in the order `rng` draws, with a position that can be
    saved and restored exactly: the rng state at the start of the current epoch (before its
    order was drawn) and the batches taken from it. The same rng may also serve other draws
    (dropout) between batches; `restore` puts back its state of the moment as well."""

    def __init__(self, batches: LineBatches | StreamBatches, rng: np.random.Generator) -> None:
        self.batches, self.rng = batches, rng
        self.epoch, self.index = 0, 0  # epochs finished; batches taken from the current one
        self.epoch_start: dict[str, Any] = rng.bit_generator.state
        self.current: Iterator[Batch] | None = None

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        while True:
            if self.current is None:
                self.epoch_start = self.rng.bit_generator.state
                self.current = self.batches.epoch(self.rng, self.index)
            batch = next(self.current, None)
            if batch is not None:
                self.index += 1
                return batch
            self.current, self.epoch, self.index = None, self.epoch + 1, 0

    def position(self) -> dict[str, Any]:
        """Where the data stands, as JSON: enough for `restore` to continue exactly."""
        return {
            "epoch": self.epoch,
            "index": self.index,
            "epoch_rng": self.epoch_start,
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, position: dict[str, Any]) -> None:
        """Continue from a saved `position()`: redraw its epoch's order, skip the batches
        already taken, and put the rng back as it was at that moment."""
        self.epoch, self.index = int(position["epoch"]), int(position["index"])
        self.rng.bit_generator.state = position["epoch_rng"]
        self.epoch_start = position["epoch_rng"]
        self.current = self.batches.epoch(self.rng, self.index)
        self.rng.bit_generator.state = position["rng"]
