"""Central-difference gradient checks (used by the tests).

dL/dw_i ~ (L(w + eps e_i) - L(w - eps e_i)) / (2 eps)
relative error = ||analytic - numeric|| / (||analytic|| + ||numeric||)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """dL/d(array) by central differences, perturbing `array` in place (restored after)."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat = array.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = loss()
        flat[i] = saved - eps
        minus = loss()
        flat[i] = saved
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||); 0 when both vanish."""
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric) / denom)
