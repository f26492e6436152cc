"""The LSTM cell and sequence, forward and backward (classic column convention).

    concat = [a_prev; x_t]
    f = sigmoid(Wf concat + bf)     i = sigmoid(Wi concat + bi)
    g = tanh(Wc concat + bc)        o = sigmoid(Wo concat + bo)
    c_t = f * c_prev + i * g        a_t = o * tanh(c_t)
    y_t = softmax(Wy a_t + by)

Unlike the published exercise, lstm_backward carries dL/dc from each step to the one
before it, so its gradients are exact (the tests check them by central differences).
"""

from __future__ import annotations

import numpy as np

from saurus.reference.activations import add_into, head_backward, sigmoid, softmax

Params = dict[str, np.ndarray]
CellCache = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    Params,
]
PARAM_GRADS = ("dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo", "dWy", "dby")


def lstm_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, c_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, CellCache]:
    """One step; returns a_next, c_next, yt_pred and the cache for the backward pass."""
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(parameters["Wf"] @ concat + parameters["bf"])
    it = sigmoid(parameters["Wi"] @ concat + parameters["bi"])
    cct = np.tanh(parameters["Wc"] @ concat + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(parameters["Wo"] @ concat + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(parameters["Wy"] @ a_next + parameters["by"])
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[list[CellCache], np.ndarray]]:
    """Run the cell over x (n_x, m, T_x) from a0 and c0 = 0; returns a, y, c, caches."""
    _, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x), dtype=a0.dtype)
    c = np.zeros_like(a)
    y = np.zeros((n_y, m, T_x), dtype=a0.dtype)
    a_next, c_next = a0, np.zeros_like(a0)
    caches = []
    for t in range(T_x):
        a_next, c_next, y[:, :, t], cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t], c[:, :, t] = a_next, c_next
        caches.append(cache)
    return a, y, c, (caches, x)


def lstm_cell_backward(
    da_next: np.ndarray, dc_next: np.ndarray, cache: CellCache, dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Gradients of one step.

    da_next, dc_next: dL/da_next, dL/dc_next from outside the head; dy: dL/dz of the scores.
        da = da_next + Wy^T dy
        dc = dc_next + da * o * (1 - tanh(c_next)^2)
        do = da * tanh(c_next) * o(1-o)      di = dc * g * i(1-i)
        dg = dc * i * (1 - g^2)              df = dc * c_prev * f(1-f)
        dc_prev = dc * f;  [da_prev; dxt] = sum_gates W^T d(gate pre-activation)
    """
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = cache
    n_a = a_next.shape[0]
    da_head, dWy, dby = head_backward(dy, a_next, parameters["Wy"])
    if da_head is not None:
        da_next = da_next + da_head
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1.0 - tanh_c**2)
    dot = da_next * tanh_c * ot * (1.0 - ot)
    dit = dc * cct * it * (1.0 - it)
    dcct = dc * it * (1.0 - cct**2)
    dft = dc * c_prev * ft * (1.0 - ft)
    concat = np.concatenate([a_prev, xt], axis=0)
    dconcat = (
        parameters["Wf"].T @ dft
        + parameters["Wi"].T @ dit
        + parameters["Wc"].T @ dcct
        + parameters["Wo"].T @ dot
    )
    return {
        "dxt": dconcat[n_a:],
        "da_prev": dconcat[:n_a],
        "dc_prev": dc * ft,
        "dWf": dft @ concat.T,
        "dWi": dit @ concat.T,
        "dWc": dcct @ concat.T,
        "dWo": dot @ concat.T,
        "dbf": dft.sum(axis=1, keepdims=True),
        "dbi": dit.sum(axis=1, keepdims=True),
        "dbc": dcct.sum(axis=1, keepdims=True),
        "dbo": dot.sum(axis=1, keepdims=True),
        "dWy": dWy,
        "dby": dby,
    }


def lstm_backward(
    da: np.ndarray, caches: tuple[list[CellCache], np.ndarray], dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Backpropagation through time, carrying both da and dc between steps.

    da: dL/da_t from outside the recurrence (n_a, m, T_x); dy: dL/dz_t (n_y, m, T_x) or None.
    Returns dx, da0, dc0 and every parameter gradient.
    """
    cache_list, x = caches
    parameters = cache_list[0][9]
    grads = {k: np.zeros_like(parameters[k[1:]]) for k in PARAM_GRADS}
    dx = np.zeros_like(x)
    da_prevt = np.zeros_like(da[:, :, 0])
    dc_prevt = np.zeros_like(da_prevt)
    for t in reversed(range(x.shape[2])):
        step = lstm_cell_backward(
            da[:, :, t] + da_prevt, dc_prevt, cache_list[t], None if dy is None else dy[:, :, t]
        )
        dx[:, :, t] = step["dxt"]
        da_prevt, dc_prevt = step["da_prev"], step["dc_prev"]
        add_into(grads, step, PARAM_GRADS)
    return {"dx": dx, "da0": da_prevt, "dc0": dc_prevt, **grads}
