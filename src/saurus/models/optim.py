"""Optimizers, gradient clipping and learning-rate schedules, updating weights in place.

SGD:      v = mu v + g                          w -= lr v   (mu = momentum)
Adagrad:  s += g^2                              w -= lr g / (sqrt(s) + eps)
Adam:     m = b1 m + (1-b1) g   v = b2 v + (1-b2) g^2
          w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
AdamW:    Adam, then w -= lr wd w on the matrices (decoupled weight decay)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from saurus.errors import OptionError

Params = dict[str, np.ndarray]
OPTIMIZERS = ("sgd", "adagrad", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")


def global_norm(grads: Params) -> float:
    """sqrt(sum of every squared gradient entry)."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_global_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients by min(1, max_norm / ||g||); returns ||g|| before clipping."""
    norm = global_norm(grads)
    if max_norm > 0 and norm > max_norm:
        for g in grads.values():
            g *= max_norm / (norm + 1e-12)
    return norm


def clip_elementwise(grads: Params, value: float) -> None:
    """Clamp every gradient entry to [-value, value] (the classic exercise's clip)."""
    for g in grads.values():
        np.clip(g, -value, value, out=g)


def decays(name: str) -> bool:
    """Weight decay acts on matrices, not on biases."""
    return not name.endswith(".b")


@dataclass
class Optimizer:
    name: str = "adam"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    steps: int = 0
    slots: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise OptionError(f"unknown optimizer {self.name!r}; choose one of: {', '.join(OPTIMIZERS)}")

    def slot(self, name: str, w: np.ndarray, count: int) -> list[np.ndarray]:
        if name not in self.slots:
            self.slots[name] = [np.zeros_like(w) for _ in range(count)]
        return self.slots[name]

    def state_arrays(self) -> Params:
        """The slots as named arrays (copies), e.g. "embed-1" for the second slot of "embed";
        with `steps`, all `load_state` needs to continue exactly."""
        return {f"{name}-{i}": s.copy() for name, slots in self.slots.items() for i, s in enumerate(slots)}

    def load_state(self, steps: int, arrays: Params, params: Params) -> None:
        """Continue from `state_arrays()` and `steps`; every slot must match its weight."""
        found: dict[str, dict[int, np.ndarray]] = {}
        for key, array in arrays.items():
            name, _, index = key.rpartition("-")
            if name not in params or array.shape != params[name].shape or not index.isdigit():
                raise ValueError(f"optimizer slot {key!r} matches no weight")
            found.setdefault(name, {})[int(index)] = array.astype(params[name].dtype, copy=True)
        self.slots = {name: [by_index[i] for i in sorted(by_index)] for name, by_index in found.items()}
        self.steps = steps

    def step(self, params: Params, grads: Params, lr: float) -> None:
        """One update of every weight with its gradient."""
        self.steps += 1
        b1, b2 = self.betas
        for name, w in params.items():
            g = grads[name]
            if self.name == "sgd":
                if self.momentum:
                    (v,) = self.slot(name, w, 1)
                    v *= self.momentum
                    v += g
                    g = v
                w -= lr * g
            elif self.name == "adagrad":
                (s,) = self.slot(name, w, 1)
                s += g * g
                w -= lr * g / (np.sqrt(s) + self.eps)
            else:
                m, v = self.slot(name, w, 2)
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                v_hat = v / (1 - b2**self.steps)
                w -= (lr / (1 - b1**self.steps)) * m / (np.sqrt(v_hat) + self.eps)
            if self.name == "adamw" and self.weight_decay and decays(name):
                w -= (lr * self.weight_decay) * w


@dataclass(frozen=True)
class Schedule:
    """lr(progress) with progress in [0, 1] (steps done / steps, or time spent / budget):
    linear warmup over the first `warmup` fraction, then constant, cosine down to
    lr * min_ratio, or step decay (times gamma at each of `drops` even intervals)."""

    lr: float
    kind: str = "cosine"
    warmup: float = 0.0
    min_ratio: float = 0.1
    gamma: float = 0.3
    drops: int = 2

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise OptionError(f"unknown schedule {self.kind!r}; choose one of: {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup < 1:
            raise OptionError(f"--warmup must be a fraction in [0, 1), got {self.warmup}")

    def __call__(self, progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        if progress < self.warmup:
            return self.lr * (progress + 1e-3) / self.warmup
        rest = (progress - self.warmup) / (1.0 - self.warmup)
        if self.kind == "cosine":
            return self.lr * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * rest)))
        if self.kind == "step":
            return self.lr * self.gamma ** min(int(rest * (self.drops + 1)), self.drops)
        return self.lr


def average_rate(beta: float, steps: int) -> float:
    """1 - b_n, the weight of step n's weights in a moving average of the weights,

        w_avg <- w_avg + (1 - b_n) (w - w_avg),     b_n = min(beta, (1 + n) / (10 + n)),

    the ramp letting the first steps count while the average is young."""
    return 1.0 - min(beta, (1.0 + steps) / (10.0 + steps))
