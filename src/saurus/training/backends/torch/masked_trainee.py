"""The torch engine's MaskedTrainee (see saurus.training.masked_fit): a RecurrentLM or
TransformerLM trained on the masked loss of masked.py with saurus's ForeachAdam,

    g <- g min(1, clip / ||g||)     (global norm over every weight)

and its weights leaving as the NumPy model of the same vocabulary (convert.to_numpy).
Dropout draws from torch's generator, seeded by new_module.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from saurus.data.vocab import Vocab
from saurus.training.backends.torch.adam import ForeachAdam
from saurus.training.backends.torch.convert import to_numpy
from saurus.training.backends.torch.masked import masked_loss, target_log_probs
from saurus.training.masked_fit import Batch


class TorchMaskedTrainee:
    def __init__(
        self, module: torch.nn.Module, vocab: Vocab, mask: np.ndarray, lr: float, clip: float
    ) -> None:
        self.module, self.vocab, self.clip = module, vocab, clip
        self.mask = np.asarray(mask, dtype=np.float32)
        self.table = torch.from_numpy(self.mask)
        self.optimizer = ForeachAdam(module.parameters())
        self.set_lr(lr)

    def train_batch(self, batch: Batch) -> float:
        self.module.train()
        loss = masked_loss(self.module, batch, self.table)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.clip)
        self.optimizer.step()
        return float(loss.item())

    def target_log_probs(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """log q(y) (B, L) float64 of batch-first ids, dropout off."""
        return target_log_probs(self.module, inputs, targets, self.mask)

    def snapshot(self) -> Any:
        return copy.deepcopy(self.module.state_dict())

    def restore(self, state: Any) -> None:
        self.module.load_state_dict(state)
        self.module.eval()

    def set_lr(self, lr: float) -> None:
        self.optimizer.param_groups[0]["lr"] = lr

    def numpy_model(self) -> Any:
        """The NumPy model (float32) with the module's weights."""
        return to_numpy(self.module, self.vocab, "stream", lowercase=False)
