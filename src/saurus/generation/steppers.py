"""Steppers: a model's next-character logits for a set of text prefixes ("nodes").

Generation and search keep one node per distinct prefix: rows of a batch that have drawn
the same characters share a node, so the model runs once per distinct prefix, and a node
is extended into children (parent node, next id) in one batched step:

    root(prefix)              the node after START and the prefix
    children(nodes, p, ids)   node j reads ids[j] after node p[j]: state_j = f(state_{p[j]}, ids[j])
    nodes.logits              (V, k): the logits of the character after each node

Logits are feature-major (one column per node), so the per-node reductions of sampling
(max, cumulative sums) run along contiguous rows.

- the fused LSTM stepper (saurus.models.fused_lstm), which an LSTM offers itself
  (`fused_stepper()`): one matmul and one tanh for all gates, CHUNK nodes at a time.
- StateStepper: any model whose state is arrays (or lists / tuples of them) with the batch
  first, through its own step().
- RowStepper: any other model (a Transformer's shared cache): one state row per node,
  children only one per parent (no sharing), finished rows kept and ignored.
- RecomputeStepper: the same models for search, where any node may be extended: each node
  keeps the ids it has read and is run again from START.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from saurus.protocol import START, SequenceModel

STATE_BUDGET = 16 * 2**20  # bytes of node states one step may hold, about (more are cut in groups)
ROW_BATCH = 4096  # rows at once for models stepped row by row (a Transformer's cache grows with them)
STEP_BATCH = 16384  # rows at once through a model's own step()


# --- any model, through its own step() ---


def tree_take(state: Any, idx: np.ndarray) -> Any:
    """Rows `idx` of every array in `state` (arrays, nested in lists and tuples)."""
    if isinstance(state, np.ndarray):
        return state[idx]
    return type(state)(tree_take(s, idx) for s in state)


def tree_concat(states: Sequence[Any]) -> Any:
    first = states[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(states, axis=0)
    return type(first)(tree_concat([s[i] for s in states]) for i in range(len(first)))


def batch_first(state: Any, batch: int) -> bool:
    """Whether `state` is arrays (in lists and tuples) whose first axis is the batch."""
    if isinstance(state, np.ndarray):
        return state.ndim >= 1 and state.shape[0] == batch
    if isinstance(state, (list, tuple)) and state:
        return all(batch_first(s, batch) for s in state)
    return False


@dataclass
class StateNodes:
    state: Any
    logits: np.ndarray  # (V, k)

    def __len__(self) -> int:
        return self.logits.shape[1]

    def take(self, idx: np.ndarray) -> StateNodes:
        return StateNodes(tree_take(self.state, idx), self.logits[:, idx])

    @staticmethod
    def concat(parts: Sequence[StateNodes]) -> StateNodes:
        return StateNodes(
            tree_concat([p.state for p in parts]), np.concatenate([p.logits for p in parts], axis=1)
        )

    def nbytes(self) -> int:
        leaves = [self.state] if isinstance(self.state, np.ndarray) else list(flatten(self.state))
        return self.logits.nbytes + sum(a.nbytes for a in leaves)


def flatten(state: Any) -> list[np.ndarray]:
    if isinstance(state, np.ndarray):
        return [state]
    return [a for s in state for a in flatten(s)]


class StateStepper:
    """Nodes through model.step, gathering parent rows of the model's own state."""

    branching = True
    batch_cap = STEP_BATCH

    def __init__(self, model: SequenceModel) -> None:
        self.model = model

    def root(self, prefix_ids: np.ndarray, batch: int = 1) -> StateNodes:
        logits, state = self.model.step(self.model.start(1), np.array([START]))
        for i in np.asarray(prefix_ids).tolist():
            logits, state = self.model.step(state, np.array([i]))
        return StateNodes(state, logits.T)

    def children(self, nodes: StateNodes, parent: np.ndarray, ids: np.ndarray) -> StateNodes:
        logits, state = self.model.step(tree_take(nodes.state, parent), np.asarray(ids, dtype=np.int64))
        return StateNodes(state, logits.T)


@dataclass
class RowNodes:
    state: Any  # the model's state for all `batch` rows
    batch: int
    rows: np.ndarray  # the state row of each node
    logits: np.ndarray  # (V, k)
    root: bool = False  # one node that every row holds

    def __len__(self) -> int:
        return len(self.rows)


