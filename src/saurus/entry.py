"""The `saurus` command's entry point: Ctrl-C while the program is still starting (its
imports take a moment) ends quietly too, in one line and exit status 130."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from saurus.cli import main as run

        return run()
    except KeyboardInterrupt:  # before the command's own handler is in place
        if sys.stderr is not None:
            print("saurus: interrupted", file=sys.stderr)
        return 130
