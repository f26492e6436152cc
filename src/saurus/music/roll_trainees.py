"""What train_roll asks of an engine, and the NumPy engine's answer.

A RollTrainee holds a piano-roll model's weights and its optimizer state:

    train_batch(rolls, lengths, rng)   one Adam step on the batch's mean NLL per frame
                                       (gradients clipped to a global norm), returns it;
                                       an opening (first.b) is fit apart and stays as it is
    log_likelihoods(rolls, lengths)    (W, B) log P(y_t | y_<t), dropout off
    snapshot() / restore(model)        the weights as a NumPy RollModel, and back
    set_lr(lr)                         the learning rate of the steps to come

With `average` = beta > 0, the trainee also keeps an exponential moving average of the
weights, updated after step n (n = 1, 2, ...) as

    w_avg <- w_avg + (1 - b_n) (w - w_avg),     b_n = min(beta, (1 + n) / (10 + n))

(the ramp lets the first steps count while the average is young), and log_likelihoods and
snapshot read the average rather than the weights of the last step.

Rolls are time-major (W, B, 88) float arrays padded with zeros, lengths (B,). The torch
engine's trainee is saurus.training.backends.torch.roll_trainee.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Protocol

import numpy as np

from saurus.models.optim import Optimizer, average_rate, clip_global_norm
from saurus.models.roll import OPENING, RollModel


class RollTrainee(Protocol):
    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float: ...

    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...

    def snapshot(self) -> RollModel: ...

    def restore(self, model: RollModel) -> None: ...

    def set_lr(self, lr: float) -> None: ...


class NumpyRollTrainee:
    """The NumPy engine: RollModel's own backward pass and saurus's Adam."""

    def __init__(self, model: RollModel, lr: float, clip: float, average: float = 0.0) -> None:
        self.model, self.lr, self.clip, self.beta = copy.deepcopy(model), lr, clip, average
        self.optimizer = Optimizer("adam")
        # the weights the steps move (the same arrays: restore writes into them in place)
        self.trained = {k: w for k, w in self.model.params.items() if k != OPENING}
        self.averaged = copy.deepcopy(self.model.params) if average else None

    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float:
        loss, _, fwd = self.model.loss(rolls, lengths, rng)
        grads = self.model.backward(fwd, rolls, lengths)
        grads.pop(OPENING, None)
        clip_global_norm(grads, self.clip)
        self.optimizer.step(self.trained, grads, self.lr)
        if self.averaged is not None:
            rate = average_rate(self.beta, self.optimizer.steps)
            for name, w in self.model.params.items():
                self.averaged[name] += rate * (w - self.averaged[name])
        return loss

    def judged(self) -> RollModel:
        """The weights evaluated and kept: the average's when there is one."""
        return self.model if self.averaged is None else replace(self.model, params=self.averaged)

    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.judged().log_likelihoods(rolls)

    def snapshot(self) -> RollModel:
        return copy.deepcopy(self.judged())

    def restore(self, model: RollModel) -> None:
        for params in (self.model.params, self.averaged or {}):
            for name, w in model.params.items():
                params[name][...] = w

    def set_lr(self, lr: float) -> None:
        self.lr = lr
