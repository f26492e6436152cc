"""The masked models' one fit loop, engine-neutral: best weights kept, the learning rate
halved on no progress, patience, and a Ctrl-C that ends the run with the best so far."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from saurus.training.masked_fit import Batch, fit_masked

BATCHES = 3  # per pass


class CountingTrainee:
    """Its "weights" are the number of steps taken; a SIGINT arrives during step `signal_at`."""

    def __init__(self, signal_at: int | None = None) -> None:
        self.steps, self.signal_at = 0, signal_at
        self.lrs: list[float] = []

    def train_batch(self, batch: Batch) -> float:
        self.steps += 1
        if self.steps == self.signal_at:
            os.kill(os.getpid(), signal.SIGINT)  # recorded; delivered when the step is over
        return 0.0

    def snapshot(self) -> int:
        return self.steps

    def restore(self, state: int) -> None:
        self.steps = state

    def set_lr(self, lr: float) -> None:
        self.lrs.append(lr)


def one_pass() -> Iterator[Batch]:
    empty = np.zeros((1, 1))
    for _ in range(BATCHES):
        yield empty, empty, empty


def scorer(trainee: CountingTrainee, scores: dict[int, float]) -> tuple[list[int], Callable[[], float]]:
    """An evaluation scoring the weights by `scores` (9 for any other), and what it saw."""
    seen: list[int] = []

    def evaluate() -> float:
        seen.append(trainee.steps)
        return scores.get(trainee.steps, 9.0)

    return seen, evaluate


def test_the_best_weights_are_kept_and_the_lr_halves_without_progress() -> None:
    trainee = CountingTrainee()
    seen, evaluate = scorer(trainee, {3: 5.0, 6: 4.0, 9: 4.5, 12: 4.0})
    fit = fit_masked(trainee, one_pass, evaluate, lr=1.0, patience=2, max_passes=10)
    assert seen == [3, 6, 9, 12] and fit.scores == [5.0, 4.0, 4.5, 4.0]
    assert fit.stopped == "patience" and fit.best == 4.0 and fit.best_pass == 2
    assert trainee.steps == 6  # restored: an equal score is no progress
    assert trainee.lrs == [1.0, 0.5, 0.25]


def test_ctrl_c_ends_the_pass_at_once_and_keeps_the_best_so_far() -> None:
    trainee = CountingTrainee(signal_at=8)  # during pass 3
    seen, evaluate = scorer(trainee, {3: 5.0, 6: 4.0})
    fit = fit_masked(trainee, one_pass, evaluate, lr=1.0, max_passes=10)
    assert fit.stopped == "interrupted" and fit.steps == 8
    assert seen == [3, 6] and trainee.steps == 6  # the unevaluated steps 7 and 8 are dropped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_ctrl_c_before_the_first_evaluation_evaluates_the_weights_of_the_moment() -> None:
    trainee = CountingTrainee(signal_at=2)
    seen, evaluate = scorer(trainee, {})
    fit = fit_masked(trainee, one_pass, evaluate, lr=1.0, max_passes=10)
    assert fit.stopped == "interrupted" and seen == [2] and fit.scores == [9.0]
    assert fit.best_pass == 1 and trainee.steps == 2


def test_a_second_ctrl_c_during_the_last_evaluation_is_the_callers() -> None:
    trainee = CountingTrainee(signal_at=1)

    def evaluate() -> float:
        os.kill(os.getpid(), signal.SIGINT)  # the run's own handler is gone: Python's acts
        return 1.0

    with pytest.raises(KeyboardInterrupt):
        fit_masked(trainee, one_pass, evaluate, lr=1.0)


class Clock:
    """Seconds that pass only when told: a step costs 1, an evaluation `evaluation`."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_keeps_time_for_the_last_evaluation() -> None:
    clock, trainee = Clock(), CountingTrainee()
    stepped = trainee.train_batch

    def step(batch: Batch) -> float:
        clock.now += 1.0
        return stepped(batch)

    trainee.train_batch = step  # type: ignore[method-assign]

    def evaluate() -> float:
        clock.now += 4.0  # an evaluation costs four steps' time
        return 10.0 - trainee.steps

    fit = fit_masked(trainee, one_pass, evaluate, lr=1.0, budget_s=20.0, clock=clock)
    # pass 1: steps to 3 s, evaluated by 7; pass 2: to 10, evaluated by 14; pass 3 is cut
    # after its second step (16 + 4 >= 20) and evaluated: the run ends at 20 s, not 24
    assert fit.stopped == "budget" and fit.steps == 8 and fit.scores == [7.0, 4.0, 2.0]
    assert fit.seconds == 20.0
