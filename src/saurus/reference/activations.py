"""Activations and the output head shared by the classic cells (column convention)."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    """softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x), over axis 0 (one column per example)."""
    e_x = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e_x / e_x.sum(axis=0, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + exp(-x)); exp overflows harmlessly to inf for x << 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def head_backward(
    dy: np.ndarray | None, a: np.ndarray, Wy: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward through the output scores z = Wy @ a + by.

    `dy` is dL/dz (for cross-entropy, y_pred - one_hot(targets)); returns
    (dL/da from the head, dWy = dy @ a.T, dby = sum over the batch of dy).
    With `dy` None the head receives no gradient and contributes zeros.
    """
    if dy is None:
        return None, np.zeros_like(Wy), np.zeros((Wy.shape[0], 1), dtype=Wy.dtype)
    return Wy.T @ dy, dy @ a.T, dy.sum(axis=1, keepdims=True)


def add_into(total: dict[str, np.ndarray], part: dict[str, np.ndarray], keys: tuple[str, ...]) -> None:
    """total[k] += part[k] for every k in keys (gradient accumulation over time steps)."""
    for k in keys:
        total[k] += part[k]
