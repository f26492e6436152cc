"""Corpora: reading UTF-8 text and turning it into examples.

LinesCorpus: one example per line (names); each example is trained as
    input  = <start> + name      target = name + "\\n"
StreamCorpus: continuous text (sonnets, lyrics), cut into chunks for truncated BPTT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from saurus.errors import DataError, OptionError
from saurus.vocab import EOS, Vocab

Mode = Literal["lines", "stream"]
MODES: tuple[Mode, ...] = ("lines", "stream")


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file; newlines become "\\n" and a leading byte-order mark is dropped."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not a text file") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "convert it to UTF-8 first"
        ) from None
    if "\x00" in text:
        raise DataError(f"{path} holds NUL bytes: it looks like a binary file, not text")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(f"{path} is empty: there is nothing to learn from")
    return text


def normalise(text: str, *, lowercase: bool) -> str:
    """The normalisation a model applies to everything it reads (training data, prefixes)."""
    return text.lower() if lowercase else text


def split_fraction_count(n: int, val_fraction: float) -> int:
    """How many of `n` items go to validation: round(n * fraction), at least 1 if fraction > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise OptionError(f"the validation fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0.0:
        return 0
    k = max(1, round(n * val_fraction))
    if k >= n:
        raise DataError(f"{n} examples are too few to hold out {val_fraction:.0%} for validation")
    return k


@dataclass(frozen=True)
class LinesCorpus:
    """One example per non-empty line, stripped of surrounding whitespace."""

    examples: tuple[str, ...]
    mode: ClassVar[Mode] = "lines"

    @classmethod
    def from_text(cls, text: str, *, lowercase: bool = False) -> LinesCorpus:
        examples = tuple(
            s for s in (line.strip() for line in normalise(text, lowercase=lowercase).split(EOS)) if s
        )
        if not examples:
            raise DataError("the data has no non-empty lines")
        return cls(examples)

    def vocab(self) -> Vocab:
        return Vocab.from_text(self.examples, with_eos=True)

    def split(self, val_fraction: float, seed: int) -> tuple[LinesCorpus, LinesCorpus]:
        """Shuffle the examples with `seed`, then hold out `val_fraction` of them."""
        k = split_fraction_count(len(self.examples), val_fraction)
        order = np.random.default_rng(seed).permutation(len(self.examples))
        val = tuple(self.examples[i] for i in sorted(order[:k]))
        train = tuple(self.examples[i] for i in sorted(order[k:]))
        return LinesCorpus(train), LinesCorpus(val)

    def encode(self, vocab: Vocab) -> list[np.ndarray]:
        """Each example as ids, without the end token (the model adds it as the last target)."""
        return [vocab.encode(name) for name in self.examples]

    def num_chars(self) -> int:
        """Characters predicted in one pass: every letter plus one end token per example."""
        return sum(len(s) + 1 for s in self.examples)


@dataclass(frozen=True)
class StreamCorpus:
    """Continuous text; the model predicts every character from the ones before it."""

    text: str
    mode: ClassVar[Mode] = "stream"

    @classmethod
    def from_text(cls, text: str, *, lowercase: bool = False) -> StreamCorpus:
        text = normalise(text, lowercase=lowercase)
        if len(text) < 2:
            raise DataError("the text is too short to learn from (fewer than 2 characters)")
        return cls(text)

    def vocab(self) -> Vocab:
        return Vocab.from_text(self.text)

    def split(self, val_fraction: float, seed: int = 0) -> tuple[StreamCorpus, StreamCorpus]:
        """The first (1 - fraction) of the text trains, the last part validates (as char-rnn
        and nanoGPT do: a contiguous tail leaks nothing across the boundary). `seed` is unused
        and accepted so that both corpus kinds split alike."""
        k = split_fraction_count(len(self.text), val_fraction)
        cut = len(self.text) - k
        return StreamCorpus(self.text[:cut]), StreamCorpus(self.text[cut:])

    def encode(self, vocab: Vocab) -> list[np.ndarray]:
        return [vocab.encode(self.text)]

    def num_chars(self) -> int:
        return len(self.text)


Corpus = LinesCorpus | StreamCorpus


def make_corpus(text: str, mode: Mode, *, lowercase: bool = False) -> Corpus:
    if mode == "lines":
        return LinesCorpus.from_text(text, lowercase=lowercase)
    if mode == "stream":
        return StreamCorpus.from_text(text, lowercase=lowercase)
    raise OptionError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
