"""Ctrl-C and SIGTERM during training, acted on between steps.

A signal that comes during a step, an evaluation or a checkpoint being written is only
recorded; the loop delivers it at the next step boundary, where the weights, the optimizer
and the random generators agree, so the state saved then resumes exactly (see resume.py).
Delivering means calling the handler the signal had before (Python's KeyboardInterrupt for
Ctrl-C, the command line's for SIGTERM). A second signal while one is pending is delivered
at once, wherever the run is: whoever insists is not kept waiting, and the last checkpoint
on disk stands. Signals whose handler is not a Python function (ignored, or the default
that ends the process) are left alone, and so is everything outside the main thread.

Under torchrun (several ranks) rank 0 records every signal and the other ranks ignore
them: rank 0 delivers it between steps, where every rank waits for its go (see
backends/torch/distributed.py), since a signal acted on in the middle of a step would leave
the others inside a gradient all-reduce that rank 0 never joins.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from saurus.training.world import World

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StepSignals:
    """The signals recorded during a step, delivered by `deliver()` at its end; with
    `hold_all` (several ranks) a second signal waits too."""

    def __init__(self, hold_all: bool = False) -> None:
        self.hold_all = hold_all
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}
        self.at_boundary = False  # whether the last delivery came between steps

    def record(self, signum: int, frame: Any) -> None:
        """The handler while the block runs: the first signal waits, a second acts now."""
        if self.pending is None or self.hold_all:
            self.pending = signum
            return
        self.pending, self.at_boundary = None, False
        self.call_previous(signum, frame)

    def deliver(self) -> None:
        """Between steps: act on the signal that came during the step, if one did."""
        if self.pending is None:
            return
        signum, self.pending = self.pending, None
        self.at_boundary = True
        self.call_previous(signum, None)

    def call_previous(self, signum: int, frame: Any) -> None:
        """Run the handler the signal had before; the run stops even if that returns."""
        handler = self.previous.get(signum)
        if callable(handler):
            handler(signum, frame)
        raise KeyboardInterrupt


@contextlib.contextmanager
def step_signals(world: World | None = None) -> Iterator[StepSignals]:
    """Within the block SIGINT and SIGTERM (where Python handles them) wait for the next
    `deliver()`; under torchrun (`world` active) rank 0 records them all and the other
    ranks ignore them. Outside the main thread nothing changes."""
    world = world or World()
    signals = StepSignals(hold_all=world.active)
    try:
        for signum in SIGNALS:
            handler = signal.getsignal(signum)
            if world.active:
                signals.previous[signum] = handler
                signal.signal(signum, signals.record if world.leader else signal.SIG_IGN)
            elif callable(handler):
                signals.previous[signum] = handler
                signal.signal(signum, signals.record)
    except ValueError:  # not the main thread
        signals.previous.clear()
    try:
        yield signals
    finally:
        for signum, handler in signals.previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list[bool]]:
    """Within the block SIGTERM acts like Ctrl-C (training saves what it has); the flag
    list tells afterwards whether it came."""
    came = [False]

    def handler(signum: int, frame: object) -> None:
        came[0] = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield came
        return
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, previous)
