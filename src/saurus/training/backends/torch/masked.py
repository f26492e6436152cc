"""Next-token training under a grammar: the logits plus an additive mask read at the input.

For batch-first inputs x (B, L), targets y (B, L), weights w (B, L) (0 on padding) and a
(V, V) mask M of 0 / -inf (M[x, y] = -inf: y may not follow x):

    log q_bk = log_softmax(z_bk + M[x_bk])
    loss = - sum_bk w_bk log q_bk(y_bk) / sum_bk w_bk

The torch engine's MaskedTrainee (masked_trainee.py) takes its Adam steps on this loss;
saurus.training.masked_fit runs the loop. Nothing here knows what the ids mean:
saurus.music.frame_train brings the grammar, the data and the score.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM
from saurus.training.masked_fit import Batch


def new_module(
    family: str,
    vocab: int,
    seed: int,
    *,
    hidden: int,
    layers: int,
    dropout: float,
    embed: int = 64,
    heads: int = 4,
    context: int = 1024,
) -> torch.nn.Module:
    """A freshly seeded RecurrentLM (family lstm, gru or rnn; `embed` wide input) or
    TransformerLM (family transformer: d_model = hidden, learned positions, untied head)."""
    torch.manual_seed(seed)
    if family == "transformer":
        return TransformerLM(vocab, hidden, layers, heads, context, dropout, tied=False)
    return RecurrentLM(vocab, family, hidden, layers, dropout, embed=embed)


def use_threads(threads: int | None) -> None:
    """torch's intra-op threads (None: leave as they are)."""
    if threads is not None:
        torch.set_num_threads(threads)


def masked_log_q(module: torch.nn.Module, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log q (B, L, V): the module's logits plus mask[inputs], log-softmaxed."""
    logits = module(inputs)[0]
    return F.log_softmax(logits.float() + mask[inputs], dim=-1)


def masked_loss(module: torch.nn.Module, batch: Batch, mask: torch.Tensor) -> torch.Tensor:
    """The weighted mean of -log q(y) over the batch (a scalar tensor)."""
    inputs, targets, weights = (torch.from_numpy(np.ascontiguousarray(a)) for a in batch)
    logq = masked_log_q(module, inputs, mask)
    nll = -logq.gather(-1, targets[..., None])[..., 0]
    w = weights.to(nll.dtype)
    return (nll * w).sum() / w.sum().clamp_min(1.0)


@torch.no_grad()
def target_log_probs(
    module: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """log q(y) (B, L) as float64, the module in eval mode (no dropout), then as it was."""
    was = module.training
    module.eval()
    try:
        logq = masked_log_q(module, torch.from_numpy(inputs), torch.from_numpy(mask).float())
        return logq.gather(-1, torch.from_numpy(targets)[..., None])[..., 0].double().numpy()
    finally:
        module.train(was)
