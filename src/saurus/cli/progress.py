"""The live progress display of `saurus train`.

On a terminal a tqdm bar is redrawn in place at every evaluation and at every tick between
them (about once a second). Its length is the run's: the steps when they are known, the
seconds of a time budget when there is one (the bar then advances with the clock, and the
time left is the budget left); when both limit the run, the one further along counts and
the time left is the sooner end. The train and validation losses, the epoch and the speed
follow the bar. Without tqdm the terminal gets one line redrawn with a carriage return.

Elsewhere (a pipe, a CI log) each evaluation is its own plain line (`format_progress`), and
ticks are written at most every PLAIN_TICK_SECONDS, so logs stay readable.
"""

from __future__ import annotations

from typing import Any, TextIO

from saurus.training.monitor import Progress

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency; the plain live line stands in
    tqdm = None

PLAIN_TICK_SECONDS = 10.0
BAR_FORMAT = "{percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}{postfix}]"
OPEN_BAR_FORMAT = "{desc} [{elapsed}{postfix}]"  # neither steps nor a budget known: no end to show


def format_progress(p: Progress, last_val: float | None = None, unit: str = "char") -> str:
    """One line; a tick between evaluations shows the last validation loss, `last_val`.
    `unit` is what the model predicts: a character, or a music token."""
    total = "" if p.iterations is None else f"/{p.iterations}"
    shown = p.val_nats if p.evaluated else last_val
    val = "" if shown is None else f"  val {shown:.4f}"
    return (
        f"step {p.iteration}{total}  epoch {p.epoch:.1f}  train {p.train_nats:.4f}{val} nats/{unit}  "
        f"{p.chars_per_second:,.0f} {unit}s/s  {p.seconds:.0f} s"
    )


def run_fraction(p: Progress, budget_seconds: float | None) -> float | None:
    """How much of the run is done, 0 to 1: by steps or by time, whichever is further
    (as the training loop decides when to stop); None when neither end is known."""
    parts = []
    if p.iterations:
        parts.append(p.iteration / p.iterations)
    if budget_seconds:
        parts.append(p.seconds / budget_seconds)
    return min(max(max(parts), 0.0), 1.0) if parts else None


def seconds_left(p: Progress, budget_seconds: float | None, steps_per_second: float | None) -> float | None:
    """Seconds until the run ends: the budget left, or the steps left at the measured speed,
    whichever comes first; None when neither is known."""
    left = []
    if budget_seconds:
        left.append(max(budget_seconds - p.seconds, 0.0))
    if p.iterations and steps_per_second:
        left.append(max(p.iterations - p.iteration, 0) / steps_per_second)
    return min(left) if left else None


def bar_counter(p: Progress, budget_seconds: float | None) -> str:
    """What the bar counts, after it: the step (of how many) and, under a budget, the seconds."""
    total = "" if p.iterations is None else f"/{p.iterations}"
    clock = "" if budget_seconds is None else f"  {min(p.seconds, budget_seconds):.0f}/{budget_seconds:g} s"
    return f"step {p.iteration}{total}{clock}"


def bar_postfix(p: Progress, last_val: float | None, unit: str = "char") -> str:
    """The numbers that follow the bar: epoch, train and validation loss, speed."""
    shown = p.val_nats if p.evaluated else last_val
    val = "" if shown is None else f"  val {shown:.4f}"
    return (
        f"epoch {p.epoch:.1f}  train {p.train_nats:.4f}{val} nats/{unit}  {p.chars_per_second:,.0f} {unit}s/s"
    )


if tqdm is not None:

    class RunBar(tqdm):  # type: ignore[misc,valid-type]
        """A tqdm bar whose clock is the run's (`run_seconds`, data preparation included) and
        whose time left is the run's own estimate (`run_left`), not tqdm's guess from its
        own start."""

        def __init__(self, *args: Any, run_seconds: float = 0.0, run_left: float | None = None, **kw: Any):
            self.run_seconds, self.run_left = run_seconds, run_left  # before tqdm's first drawing
            super().__init__(*args, **kw)

        @property
        def format_dict(self) -> dict[str, Any]:
            d = dict(super().format_dict)
            d["elapsed"] = self.run_seconds
            if self.run_left is not None and self.total:
                # tqdm shows (total - n) / rate as the time left
                d["rate"] = max(self.total - self.n, 1e-9) / max(self.run_left, 1e-3)
            return d


class ProgressLine:
    """Shows each Progress of a run on `stream`: a live bar on a terminal, plain lines
    elsewhere, nothing when `quiet`. `unit` is "char" or "token"; `budget_seconds` is the
    run's --time-budget, if any, which the bar then counts down."""

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        unit: str = "char",
        budget_seconds: float | None = None,
    ) -> None:
        self.stream, self.quiet, self.unit, self.budget = stream, quiet, unit, budget_seconds
        self.live = stream.isatty()
        self.drawn = False  # a live line (or bar) is on screen, its line not yet ended
        self.bar: Any = None
        self.first: Progress | None = None  # the first progress shown, to measure the speed
        self.last_line = 0.0  # p.seconds of the last plain line written
        self.last_val: float | None = None

    def show(self, p: Progress) -> None:
        if self.quiet:
            return
        if not self.live and not p.evaluated and p.seconds - self.last_line < PLAIN_TICK_SECONDS:
            return
        self.last_line = p.seconds
        if p.evaluated:
            self.last_val = p.val_nats
        if not self.live:
            self.stream.write(format_progress(p, self.last_val, self.unit) + "\n")
            self.stream.flush()
        elif tqdm is None:
            self.stream.write("\r\033[K" + format_progress(p, self.last_val, self.unit))
            self.stream.flush()
            self.drawn = True
        else:
            self.draw(p)

    def steps_per_second(self, p: Progress) -> float | None:
        """Steps per second since the first progress shown (evaluations included, as they
        are part of the time left); before a second one, over the whole run."""
        first = self.first
        if first is not None and p.seconds > first.seconds and p.iteration > first.iteration:
            return (p.iteration - first.iteration) / (p.seconds - first.seconds)
        return p.iteration / p.seconds if p.seconds > 0 and p.iteration > 0 else None

    def total(self, p: Progress) -> float | None:
        """The bar's length: the budget's seconds when there is one, else the steps."""
        return self.budget if self.budget else p.iterations

    def draw(self, p: Progress) -> None:
        """Bring the terminal's bar up to `p` (made at the first progress, when the run's
        length is known)."""
        if self.first is None:
            self.first = p
        total = self.total(p)
        fraction = run_fraction(p, self.budget)
        n = 0 if fraction is None or not total else fraction * total
        seconds, left = p.seconds, seconds_left(p, self.budget, self.steps_per_second(p))
        counter, postfix = bar_counter(p, self.budget), bar_postfix(p, self.last_val, self.unit)
        self.drawn = True  # set first: a Ctrl-C may come while the bar is being made
        if self.bar is None:  # drawn at once, as it is made
            self.bar = RunBar(
                file=self.stream,
                total=total,
                initial=n,
                desc=counter,
                postfix=postfix,
                run_seconds=seconds,
                run_left=left,
                bar_format=BAR_FORMAT if total else OPEN_BAR_FORMAT,
                dynamic_ncols=True,
                leave=True,
            )
            return
        self.bar.n, self.bar.run_seconds, self.bar.run_left = n, seconds, left
        self.bar.set_description_str(counter, refresh=False)
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        """End the live display (its last state stays on screen), so what follows starts
        on a fresh line; called after training, also after Ctrl-C."""
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()  # draws its last state once more and ends the line
            self.drawn = False
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
