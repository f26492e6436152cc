"""Recurrent layers over a whole sequence, time-major: inputs (T, B, G*H), states (B, H).

Each layer receives `xw`, the input half of every gate already computed for all T steps
(x_t W_x + b, one matmul or one row gather for the whole sequence), so a step costs one
matmul with the recurrent weights W_h (H, G*H). Gate columns are fused in one block.

    RNN:  h_t = tanh(xw_t + h_{t-1} W_h)
    LSTM: [i, f, o, g] = [sigmoid, sigmoid, sigmoid, tanh](xw_t + h_{t-1} W_h)
          c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
    GRU:  [z, r] = sigmoid(xw_t[:2H] + h_{t-1} W_h[:, :2H])
          g = tanh(xw_t[2H:] + (r * h_{t-1}) W_h[:, 2H:])
          h_t = z * g + (1 - z) * h_{t-1}        (Cho et al. 2014, reset before W_h)

The GRU has a second convention, "torch" (torch.nn.GRU's: reset after W_h), with one more
weight per layer, the recurrent bias bhn (H,) of the candidate, which r multiplies:

    GRU, torch convention:
          [z, r] = sigmoid(xw_t[:2H] + h_{t-1} W_h[:, :2H])
          n = tanh(xw_t[2H:] + r * (h_{t-1} W_h[:, 2H:] + bhn))
          h_t = z * n + (1 - z) * h_{t-1}        (z weights the candidate, as above)

Its z is 1 - z of torch.nn.GRU (whose h_t = (1 - z) n + z h_{t-1}), so z's weights and
biases are torch's negated; the blocks stay in the order [z, r, n]. The variant is not a
key of CELLS (a user still asks for "gru"): `cell_for(cell, convention)` picks the Cell.

forward(xw, state, W_h, extra) takes the cell's extra weights (`Cell.extras`, each (H,):
("bhn",) for the torch GRU, none otherwise). backward(dhs, cache, W_h, dstate) returns
d(xw) (T, B, G*H), dW_h, the gradient with respect to the initial state, and the gradients
of the extra weights; dW_h is one matmul over all steps, H_prev^T d(pre).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

State = tuple[np.ndarray, ...]


def sigmoid_(x: np.ndarray) -> np.ndarray:
    """In place: sigmoid(x) = (1 + tanh(x/2)) / 2, which never overflows."""
    x *= 0.5
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def previous_states(hs: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """h_{t-1} for every t: (T, B, H) with h0 first."""
    prev = np.empty_like(hs)
    prev[0] = h0
    prev[1:] = hs[:-1]
    return prev


def weight_grad(inputs: np.ndarray, dpre: np.ndarray) -> np.ndarray:
    """sum_t inputs_t^T dpre_t as one matmul over all (T*B) rows."""
    return inputs.reshape(-1, inputs.shape[-1]).T @ dpre.reshape(-1, dpre.shape[-1])


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: its name, how many gate blocks it fuses, how many state arrays."""

    name: str
    gates: int
    states: int
    extras: ClassVar[tuple[str, ...]] = ()  # per-layer weights of shape (H,) beyond W_x, W_h, b

    def zero_state(self, batch: int, hidden: int, dtype: Any) -> State:
        return tuple(np.zeros((batch, hidden), dtype=dtype) for _ in range(self.states))

    def forward(
        self, xw: np.ndarray, state: State, Wh: np.ndarray, extra: Sequence[np.ndarray] = ()
    ) -> tuple[np.ndarray, State, Any]:
        raise NotImplementedError

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray, dstate: State | None = None
    ) -> tuple[np.ndarray, np.ndarray, State, tuple[np.ndarray, ...]]:
        raise NotImplementedError


class RNNCell(Cell):
    def forward(
        self, xw: np.ndarray, state: State, Wh: np.ndarray, extra: Sequence[np.ndarray] = ()
    ) -> tuple[np.ndarray, State, Any]:
        (h0,) = state
        hs = np.empty_like(xw)
        h = h0
        for t in range(len(xw)):
            h = np.tanh(np.matmul(h, Wh) + xw[t], out=hs[t])
        return hs, (h,), (hs, h0)

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray, dstate: State | None = None
    ) -> tuple[np.ndarray, np.ndarray, State, tuple[np.ndarray, ...]]:
        hs, h0 = cache
        dpre = np.empty_like(hs)
        dh = np.zeros_like(h0) if dstate is None else dstate[0]
        for t in reversed(range(len(hs))):
            # dpre_t = (dh_t + dh from t+1) * (1 - h_t^2)
            np.multiply(dhs[t] + dh, 1.0 - hs[t] * hs[t], out=dpre[t])
            dh = dpre[t] @ Wh.T
        return dpre, weight_grad(previous_states(hs, h0), dpre), (dh,), ()


