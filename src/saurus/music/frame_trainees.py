"""The NumPy engine's MaskedTrainee (see saurus.training.masked_fit) for the frame-notes
model: a CharModel's own backward pass of the masked loss (frame_model.masked_loss_and_grads),

    g <- g min(1, clip / ||g||)      (global norm over every weight)
    Adam step (saurus.models.optim)  with the learning rate of set_lr

and inverted dropout drawn from the trainee's own generator (so the batches, drawn from
another, are the same as the torch engine's). Batches come batch-first (B, L) as
frame_train.passes draws them; the model is time-major, so they are transposed here. The
torch engine's trainee is saurus.training.backends.torch.masked_trainee.
"""

from __future__ import annotations

import copy

import numpy as np

from saurus.models.optim import Optimizer, Params, clip_global_norm
from saurus.models.recurrent import CharModel
from saurus.music.frame_model import masked_loss_and_grads, pitches_of
from saurus.music.frame_score import logits_of
from saurus.music.frame_tokens import masked_log_softmax
from saurus.training.masked_fit import Batch


class NumpyFrameTrainee:
    """Trains `model` itself, in place."""

    def __init__(self, model: CharModel, lr: float, clip: float, rng: np.random.Generator) -> None:
        self.model, self.lr, self.clip, self.rng = model, lr, clip, rng
        self.optimizer = Optimizer("adam")

    def train_batch(self, batch: Batch) -> float:
        inputs, targets, weights = (np.ascontiguousarray(a.T) for a in batch)
        rng = self.rng if self.model.dropout > 0 else None
        loss, grads = masked_loss_and_grads(self.model, inputs, targets, weights, rng)
        clip_global_norm(grads, self.clip)
        self.optimizer.step(self.model.params, grads, self.lr)
        return loss

    def target_log_probs(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """log q(y) (B, L) float64 of batch-first ids, dropout off."""
        x, y = inputs.T, targets.T
        logq = masked_log_softmax(logits_of(self.model, x), x, pitches_of(self.model))
        return np.take_along_axis(logq, y[..., None], axis=-1)[..., 0].T

    def snapshot(self) -> Params:
        return copy.deepcopy(self.model.params)

    def restore(self, state: Params) -> None:
        for name, w in state.items():
            self.model.params[name][...] = w

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    def numpy_model(self) -> CharModel:
        return self.model
