"""The piano-roll model (saurus.models.roll) in torch, and its exact conversion to and
from the NumPy weights.

RollNet reads rolls (B, W, 88) batch-first and predicts frame t from frames < t:

    x = [0, y_0, ..., y_{W-2}]          the previous frames, the first an empty frame
    h = rnn(x)  (torch.nn.LSTM / GRU / RNN over the 88-key multi-hot input, dropout
                 between layers)        logits = drop(h) W_y + b_y
    logits_0 = first                    with an opening: a buffer, so no step moves it

Weights (NumPy: row vectors, gate columns fused; torch: (G H, in) rows), as in
saurus.training.backends.torch.convert:

    lk.Wx = W_ihk^T   lk.Wh = W_hhk^T   lk.b = b_ihk + b_hhk   head.W = W_out^T   head.b = b_out
    first.b = first

with the LSTM's gate blocks reordered and the GRU in NumPy's "torch" convention (z
negated, the recurrent bias of n kept apart as lk.bhn).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from torch import nn

from saurus.errors import OptionError
from saurus.models.roll import KEYS, OPENING, RollModel
from saurus.training.backends.torch.convert import blocks, numpy_of, unblocks
from saurus.training.backends.torch.modules import RNNS


class RollNet(nn.Module):
    first: torch.Tensor | None

    def __init__(self, cell: str, hidden: int, layers: int, dropout: float, opening: bool = False) -> None:
        super().__init__()
        self.cell, self.hidden, self.layers, self.dropout_p = cell, hidden, layers, dropout
        between = dropout if layers > 1 else 0.0  # torch warns about dropout after a last layer
        self.rnn = RNNS[cell](KEYS, hidden, num_layers=layers, batch_first=True, dropout=between)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, KEYS)
        self.register_buffer("first", torch.zeros(KEYS) if opening else None)

    def forward(self, rolls: torch.Tensor) -> torch.Tensor:
        """Logits (B, W, 88) of every frame of rolls (B, W, 88) given the frames before it."""
        previous = F.pad(rolls[:, :-1], (0, 0, 1, 0))
        h, _ = self.rnn(previous)
        logits = self.head(self.drop(h))
        if self.first is None:
            return logits
        return torch.cat([self.first.expand(len(rolls), 1, KEYS), logits[:, 1:]], dim=1)


def frame_nll(logits: torch.Tensor, rolls: torch.Tensor) -> torch.Tensor:
    """(B, W): -sum_j [y log sigmoid(l) + (1 - y) log sigmoid(-l)] of every frame."""
    return F.binary_cross_entropy_with_logits(logits, rolls, reduction="none").sum(dim=-1)


def frame_mask(lengths: torch.Tensor, width: int, skip_first: bool = False) -> torch.Tensor:
    """(B, W) bool m_bt = [t < T_b] (and [t >= 1] when skip_first)."""
    t = torch.arange(width, device=lengths.device)[None, :]
    return (t < lengths[:, None]) & (t >= int(skip_first))


def masked_nll(
    net: RollNet, rolls: torch.Tensor, lengths: torch.Tensor, skip_first: bool = False
) -> torch.Tensor:
    """Mean nats per scored frame of a padded batch; padding frames are zeroed first, so
    nothing they hold reaches the loss or a gradient."""
    real = frame_mask(lengths, rolls.shape[1])
    rolls = torch.where(real[..., None], rolls, torch.zeros((), dtype=rolls.dtype))
    mask = frame_mask(lengths, rolls.shape[1], skip_first)
    nll = torch.where(mask, frame_nll(net(rolls), rolls), torch.zeros((), dtype=rolls.dtype))
    return nll.sum() / mask.sum().clamp(min=1)


def roll_from_numpy(model: RollModel) -> RollNet:
    """A RollNet computing what `model` computes (in the NumPy model's dtype)."""
    if model.cell == "gru" and model.convention != "torch":
        raise OptionError(
            "this GRU resets before the recurrent matmul (Cho et al.); torch's GRU cannot run it: "
            "train it with the NumPy engine, or anew in the torch convention"
        )
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    net = RollNet(model.cell, model.hidden, model.layers, model.dropout, model.opening).to(dtype)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.params.items()}

    def put(tensor: torch.Tensor, value: np.ndarray) -> None:
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    with torch.no_grad():
        for k in range(model.layers):
            put(getattr(net.rnn, f"weight_ih_l{k}"), unblocks(model.cell, p[f"l{k}.Wx"]))
            put(getattr(net.rnn, f"weight_hh_l{k}"), unblocks(model.cell, p[f"l{k}.Wh"]))
            put(getattr(net.rnn, f"bias_ih_l{k}"), unblocks(model.cell, p[f"l{k}.b"]))
            b_hh = getattr(net.rnn, f"bias_hh_l{k}")
            b_hh.zero_()
            if model.cell == "gru":
                put(b_hh[2 * model.hidden :], p[f"l{k}.bhn"])
        put(net.head.weight, p["head.W"].T)
        put(net.head.bias, p["head.b"])
        if net.first is not None:
            put(net.first, p[OPENING])
    return net


def roll_to_numpy(net: RollNet, dtype: str = "float32") -> RollModel:
    """The NumPy RollModel with `net`'s weights (a GRU in the "torch" convention)."""
    H, cell = net.hidden, net.cell
    params: dict[str, np.ndarray] = {}
    for k in range(net.layers):
        w_ih, w_hh = (
            numpy_of(getattr(net.rnn, f"weight_ih_l{k}")),
            numpy_of(getattr(net.rnn, f"weight_hh_l{k}")),
        )
        b_ih, b_hh = numpy_of(getattr(net.rnn, f"bias_ih_l{k}")), numpy_of(getattr(net.rnn, f"bias_hh_l{k}"))
        if cell == "gru":  # the recurrent bias of n stays apart; r's and z's fold into the input bias
            params[f"l{k}.bhn"] = b_hh[2 * H :].copy()
            b_hh = np.concatenate([b_hh[: 2 * H], np.zeros(H)])
        params[f"l{k}.Wx"] = blocks(cell, w_ih).T
        params[f"l{k}.Wh"] = blocks(cell, w_hh).T
        params[f"l{k}.b"] = blocks(cell, b_ih + b_hh)
    params["head.W"] = numpy_of(net.head.weight).T
    params["head.b"] = numpy_of(net.head.bias)
    if net.first is not None:
        params[OPENING] = numpy_of(net.first)
    params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in params.items()}
    convention = "torch" if cell == "gru" else "cho"
    return RollModel(params, cell, H, net.layers, float(net.dropout_p), convention)
