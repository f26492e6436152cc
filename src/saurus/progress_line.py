"""The one-line live progress display of `saurus train`.

On a terminal the line is redrawn in place (carriage return); elsewhere (a pipe, a CI log)
each report is its own line, so logs stay readable.
"""

from __future__ import annotations

from typing import TextIO

from saurus.monitor import Progress


def format_progress(p: Progress) -> str:
    total = "" if p.iterations is None else f"/{p.iterations}"
    val = "" if p.val_nats is None else f"  val {p.val_nats:.4f}"
    return (
        f"step {p.iteration}{total}  epoch {p.epoch:.1f}  train {p.train_nats:.4f}{val} nats/char  "
        f"{p.chars_per_second:,.0f} chars/s  {p.seconds:.0f} s"
    )


class ProgressLine:
    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream, self.quiet = stream, quiet
        self.live = stream.isatty()
        self.drawn = False

    def show(self, p: Progress) -> None:
        if self.quiet:
            return
        if self.live:
            self.stream.write("\r\033[K" + format_progress(p))
            self.drawn = True
        else:
            self.stream.write(format_progress(p) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live line, so what follows starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
