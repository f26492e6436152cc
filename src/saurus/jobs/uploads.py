"""Uploaded training data: checked whole before a byte is kept, then stored under a name
saurus chooses (the uploaded file's name is only shown, never used as a path).

Refused, with one line each: more than `max_bytes`, text that is not UTF-8 or holds NUL
bytes (a binary file: an archive, an image, a zip bomb, which is never unpacked), mostly
control characters, empty text, more than `max_chars` characters or `max_lines` lines,
and a data folder that would pass `max_disk` bytes. Nothing is written for a refused
upload; an accepted one is written atomically.

Labelled names (a .tsv or .csv of name and label, or any upload asked for as labelled,
read as name<TAB>label lines) are also checked as a table (saurus.data.labelled), so that
a broken one is refused here and not when it trains; they are kept as .tsv or .csv, the
suffix by which `saurus train` reads them.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from saurus.atomic import atomic_write_bytes
from saurus.data.corpus import decode_text
from saurus.data.labelled import LABELLED_SUFFIXES, decode_labelled, labelled_corpus
from saurus.errors import DataError
from saurus.resources import human

MiB = 1024**2
MAX_UPLOAD_BYTES = 16 * MiB
MAX_UPLOAD_CHARS = 20_000_000
MAX_UPLOAD_LINES = 2_000_000
MAX_DISK_BYTES = 2048 * MiB
MAX_SHOWN_NAME = 80
CONTROL_SHARE = 0.01  # more control characters than this (tabs and newlines aside): binary


class UploadError(DataError):
    """An upload that is not kept; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = MAX_UPLOAD_BYTES
    max_chars: int = MAX_UPLOAD_CHARS
    max_lines: int = MAX_UPLOAD_LINES
    max_disk: int = MAX_DISK_BYTES


@dataclass(frozen=True)
class Upload:
    """An accepted upload: where saurus keeps it and what it holds."""

    path: Path
    shown_name: str
    chars: int
    lines: int
    categories: int = 0  # labelled names: how many categories (0: a plain list or text)


def shown_name(filename: str | None) -> str:
    """The uploaded file's name as it may be shown: its last path part, printable
    characters only, at most MAX_SHOWN_NAME of them ("upload.txt" when nothing is left)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in base if unicodedata.category(c)[0] not in "CZ" or c == " ").strip()
    return kept[:MAX_SHOWN_NAME] or "upload.txt"


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (links are not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def check_text(raw: bytes, limits: UploadLimits) -> tuple[str, int]:
    """The upload as text and its line count, or UploadError saying why not."""
    if len(raw) > limits.max_bytes:
        raise UploadError(f"the file must be at most {human(limits.max_bytes)}", 413)
    try:
        text = decode_text(raw, "the uploaded file")
    except DataError as err:
        raise UploadError(str(err), 415 if "UTF-8" in str(err) or "NUL" in str(err) else 400) from None
    controls = sum(1 for c in text if c not in "\n\t" and unicodedata.category(c) == "Cc")
    if controls > CONTROL_SHARE * len(text):
        raise UploadError(
            f"the uploaded file is {controls / len(text):.0%} control characters: it looks binary, not text",
            415,
        )
    if len(text) > limits.max_chars:
        raise UploadError(f"the file holds {len(text):,} characters; at most {limits.max_chars:,}", 413)
    lines = text.count("\n") + (not text.endswith("\n"))
    if lines > limits.max_lines:
        raise UploadError(f"the file holds {lines:,} lines; at most {limits.max_lines:,}", 413)
    return text, lines


def table_suffix(filename: str | None, labelled: bool) -> str | None:
    """The suffix labelled names are kept under: the uploaded file's own .tsv or .csv, else
    .tsv (name<TAB>label lines) when asked for as labelled; None for a plain list or text."""
    suffix = Path(shown_name(filename)).suffix.lower()
    if suffix in LABELLED_SUFFIXES:
        return suffix
    return ".tsv" if labelled else None


def check_table(raw: bytes, shown: str, suffix: str) -> int:
    """How many categories the labelled names in `raw` have, or UploadError saying what is
    wrong with the table (a row without a label, a name too long, too many labels)."""
    try:
        return len(labelled_corpus(decode_labelled(raw, shown, suffix)).categories or ())
    except DataError as err:
        raise UploadError(str(err)) from None


def store_upload(
    raw: bytes, filename: str | None, folder: Path, limits: UploadLimits, *, labelled: bool = False
) -> Upload:
    """Check `raw` and keep it as folder/uploads/<random>.txt (UTF-8, "\\n" newlines), or as
    <random>.tsv / .csv for labelled names (see table_suffix)."""
    text, lines = check_text(raw, limits)
    suffix = table_suffix(filename, labelled)
    categories = 0 if suffix is None else check_table(raw, shown_name(filename), suffix)
    data = text.encode("utf-8")
    used = folder_bytes(folder)
    if used + len(data) > limits.max_disk:
        raise UploadError(
            f"the data folder holds {human(used)} of its {human(limits.max_disk)}; "
            "delete old jobs or start the server with a larger --max-disk-mb",
            507,
        )
    path = folder / "uploads" / f"{secrets.token_hex(8)}{suffix or '.txt'}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return Upload(path, shown_name(filename), len(text), lines, categories)
