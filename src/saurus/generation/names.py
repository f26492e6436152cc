"""One batch of names, drawn together over a tree of shared prefixes.

Every row of a batch starts at the root (START and the prefix). At each step each live row
draws a character from its node's distribution; rows that drew the end token are done,
and the others move to the child (node, character), one child per distinct pair, so the
model runs once per distinct prefix: the first steps of a big batch cost a few columns,
not a row each. Finished rows leave the batch at once; the rows are kept sorted by node.
The names are put together at the end in one go: the code points of all names, each
followed by "\\n", in one array decoded as UTF-32.

A step that would hold more than the stepper's batch_cap nodes (or more than SPLIT_ROWS
rows) cuts its nodes into groups, each with the rows at its nodes and a generator of its
own, seeded from the group it came from; groups go on one after another, depth first, or
side by side on the fused LSTM's threads. Rows at different nodes never share a later
node, so nothing is computed twice, and the more rows a batch has, the fewer model steps
a name costs (dinos: 7.5 at 65,536 rows, 6.3 at 2^19). A seed gives the same names
whatever the thread count.

Rules, applied per node before the draw:

- A name has at least one character: with an empty prefix the end token is masked (logit
  -inf) at the first step, before T, top-k, top-p or greedy see the logits; after a
  prefix the end token may come at once.
- A name ends at the end token or at max_len characters, prefix included.

With a Fence (novel names), no name is completed twice nor as a training name, by
construction. A name is completed only by drawing the end token, or by drawing its
max_len-th character, so before each draw

- the end token is masked at every node whose text (its chain hash) is forbidden,
- at the last step (the max_len-th character) every character c whose text + c is
  forbidden is masked, and
- every character c whose text + c is a dead prefix (below) is masked,

and the rest is renormalised (softmax over what is left, then T, top-k, top-p). A node
left with no choice (its own name is taken and every way on is masked) is dead: no new
name of at most max_len characters starts with its text. Its rows give no name this time,
and the fence remembers it, so the step before masks the way into it from then on, and
so on up the tree (the root dead means the model has no new name left). Rows that
complete the same new name at the same step: the first row (in batch order) takes it,
the others draw again with it masked too, until every completion is distinct (without
top-k / top-p this equals drawing the rows one after another). So each row of a batch
gives a distinct new name unless it walked into a prefix found dead on the way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from saurus.data.vocab import Vocab
from saurus.generation.constraints import Automaton
from saurus.generation.decoding import Decoding, choose
from saurus.generation.novelty import Fence, chain_of, chain_step, contains
from saurus.generation.steppers import Stepper, stepper_for
from saurus.protocol import SequenceModel

SPLIT_ROWS = 65536  # a step with more rows goes on as groups, which threads can share


def recycle(stepper: Stepper, nodes: object) -> None:
    """Give `nodes`, which nothing reads any more, back to a stepper that reuses memory."""
    give = getattr(stepper, "recycle", None)
    if give is not None:
        give(nodes)


def code_points(vocab: Vocab) -> np.ndarray:
    """The code point of each id, as uint32."""
    return np.array([ord(c) for c in vocab.chars], dtype=np.uint32)


def draw_names(
    model: SequenceModel,
    batch: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
    fence: Fence | None = None,
    stepper: Stepper | None = None,
    automaton: Automaton | None = None,
) -> list[str]:
    """Up to `batch` names (all of them without a fence or an automaton), in row order; see
    the module."""
    stepper = stepper_for(model) if stepper is None else stepper
    return NameBatch(model, stepper, how, rng, prefix_ids, max_len, fence, automaton).draw(batch)


@dataclass
class Group:
    """Rows at the nodes of one subtree at step t: the nodes (or, with `parent`, the nodes
    whose children (parent, ids) they are, made when the group's turn comes), each row's
    node, each node's hash (with a fence) and automaton state (with an automaton)."""

    nodes: Any
    rows: np.ndarray
    node_of: np.ndarray
    hashes: np.ndarray
    states: np.ndarray
    t: int
    rng: np.random.Generator  # the group's own draws: the same names whichever thread runs it
    parent: np.ndarray | None = None
    ids: np.ndarray | None = None
    last: bool = False  # the last group made from these parents: they may be recycled after


class SharedGroups:
    """Groups that several threads draw: each takes the last one pushed and gives back the
    groups it splits into, until none is left and no thread holds one."""

    def __init__(self, groups: list[Group]) -> None:
        self.stack = groups[::-1]
        for group in groups:  # parents that two threads may read at once: none recycles them
            group.last = False
        self.busy = 0
        self.turn = threading.Condition()

    def work(self, grow: Callable[[Group], list[Group]]) -> None:
        """One thread's part: grow groups until none is left (or the drawing stops)."""
        while True:
            with self.turn:
                while not self.stack and self.busy:
                    self.turn.wait()
                if not self.stack:
                    self.turn.notify_all()
                    return
                group, self.busy = self.stack.pop(), self.busy + 1
            more: list[Group] = []
            try:
                more = grow(group)
            finally:
                for kid in more:
                    kid.last = False
                with self.turn:
                    self.stack.extend(reversed(more))
                    self.busy -= 1
                    self.turn.notify_all()


@dataclass
class NameBatch:
    """Draws batches of names with one model, decoding, prefix, length limit and fence."""

    model: SequenceModel
    stepper: Stepper
    how: Decoding
    rng: np.random.Generator
    prefix_ids: np.ndarray
    max_len: int
    fence: Fence | None = None
    automaton: Automaton | None = None

    def __post_init__(self) -> None:
        eos = self.model.vocab.eos_id
        assert eos is not None, "names come from a lines model"
        self.eos, self.V, self.codes = eos, self.model.vocab.size, code_points(self.model.vocab)
        self.codes_dtype = np.uint16 if self.V <= 2**16 else np.int64  # ids as kept until the end

    def draw(self, batch: int) -> list[str]:
        """`batch` rows from the root, each to its end token or max_len; their names, in row
        order, less the rows that were dropped (with a fence only). The groups a big batch
        splits into run side by side on the stepper's threads where it has several (not
        with a fence, which every group reads and writes)."""
        auto = self.automaton
        states = np.array([auto.run(self.prefix_ids) if auto is not None else 0])  # each node's
        if auto is not None and states[0] == auto.dead:
            return []
        hashes = np.array([chain_of(self.codes[self.prefix_ids])])  # each node's text, hashed
        rows = np.arange(batch)  # each live row's place in the batch
        node_of = np.zeros(batch, dtype=np.int64)  # each live row's node
        self.dropped = np.zeros(batch, dtype=bool)
        self.drawn = np.zeros(batch, dtype=np.int64)  # each row's characters after the prefix
        self.written: list[tuple[int, np.ndarray, np.ndarray]] = []  # step, rows, what they drew
        root = Group(self.stepper.root(self.prefix_ids, batch), rows, node_of, hashes, states, 0, self.rng)
        self.halt = False
        try:
            groups = self.grow(root, self.stepper)  # the first steps, shared by every row
            side_by_side = getattr(self.stepper, "side_by_side", None)
            if side_by_side is not None and self.fence is None and len(groups) > 1:
                side_by_side(partial(self.share, SharedGroups(groups)))
                groups = []
            stack = groups[::-1]
            while stack:  # depth first: the nodes held stay few
                stack.extend(reversed(self.grow(stack.pop(), self.stepper)))
        finally:
            self.halt = True  # (after an error or Ctrl-C: the other threads stop too)
        names = assemble(self.codes, batch, self.prefix_ids, self.written, self.drawn)
        if not self.dropped.any():
            return names
        return [name for name, gone in zip(names, self.dropped.tolist(), strict=True) if not gone]

    def share(self, shared: SharedGroups, stepper: Stepper) -> None:
        """One thread's part of the groups; an error stops the other threads too."""
        try:
            shared.work(partial(self.grow, stepper=stepper))
        except BaseException:
            self.halt = True
            raise

    def grow(self, group: Group, stepper: Stepper) -> list[Group]:
        """Draw the rows of `group` to their ends; when a step would hold more than the
        stepper's batch_cap nodes, or more than SPLIT_ROWS rows, stop and return its
        children as groups (each with its own rows and draws) instead."""
        nodes = group.nodes
        if group.parent is not None:
            nodes = stepper.children(group.nodes, group.parent, group.ids)
            if group.last:
                recycle(stepper, group.nodes)
        rows, node_of, hashes, states, t = group.rows, group.node_of, group.hashes, group.states, group.t
        room, auto, rng = self.max_len - len(self.prefix_ids), self.automaton, group.rng
        while not self.halt:
            ids, lost = self.choose(nodes.logits, node_of, hashes, t == 0, t == room - 1, rng)
            if auto is not None:  # rejection: a row leaves as soon as its name cannot match
                lost = lost | self.rejected(states[node_of], ids, t == room - 1)
            self.dropped[rows[lost]] = True
            going = (ids != self.eos) & ~lost
            self.drawn[rows[~going]] = t
            rows, node_of, ids = rows[going], node_of[going], ids[going]
            self.written.append((t, rows.astype(np.int32), ids.astype(self.codes_dtype)))
            if t == room - 1 or len(rows) == 0:
                self.drawn[rows] = t + 1
                break
            order, parent, ids, node_of = self.regroup(node_of, ids)
            rows, t = rows[order], t + 1
            if self.fence is not None:
                hashes = chain_step(hashes[parent], self.codes[ids])
            if auto is not None:
                states = auto.delta[states[parent], ids]
            many = len(rows) > SPLIT_ROWS and len(parent) > 1  # in two, to share the work
            if stepper.branching and (len(parent) > stepper.batch_cap or many):
                return self.split(nodes, parent, ids, rows, node_of, hashes, states, t, rng)
            nodes, old = stepper.children(nodes, parent, ids), nodes
            recycle(stepper, old)
        recycle(stepper, nodes)
        return []

    def split(
        self,
        nodes: object,
        parent: np.ndarray,
        ids: np.ndarray,
        rows: np.ndarray,
        node_of: np.ndarray,
        hashes: np.ndarray,
        states: np.ndarray,
        t: int,
        rng: np.random.Generator,
    ) -> list[Group]:
        """The children (parent, ids) cut into groups of at most batch_cap (and at most half
        of them, so that a step of many rows and few nodes splits too), each with the
        rows at its nodes (rows are sorted by node), its nodes' hashes and states, and a
        generator of its own, seeded from `rng`."""
        k = len(parent)
        cap = min(self.stepper.batch_cap, -(-k // 2))
        cuts = np.arange(0, k, cap)
        at = np.searchsorted(node_of, np.append(cuts, k))
        seeds = rng.integers(0, 2**63, size=len(cuts)).tolist()
        groups = []
        for j, a in enumerate(cuts.tolist()):
            b, here = min(a + cap, k), slice(at[j], at[j + 1])
            own = hashes[a:b] if self.fence is not None else hashes
            state = states[a:b] if self.automaton is not None else states
            draws = np.random.default_rng(seeds[j])
            kids = Group(
                nodes, rows[here], node_of[here] - a, own, state, t, draws, parent[a:b], ids[a:b], b == k
            )
            groups.append(kids)
        return groups

    def rejected(self, states: np.ndarray, ids: np.ndarray, last: bool) -> np.ndarray:
        """Rows whose name the automaton refuses: ended (the end token) in a state that does
        not accept, or moved into the dead state, or (at the last step, where the name ends
        at max_len) moved into a state that does not accept."""
        auto = self.automaton
        assert auto is not None
        ended = ids == self.eos
        after = auto.delta[states, np.where(ended, 0, ids)]
        fails = np.where(ended, ~auto.accepting[states], after == auto.dead)
        if last:
            fails |= ~ended & ~auto.accepting[after]
        return fails

    def choose(
        self,
        logits: np.ndarray,
        node_of: np.ndarray,
        hashes: np.ndarray,
        first: bool,
        last: bool,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each live row's next id, and which rows are lost (no choice left, fence only)."""
        if first and len(self.prefix_ids) == 0:  # no empty name
            logits = logits.copy()
            logits[self.eos] = -np.inf
        if self.fence is None:
            return choose(logits, node_of, self.how, rng), np.zeros(len(node_of), dtype=bool)
        logits = fence_off(logits, hashes, self.fence, self.codes, self.eos, last)
        return draw_fenced(logits, node_of, hashes, self.fence, self.codes, self.eos, last, self.how, rng)

    def regroup(
        self, node_of: np.ndarray, ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows' new order, the children to make (parent node, id) and each row's child.
        Branching steppers get one child per distinct pair, and the rows are sorted by it
        (so that a child per row is the identity, which drawing can skip); others a child
        per row, in place."""
        if not self.stepper.branching:
            return np.arange(len(ids)), node_of, ids, np.arange(len(ids))
        key = node_of * self.V + ids
        order = np.argsort(key, kind="stable")
        key = key[order]
        new = np.empty(len(key), dtype=bool)
        new[0], new[1:] = True, key[1:] != key[:-1]
        pairs = key[new]
        return order, pairs // self.V, pairs % self.V, np.cumsum(new) - 1


def fence_off(
    logits: np.ndarray, hashes: np.ndarray, fence: Fence, codes: np.ndarray, eos: int, last: bool
) -> np.ndarray:
    """The logits with every forbidden choice masked: the end token where the node's text
    is taken; each c where text + c is a dead prefix; at the last step, each c where
    text + c is taken."""
    masked = None
    taken = fence.forbidden(hashes)
    if taken.any():
        masked = logits.copy()
        masked[eos, taken] = -np.inf
    if last or len(fence.dead):
        after = chain_step(hashes[None, :], codes[:, None])  # (V, k): the text of each child
        shut = fence.is_dead(after)
        if last:
            shut |= fence.forbidden(after)
        shut[eos] = False
        if shut.any():
            masked = logits.copy() if masked is None else masked
            masked[shut] = -np.inf
    return logits if masked is None else masked


def draw_fenced(
    logits: np.ndarray,
    node_of: np.ndarray,
    hashes: np.ndarray,
    fence: Fence,
    codes: np.ndarray,
    eos: int,
    last: bool,
    how: Decoding,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's id, and which rows are lost: a node with every choice masked is dead
    (the fence learns it, so no row enters it again) and its rows give no name.
    Completions are given to the fence in row order; a row whose completion an earlier
    row took draws again with it masked."""
    stuck = np.isneginf(logits.max(axis=0))
    if stuck.any():
        fence.kill(hashes[stuck])
        logits = np.where(stuck, 0.0, logits).astype(logits.dtype)
    ids = choose(logits, node_of, how, rng)
    lost = stuck[node_of]
    done = np.flatnonzero(((ids == eos) | last) & ~lost)
    keys = completions(hashes[node_of[done]], ids[done], codes, eos)
    taken = np.zeros(0, dtype=np.uint64)  # the names this step gave, sorted
    own = None  # the logits of rows drawing again, with their own masks
    while len(done):
        first = np.zeros(len(done), dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        clash = ~first | contains(taken, keys) | fence.forbidden(keys)
        taken = np.union1d(taken, keys[~clash])
        if not clash.any():
            break
        done = done[clash]
        own = logits[:, node_of[done]] if own is None else own[:, clash]
        own[ids[done], np.arange(len(done))] = -np.inf
        gone = np.isneginf(own.max(axis=0))
        fence.kill(hashes[node_of[done[gone]]])
        lost[done[gone]] = True
        done, own = done[~gone], own[:, ~gone]
        ids[done] = choose(own, np.arange(len(done)), how, rng)
        again = (ids[done] == eos) | last
        done, own = done[again], own[:, again]
        keys = completions(hashes[node_of[done]], ids[done], codes, eos)
    fence.give(taken)
    return ids, lost


def completions(hashes: np.ndarray, ids: np.ndarray, codes: np.ndarray, eos: int) -> np.ndarray:
    """The chain hash of the name each row completes: its node's text when it drew the end
    token, else the text and the character drawn (the last step)."""
    return np.where(ids == eos, hashes, chain_step(hashes, codes[ids]))


def assemble(
    codes: np.ndarray, batch: int, prefix_ids: np.ndarray, written: list, drawn: np.ndarray | None = None
) -> list[str]:
    """Every row's name: the prefix, then what it drew at steps 0, 1, ... (`written` holds
    (step, rows, ids); a row draws at every step until it ends, `drawn` times if given),
    built as one code-point array and decoded once."""
    if drawn is None:
        drawn = np.zeros(batch, dtype=np.int64)
        for _, rows, _ in written:
            drawn[rows] += 1
    lengths = drawn + len(prefix_ids)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    flat = np.full(int(lengths.sum()) + batch, ord("\n"), dtype=np.uint32)
    if len(prefix_ids):
        flat[starts[:, None] + np.arange(len(prefix_ids))] = codes[prefix_ids]
    for t, rows, ids in written:
        flat[starts[rows] + len(prefix_ids) + t] = codes[ids]
    return flat.tobytes().decode("utf-32-le", "surrogatepass").split("\n")[:-1]
