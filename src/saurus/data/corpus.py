"""Corpora: reading UTF-8 text and turning it into examples.

LinesCorpus: one example per line (names); each example is trained as
    input  = <start> + name      target = name + "\\n"
StreamCorpus: continuous text (sonnets, lyrics), cut into chunks for truncated BPTT.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from saurus.data.stream_file import MappedText
from saurus.data.vocab import EOS, Vocab
from saurus.errors import DataError, OptionError, os_reason
from saurus.resources import check_fits, human

Mode = Literal["lines", "stream"]
MODES: tuple[Mode, ...] = ("lines", "stream")


MAX_LINE_CHARS = 10_000  # the longest example lines mode takes (a name, a short line)
# memory per byte of text: the bytes, the str (up to 4 bytes a character), its lines, the
# int64 ids, the batches and hashes made of them
TEXT_BYTES_FACTOR = 40


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file; newlines become "\\n" and a leading byte-order mark is dropped.
    Only regular files are read (a device or a pipe could be endless), and only when the
    text and what is made of it fit in memory."""
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path} is not a regular file (a device or a pipe); give a text file")
        check_fits(
            TEXT_BYTES_FACTOR * info.st_size,
            f"reading {path} ({human(info.st_size)})",
            "give a smaller file",
        )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not a text file") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {os_reason(err)}") from None
    return decode_text(raw, str(path))


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 bytes as text with "\\n" newlines; `name` says where they came from in errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{name} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "convert it to UTF-8 first"
        ) from None
    if "\x00" in text:
        raise DataError(f"{name} holds NUL bytes: it looks like a binary file, not text")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(f"{name} is empty")
    return text


def line_and_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of character `pos` of `text`."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def longest_line(text: str) -> tuple[int, int]:
    """(1-based number, length) of the longest stripped line of `text`."""
    lengths = [len(line.strip()) for line in text.split(EOS)]
    number = max(range(len(lengths)), key=lengths.__getitem__)
    return number + 1, lengths[number]


def stripped_lines(text: str) -> tuple[str, ...]:
    """The non-empty lines of `text`, stripped of surrounding whitespace."""
    return tuple(s for s in (line.strip() for line in text.split(EOS)) if s)


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
        what = "1 example is" if n == 1 else f"{n} examples are"
        raise DataError(
            f"{what} too few to hold out {val_fraction:.0%} for validation; "
            "train on all of it with --val-fraction 0"
        )
    return k


@dataclass(frozen=True)
class LinesCorpus:
    """One example per non-empty line, stripped of surrounding whitespace. Labelled names
    (saurus.data.labelled) also hold each example's category: `labels[i]` indexes
    `categories`, the sorted labels of the whole data (kept by every part split from it)."""

    examples: tuple[str, ...]
    labels: tuple[int, ...] | None = None
    categories: tuple[str, ...] = ()
    mode: ClassVar[Mode] = "lines"

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def part(self, rows: list[int]) -> LinesCorpus:
        """The examples at `rows` (in that order), with their labels."""
        labels = None if self.labels is None else tuple(self.labels[i] for i in rows)
        return LinesCorpus(tuple(self.examples[i] for i in rows), labels, self.categories)

    def category_counts(self) -> np.ndarray:
        """How many examples each category has (K,)."""
        assert self.labels is not None
        return np.bincount(np.array(self.labels, dtype=np.int64), minlength=len(self.categories))

    def by_category(self) -> list[tuple[int, LinesCorpus]]:
        """(category, its examples) for each category that has any."""
        assert self.labels is not None
        rows: dict[int, list[int]] = {}
        for i, label in enumerate(self.labels):
            rows.setdefault(label, []).append(i)
        return [(k, self.part(rows[k])) for k in sorted(rows)]

    @classmethod
    def from_text(cls, text: str, *, lowercase: bool = False) -> LinesCorpus:
        examples = stripped_lines(normalise(text, lowercase=lowercase))
        if not examples:
            raise DataError("the data has no non-empty lines")
        if max(map(len, examples)) > MAX_LINE_CHARS:
            number, length = longest_line(normalise(text, lowercase=lowercase))
            raise DataError(
                f"line {number} has {length:,} characters, but lines mode takes one example per "
                f"line of at most {MAX_LINE_CHARS:,} (a name); running text needs --mode stream"
            )
        return cls(examples)

    def lines(self) -> tuple[str, ...]:
        """The examples: what a model remembers (as hashes) of its training data."""
        return self.examples

    def vocab(self) -> Vocab:
        """The examples' characters and "\n" (worked out once: a list of millions of names
        takes a second)."""
        known = self.__dict__.get("_vocab")
        if known is None:
            known = Vocab.from_text(self.examples, with_eos=True)
            object.__setattr__(self, "_vocab", known)
        return known

    def split(self, val_fraction: float, seed: int) -> tuple[LinesCorpus, LinesCorpus]:
        """Shuffle the examples with `seed`, then hold out `val_fraction` of them. Labelled
        names are split by distinct name (a name under two labels goes to one side whole),
        and a category left with no training name gets its names back from validation."""
        if self.labels is not None:
            return self.split_by_name(val_fraction, seed)
        k = split_fraction_count(len(self.examples), val_fraction)
        order = np.random.default_rng(seed).permutation(len(self.examples))
        pick = self.examples.__getitem__
        val = tuple(map(pick, np.sort(order[:k]).tolist()))
        train = tuple(map(pick, np.sort(order[k:]).tolist()))
        return LinesCorpus(train), LinesCorpus(val)

    def split_by_name(self, val_fraction: float, seed: int) -> tuple[LinesCorpus, LinesCorpus]:
        assert self.labels is not None
        distinct = list(dict.fromkeys(self.examples))
        k = split_fraction_count(len(distinct), val_fraction)
        order = np.random.default_rng(seed).permutation(len(distinct))
        held = {distinct[i] for i in order[:k].tolist()}
        in_val = [name in held for name in self.examples]
        trained = {label for label, v in zip(self.labels, in_val, strict=True) if not v}
        in_val = [v and label in trained for label, v in zip(self.labels, in_val, strict=True)]
        val = [i for i, v in enumerate(in_val) if v]
        train = [i for i, v in enumerate(in_val) if not v]
        if not val:
            raise DataError("the labelled names are too few to hold any out; train with --val-fraction 0")
        return self.part(train), self.part(val)

    def encode(self, vocab: Vocab) -> list[np.ndarray]:
        """Each example as ids, without the end token (the model adds it as the last target)."""
        return [vocab.encode(name) for name in self.examples]

    def num_chars(self) -> int:
        """Characters predicted in one pass: every letter plus one end token per example."""
        return sum(len(s) + 1 for s in self.examples)


