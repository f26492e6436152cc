"""What every saurus model offers to sampling, scoring and saving.

A model reads one token per step for a batch of sequences:
    logits_t, state_t = step(state_{t-1}, ids_{t-1})
where ids is an int array (B,) and START (-1) marks the start of a sequence.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from saurus.data.corpus import Mode
from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError

START = -1


class SequenceModel(Protocol):
    kind: ClassVar[str]
    vocab: Vocab
    mode: Mode
    lowercase: bool

    def start(self, batch: int) -> Any:
        """The state before the first token of `batch` sequences."""

    def step(self, state: Any, ids: np.ndarray) -> tuple[np.ndarray, Any]:
        """Feed ids (B,) (START for the start token); return logits (B, V) and the new state."""

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays for a model file."""


def base_meta(model: SequenceModel) -> dict[str, Any]:
    """The metadata every model file holds, whatever the kind of model."""
    return {
        "kind": model.kind,
        "mode": model.mode,
        "lowercase": model.lowercase,
        "vocab": model.vocab.to_json(),
    }


def seen_names(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The sorted 64-bit hashes of the training data's lines a model file records (see
    saurus.generation.novelty); empty when the file records none."""
    seen = arrays.get("seen_names", np.zeros(0, dtype=np.uint64))
    if seen.dtype != np.uint64 or seen.ndim != 1:
        raise ModelFileError("the model's list of seen names is malformed")
    return seen