class RowStepper:
    """Nodes as fixed rows of one model state: no sharing, and every row steps each time
    (a finished row reads the end token and is ignored)."""

    branching = False
    batch_cap = ROW_BATCH

    def __init__(self, model: SequenceModel) -> None:
        self.model = model
        eos = model.vocab.eos_id
        self.filler = 0 if eos is None else eos

    def root(self, prefix_ids: np.ndarray, batch: int = 1) -> RowNodes:
        state = self.model.start(batch)
        logits, state = self.model.step(state, np.full(batch, START, dtype=np.int64))
        for i in np.asarray(prefix_ids).tolist():
            logits, state = self.model.step(state, np.full(batch, i, dtype=np.int64))
        return RowNodes(state, batch, np.zeros(1, dtype=np.int64), logits[:1].T, root=True)

    def children(self, nodes: RowNodes, parent: np.ndarray, ids: np.ndarray) -> RowNodes:
        rows = np.arange(len(parent)) if nodes.root else nodes.rows[parent]  # off the root: a row each
        feed = np.full(nodes.batch, self.filler, dtype=np.int64)
        feed[rows] = ids
        logits, state = self.model.step(nodes.state, feed)
        return RowNodes(state, nodes.batch, rows, logits[rows].T)


@dataclass
class SequenceNodes:
    ids: list[tuple[int, ...]]  # what each node has read after START
    logits: np.ndarray  # (V, k)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: np.ndarray) -> SequenceNodes:
        return SequenceNodes([self.ids[i] for i in np.asarray(idx).tolist()], self.logits[:, idx])

    @staticmethod
    def concat(parts: Sequence[SequenceNodes]) -> SequenceNodes:
        return SequenceNodes(
            [ids for p in parts for ids in p.ids], np.concatenate([p.logits for p in parts], axis=1)
        )

    def nbytes(self) -> int:
        return self.logits.nbytes + sum(8 * len(ids) + 64 for ids in self.ids)


class RecomputeStepper:
    """Nodes as the ids they have read, each node's logits recomputed from START (nodes of
    one length in one batch): for search on models whose state cannot be gathered."""

    branching = True
    batch_cap = ROW_BATCH

    def __init__(self, model: SequenceModel) -> None:
        self.model = model

    def root(self, prefix_ids: np.ndarray, batch: int = 1) -> SequenceNodes:
        ids = [tuple(np.asarray(prefix_ids).tolist())]
        return SequenceNodes(ids, self.run(ids))

    def children(self, nodes: SequenceNodes, parent: np.ndarray, ids: np.ndarray) -> SequenceNodes:
        read = [nodes.ids[p] + (i,) for p, i in zip(parent.tolist(), np.asarray(ids).tolist(), strict=True)]
        return SequenceNodes(read, self.run(read))

    def run(self, read: list[tuple[int, ...]]) -> np.ndarray:
        """The logits (V, k) after START and each sequence."""
        out = np.empty((self.model.vocab.size, len(read)), dtype=np.float64)
        lengths = np.array([len(r) for r in read])
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            seqs = np.array([read[r] for r in rows.tolist()], dtype=np.int64).reshape(len(rows), length)
            logits, state = self.model.step(self.model.start(len(rows)), np.full(len(rows), START))
            for t in range(length):
                logits, state = self.model.step(state, seqs[:, t])
            out[:, rows] = logits.T
        return out


class Stepper(Protocol):
    """Extends nodes: `root(prefix_ids, batch)` and `children(nodes, parent, ids)`, each
    node set with `logits` (V, k) and a length; `branching` says whether any node may be
    extended more than once, `batch_cap` how many nodes a step may hold."""

    branching: bool
    batch_cap: int

    def root(self, prefix_ids: np.ndarray, batch: int = 1) -> Any: ...

    def children(self, nodes: Any, parent: np.ndarray, ids: np.ndarray) -> Any: ...


def stepper_for(model: SequenceModel, *, branching: bool = False) -> Stepper:
    """The fastest stepper that runs `model`: fused for recurrent LSTMs, the model's own step
    where its state can be gathered by rows, else one row per node (or, when `branching`
    is needed, recomputing every node from START)."""
    fused = getattr(model, "fused_stepper", None)
    if callable(fused) and (stepper := fused()) is not None:
        return stepper  # type: ignore[no-any-return]
    if batch_first(model.start(2), 2):
        return StateStepper(model)
    return RecomputeStepper(model) if branching else RowStepper(model)