class LSTMCell(Cell):
    def forward(
        self, xw: np.ndarray, state: State, Wh: np.ndarray, extra: Sequence[np.ndarray] = ()
    ) -> tuple[np.ndarray, State, Any]:
        h0, c0 = state
        T, H = len(xw), h0.shape[1]
        acts = np.empty_like(xw)  # activated gates i, f, o, g
        cs = np.empty((*xw.shape[:2], H), dtype=xw.dtype)
        tanh_cs = np.empty_like(cs)
        hs = np.empty_like(cs)
        h, c = h0, c0
        for t in range(T):
            a = np.matmul(h, Wh, out=acts[t])
            a += xw[t]
            sigmoid_(a[:, : 3 * H])
            np.tanh(a[:, 3 * H :], out=a[:, 3 * H :])
            i, f, o, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c = np.multiply(f, c, out=cs[t])
            c += i * g
            np.tanh(c, out=tanh_cs[t])
            h = np.multiply(o, tanh_cs[t], out=hs[t])
        return hs, (h, c), (hs, cs, tanh_cs, acts, h0, c0)

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray, dstate: State | None = None
    ) -> tuple[np.ndarray, np.ndarray, State, tuple[np.ndarray, ...]]:
        hs, cs, tanh_cs, acts, h0, c0 = cache
        H = h0.shape[1]
        dpre = np.empty_like(acts)
        if dstate is None:
            dh, dc = np.zeros_like(h0), np.zeros_like(c0)
        else:
            dh, dc = dstate
        for t in reversed(range(len(hs))):
            a, d = acts[t], dpre[t]
            i, f, o, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c_prev = cs[t - 1] if t > 0 else c0
            dh = dhs[t] + dh
            # dc = dc_next + dh * o * (1 - tanh(c)^2)
            dc = dc + dh * o * (1.0 - tanh_cs[t] * tanh_cs[t])
            np.multiply(dc, g, out=d[:, :H])  # di
            np.multiply(dc, c_prev, out=d[:, H : 2 * H])  # df
            np.multiply(dh, tanh_cs[t], out=d[:, 2 * H : 3 * H])  # do
            d[:, : 3 * H] *= a[:, : 3 * H] * (1.0 - a[:, : 3 * H])  # through the sigmoids
            np.multiply(dc * i, 1.0 - g * g, out=d[:, 3 * H :])  # dg through tanh
            dc = dc * f
            dh = d @ Wh.T
        return dpre, weight_grad(previous_states(hs, h0), dpre), (dh, dc), ()


class GRUCell(Cell):
    def forward(
        self, xw: np.ndarray, state: State, Wh: np.ndarray, extra: Sequence[np.ndarray] = ()
    ) -> tuple[np.ndarray, State, Any]:
        (h0,) = state
        H = h0.shape[1]
        Wzr, Wg = Wh[:, : 2 * H], Wh[:, 2 * H :]
        acts = np.empty_like(xw)  # activated z, r, g
        rh = np.empty((*xw.shape[:2], H), dtype=xw.dtype)
        hs = np.empty_like(rh)
        h = h0
        for t in range(len(xw)):
            a = acts[t]
            zr = np.matmul(h, Wzr, out=a[:, : 2 * H])
            zr += xw[t, :, : 2 * H]
            sigmoid_(zr)
            z, r = a[:, :H], a[:, H : 2 * H]
            np.multiply(r, h, out=rh[t])
            g = np.matmul(rh[t], Wg, out=a[:, 2 * H :])
            g += xw[t, :, 2 * H :]
            np.tanh(g, out=g)
            # h_t = h_{t-1} + z * (g - h_{t-1})
            h = np.add(h, z * (g - h), out=hs[t])
        return hs, (h,), (hs, rh, acts, h0)

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray, dstate: State | None = None
    ) -> tuple[np.ndarray, np.ndarray, State, tuple[np.ndarray, ...]]:
        hs, rh, acts, h0 = cache
        H = h0.shape[1]
        Wzr, Wg = Wh[:, : 2 * H], Wh[:, 2 * H :]
        dpre = np.empty_like(acts)
        dh_next = np.zeros_like(h0) if dstate is None else dstate[0]
        for t in reversed(range(len(hs))):
            a, d = acts[t], dpre[t]
            z, r, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            h_prev = hs[t - 1] if t > 0 else h0
            dh = dhs[t] + dh_next
            np.multiply(dh * z, 1.0 - g * g, out=d[:, 2 * H :])  # dg through tanh
            drh = d[:, 2 * H :] @ Wg.T
            np.multiply(dh, g - h_prev, out=d[:, :H])  # dz
            np.multiply(drh, h_prev, out=d[:, H : 2 * H])  # dr
            d[:, : 2 * H] *= a[:, : 2 * H] * (1.0 - a[:, : 2 * H])
            dh_next = dh * (1.0 - z) + drh * r + d[:, : 2 * H] @ Wzr.T
        dWh = np.concatenate(
            [weight_grad(previous_states(hs, h0), dpre[:, :, : 2 * H]), weight_grad(rh, dpre[:, :, 2 * H :])],
            axis=1,
        )
        return dpre, dWh, (dh_next,), ()


