"""The GRU cell and sequence, forward and backward (classic column convention).

The gated recurrent unit of Cho et al. (2014), in the notation of the classic course
(update gate z, reset gate r; the reset gate acts on the state before Wc):

    concat = [a_prev; x_t]
    z = sigmoid(Wz concat + bz)          r = sigmoid(Wr concat + br)
    g = tanh(Wc [r * a_prev; x_t] + bc)
    a_t = z * g + (1 - z) * a_prev
    y_t = softmax(Wy a_t + by)
"""

from __future__ import annotations

import numpy as np

from saurus.reference.activations import add_into, head_backward, sigmoid, softmax

Params = dict[str, np.ndarray]
CellCache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Params]
PARAM_GRADS = ("dWz", "dWr", "dWc", "dbz", "dbr", "dbc", "dWy", "dby")


def gru_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, CellCache]:
    """One step; returns a_next, yt_pred and the cache for the backward pass."""
    concat = np.concatenate([a_prev, xt], axis=0)
    zt = sigmoid(parameters["Wz"] @ concat + parameters["bz"])
    rt = sigmoid(parameters["Wr"] @ concat + parameters["br"])
    cct = np.tanh(parameters["Wc"] @ np.concatenate([rt * a_prev, xt], axis=0) + parameters["bc"])
    a_next = zt * cct + (1.0 - zt) * a_prev
    yt_pred = softmax(parameters["Wy"] @ a_next + parameters["by"])
    return a_next, yt_pred, (a_next, a_prev, zt, rt, cct, xt, parameters)


def gru_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, tuple[list[CellCache], np.ndarray]]:
    """Run the cell over x (n_x, m, T_x) from a0; returns a (n_a, m, T_x), y, caches."""
    _, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x), dtype=a0.dtype)
    y = np.zeros((n_y, m, T_x), dtype=a0.dtype)
    a_next = a0
    caches = []
    for t in range(T_x):
        a_next, y[:, :, t], cache = gru_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        caches.append(cache)
    return a, y, (caches, x)


def gru_cell_backward(
    da_next: np.ndarray, cache: CellCache, dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Gradients of one step.

    da = da_next + Wy^T dy
    dg = da * z * (1 - g^2)            dz = da * (g - a_prev) * z(1-z)
    [d(r*a_prev); dx_c] = Wc^T dg      dr = d(r*a_prev) * a_prev * r(1-r)
    da_prev = da * (1 - z) + d(r*a_prev) * r + [Wz^T dz + Wr^T dr]_a
    """
    a_next, a_prev, zt, rt, cct, xt, parameters = cache
    n_a = a_next.shape[0]
    da_head, dWy, dby = head_backward(dy, a_next, parameters["Wy"])
    if da_head is not None:
        da_next = da_next + da_head
    dg = da_next * zt * (1.0 - cct**2)
    dz = da_next * (cct - a_prev) * zt * (1.0 - zt)
    dconcat_c = parameters["Wc"].T @ dg
    dra = dconcat_c[:n_a]
    dr = dra * a_prev * rt * (1.0 - rt)
    concat = np.concatenate([a_prev, xt], axis=0)
    concat_c = np.concatenate([rt * a_prev, xt], axis=0)
    dconcat = parameters["Wz"].T @ dz + parameters["Wr"].T @ dr
    return {
        "dxt": dconcat[n_a:] + dconcat_c[n_a:],
        "da_prev": dconcat[:n_a] + dra * rt + da_next * (1.0 - zt),
        "dWz": dz @ concat.T,
        "dWr": dr @ concat.T,
        "dWc": dg @ concat_c.T,
        "dbz": dz.sum(axis=1, keepdims=True),
        "dbr": dr.sum(axis=1, keepdims=True),
        "dbc": dg.sum(axis=1, keepdims=True),
        "dWy": dWy,
        "dby": dby,
    }


def gru_backward(
    da: np.ndarray, caches: tuple[list[CellCache], np.ndarray], dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Backpropagation through time; da: dL/da_t from outside (n_a, m, T_x), dy: dL/dz_t or None.
    Returns dx, da0 and every parameter gradient."""
    cache_list, x = caches
    parameters = cache_list[0][6]
    grads = {k: np.zeros_like(parameters[k[1:]]) for k in PARAM_GRADS}
    dx = np.zeros_like(x)
    da_prevt = np.zeros_like(da[:, :, 0])
    for t in reversed(range(x.shape[2])):
        step = gru_cell_backward(da[:, :, t] + da_prevt, cache_list[t], None if dy is None else dy[:, :, t])
        dx[:, :, t] = step["dxt"]
        da_prevt = step["da_prev"]
        add_into(grads, step, PARAM_GRADS)
    return {"dx": dx, "da0": da_prevt, **grads}
