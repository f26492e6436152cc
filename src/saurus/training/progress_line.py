"""The one-line live progress display of `saurus train`.

On a terminal the line is redrawn in place (carriage return) at every evaluation and at
every tick between them (about once a second); elsewhere (a pipe, a CI log) each
evaluation is its own line, and ticks are written at most every PLAIN_TICK_SECONDS, so
logs stay readable.
"""

from __future__ import annotations

from typing import TextIO

from saurus.training.monitor import Progress

PLAIN_TICK_SECONDS = 10.0


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


class ProgressLine:
    def __init__(self, stream: TextIO, *, quiet: bool = False, unit: str = "char") -> None:
        self.stream, self.quiet, self.unit = stream, quiet, unit
        self.live = stream.isatty()
        self.drawn = False
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
        line = format_progress(p, self.last_val, self.unit)
        if self.live:
            self.stream.write("\r\033[K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live line, so what follows starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
