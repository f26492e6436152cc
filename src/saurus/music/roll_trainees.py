"""What train_roll asks of an engine, and the NumPy engine's answer.

A RollTrainee holds a piano-roll model's weights and its optimizer state:

    train_batch(rolls, lengths, rng)   one Adam step on the batch's mean NLL per frame
                                       (gradients clipped to a global norm), returns it
    log_likelihoods(rolls, lengths)    (W, B) log P(y_t | y_<t), dropout off
    snapshot() / restore(model)        the weights as a NumPy RollModel, and back
    set_lr(lr)                         the learning rate of the steps to come

Rolls are time-major (W, B, 88) float arrays padded with zeros, lengths (B,). The torch
engine's trainee is saurus.training.backends.torch.roll_trainee.
"""

from __future__ import annotations

import copy
from typing import Protocol

import numpy as np

from saurus.models.optim import Optimizer, clip_global_norm
from saurus.models.roll import RollModel


class RollTrainee(Protocol):
    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float: ...

    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...

    def snapshot(self) -> RollModel: ...

    def restore(self, model: RollModel) -> None: ...

    def set_lr(self, lr: float) -> None: ...


class NumpyRollTrainee:
    """The NumPy engine: RollModel's own backward pass and saurus's Adam."""

    def __init__(self, model: RollModel, lr: float, clip: float) -> None:
        self.model, self.lr, self.clip = copy.deepcopy(model), lr, clip
        self.optimizer = Optimizer("adam")

    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float:
        loss, _, fwd = self.model.loss(rolls, lengths, rng)
        grads = self.model.backward(fwd, rolls, lengths)
        clip_global_norm(grads, self.clip)
        self.optimizer.step(self.model.params, grads, self.lr)
        return loss

    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.model.log_likelihoods(rolls)

    def snapshot(self) -> RollModel:
        return copy.deepcopy(self.model)

    def restore(self, model: RollModel) -> None:
        for name, w in model.params.items():
            self.model.params[name][...] = w

    def set_lr(self, lr: float) -> None:
        self.lr = lr
