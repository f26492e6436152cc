"""What every saurus model offers to sampling, scoring and saving.

A model reads one token per step for a batch of sequences:
    logits_t, state_t = step(state_{t-1}, ids_{t-1})
where ids is an int array (B,) and START (-1) marks the start of a sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class WeightsModel:
    """What models keeping their weights in a dict `params` share (a mixin, no fields)."""

    params: dict[str, np.ndarray]
    vocab: Vocab

    @property
    def start_id(self) -> int:
        """What START reads: the end token, which doubles as the start token, when the
        vocabulary has one; else START itself (a zero input)."""
        eos = self.vocab.eos_id
        return START if eos is None else eos

    def generate(self, prompt: str = "", **options: Any) -> list[str]:
        """Texts that continue `prompt`, with Hugging Face's names (saurus.generation.api):
        max_new_tokens, temperature (0: greedy), top_k, top_p, num_return_sequences, stop, seed."""
        from saurus.generation.api import generate

        return generate(self, prompt, **options)  # type: ignore[arg-type]

    def score(self, texts: str | Sequence[str]) -> list[Any]:
        """Nats, bits per character and perplexity of each text (saurus.generation.api.Score)."""
        from saurus.generation.api import score

        return score(self, texts)  # type: ignore[arg-type]

    def num_params(self) -> int:
        return sum(w.size for w in self.params.values())

    def is_finite(self) -> bool:
        """False once training has diverged (a weight became NaN or infinite)."""
        return all(np.isfinite(w).all() for w in self.params.values())