@dataclass(frozen=True)
class StreamCorpus:
    """Continuous text; the model predicts every character from the ones before it.

    `text` is a str, or a MappedText: a file read in bounded memory and kept as memory-mapped
    ids (saurus.data.stream_file), which gives the same vocabulary, ids, splits and line
    record as the file's text would, except that its lines() lists each line once."""

    text: str | MappedText
    mode: ClassVar[Mode] = "stream"
    MAX_VAL_CHARS: ClassVar[int] = 1 << 18  # the longest validation split (see split)

    @classmethod
    def from_text(cls, text: str | MappedText, *, lowercase: bool = False) -> StreamCorpus:
        if isinstance(text, MappedText):
            if text.lowercase != lowercase:
                done = "lowercased" if text.lowercase else "not lowercased"
                raise OptionError(f"{text.source} was read {done}; read it again with lowercase={lowercase}")
        else:
            text = normalise(text, lowercase=lowercase)
        if len(text) < 2:
            raise DataError("the text is too short to learn from (fewer than 2 characters)")
        return cls(text)

    def vocab(self) -> Vocab:
        if isinstance(self.text, MappedText):
            return self.text.vocab()
        return Vocab.from_text(self.text)

    def lines(self) -> tuple[str, ...]:
        """The text's non-empty lines: what a model remembers (as hashes) of its data. A
        MappedText gives its distinct lines, each once, the first MAX_RECORDED_LINES of them."""
        if isinstance(self.text, MappedText):
            return self.text.lines()
        return stripped_lines(self.text)

    def split(self, val_fraction: float, seed: int = 0) -> tuple[StreamCorpus, StreamCorpus]:
        """The first (1 - fraction) of the text trains, the last part validates (as char-rnn
        and nanoGPT do: a contiguous tail leaks nothing across the boundary); the last part
        holds at most MAX_VAL_CHARS (262,144) characters, so that evaluating a large text takes
        bounded time and memory. `seed` is unused and accepted so that both corpus kinds
        split alike."""
        k = min(split_fraction_count(len(self.text), val_fraction), self.MAX_VAL_CHARS)
        cut = len(self.text) - k
        return StreamCorpus(self.text[:cut]), StreamCorpus(self.text[cut:])

    def encode(self, vocab: Vocab) -> list[np.ndarray]:
        """The ids of the text (for a MappedText in its own vocabulary, a view of the map in
        uint8, uint16 or uint32; else int64)."""
        if isinstance(self.text, MappedText):
            return [self.text.encode(vocab)]
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
