"""What a model was trained on: which names are new, and whether evaluated text was seen.

A model file keeps one 64-bit hash per distinct line of its training data (the names, or
the text's non-empty lines, after the same normalisation), so `--novel` can keep generated
names away from the data and `eval` can warn when it scores text the model has seen,
without the model file carrying the data. Two kinds of hash exist:

- chain hashes (this version): a hash that follows the name one character at a time,

      h_0 = ROOT        h_{t+1} = mix(h_t XOR (ord(c_t) + 1))        hash(name) = h_len

  where mix is a bijection of 64-bit words (multiply by an odd constant, xor-shift, twice).
  Generation keeps h for every row of a batch and updates it with NumPy at each step, so
  it can tell, before drawing, whether ending the name now would give a training name.
  Because mix is a bijection, two different characters after the same text never share a
  hash; lines longer than MAX_CHAIN characters (never names) are hashed with blake2b.
- blake2b-64 of the UTF-8 line (files written before chain hashes): checked on whole
  names only, after they are drawn.

The file tells which kind it holds by their order: chain hashes are stored in strictly
descending order, blake2b hashes (np.unique's output) in strictly ascending order. With a
single line the order says nothing, and both readings are used (each can only add names
to avoid). Two different lines collide with probability ~ n / 2^64; a collision can only
make a truly new name count as seen (it is avoided, or an eval warns), never let a
training name through.

Lines models warn at any overlap; stream models when at least half the lines were seen
(short lines such as speaker names recur in any text of the same kind).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from saurus.errors import OptionError

STREAM_WARN_SHARE = 0.5
MAX_CHAIN = 10_000  # longest line given a chain hash (the longest name, MAX_NAME_LEN)
ROOT = np.uint64(0x9E3779B97F4A7C15)  # the chain hash of the empty string
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's finaliser constants (odd)
MIX_2 = np.uint64(0x94D049BB133111EB)
NO_RECORD = (
    "this model file does not record the names it was trained on, so --novel cannot tell "
    "new names from old ones; retrain it with `saurus train` (models saved by this version "
    "record them)"
)


# --- blake2b: whole names (files written before chain hashes) ---


def name_hash(name: str) -> int:
    """blake2b-64 of the UTF-8 name, as an int: the hash of files before chain hashes."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def hashes_of(names: Iterable[str]) -> np.ndarray:
    """The blake2b hash of each name, in order, as uint64."""
    return np.array([name_hash(n) for n in names], dtype=np.uint64)


# --- chain hashes: one character at a time ---


