"""The most probable complete names, best first: uniform-cost search on -log p.

A name w_1 .. w_L (the prefix its first characters; L >= 1) costs

    cost(w) = -log p(w_1 .. w_L, "\\n" | START) = sum_t -log softmax(logits_t)[w_t]

with the end token included, as `score` totals it, and every term is >= 0, so a prefix
never costs more than any name that extends it. The search keeps a frontier of open
entries (a node, i.e. a prefix the model has read, and one next character, with the cost
of the prefix plus that character) and of complete names. Each round it expands the K
cheapest open entries in one batched model step (each becomes a node whose V next
characters join the frontier; the end token makes a complete name), then gives out every
complete name that costs no more than the cheapest open entry: nothing cheaper can still
appear, so names come out exactly in order (ties in the order found). A name has at most
max_len characters, prefix included: a node of that length only ends.

Exact pruning: once r complete names are known and r more are wanted, open entries
costing more than the r-th cheapest of them can never lead to a wanted name and are
dropped. Should the frontier and the node states still outgrow MEMORY_BUDGET, the worst
half of the open entries is dropped: the names still come out cheapest first among those
found, but a name may be missing, so the order may be approximate (`approximate` says so).

With `novel`, names of the training data (by their chain hash, or for files before chain
hashes by blake2b when given out) are left out.
"""

from __future__ import annotations

import heapq
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from saurus.errors import OptionError
from saurus.generation.categories import Spec, conditioned
from saurus.generation.constraints import Automaton, Constraints
from saurus.generation.decoding import Decoding
from saurus.generation.names import code_points
from saurus.generation.novelty import Fence, chain_of, chain_step, read_record, recorded_names
from saurus.generation.sampling import DEFAULT_MAX_LEN, check_count, check_max_len, check_request
from saurus.generation.steppers import Stepper, stepper_for
from saurus.protocol import SequenceModel

MEMORY_BUDGET = 512 * 2**20  # bytes of node states and frontier before pruning gets approximate
MAX_MOST_LIKELY = 1_000_000  # names one search may ask for
ENTRY_BYTES = 24  # cost, node and character of one open entry
NODE_BYTES = 32  # parent, character, depth and hash of one node


