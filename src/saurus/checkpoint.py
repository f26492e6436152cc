"""Model files: one .npz archive holding the weights plus a JSON metadata entry.

Nothing in a model file can run code: arrays are read with allow_pickle=False and the
metadata is plain JSON. Files are written atomically, so a crash mid-save leaves the
previous file intact.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saurus.atomic import atomic_write_with
from saurus.errors import ModelFileError

FORMAT = "saurus-model"
FORMAT_VERSION = 1
META_KEY = "__saurus__"
PARAM_PREFIX = "param/"


@dataclass(frozen=True)
class ModelFile:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def save_model_file(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` and `meta` (JSON-serialisable) to `path` atomically."""
    record = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    payload = {PARAM_PREFIX + k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload[META_KEY] = np.array(json.dumps(record, ensure_ascii=False))
    try:
        atomic_write_with(path, lambda handle: np.savez(handle, **payload))
    except OSError as err:
        raise ModelFileError(f"cannot write {path}: {err.strerror or err}") from None


def check_writable_model_path(path: str | Path, *, protect: tuple[Path, ...] = ()) -> None:
    """Fail fast, before any training, if `path` cannot or should not receive a model: it is
    one of the `protect`ed inputs, a folder, an existing file that is not a saurus model
    (a typo must not destroy data), or in a folder we cannot write to."""
    path = Path(path)
    if any(path.resolve() == p.resolve() for p in protect):
        raise ModelFileError(f"refusing to write the model over the training data {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name for the model")
    if path.exists():
        try:
            load_model_file(path)
        except ModelFileError:
            raise ModelFileError(
                f"refusing to overwrite {path}: it is not a saurus model file; choose another name"
            ) from None
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ModelFileError(f"cannot write {path}: its folder is not writable")


def load_model_file(path: str | Path) -> ModelFile:
    """Read and check a model file; anything but an intact saurus model is a ModelFileError."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"no model file at {path}")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    not_ours = f"{path} is not a saurus model file"
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{not_ours} (it holds a bare array, not a model archive)")
        with archive:
            contents = {name: archive[name] for name in archive.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        detail = (
            "it is truncated or corrupt"
            if zipfile.is_zipfile(path) or _looks_like_zip(path)
            else "it is not a model archive"
        )
        raise ModelFileError(f"{not_ours} ({detail}: {err})") from None
    meta_array = contents.pop(META_KEY, None)
    if meta_array is None or meta_array.dtype.kind != "U" or meta_array.ndim != 0:
        raise ModelFileError(f"{not_ours} (no saurus metadata)")
    try:
        meta = json.loads(str(meta_array))
    except json.JSONDecodeError:
        raise ModelFileError(f"{not_ours} (its metadata is not valid JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{not_ours} (unknown format)")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{not_ours} (its format version is missing)")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer saurus (format version {version}); upgrade saurus"
        )
    arrays = {k[len(PARAM_PREFIX) :]: v for k, v in contents.items() if k.startswith(PARAM_PREFIX)}
    return ModelFile(meta, arrays)


def _looks_like_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def check_writable_log_path(path: str | Path, *, protect: tuple[Path, ...] = ()) -> None:
    """The training log may replace an earlier saurus log, never the data, the model or any
    other file."""
    path = Path(path)
    if any(path.resolve() == p.resolve() for p in protect):
        raise ModelFileError(f"refusing to write the training log over {path}; give another --log")
    if path.is_dir():
        raise ModelFileError(f"--log {path} is a folder; give a file name")
    if path.exists() and path.stat().st_size:
        try:
            with path.open(encoding="utf-8") as f:
                first = json.loads(f.readline())
        except (OSError, ValueError):
            first = None
        if not isinstance(first, dict) or "iteration" not in first:
            raise ModelFileError(f"refusing to overwrite {path}: it is not a saurus training log")