def chain_step(h: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """h' = mix(h XOR (code + 1)) for arrays of hashes and code points (broadcast), where
    mix(z) = g(g(z) * M1 ...) is splitmix64's finaliser: z ^= z >> 30; z *= M1;
    z ^= z >> 27; z *= M2; z ^= z >> 31 (each step a bijection of 64-bit words)."""
    z = np.bitwise_xor(h, np.asarray(codes, dtype=np.uint64) + np.uint64(1))
    z ^= z >> np.uint64(30)
    z *= MIX_1
    z ^= z >> np.uint64(27)
    z *= MIX_2
    z ^= z >> np.uint64(31)
    return z


def chain_of(codes: Sequence[int] | np.ndarray, start: np.uint64 = ROOT) -> np.uint64:
    """The chain hash of one string given as code points, from `start` (ROOT: the empty string)."""
    h = np.array([start], dtype=np.uint64)
    for code in np.asarray(codes, dtype=np.uint64):
        h = chain_step(h, code)
    return h[0]


def chain_hashes(texts: Sequence[str]) -> np.ndarray:
    """The chain hash of each text, as uint64, all texts advanced together one position at
    a time (the longest first, so the ones still going are a prefix of the order). Texts
    longer than MAX_CHAIN get blake2b instead: they are never names."""
    out = np.empty(len(texts), dtype=np.uint64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    for i in np.flatnonzero(lengths > MAX_CHAIN):
        out[i] = name_hash(texts[i])
    short = np.flatnonzero(lengths <= MAX_CHAIN)
    order = short[np.argsort(-lengths[short], kind="stable")]
    flat = "".join(map(texts.__getitem__, order.tolist())).encode("utf-32-le", "surrogatepass")
    codes = np.frombuffer(flat, dtype=np.uint32)
    sizes = lengths[order]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    h = np.full(len(order), ROOT, dtype=np.uint64)
    still = len(order)  # rows 0..still-1 have a character at position t
    for t in range(int(sizes.max()) if len(order) else 0):
        while still and sizes[still - 1] <= t:
            still -= 1
        h[:still] = chain_step(h[:still], codes[starts[:still] + t])
    out[order] = h
    return out


def name_hashes(names: Iterable[str]) -> np.ndarray:
    """What a model file keeps: the distinct chain hashes of `names`, in strictly
    descending order (the mark of chain hashes, see the module's docstring)."""
    return sorted_distinct(chain_hashes(list(names)))[::-1].copy()


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique's result, by a sort and a mask (NumPy 2.4's np.unique of 4M uint64 takes
    3.6 s, the sort 0.24 s)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


# --- what a model file records ---


@dataclass(frozen=True)
class Record:
    """The hashes of a model's training lines, by kind; either may be None."""

    chain: np.ndarray | None  # sorted ascending, for np.searchsorted
    blake: np.ndarray | None

    def seen(self, names: list[str]) -> np.ndarray:
        """True for each name that a hash of the record matches."""
        hit = np.zeros(len(names), dtype=bool)
        if self.chain is not None and names:
            hit |= contains(self.chain, chain_hashes(names))
        if self.blake is not None and names:
            hit |= np.isin(hashes_of(names), self.blake)
        return hit


def read_record(seen: np.ndarray) -> Record:
    """Which kind of hash `seen` holds: descending means chain hashes, ascending blake2b,
    one hash (or an order no version writes) both."""
    seen = np.asarray(seen, dtype=np.uint64)
    if len(seen) >= 2 and bool(np.all(seen[1:] < seen[:-1])):
        return Record(np.sort(seen), None)
    if len(seen) >= 2 and bool(np.all(seen[1:] > seen[:-1])):
        return Record(None, seen)
    return Record(np.sort(seen), seen)


def contains(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """True where `hashes` occur in `sorted_hashes` (ascending), by binary search."""
    if len(sorted_hashes) == 0:
        return np.zeros(np.shape(hashes), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return sorted_hashes[at] == hashes


def seen_mask(seen: np.ndarray, names: list[str]) -> np.ndarray:
    """True for each name whose hash is in `seen` (of either kind)."""
    return read_record(seen).seen(names)


def recorded_names(model: object) -> np.ndarray:
    """The hashes of the names `model` was trained on; an OptionError when it records none."""
    seen = getattr(model, "seen", None)
    if seen is None or len(seen) == 0:
        raise OptionError(NO_RECORD)
    return seen


class NewNames:
    """Lets each name through once only and, given `seen` hashes, none of those names."""

    def __init__(self, seen: np.ndarray | None = None) -> None:
        self.record = None if seen is None else read_record(seen)
        self.given: set[str] = set()

    def take(self, names: list[str], room: int) -> list[str]:
        """The first `room` (at most) new names of `names`, in order; from now on they are old."""
        old = [False] * len(names) if self.record is None else self.record.seen(names).tolist()
        fresh: list[str] = []
        for name, is_old in zip(names, old, strict=True):
            if len(fresh) == room:
                break
            if not is_old and name not in self.given:
                self.given.add(name)
                fresh.append(name)
        return fresh


class Fence:
    """What generation must not complete, by chain hash: the training names (when the model
    records chain hashes) and every name given so far; and the prefixes found dead (no new
    name of at most max_len characters starts with them), which must not be entered. `late`
    holds blake2b hashes to check finished names against (files before chain hashes), or
    None.

    Within a batch every row is at the same length at each step, so a name completed at one
    step can never be completed again at a later step of that batch (it would be longer):
    the names a batch gives are kept aside, and merged into the sorted `given` once, at
    `settle()` (the steps check each other's rows themselves, see names.draw_fenced)."""

    def __init__(self, record: Record | None) -> None:
        self.training = np.zeros(0, np.uint64) if record is None or record.chain is None else record.chain
        self.late = None if record is None else record.blake
        self.given = np.zeros(0, np.uint64)
        self.batch: list[np.ndarray] = []
        self.dead = np.zeros(0, np.uint64)

    def forbidden(self, hashes: np.ndarray) -> np.ndarray:
        """True where a name with that hash was given before this batch or is a training name."""
        return contains(self.training, hashes) | contains(self.given, hashes)

    def give(self, hashes: np.ndarray) -> None:
        """These names are taken (by this batch: they count from `settle()` on)."""
        if len(hashes):
            self.batch.append(np.asarray(hashes, dtype=np.uint64))

    def settle(self) -> None:
        """Fold the batch's names into the main set (once per batch)."""
        if self.batch:
            self.given = np.unique(np.concatenate([self.given, *self.batch]))
            self.batch = []

    def kill(self, prefixes: np.ndarray) -> None:
        """These prefixes lead to no new name any more."""
        if len(prefixes):
            self.dead = np.union1d(self.dead, prefixes)

    def is_dead(self, prefixes: np.ndarray) -> np.ndarray:
        return contains(self.dead, prefixes)

    def keep(self, names: list[str]) -> list[str]:
        """The names that pass the late blake2b check (all of them, when there is none)."""
        if self.late is None or not names:
            return names
        old = np.isin(hashes_of(names), self.late)
        return [name for name, is_old in zip(names, old.tolist(), strict=True) if not is_old]


def overlap(model: object, lines: Sequence[str], name: str) -> str:
    """A warning when `lines` (of the evaluated text) occur in the training data, else ""."""
    seen = getattr(model, "seen", None)
    if seen is None or len(seen) == 0 or not lines:
        return ""
    count = int(seen_mask(seen, list(lines)).sum())
    mode = getattr(model, "mode", "lines")
    if count == 0 or (mode == "stream" and count < STREAM_WARN_SHARE * len(lines)):
        return ""
    what = "names" if mode == "lines" else "lines"
    return (
        f"warning: {count} of {len(lines)} {what} in {name} occur in the file the model was "
        "trained from (its validation split included), so this loss overstates how well it "
        "does on new data"
    )