def log_softmax_columns(logits: np.ndarray) -> np.ndarray:
    """log softmax of each column of logits (V, k), in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=0, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=0, keepdims=True))
    return z


@dataclass
class Blocks:
    """Entries (cost, node, char) in blocks sorted by cost, merged lazily through a heap of
    the blocks' cheapest remaining entries."""

    heap: list[tuple[float, int]] = field(default_factory=list)
    blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    serial: itertools.count = field(default_factory=itertools.count)
    size: int = 0

    def add(self, cost: np.ndarray, node: np.ndarray, char: np.ndarray) -> None:
        if len(cost) == 0:
            return
        order = np.argsort(cost, kind="stable")
        key = next(self.serial)
        self.blocks[key] = (cost[order], node[order], char[order])
        heapq.heappush(self.heap, (float(cost[order[0]]), key))
        self.size += len(cost)

    def head(self) -> float:
        return self.heap[0][0] if self.heap else np.inf

    def pop(self, most: int, upto: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At most `most` of the cheapest entries costing no more than `upto`, cheapest first."""
        parts = []
        while most > 0 and self.heap and self.heap[0][0] <= upto:
            _, key = heapq.heappop(self.heap)
            cost, node, char = self.blocks.pop(key)
            limit = min(upto, self.head())  # this block leads up to the next block's head
            take = max(1, min(most, int(np.searchsorted(cost, limit, side="right"))))
            parts.append((cost[:take], node[:take], char[:take]))
            most -= take
            self.size -= take
            if take < len(cost):
                self.blocks[key] = (cost[take:], node[take:], char[take:])
                heapq.heappush(self.heap, (float(cost[take]), key))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(0), empty, empty
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def trim(self, bound: float) -> None:
        """Drop every entry costing more than `bound`."""
        for key in list(self.blocks):
            cost, node, char = self.blocks[key]
            keep = int(np.searchsorted(cost, bound, side="right"))
            self.size -= len(cost) - keep
            if keep == 0:
                del self.blocks[key]
            else:
                self.blocks[key] = (cost[:keep], node[:keep], char[:keep])
        self.heap = [(c, k) for c, k in self.heap if k in self.blocks]
        heapq.heapify(self.heap)

    def costs(self) -> np.ndarray:
        return np.concatenate([b[0] for b in self.blocks.values()]) if self.blocks else np.zeros(0)

    def nodes(self) -> np.ndarray:
        return np.concatenate([b[1] for b in self.blocks.values()]) if self.blocks else np.zeros(0, np.int64)


class Column:
    """A growing 1-D array (capacity doubles), for per-node values."""

    def __init__(self, first: np.ndarray) -> None:
        self.data = np.array(first)
        self.n = len(first)

    def extend(self, values: np.ndarray) -> None:
        if self.n + len(values) > len(self.data):
            grown = np.empty(2 * (self.n + len(values)), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : self.n + len(values)] = values
        self.n += len(values)

    def __getitem__(self, index: np.ndarray | slice | int) -> np.ndarray:
        return self.data[: self.n][index]


class LikelySearch:
    """Iterates over (name, log p) pairs, most probable first (see the module docstring)."""

    def __init__(
        self,
        model: SequenceModel,
        prefix_ids: np.ndarray,
        max_len: int,
        *,
        novel: bool = False,
        expand: int = 256,
        stepper: Stepper | None = None,
        automaton: Automaton | None = None,
    ) -> None:
        if model.mode != "lines":
            raise OptionError("--most-likely lists names, from a lines model; this is a stream model")
        self.model, self.expand = model, expand
        self.stepper = stepper_for(model, branching=True) if stepper is None else stepper
        self.eos, self.V = model.vocab.eos_id, model.vocab.size
        self.codes = code_points(model.vocab)
        self.prefix = model.vocab.decode(prefix_ids)
        self.room = max_len - len(prefix_ids)
        self.fence = Fence(read_record(recorded_names(model))) if novel else None
        self.approximate = False  # True once the memory budget made the search drop branches
        self.want = MAX_MOST_LIKELY  # names still wanted (wanted() sets it): bounds the frontier
        # per node: parent node, character, depth (characters after the prefix), chain hash
        self.parent = Column(np.array([-1], dtype=np.int64))
        self.char = Column(np.array([-1], dtype=np.int64))
        self.depth = Column(np.array([0], dtype=np.int64))
        self.hash = Column(np.array([chain_of(self.codes[prefix_ids])], dtype=np.uint64))
        # constraints: each node's automaton state; a name ends only where it accepts, and
        # no entry enters the dead state (the search stays exact over the names allowed)
        self.automaton = automaton
        self.state = Column(np.array([automaton.run(prefix_ids) if automaton else 0], dtype=np.int64))
        root, cost = self.read_prefix(prefix_ids)
        self.chunks: list[object | None] = [root]
        self.starts = [0, 1]  # node index where each chunk starts (and the next free index)
        self.open, self.done = Blocks(), Blocks()
        self.bound, self.bound_at = np.inf, 0
        # blake2b-checked names (old files) may be left out when given: no bound then
        self.bounded = self.fence is None or self.fence.late is None
        self.grow(np.array([0]), np.array([cost]))

    def read_prefix(self, prefix_ids: np.ndarray) -> tuple[object, float]:
        """The node after START and the prefix, and the prefix's cost, -log p(prefix)."""
        node = self.stepper.root(np.zeros(0, dtype=np.int64))
        cost = 0.0
        for i in np.asarray(prefix_ids).tolist():
            cost -= float(log_softmax_columns(node.logits)[i, 0])  # type: ignore[attr-defined]
            node = self.stepper.children(node, np.zeros(1, dtype=np.int64), np.array([i]))
        return node, cost

    # --- the search ---

    def __iter__(self) -> Iterator[tuple[str, float]]:
        while True:
            while self.done.heap and self.done.head() <= self.open.head():
                cost, node, _ = self.done.pop(1)
                name = self.text(int(node[0]))
                if self.fence is None or self.fence.keep([name]):
                    yield name, -float(cost[0])
            if not self.open.heap:
                return
            cost, node, char = self.open.pop(self.expand)
            self.expand_entries(cost, node, char)

    def wanted(self, count: int) -> list[tuple[str, float]]:
        """The `count` most probable names (fewer when the model has fewer)."""
        found = []
        self.want = count
        for pair in self:
            found.append(pair)
            self.want = count - len(found)
            if len(found) == count:
                break
        return found

    def expand_entries(self, cost: np.ndarray, node: np.ndarray, char: np.ndarray) -> None:
        """Make nodes of these open entries in one batched step, and add their children."""
        parents = self.gather(node)
        nodes = self.stepper.children(parents, np.arange(len(node)), char)
        first = self.starts[-1]
        self.chunks.append(nodes)
        self.starts.append(first + len(node))
        self.parent.extend(node)
        self.char.extend(char)
        self.depth.extend(self.depth[node] + 1)
        self.hash.extend(chain_step(self.hash[node], self.codes[char]))
        if self.automaton is not None:  # the column is read only with an automaton
            self.state.extend(self.automaton.delta[self.state[node], char].astype(np.int64))
        self.grow(np.arange(first, first + len(node)), cost)
        self.prune()

    def grow(self, new: np.ndarray, cost: np.ndarray) -> None:
        """Add the children of the nodes `new` (just made, costing `cost`) to the frontier."""
        chunk = self.chunks[-1]
        logp = log_softmax_columns(chunk.logits)  # type: ignore[attr-defined]
        child = cost[None, :] - logp  # (V, k)
        depth = self.depth[new]
        ends = child[self.eos].copy()
        if len(self.prefix) == 0:
            ends[depth == 0] = np.inf  # no empty name
        if self.fence is not None:
            ends[self.fence.forbidden(self.hash[new])] = np.inf
        if self.automaton is not None:
            states = self.state[new]
            ends[~self.automaton.accepting[states]] = np.inf
            child[np.equal(self.automaton.delta[states].T, self.automaton.dead)] = np.inf
        ok = np.isfinite(ends) & (ends <= self.bound)
        self.done.add(ends[ok], new[ok], np.full(int(ok.sum()), self.eos))
        child[self.eos] = np.inf
        child[:, depth >= self.room] = np.inf  # a name of max_len characters only ends
        v, j = np.nonzero(np.isfinite(child) & (child <= self.bound))
        self.open.add(child[v, j], new[j], v)

    def prune(self) -> None:
        """Drop open entries that cannot lead to a wanted name; past the memory budget, drop
        the worst half (the search becomes approximate)."""
        if self.bounded and self.done.size >= max(self.want, 1) and self.done.size >= 2 * self.bound_at:
            costs = self.done.costs()
            self.bound = float(np.partition(costs, self.want - 1)[self.want - 1])
            self.bound_at = self.done.size
            self.open.trim(self.bound)
            self.done.trim(self.bound)
        while self.open.size and self.memory() > MEMORY_BUDGET:
            self.approximate = True
            before, median = self.open.size, float(np.median(self.open.costs()))
            self.open.trim(median)
            if self.open.size == before:  # all tied: drop the median's cost too
                self.open.trim(float(np.nextafter(median, -np.inf)))
            self.free()

    def memory(self) -> int:
        """Bytes held: node states, per-node columns, frontier entries."""
        states = sum(c.nbytes() for c in self.chunks if c is not None)  # type: ignore[attr-defined]
        return states + NODE_BYTES * self.parent.n + ENTRY_BYTES * (self.open.size + self.done.size)

    def free(self) -> None:
        """Forget the states of chunks that no open entry needs any more."""
        used = set(np.searchsorted(self.starts, self.open.nodes(), side="right").tolist())
        for i in range(len(self.chunks)):
            if i + 1 not in used:
                self.chunks[i] = None

    # --- nodes ---

    def gather(self, nodes: np.ndarray) -> object:
        """The states of `nodes`, in order, from the chunks that hold them."""
        which = np.searchsorted(self.starts, nodes, side="right") - 1
        order = np.argsort(which, kind="stable")
        parts = []
        for i in np.unique(which).tolist():
            rows = nodes[which == i] - self.starts[i]
            parts.append(self.chunks[i].take(rows))  # type: ignore[union-attr]
        joined = parts[0] if len(parts) == 1 else type(parts[0]).concat(parts)
        return joined.take(np.argsort(order, kind="stable"))

    def text(self, node: int) -> str:
        parent, char = self.parent[:], self.char[:]
        ids = []
        while node > 0:
            ids.append(int(char[node]))
            node = int(parent[node])
        return self.prefix + self.model.vocab.decode(np.array(ids[::-1], dtype=np.int64))


def most_likely_names(
    model: SequenceModel,
    n: int,
    *,
    prefix: str = "",
    novel: bool = False,
    max_len: int = DEFAULT_MAX_LEN,
    constraints: Constraints | None = None,
    category: Spec = None,
) -> list[tuple[str, float]]:
    """The `n` most probable complete names (fewer if the model has fewer within max_len),
    each with its log-probability (natural log, end token included, as `score` totals
    it), most probable first; with `constraints`, the most probable of the names that meet
    them; a labelled model's, given `category` (saurus.generation.categories). A warning
    says when the memory budget made the search approximate."""
    model = conditioned(model, category)
    search = likely_search(model, n, prefix=prefix, novel=novel, max_len=max_len, constraints=constraints)
    found = search.wanted(n)
    if search.approximate:
        warnings.warn(APPROXIMATE, stacklevel=2)
    return found


APPROXIMATE = (
    "the search outgrew its memory budget and dropped its least likely branches: "
    "the names are in order, but some likelier ones may be missing"
)


def likely_search(
    model: SequenceModel,
    n: int,
    *,
    prefix: str = "",
    novel: bool = False,
    max_len: int = DEFAULT_MAX_LEN,
    constraints: Constraints | None = None,
) -> LikelySearch:
    """A checked LikelySearch for `n` names (see most_likely_names)."""
    if model.mode != "lines":
        raise OptionError("--most-likely lists names, from a lines model; this is a stream model")
    check_count(n, "number of names")
    if n > MAX_MOST_LIKELY:
        raise OptionError(f"--most-likely {n} is above the limit of {MAX_MOST_LIKELY:,} names")
    prefix_ids = check_request(model, n, "number of names", Decoding(), prefix)
    automaton = None if constraints is None or constraints.empty else constraints.compile(model.vocab)
    if constraints is not None and constraints.max_len is not None:
        max_len = constraints.max_len  # the search's own limit: a name of max_len only ends
    room = check_max_len(max_len, len(prefix_ids))
    return LikelySearch(model, prefix_ids, room, novel=novel, automaton=automaton)


def write_most_likely(
    model: SequenceModel,
    n: int,
    out: TextIO,
    prefix: str,
    novel: bool,
    max_len: int,
    constraints: Constraints | None = None,
) -> list[str]:
    """Write the n most probable names to `out`, one "logp<TAB>name" line each (as `score`
    prints, with the name's total log-probability); return notes for the user."""
    search = likely_search(model, n, prefix=prefix, novel=novel, max_len=max_len, constraints=constraints)
    found = search.wanted(n)
    out.write("".join(f"{logp:.4f}\t{name}\n" for name, logp in found))
    notes = []
    if search.approximate:
        notes.append(APPROXIMATE.replace("the names are in order", "the names are printed in order"))
    if len(found) < n:
        kind = ("new names" if novel else "names") + (
            "" if constraints is None or constraints.empty else " that meet the constraints"
        )
        notes.append(f"only {len(found)} {kind} of {max_len} characters or less exist for this model")
    return notes