class TorchGRUCell(Cell):
    """The GRU in torch.nn.GRU's convention (reset after W_h, recurrent bias bhn), with z
    weighting the candidate. One matmul h_{t-1} W_h per step serves all three blocks."""

    extras = ("bhn",)

    def forward(
        self, xw: np.ndarray, state: State, Wh: np.ndarray, extra: Sequence[np.ndarray] = ()
    ) -> tuple[np.ndarray, State, Any]:
        (h0,) = state
        (bhn,) = extra
        H = h0.shape[1]
        acts = np.empty_like(xw)  # activated z, r, n
        hns = np.empty((*xw.shape[:2], H), dtype=xw.dtype)  # h_{t-1} W_h[:, 2H:] + bhn
        hs = np.empty_like(hns)
        rec = np.empty(xw.shape[1:], dtype=xw.dtype)  # h_{t-1} W_h, all three blocks
        h = h0
        for t in range(len(xw)):
            a = acts[t]
            np.matmul(h, Wh, out=rec)
            zr = np.add(rec[:, : 2 * H], xw[t, :, : 2 * H], out=a[:, : 2 * H])
            sigmoid_(zr)
            z, r = a[:, :H], a[:, H : 2 * H]
            hn = np.add(rec[:, 2 * H :], bhn, out=hns[t])
            n = np.multiply(r, hn, out=a[:, 2 * H :])
            n += xw[t, :, 2 * H :]
            np.tanh(n, out=n)
            # h_t = h_{t-1} + z * (n - h_{t-1})
            h = np.add(h, z * (n - h), out=hs[t])
        return hs, (h,), (hs, hns, acts, h0)

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray, dstate: State | None = None
    ) -> tuple[np.ndarray, np.ndarray, State, tuple[np.ndarray, ...]]:
        hs, hns, acts, h0 = cache
        H = h0.shape[1]
        drec = np.empty_like(acts)  # d(h_{t-1} W_h + [0, 0, bhn]): dz, dr pre-activations, d(hn)
        dn = np.empty_like(hs)  # d(n's pre-activation) = d(xw_n)
        dh_next = np.zeros_like(h0) if dstate is None else dstate[0]
        for t in reversed(range(len(hs))):
            a, d = acts[t], drec[t]
            z, r, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            h_prev = hs[t - 1] if t > 0 else h0
            dh = dhs[t] + dh_next
            np.multiply(dh * z, 1.0 - n * n, out=dn[t])  # through tanh
            np.multiply(dn[t], r, out=d[:, 2 * H :])  # d(hn)
            np.multiply(dh, n - h_prev, out=d[:, :H])  # dz
            np.multiply(dn[t], hns[t], out=d[:, H : 2 * H])  # dr
            d[:, : 2 * H] *= a[:, : 2 * H] * (1.0 - a[:, : 2 * H])  # through the sigmoids
            dh_next = dh * (1.0 - z) + d @ Wh.T
        dWh = weight_grad(previous_states(hs, h0), drec)
        dbhn = drec[:, :, 2 * H :].sum(axis=(0, 1))
        drec[:, :, 2 * H :] = dn  # now d(xw): the input half of n is not reset
        return drec, dWh, (dh_next,), (dbhn,)


CELLS: dict[str, Cell] = {
    "rnn": RNNCell("rnn", gates=1, states=1),
    "lstm": LSTMCell("lstm", gates=4, states=2),
    "gru": GRUCell("gru", gates=3, states=1),
}

CONVENTIONS = ("cho", "torch")  # the GRU's two conventions; only "cho" for the other cells
VARIANTS: dict[tuple[str, str], Cell] = {("gru", "torch"): TorchGRUCell("gru_torch", gates=3, states=1)}


def cell_for(cell: str, convention: str = "cho") -> Cell:
    """The Cell computing `cell` (a key of CELLS) in `convention` (one of CONVENTIONS); a
    KeyError for an unknown cell or a convention the cell lacks (only the GRU has "torch")."""
    if convention == "cho":
        return CELLS[cell]
    return VARIANTS[(cell, convention)]
