"""Central-difference gradient checks (used by the tests).

A fourth-order five-point stencil keeps both errors small at once: truncation is
O(eps^4) and rounding O(u |L| / eps), so eps = 1e-4 resolves gradients far smaller than
the loss itself (the two-point rule at 1e-5 cannot, for a gradient of 1e-4 on a loss of 10):

    dL/dw_i ~ (L(w - 2h e_i) - 8 L(w - h e_i) + 8 L(w + h e_i) - L(w + 2h e_i)) / (12 h)
    relative error = ||analytic - numeric|| / (||analytic|| + ||numeric||)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

STENCIL = ((-2.0, 1.0), (-1.0, -8.0), (1.0, 8.0), (2.0, -1.0))  # (offset in h, weight)


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """dL/d(array) by the five-point stencil, perturbing `array` in place (restored after)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        total = 0.0
        for offset, weight in STENCIL:
            flat[i] = saved + offset * eps
            total += weight * loss()
        flat[i] = saved
        out[i] = total / (12.0 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||); 0 when both vanish."""
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric) / denom)
