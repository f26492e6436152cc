"""Next-token training under a grammar: the logits plus an additive mask read at the input.

For batch-first inputs x (B, L), targets y (B, L), weights w (B, L) (0 on padding) and a
(V, V) mask M of 0 / -inf (M[x, y] = -inf: y may not follow x):

    log q_bk = log_softmax(z_bk + M[x_bk])
    loss = - sum_bk w_bk log q_bk(y_bk) / sum_bk w_bk

`fit_masked` runs Adam (saurus's ForeachAdam) with gradient-norm clipping on batches a
caller draws, evaluates a caller's score (lower is better) after every pass over them,
keeps the best weights, halves the learning rate when the score does not improve, and
stops after `patience` evaluations without improvement or once `budget_s` seconds are
spent (the pass under way is cut short and evaluated). Nothing here knows what the ids
mean: saurus.music.frame_train brings the grammar, the data and the score.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from saurus.training.backends.torch.adam import ForeachAdam
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs, targets, weights: (B, L) each


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


@dataclass
class MaskedFit:
    """What a run did: its scores (one per evaluation), the best, steps and seconds."""

    scores: list[float] = field(default_factory=list)
    best: float = float("inf")
    steps: int = 0
    seconds: float = 0.0
    stopped: str = ""  # "patience" or "budget"


def fit_masked(
    module: torch.nn.Module,
    passes: Callable[[], Iterable[Batch]],
    mask: np.ndarray,
    evaluate: Callable[[torch.nn.Module], float],
    *,
    lr: float,
    clip: float = 1.0,
    budget_s: float = 60.0,
    patience: int = 5,
    max_passes: int = 10_000,
    on_progress: Callable[[MaskedFit], None] | None = None,
) -> MaskedFit:
    """Train `module` in place; it ends holding the weights of its best evaluation."""
    table = torch.from_numpy(np.asarray(mask)).float()
    optim = ForeachAdam(module.parameters())
    optim.param_groups[0]["lr"] = lr
    fit, best_state, waited = MaskedFit(), None, 0
    begin = time.perf_counter()
    for _ in range(max_passes):
        module.train()
        for batch in passes():
            loss = masked_loss(module, batch, table)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
            optim.step()
            fit.steps += 1
            if time.perf_counter() - begin >= budget_s:
                fit.stopped = "budget"
                break
        score = float(evaluate(module))
        fit.scores.append(score)
        if score < fit.best:
            fit.best, best_state, waited = score, copy.deepcopy(module.state_dict()), 0
        else:
            waited += 1
            optim.param_groups[0]["lr"] *= 0.5
        fit.seconds = time.perf_counter() - begin
        if on_progress is not None:
            on_progress(fit)
        if fit.stopped or waited >= patience:
            fit.stopped = fit.stopped or "patience"
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return fit
