"""The one training loop of the masked next-token models, for either engine.

A MaskedTrainee holds the weights and the optimizer state of one engine:

    train_batch(batch)   one Adam step on the batch's weighted mean -log q(y), gradients
                         clipped to a global norm (dropout on); returns that loss
    snapshot()           an opaque copy of the weights, for `restore`
    restore(state)       the weights of a snapshot
    set_lr(lr)           the learning rate of the steps to come

`fit_masked` takes one step per batch of each pass a caller draws, evaluates a caller's
score s (lower is better) after every pass, keeps the weights of the best one, and halves
the learning rate whenever s does not improve:

    lr <- lr / 2   when s_pass >= min(s_earlier)

It stops after `patience` evaluations without improvement, after `max_passes`, once
`budget_s` seconds are spent, or at a
Ctrl-C / SIGTERM: those wait for the end of the step under way (training.interrupts), the
run ends at once with the best weights evaluated so far (the current ones are evaluated
when none were yet), and `stopped` says "interrupted". A second signal while one waits
acts at once, and one during that last evaluation is the caller's KeyboardInterrupt.

The budget holds the evaluations too (training.eval_budget): the pass under way is cut
short once the seconds spent plus the longest evaluation so far reach `budget_s`, and
evaluated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from saurus.training.eval_budget import EvalBudget
from saurus.training.interrupts import step_signals

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs, targets, weights: (B, L) each


class MaskedTrainee(Protocol):
    def train_batch(self, batch: Batch) -> float: ...

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...

    def set_lr(self, lr: float) -> None: ...


@dataclass
class MaskedFit:
    """What a run did: its scores (one per evaluation), the best, steps and seconds."""

    scores: list[float] = field(default_factory=list)
    best: float = float("inf")
    steps: int = 0
    seconds: float = 0.0
    stopped: str = ""  # "patience", "budget", "interrupted", or "" (max_passes)

    @property
    def best_pass(self) -> int:
        """The evaluation (1, 2, ...) whose weights were kept; 0 before any."""
        return 1 + int(np.argmin(self.scores)) if self.scores else 0


def fit_masked(
    trainee: MaskedTrainee,
    passes: Callable[[], Iterable[Batch]],
    evaluate: Callable[[], float],
    *,
    lr: float,
    budget_s: float = 60.0,
    patience: int = 5,
    max_passes: int = 10_000,
    on_progress: Callable[[MaskedFit], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> MaskedFit:
    """Train `trainee` in place; it ends holding the weights of its best evaluation."""
    fit, best, waited = MaskedFit(), None, 0
    budget = EvalBudget(budget_s, clock)
    trainee.set_lr(lr)

    def judge() -> None:
        nonlocal best, waited, lr
        score = float(budget.evaluate(evaluate))
        fit.scores.append(score)
        if score < fit.best:
            fit.best, best, waited = score, trainee.snapshot(), 0
        else:
            waited += 1
            lr *= 0.5
            trainee.set_lr(lr)
        fit.seconds = budget.spent()

    with step_signals() as signals:
        try:
            for _ in range(max_passes):
                for batch in passes():
                    trainee.train_batch(batch)
                    fit.steps += 1
                    signals.deliver()
                    if budget.exhausted():
                        fit.stopped = "budget"
                        break
                judge()
                if on_progress is not None:
                    on_progress(fit)
                signals.deliver()
                if fit.stopped or waited >= patience:
                    fit.stopped = fit.stopped or "patience"
                    break
        except KeyboardInterrupt:
            fit.stopped = "interrupted"
    if best is None and fit.stopped == "interrupted":
        judge()  # outside the block: a second Ctrl-C here ends the run
    if best is not None:
        trainee.restore(best)
    fit.seconds = budget.spent()
    return fit
