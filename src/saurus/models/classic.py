"""The classic vanilla RNN as a usable saurus model (`saurus train --model classic`).

It is the "Dinosaur Island" network, trained with the reference's own forward and backward
passes (saurus.reference.name_model):

    a_t = tanh(Wax x_t + Waa a_{t-1} + b)      logits_t = Wya a_t + by

lines mode: one name per SGD step, each from a zero state and a zero start input,
    gradients clipped to [-5, 5] (the exercise's recipe);
stream mode: truncated BPTT over `seq_len` characters with the state carried from chunk
    to chunk and Adagrad, as in Karpathy's min-char-rnn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from saurus.data.corpus import Mode
from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError
from saurus.models.base import WeightsModel
from saurus.protocol import START, base_meta, seen_names
from saurus.reference.name_model import (
    GRAD_KEYS,
    clip,
    initialize_parameters,
    name_backward,
    name_forward,
    update_parameters,
)

PARAM_NAMES = ("Wax", "Waa", "Wya", "b", "by")
CLIP = 5.0


@dataclass
class ClassicRNN(WeightsModel):
    params: dict[str, np.ndarray]
    vocab: Vocab
    mode: Mode
    lowercase: bool
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))  # name hashes
    kind: ClassVar[str] = "classic-rnn"

    @classmethod
    def create(cls, vocab: Vocab, mode: Mode, *, hidden: int, seed: int, lowercase: bool) -> ClassicRNN:
        """Weights drawn as in the exercise: randn * 0.01 from RandomState(seed), zero biases."""
        params = initialize_parameters(hidden, vocab.size, vocab.size, seed=seed)
        return cls(params, vocab, mode, lowercase)

    @property
    def hidden(self) -> int:
        return self.params["Waa"].shape[0]

    # --- the SequenceModel protocol (row convention: state (B, H), logits (B, V)) ---

    def start(self, batch: int) -> np.ndarray:
        return np.zeros((batch, self.hidden))

    def step(self, state: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """a = tanh(x Wax^T + a Waa^T + b^T) with x the one-hot row of ids (zeros for START)."""
        p = self.params
        x_proj = np.where((ids == START)[:, None], 0.0, p["Wax"].T[np.maximum(ids, 0)])
        a = np.tanh(x_proj + state @ p["Waa"].T + p["b"].T)
        return a @ p["Wya"].T + p["by"].T, a

    # --- training ---

    def fit_lines(
        self, names: Sequence[np.ndarray], iterations: int, lr: float, rng: np.random.Generator
    ) -> Iterator[tuple[float, int]]:
        """Per-example SGD; yields (loss in nats, characters predicted) after each name.
        The names are visited in a fresh random order every epoch."""
        eos = self.vocab.eos_id
        zeros = np.zeros((self.hidden, 1))
        order = rng.permutation(len(names))
        for j in range(iterations):
            if j and j % len(names) == 0:
                order = rng.permutation(len(names))
            ids = names[order[j % len(names)]].tolist()
            X: list[int | None] = [None, *ids]
            Y = [*ids, eos]
            loss, cache = name_forward(X, Y, zeros, self.params)
            gradients, _ = name_backward(X, Y, self.params, cache)
            update_parameters(self.params, clip(gradients, CLIP), lr)
            yield loss, len(Y)

    def fit_stream(
        self, ids: np.ndarray, iterations: int, lr: float, seq_len: int
    ) -> Iterator[tuple[float, int]]:
        """Truncated BPTT with Adagrad (mem += g^2; W -= lr g / sqrt(mem + 1e-8)).
        The text is read as inputs [START, c_0, ..., c_{n-2}] -> targets [c_0, ..., c_{n-1}];
        the state is carried between chunks and reset at the start of every pass."""
        inputs: list[int | None] = [None, *ids[:-1].tolist()]
        targets = ids.tolist()
        memory = {k: np.zeros_like(self.params[k[1:]]) for k in GRAD_KEYS}
        a_prev = np.zeros((self.hidden, 1))
        p = 0
        for _ in range(iterations):
            if p >= len(targets):
                p, a_prev = 0, np.zeros((self.hidden, 1))
            X, Y = inputs[p : p + seq_len], targets[p : p + seq_len]
            loss, cache = name_forward(X, Y, a_prev, self.params)
            gradients, a = name_backward(X, Y, self.params, cache)
            clip(gradients, CLIP)
            for key in GRAD_KEYS:
                memory[key] += gradients[key] ** 2
                self.params[key[1:]] -= lr * gradients[key] / np.sqrt(memory[key] + 1e-8)
            a_prev = a[len(X) - 1]
            p += seq_len
            yield loss, len(Y)

    # --- files ---

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            **base_meta(self),
            "hidden": self.hidden,
        }
        return meta, {**self.params, "seen_names": self.seen}

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ClassicRNN:
        vocab = Vocab.from_json(meta.get("vocab"))
        mode, lowercase, hidden = meta.get("mode"), meta.get("lowercase"), meta.get("hidden")
        if mode not in ("lines", "stream") or not isinstance(lowercase, bool):
            raise ModelFileError("the model's mode or lowercase setting is malformed")
        if not isinstance(hidden, int) or hidden <= 0:
            raise ModelFileError("the model's hidden size is malformed")
        if mode == "lines" and vocab.eos_id is None:
            raise ModelFileError("a lines model's vocabulary lacks the end token")
        V, H = vocab.size, hidden
        shapes = {"Wax": (H, V), "Waa": (H, H), "Wya": (V, H), "b": (H, 1), "by": (V, 1)}
        params = {}
        for name, shape in shapes.items():
            array = arrays.get(name)
            if array is None or array.shape != shape or array.dtype.kind != "f":
                raise ModelFileError(f"the weight {name} is missing or has the wrong shape")
            if not np.all(np.isfinite(array)):
                raise ModelFileError(f"the weight {name} holds NaN or infinite values")
            params[name] = array.astype(np.float64)
        return cls(params, vocab, mode, lowercase, seen_names(arrays))
