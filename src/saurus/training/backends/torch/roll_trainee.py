"""The torch engine's RollTrainee (see saurus.music.roll_trainees): RollNet trained with
torch's Adam, gradients clipped to a global norm; its weights leave as a NumPy RollModel.

Dropout draws from torch's generator, seeded once here (torch.nn.Dropout takes none of
its own).
"""

from __future__ import annotations

import numpy as np
import torch

from saurus.models.roll import RollModel
from saurus.training.backends.torch.roll import frame_nll, masked_nll, roll_from_numpy, roll_to_numpy


def batch_first(rolls: np.ndarray) -> torch.Tensor:
    """Time-major (W, B, 88) NumPy rolls as a batch-first (B, W, 88) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rolls.transpose(1, 0, 2), dtype=np.float32))


class TorchRollTrainee:
    def __init__(self, model: RollModel, lr: float, clip: float, seed: int) -> None:
        torch.manual_seed(seed)
        self.dtype = str(model.dtype)
        self.net = roll_from_numpy(model).float()
        self.clip = clip
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)

    def train_batch(self, rolls: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> float:
        self.net.train()
        loss = masked_nll(self.net, batch_first(rolls), torch.from_numpy(np.asarray(lengths)))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.optimizer.step()
        return loss.item()

    @torch.no_grad()
    def log_likelihoods(self, rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        self.net.eval()
        x = batch_first(rolls)
        return -frame_nll(self.net(x), x).double().numpy().T

    def snapshot(self) -> RollModel:
        return roll_to_numpy(self.net, self.dtype)

    def restore(self, model: RollModel) -> None:
        self.net.load_state_dict(roll_from_numpy(model).float().state_dict())

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
