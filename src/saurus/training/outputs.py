"""Where `saurus train` writes, checked before any training: the model file and its log.

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
from saurus.files.checkpoint import META_MEMBER

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


@dataclass(frozen=True)
class Output:
    """One kind of file train writes: what it is called, its option, how to recognise one."""

    name: str
    option: str
    kind: str
    recognise: Callable[[Path], bool]


MODEL = Output("the model", "-o", "a saurus model file", is_model_file)
LOG = Output("the training log", "--log", "a saurus training log", is_training_log)


def check_output(
    path: Path, what: Output, *, protect: tuple[Path, ...] = (), overwrite: bool = False
) -> None:
    """Fail fast if `path` cannot or should not receive `what`: it is one of the `protect`ed
    inputs, a folder, a file of another kind, or (without `overwrite`) one of its kind
    already; then make its folder and prove it writable."""
    if any(same_file(path, p) for p in protect):
        raise ModelFileError(f"refusing to write {what.name} over {path}; give another {what.option}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name for {what.name} ({what.option})")
    if path.exists() or path.is_symlink():
        if not path.is_file() or not what.recognise(path):
            raise ModelFileError(f"refusing to overwrite {path}: it is not {what.kind}; choose another name")
        if not overwrite and path.stat().st_size:
            raise ModelFileError(
                f"{path} already exists ({what.kind}); pass --overwrite to replace it, "
                f"or give another {what.option}"
            )
    check_folder(path, what.name)
