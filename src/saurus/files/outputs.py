"""Where saurus writes, checked before any work: the one output policy for every file it
writes (models, logs, training states, pictures, MIDI and WAV files, exported pages).

The rules, so that no file a user had is lost by mistake:
- never over the training data, a folder, or a file that is not a saurus model (or log);
- never over an existing model or log unless `overwrite` (the user said --overwrite);
- the folder is created if missing, and must really take a file (a test file is written
  and removed), so a read-only place fails at once, not at the first checkpoint.
The log of MODEL is MODEL.log.jsonl: the whole file name plus a suffix, so that run.v1 and
run.v2 keep separate logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from saurus.errors import ModelFileError, os_reason
from saurus.files.model_file import META_MEMBER

LOG_SUFFIX = ".log.jsonl"


def log_path_for(model: Path) -> Path:
    return model.with_name(model.name + LOG_SUFFIX)


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_folder(path: Path, what: str) -> None:
    """Create `path`'s folder if needed and prove a file can be written there."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ModelFileError(f"cannot write {what} {path}: {folder} is not a folder") from None
    except OSError as err:
        raise ModelFileError(f"cannot create the folder {folder} for {path}: {os_reason(err)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ModelFileError(f"cannot write {what} {path}: {os_reason(err)}") from None


def is_model_file(path: Path) -> bool:
    """Whether `path` is a saurus model archive (its directory alone is read, not the weights,
    so a damaged model is still recognised as one and may be replaced)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return META_MEMBER in archive.namelist()
    except PermissionError as err:
        raise ModelFileError(f"cannot read {path}: {os_reason(err)}") from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False


def is_training_log(path: Path) -> bool:
    """An empty file, or one whose first line is a saurus evaluation record."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline(1 << 16)
    except (OSError, ValueError):
        return False
    if not first:
        return True
    with contextlib.suppress(ValueError, RecursionError):
        record = json.loads(first)
        return isinstance(record, dict) and "iteration" in record
    return False


PICTURE_SIGNATURES = {".png": (b"\x89PNG\r\n\x1a\n",), ".svg": (b"<?xml", b"<svg"), ".pdf": (b"%PDF",)}


def is_picture(path: Path) -> bool:
    """Whether `path` starts as a picture of its suffix's kind does (an empty file counts)."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return not head or head.lstrip().startswith(PICTURE_SIGNATURES.get(path.suffix.lower(), (b"\0",)))


def any_file(path: Path) -> bool:
    return True


PAGE_MARK = b'<meta name="generator" content="saurus export">'


def is_saurus_page(path: Path) -> bool:
    """A page `saurus export` wrote: its mark in the first 4 KiB."""
    try:
        with path.open("rb") as f:
            return PAGE_MARK in f.read(4096)
    except OSError:
        return False


@dataclass(frozen=True)
class Output:
    """One kind of file saurus writes: what it is called, its option, how to recognise one
    (only a file so recognised is ever replaced), and the suffixes it may have (any when
    empty)."""

    name: str
    option: str
    kind: str
    recognise: Callable[[Path], bool]
    suffixes: tuple[str, ...] = ()


MODEL = Output("the model", "-o", "a saurus model file", is_model_file)
LOG = Output("the training log", "--log", "a saurus training log", is_training_log)
STATE = Output("the training state", "-o", "a saurus training state", is_model_file)
PICTURE = Output("the picture", "-o", "picture", is_picture, tuple(PICTURE_SIGNATURES))
MIDI = Output("the MIDI file", "-o", "a file", any_file)
WAV = Output("the WAV file", "--wav", "a file", any_file)
PAGE = Output("the page", "-o", "a page saurus exported", is_saurus_page, (".html", ".htm"))


def check_output(
    path: Path, what: Output, *, protect: tuple[Path, ...] = (), overwrite: bool = False
) -> None:
    """Fail fast if `path` cannot or should not receive `what`: it names a folder, one of
    the `protect`ed inputs, a suffix `what` cannot have, a file of another kind, or
    (without `overwrite`) one of its kind already; then make its folder and prove it
    writable. An empty file counts as no file."""
    if path.name in ("", ".", "..") or path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name for {what.name} ({what.option})")
    if any(same_file(path, p) for p in protect):
        raise ModelFileError(
            f"refusing to write {what.name} over {path}: it is an input of this command; "
            f"give another {what.option}"
        )
    if what.suffixes and path.suffix.lower() not in what.suffixes:
        names = ", ".join(what.suffixes[:-1]) + f" or {what.suffixes[-1]}"
        raise ModelFileError(f"{what.option} {path}: give a name for {what.name} ending in {names}")
    if path.exists() or path.is_symlink():
        kind = what.kind if what.recognise is not is_picture else f"a {path.suffix[1:].upper()} picture"
        if not path.is_file() or not what.recognise(path):
            raise ModelFileError(f"refusing to overwrite {path}: it is not {kind}; choose another name")
        if not overwrite and path.stat().st_size:
            shown = "" if what.recognise is any_file else f" ({kind})"
            raise ModelFileError(
                f"{path} already exists{shown}; pass --overwrite to replace it, or give another {what.option}"
            )
    check_folder(path, what.name)
