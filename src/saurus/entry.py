"""The `saurus` command's entry point: Ctrl-C while the program is still starting (its
imports take a moment) ends quietly too, in one line and exit status 130."""

from __future__ import annotations

import os
import sys
import time


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
        from saurus.cli.main import main as run

        return run(started=started)
    except KeyboardInterrupt:  # before the command's own handler is in place
        if sys.stderr is not None:
            print("saurus: interrupted", file=sys.stderr)
        return 130
