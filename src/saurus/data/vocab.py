"""Vocab: the characters a model knows, mapped to ids 0..V-1 in sorted order.

"\\n" is the end-of-sequence token (EOS): in lines mode it ends every example, so it
is always in a lines vocabulary; in stream mode it is an ordinary character. A lone
surrogate (U+D800-U+DFFF) is no character: UTF-8 text cannot hold one, nor can a model,
whose samples must be printable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from saurus.errors import ModelFileError, VocabularyError

EOS = "\n"


def is_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udfff"


def describe_char(ch: str) -> str:
    """A readable name for a character: 'é' (U+00E9), or '\\t' (U+0009) for controls."""
    shown = ch if ch.isprintable() else repr(ch)[1:-1]
    name = unicodedata.name(ch, "")
    tail = f", {name}" if name and not ch.isalnum() else ""
    return f"{shown!r} (U+{ord(ch):04X}{tail})"


@dataclass(frozen=True)
class Vocab:
    """Sorted distinct characters; id i stands for chars[i]."""

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if any(not isinstance(c, str) or len(c) != 1 for c in self.chars):
            raise VocabularyError("a vocabulary holds single characters only")
        if list(self.chars) != sorted(set(self.chars)):
            raise VocabularyError("a vocabulary must be sorted and free of repeats")
        surrogate = next((c for c in self.chars if is_surrogate(c)), None)
        if surrogate is not None:
            raise VocabularyError(
                f"{describe_char(surrogate)} is a lone surrogate, not a character UTF-8 text can "
                "hold (was the text decoded with errors='surrogateescape'?)"
            )
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str | Iterable[str], *, with_eos: bool = False) -> Vocab:
        """The sorted distinct characters of `text` (plus "\\n" when `with_eos`)."""
        chars = set(text) if isinstance(text, str) else set("".join(text))
        if with_eos:
            chars.add(EOS)
        return cls(tuple(sorted(chars)))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._index

    @property
    def eos_id(self) -> int | None:
        """Index of "\\n", or None when the vocabulary has none."""
        return self._index.get(EOS)

    def char_to_ix(self) -> dict[str, int]:
        """The classic exercise's dict view."""
        return dict(self._index)

    def ix_to_char(self) -> dict[int, str]:
        return dict(enumerate(self.chars))

    def encode(self, text: str) -> np.ndarray:
        """Ids of every character of `text`, as int64; an unknown character is an error."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            self.check(text)
            raise

    def check(self, text: str, what: str = "text") -> None:
        """Raise VocabularyError naming the first character of `text` the model lacks."""
        for pos, ch in enumerate(text):
            if ch not in self._index:
                raise VocabularyError(
                    f"{what} has the character {describe_char(ch)} at position {pos}, which is "
                    f"not among the model's {self.size} characters"
                )

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The characters of `ids`; an id outside 0..V-1 is an error (not wrapped around)."""
        chars, size = self.chars, len(self.chars)
        out = []
        for i in ids:
            k = int(i)
            if not 0 <= k < size:
                raise VocabularyError(f"id {k} is outside the vocabulary of {size} characters")
            out.append(chars[k])
        return "".join(out)

    def to_json(self) -> dict[str, list[str]]:
        return {"chars": list(self.chars)}

    @classmethod
    def from_json(cls, data: object) -> Vocab:
        if not isinstance(data, dict) or not isinstance(data.get("chars"), list):
            raise ModelFileError("the vocabulary entry is malformed")
        try:
            return cls(tuple(data["chars"]))
        except VocabularyError as err:
            raise ModelFileError(f"the vocabulary entry is malformed: {err}") from None
