"""The vanilla RNN cell and sequence, forward and backward (classic column convention).

    a_t = tanh(Waa @ a_{t-1} + Wax @ x_t + ba)
    y_t = softmax(Wya @ a_t + by)

Shapes: x_t (n_x, m), a_t (n_a, m), y_t (n_y, m); sequences add a last axis T_x.
"""

from __future__ import annotations

import numpy as np

from saurus.reference.activations import add_into, head_backward, softmax

Params = dict[str, np.ndarray]
CellCache = tuple[np.ndarray, np.ndarray, np.ndarray, Params]
PARAM_GRADS = ("dWax", "dWaa", "dba", "dWya", "dby")


def rnn_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, CellCache]:
    """One step: a_next = tanh(Waa a_prev + Wax xt + ba), yt_pred = softmax(Wya a_next + by)."""
    a_next = np.tanh(parameters["Waa"] @ a_prev + parameters["Wax"] @ xt + parameters["ba"])
    yt_pred = softmax(parameters["Wya"] @ a_next + parameters["by"])
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, tuple[list[CellCache], np.ndarray]]:
    """Run the cell over x (n_x, m, T_x) from a0; returns a (n_a, m, T_x), y_pred, caches."""
    _, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x), dtype=a0.dtype)
    y_pred = np.zeros((n_y, m, T_x), dtype=a0.dtype)
    caches = []
    a_next = a0
    for t in range(T_x):
        a_next, y_pred[:, :, t], cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        caches.append(cache)
    return a, y_pred, (caches, x)


def rnn_cell_backward(
    da_next: np.ndarray, cache: CellCache, dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Gradients of one step.

    da_next: dL/da_next from outside the head (the next step, other losses).
    dy: dL/dz for the scores z = Wya a_next + by, or None.
        dtanh = (1 - a_next^2) * (da_next + Wya^T dy)
        dxt = Wax^T dtanh   da_prev = Waa^T dtanh   dWax = dtanh xt^T
        dWaa = dtanh a_prev^T   dba = sum_m dtanh   dWya = dy a_next^T   dby = sum_m dy
    """
    a_next, a_prev, xt, parameters = cache
    da_head, dWya, dby = head_backward(dy, a_next, parameters["Wya"])
    if da_head is not None:
        da_next = da_next + da_head
    dtanh = (1.0 - a_next**2) * da_next
    return {
        "dxt": parameters["Wax"].T @ dtanh,
        "da_prev": parameters["Waa"].T @ dtanh,
        "dWax": dtanh @ xt.T,
        "dWaa": dtanh @ a_prev.T,
        "dba": dtanh.sum(axis=1, keepdims=True),
        "dWya": dWya,
        "dby": dby,
    }


def rnn_backward(
    da: np.ndarray, caches: tuple[list[CellCache], np.ndarray], dy: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Backpropagation through time.

    da: dL/da_t for every step from outside the recurrence, (n_a, m, T_x).
    dy: dL/dz_t for the output scores, (n_y, m, T_x), or None.
    Returns dx (n_x, m, T_x), da0 and every parameter gradient.
    """
    cache_list, x = caches
    parameters = cache_list[0][3]
    grads = {k: np.zeros_like(parameters[k[1:]]) for k in PARAM_GRADS}
    dx = np.zeros_like(x)
    da_prevt = np.zeros_like(da[:, :, 0])
    for t in reversed(range(x.shape[2])):
        step = rnn_cell_backward(da[:, :, t] + da_prevt, cache_list[t], None if dy is None else dy[:, :, t])
        dx[:, :, t] = step["dxt"]
        da_prevt = step["da_prev"]
        add_into(grads, step, PARAM_GRADS)
    return {"dx": dx, "da0": da_prevt, **grads}
