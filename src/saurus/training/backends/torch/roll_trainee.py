"""The torch engine's RollTrainee (see saurus.music.roll_trainees): RollNet trained with
torch's Adam, gradients clipped to a global norm, and with `average` a moving average of
its weights that evaluation and snapshots read; its weights leave as a NumPy RollModel.

Dropout draws from torch's generator, seeded once here (torch.nn.Dropout takes none of
its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from saurus.models.optim import average_rate
from saurus.models.roll import RollModel
from saurus.training.backends.torch.roll import frame_nll, masked_nll, roll_from_numpy, roll_to_numpy


def batch_first(rolls: np.ndarray) -> torch.Tensor:
    """Time-major (W, B, 88) NumPy rolls as a batch-first (B, W, 88) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rolls.transpose(1, 0, 2), dtype=np.float32))


@torch.no_grad()
def copy_all(to: list[torch.Tensor], source: list[torch.Tensor]) -> None:
    for a, b in zip(to, source, strict=True):
        a.copy_(b)


class TorchRollTrainee:
    def __init__(self, model: RollModel, lr: float, clip: float, seed: int, average: float = 0.0) -> None:
        torch.manual_seed(seed)
        self.dtype = str(model.dtype)
        self.net = roll_from_numpy(model).float()
        self.clip, self.beta, self.steps = clip, average, 0
        self.params = list(self.net.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=lr)
        self.averaged = [p.detach().clone() for p in self.params] if average else None

    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float:
        self.net.train()
        loss = masked_nll(self.net, batch_first(rolls), torch.from_numpy(np.asarray(lengths)))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.steps += 1
        if self.averaged is not None:
            rate = average_rate(self.beta, self.steps)
            with torch.no_grad():
                for mean, p in zip(self.averaged, self.params, strict=True):
                    mean.lerp_(p, rate)
        return loss.item()

    @contextmanager
    def judged(self) -> Iterator[torch.nn.Module]:
        """The net with the weights evaluated and kept: the average's while inside."""
        if self.averaged is None:
            yield self.net
            return
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            copy_all(self.params, self.averaged)
        try:
            yield self.net
        finally:
            copy_all(self.params, saved)

    @torch.no_grad()
    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        x = batch_first(rolls)
        with self.judged() as net:
            net.eval()
            return -frame_nll(net(x), x).double().numpy().T

    def snapshot(self) -> RollModel:
        with self.judged() as net:
            return roll_to_numpy(net, self.dtype)

    def restore(self, model: RollModel) -> None:
        self.net.load_state_dict(roll_from_numpy(model).float().state_dict())
        if self.averaged is not None:
            copy_all(self.averaged, self.params)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
