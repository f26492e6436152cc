"""Labelled names: each name with its category, for models conditioned on a category.

Two layouts are read, both into one canonical text, a line per name: ``name<TAB>label``.

- a folder of ``*.txt`` files, one per category, the file's stem its label (the layout of
  the PyTorch tutorial "Generating names with a character-level RNN");
- a ``.tsv`` or ``.csv`` file of two columns, name and label (a first row ``name,label``,
  or with ``category`` / ``language`` for the label, is a header and skipped).

Duplicate (name, label) pairs count once: a list that repeats a name (the tutorial's
Arabic.txt holds 2,000 lines but 109 distinct names) would otherwise weigh it in training
and leak it into the validation split.
"""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

from saurus.data.corpus import MAX_LINE_CHARS, LinesCorpus, decode_text, read_text
from saurus.errors import DataError, os_reason

SEPARATOR = "\t"
LABELLED_SUFFIXES = (".tsv", ".csv")
MAX_CATEGORIES = 1000  # more distinct labels than this is a column of names, not of categories
MAX_FILES = 10_000
HEADER_LABELS = ("label", "category", "language", "class")


def is_labelled(path: Path) -> bool:
    """Whether `path` is labelled data by its layout: a folder, or a .tsv or .csv file."""
    return path.is_dir() or path.suffix.lower() in LABELLED_SUFFIXES


def read_labelled(path: Path) -> str:
    """The labelled names of the folder or table at `path` as ``name<TAB>label`` lines."""
    if path.is_dir():
        return canonical(folder_pairs(path), str(path))
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise DataError(f"{path} is not a regular file; give a .tsv or .csv file or a folder")
    except FileNotFoundError:
        raise DataError(f"no such file or folder: {path}") from None
    return canonical(table_pairs(read_text(path), path.suffix.lower(), str(path)), str(path))


def folder_pairs(folder: Path) -> list[tuple[str, str]]:
    """(name, label) for every line of every *.txt file of `folder` (label: the file's stem)."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and not p.name.startswith("."))
    except OSError as err:
        raise DataError(f"cannot read the folder {folder}: {os_reason(err)}") from None
    if not files:
        raise DataError(f"{folder} holds no .txt files; give one file per category, named by its label")
    if len(files) > MAX_FILES:
        raise DataError(f"{folder} holds {len(files):,} .txt files, over the limit of {MAX_FILES:,}")
    pairs = []
    for file in files:
        names = [line.strip() for line in read_text(file).split("\n")]
        pairs += [(name, file.stem) for name in names if name]
    return pairs


def table_pairs(text: str, suffix: str, where: str) -> list[tuple[str, str]]:
    """(name, label) for every row of a two-column table (CSV with quotes, or tab-separated)."""
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
    else:
        rows = [line.split(SEPARATOR) for line in text.split("\n")]
    pairs = []
    for number, row in enumerate(rows, 1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != 2 or not all(cells):
            sep = "a comma" if suffix == ".csv" else "a tab"
            raise DataError(
                f"{where}, line {number}: expected a name and a label separated by {sep}, got {row!r}"[:300]
            )
        if not pairs and cells[0].lower() == "name" and cells[1].lower() in HEADER_LABELS:
            continue  # a header
        pairs.append((cells[0], cells[1]))
    return pairs


def canonical(pairs: list[tuple[str, str]], where: str) -> str:
    """The pairs as ``name<TAB>label`` lines, after checking that they make categories."""
    if not pairs:
        raise DataError(f"{where} holds no names")
    for name, label in pairs:
        if SEPARATOR in name or SEPARATOR in label or "\n" in name or "\n" in label:
            raise DataError(f"{where}: the name or label {name!r} holds a tab or a line break")
    labels = {label for _, label in pairs}
    if len(labels) > MAX_CATEGORIES:
        raise DataError(
            f"{where} has {len(labels):,} distinct labels, over the limit of {MAX_CATEGORIES:,}: "
            "is the label column the second one?"
        )
    return "".join(f"{name}{SEPARATOR}{label}\n" for name, label in pairs)


def parse_pairs(text: str, *, lowercase: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and their labels of canonical labelled text, each (name, label) pair once,
    in the order first met; the names normalised (lower-cased) as the model reads them."""
    seen: set[tuple[str, str]] = set()
    names, labels = [], []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        name, sep, label = line.rpartition(SEPARATOR)
        name, label = name.strip(), label.strip()
        if not sep or not name or not label:
            raise DataError(f"labelled data, line {number}: expected name<TAB>label, got {line[:80]!r}")
        if lowercase:
            name = name.lower()
        if (name, label) not in seen:
            seen.add((name, label))
            names.append(name)
            labels.append(label)
    if not names:
        raise DataError("the labelled data holds no names")
    return tuple(names), tuple(labels)


def decode_labelled(raw: bytes, name: str, suffix: str) -> str:
    """Uploaded bytes of a .tsv or .csv table as canonical labelled text."""
    return canonical(table_pairs(decode_text(raw, name), suffix, name), name)


def labelled_corpus(text: str, *, lowercase: bool = False) -> LinesCorpus:
    """The LinesCorpus of canonical labelled text: its names, and each name's category
    among the sorted labels."""
    names, labels = parse_pairs(text, lowercase=lowercase)
    longest = max(map(len, names))
    if longest > MAX_LINE_CHARS:
        raise DataError(f"a name has {longest:,} characters, over the limit of {MAX_LINE_CHARS:,}")
    categories = tuple(sorted(set(labels)))
    if len(categories) > MAX_CATEGORIES:
        raise DataError(f"the data has {len(categories):,} labels, over the limit of {MAX_CATEGORIES:,}")
    index = {label: k for k, label in enumerate(categories)}
    return LinesCorpus(names, tuple(index[label] for label in labels), categories)
