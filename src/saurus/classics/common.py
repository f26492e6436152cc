"""What both recipes share: a sorted vocabulary, text as indices, and a memory check."""

from __future__ import annotations

import numpy as np

from saurus.errors import DataError, VocabularyError
from saurus.resources import check_fits

FLOAT_BYTES = 8  # the recipes compute in float64, as the originals' NumPy code does


def sorted_vocab(text: str) -> tuple[str, ...]:
    """The distinct characters of `text` in code-point order.

    The originals use `list(set(chars))`, whose order changes from one Python process to
    the next (string hashing is salted); sorting makes the indices, and so every run with
    the same seed, repeatable."""
    return tuple(sorted(set(text)))


def encode(text: str, vocab: tuple[str, ...]) -> np.ndarray:
    """The index of every character of `text` in `vocab` (sorted), as int64, without a
    Python loop: code points, then a binary search among the vocabulary's."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    table = np.frombuffer("".join(vocab).encode("utf-32-le"), dtype="<u4")
    ids = np.searchsorted(table, codes)
    bad = (ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] != codes)
    if bad.any():
        ch = text[int(np.argmax(bad))]
        raise VocabularyError(f"character {ch!r} is not in the vocabulary")
    return ids.astype(np.int64)


def require_length(text: str, needed: int, what: str, where: str) -> None:
    """Raise DataError unless `text` has at least `needed` characters."""
    if len(text) < needed:
        raise DataError(f"{where} has {len(text)} characters; {what} needs at least {needed}")


def check_recipe_fits(floats: float, what: str, advice: str) -> None:
    """Refuse, with the size in the message, a job of `floats` float64 values that cannot fit."""
    check_fits(FLOAT_BYTES * floats, what, advice)
