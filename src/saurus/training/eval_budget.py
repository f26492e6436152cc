"""A time budget that keeps room for the evaluation that ends a run.

A loop that trains, then evaluates, stops its training once

    spent + reserve >= seconds,     reserve = the longest evaluation so far

and evaluates, so that the run ends near `seconds` even where one evaluation takes many
steps' time (MuseData's validation split took a 120 s notes run to 163 s when the budget
counted the training steps only). Before the first evaluation the reserve is 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class EvalBudget:
    seconds: float
    clock: Callable[[], float] = time.perf_counter
    start: float = field(init=False)
    reserve: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.clock()

    def spent(self) -> float:
        return self.clock() - self.start

    def exhausted(self) -> bool:
        """Whether the training under way must stop to leave room for its evaluation."""
        return self.spent() + self.reserve >= self.seconds

    def evaluate(self, evaluate: Callable[[], T]) -> T:
        """`evaluate()`, its seconds counted into the reserve."""
        began = self.clock()
        out = evaluate()
        self.reserve = max(self.reserve, self.clock() - began)
        return out
