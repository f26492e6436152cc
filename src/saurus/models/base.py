"""What every NumPy model shares: its weights in a dict, and generation mixed in (as
Hugging Face's GenerationMixin), so that `model.generate(...)` and `model.score(...)` run
the one sampling and scoring path of saurus.generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from saurus.data.vocab import Vocab
from saurus.generation.api import generate, score
from saurus.protocol import START


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
        return generate(self, prompt, **options)  # type: ignore[arg-type]

    def score(self, texts: str | Sequence[str], **options: Any) -> list[Any]:
        """Nats, bits per character and perplexity of each text (saurus.generation.api.Score);
        `category=` for a model trained on labelled names."""
        return score(self, texts, **options)  # type: ignore[arg-type]

    def num_params(self) -> int:
        return sum(w.size for w in self.params.values())

    def is_finite(self) -> bool:
        """False once training has diverged (a weight became NaN or infinite)."""
        return all(np.isfinite(w).all() for w in self.params.values())
