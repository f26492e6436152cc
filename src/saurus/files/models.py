"""Saving and loading models of every kind through one file format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saurus.errors import ModelFileError, OptionError
from saurus.files.model_file import load_model_file, save_model_file
from saurus.files.pretrained import resolve
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel

MODEL_KINDS: dict[str, Any] = {ClassicRNN.kind: ClassicRNN, CharModel.kind: CharModel}
MODEL_KINDS[TransformerModel.kind] = TransformerModel


def save(model: SequenceModel, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write `model` (and `extra` metadata, e.g. training figures) to `path` atomically."""
    meta, arrays = model.to_file()
    save_model_file(path, {**meta, **(extra or {})}, arrays)


def load(path: str | Path) -> SequenceModel:
    """Load a model file written by `save`, or a pretrained model by name ("dinos",
    "shakespeare"); a foreign or damaged file is a ModelFileError."""
    return load_with_meta(path)[0]


def load_with_meta(path: str | Path) -> tuple[SequenceModel, dict[str, Any]]:
    """The model of a file written by `save` (or a pretrained name), and the file's metadata
    (with what `extra` added)."""
    path = resolve(path)
    record = load_model_file(path)
    kind = record.meta.get("kind")
    cls = MODEL_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{path} holds a model of unknown kind {kind!r}")
    try:
        return cls.from_file(record.meta, record.arrays), record.meta
    except ModelFileError as err:
        raise ModelFileError(f"{path} is damaged: {err}") from None


MUSIC_KEY = "music"  # the metadata only a music model's file holds (its token table)


def load_for(path: str | Path, use: str, instead: str) -> tuple[SequenceModel, dict[str, Any]]:
    """The model of a file (and its metadata) for `use`, "text" (names and text) or
    "music"; a model of the other use is an OptionError that ends with `instead` (what the
    user can do)."""
    model, meta = load_with_meta(path)
    if use == "text" and MUSIC_KEY in meta:
        raise OptionError(f"{path} is a music model; {instead}")
    if use == "music" and MUSIC_KEY not in meta:
        raise OptionError(f"{path} is not a music model; {instead}")
    return model, meta
