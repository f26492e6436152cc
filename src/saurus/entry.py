"""The `saurus` command's entry point: Ctrl-C while the program is still starting (its
imports take a moment) ends quietly too, in one line and exit status 130.

A KeyboardInterrupt raised while a finaliser runs (a __del__ or a weakref callback during
an import) is printed as "Exception ignored" and lost, and one raised while runpy imports
the package ends in a traceback. So the package's own start (saurus/__init__.py) only
records a Ctrl-C; from here on the handler records it and raises KeyboardInterrupt, and
the command line checks the record before it runs the command."""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

from saurus import _interrupted as INTERRUPTED  # noqa: N812 (set by the start-up handlers; never cleared)
from saurus import _record_interrupt


def on_interrupt(signum: int, frame: FrameType | None) -> None:
    """Python's own SIGINT handling, plus a record that survives a swallowed KeyboardInterrupt."""
    INTERRUPTED[0] = True
    raise KeyboardInterrupt


def process_age() -> float:
    """Seconds since this process started (Linux's /proc; elsewhere 0): a training budget
    counts the whole command, the interpreter's start-up included."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def main() -> int:
    started = time.perf_counter() - process_age()
    try:
        if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _record_interrupt):
            signal.signal(signal.SIGINT, on_interrupt)  # (not if ignored)
        if INTERRUPTED[0]:  # while the package loaded
            raise KeyboardInterrupt
        from saurus.cli.main import main as run

        return run(started=started)
    except KeyboardInterrupt:  # before the command's own handler is in place
        if sys.stderr is not None:
            print("saurus: interrupted", file=sys.stderr)
        return 130
