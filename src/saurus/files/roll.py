"""Piano-roll models (saurus.models.roll) in the one model-file format.

A file holds kind "piano-roll"; loading checks the kind, then every shape, dtype and
value (RollModel.from_file), and a foreign or damaged file is one ModelFileError line.
The generic loader (saurus.files.models) does not list the kind: its callers expect a
token model with a vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saurus.errors import ModelFileError
from saurus.files.model_file import load_model_file, save_model_file
from saurus.models.roll import RollModel


def save_roll(model: RollModel, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write `model` (and `extra` metadata, e.g. its validation figures) to `path` atomically."""
    meta, arrays = model.to_file()
    save_model_file(path, {**(extra or {}), **meta}, arrays)


def load_roll(path: str | Path) -> tuple[RollModel, dict[str, Any]]:
    """The piano-roll model of a file written by `save_roll`, and the file's metadata."""
    record = load_model_file(path)
    kind = record.meta.get("kind")
    if kind != RollModel.kind:
        raise ModelFileError(f"{path} holds a model of kind {kind!r}, not a {RollModel.kind} model")
    try:
        return RollModel.from_file(record.meta, record.arrays), record.meta
    except ModelFileError as err:
        raise ModelFileError(f"{path} is damaged: {err}") from None
