"""What the monitor needs of a model in training, whatever backend trains it.

The monitor evaluates, keeps the best weights aside, puts them back, and saves the model
as NumPy runs it; each backend offers that through this one small protocol (the NumPy
backend in backends/numpy.py, torch in backends/torch/train.py), so the monitor never
asks what kind of arrays it holds.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from saurus.data.corpus import Corpus
from saurus.generation.scoring import LossReport
from saurus.protocol import SequenceModel

Weights = dict[str, Any]  # by name, in the backend's own arrays


class Trainee(Protocol):
    def is_finite(self) -> bool:
        """False once training has diverged (a weight became NaN or infinite)."""

    def evaluate(self, corpus: Corpus) -> LossReport:
        """The loss of the current weights on `corpus`, in nats per character."""

    def estimate_eval_seconds(self, corpus: Corpus) -> float:
        """How long `evaluate(corpus)` should take, from timing a few of its steps."""

    def as_numpy(self) -> SequenceModel:
        """The model with the current weights, as NumPy runs it (to save and sample)."""

    def copy_weights(self) -> Weights:
        """A copy of the current weights."""

    def set_weights(self, weights: Weights) -> None:
        """Make `weights` (from `copy_weights`) the current weights."""

    def weights_as_arrays(self, weights: Weights) -> dict[str, np.ndarray]:
        """`weights` as NumPy arrays, to save in the training state."""

    def weights_from_arrays(self, arrays: dict[str, np.ndarray]) -> Weights:
        """The weights that `weights_as_arrays` saved, in the backend's own arrays."""
