"""Which names a model was trained on, kept as 64-bit hashes rather than the text itself.

A lines model stores blake2b-64 hashes of its training names (after the same
normalisation), so `--novel` can drop generated names that occur in the data without the
model file carrying the data. Two different names collide with probability ~ n / 2^64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


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
