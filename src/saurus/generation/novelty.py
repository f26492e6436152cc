"""What a model was trained on: which names are new, and whether evaluated text was seen.

A model stores blake2b-64 hashes of its training data's lines (the names, or the text's
non-empty lines, after the same normalisation), so `--novel` can drop generated names that
occur in the data, and `eval` can warn when it scores text the model has seen, without
the model file carrying the data. Two different lines collide with probability ~ n / 2^64.
Lines models warn at any overlap; stream models when at least half the lines were seen
(short lines such as speaker names recur in any text of the same kind).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from saurus.errors import OptionError

STREAM_WARN_SHARE = 0.5
NO_RECORD = (
    "this model file does not record the names it was trained on, so --novel cannot tell "
    "new names from old ones; retrain it with `saurus train` (models saved by this version "
    "record them)"
)


def name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def hashes_of(names: Iterable[str]) -> np.ndarray:
    """The hash of each name, in order, as uint64."""
    return np.array([name_hash(n) for n in names], dtype=np.uint64)


def name_hashes(names: Iterable[str]) -> np.ndarray:
    """Sorted distinct hashes of `names`: what a model file keeps."""
    return np.unique(hashes_of(names))


def seen_mask(seen: np.ndarray, names: list[str]) -> np.ndarray:
    """True for each name whose hash is in `seen`."""
    return np.isin(hashes_of(names), seen)


def recorded_names(model: object) -> np.ndarray:
    """The hashes of the names `model` was trained on; an OptionError when it records none."""
    seen = getattr(model, "seen", None)
    if seen is None or len(seen) == 0:
        raise OptionError(NO_RECORD)
    return seen


class NewNames:
    """Lets each name through once only and, given `seen` hashes, none of those names."""

    def __init__(self, seen: np.ndarray | None = None) -> None:
        self.seen = seen
        self.given: set[str] = set()

    def take(self, names: list[str], room: int) -> list[str]:
        """The first `room` (at most) new names of `names`, in order; from now on they are old."""
        old = [False] * len(names) if self.seen is None else seen_mask(self.seen, names).tolist()
        fresh: list[str] = []
        for name, is_old in zip(names, old, strict=True):
            if len(fresh) == room:
                break
            if not is_old and name not in self.given:
                self.given.add(name)
                fresh.append(name)
        return fresh


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
