"""The `saurus` command line: argument parsing only; the work is done by the API.

Every mistake a user can make ends in one line on stderr and exit status 2; Ctrl-C ends
with 130 (SIGTERM during training with 143), after training has saved what it had.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from saurus import __version__
from saurus import _interrupted as INTERRUPTED  # noqa: N812 (a Ctrl-C during the start: saurus.entry)
from saurus.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    examples,
    one_line,
    os_error_line,
)
from saurus.cli.classify import add_classify_command
from saurus.cli.complete import add_complete_command
from saurus.cli.datasets import add_datasets_command
from saurus.cli.export import add_export_command
from saurus.cli.music import add_jazz_command, add_music_command
from saurus.cli.plot import add_plot_command
from saurus.cli.reproduce import add_reproduce_command
from saurus.cli.sample import add_sample_commands
from saurus.cli.serve import add_serve_command
from saurus.cli.train import add_train_command
from saurus.errors import SaurusError


def build_parser() -> Parser:
    parser = Parser(
        prog="saurus",
        allow_abbrev=False,
        description="Train small character models and invent new names and text.",
        epilog=examples(
            "saurus train dinos -o dinos.saurus --lowercase",
            "saurus sample dinos.saurus -n 10 --novel",
            "saurus score dinos.saurus tyrannosaurus",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"saurus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    add_train_command(sub)
    add_sample_commands(sub)
    add_classify_command(sub)
    runs = add_reproduce_command(sub)
    add_jazz_command(runs)
    add_music_command(sub)
    add_datasets_command(sub)
    add_complete_command(sub)
    add_serve_command(sub)
    add_export_command(sub)
    add_plot_command(sub)
    parser.commands = dict(sub.choices)
    return parser


def run_with_threads(args: argparse.Namespace) -> int:
    if args.threads is None:
        return int(args.run(args))
    from threadpoolctl import threadpool_limits

    os.environ["SAURUS_THREADS"] = str(args.threads)  # the torch backend sets its threads from it
    with threadpool_limits(limits=args.threads):
        return int(args.run(args))


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Run the command line `argv`; `started` (a time.perf_counter() value) is when the
    process began, from which a training budget counts."""
    if sys.stderr is None:  # started with stderr closed: errors go nowhere, but no traceback
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    args = build_parser().parse_args(argv)
    args.started = started
    verbs = (args.command, getattr(args, "music_command", None), getattr(args, "experiment", None))
    prefix = " ".join(["saurus", *(v for v in verbs if v)])
    if sys.stdout is None:
        if args.command != "train":
            print(f"{prefix}: error: standard output is closed; nowhere to write", file=sys.stderr)
            return EXIT_USAGE
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    try:
        if INTERRUPTED[0]:  # a Ctrl-C during the start-up that a finaliser swallowed
            raise KeyboardInterrupt
        return run_with_threads(args)
    except SaurusError as err:
        print(f"{prefix}: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`saurus sample ... | head`): silence the final flush as well
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        print(
            f"{prefix}: error: out of memory; ask for less (a smaller model, -n or --length)", file=sys.stderr
        )
        return EXIT_USAGE
    except OSError as err:
        print(f"{prefix}: error: {one_line(os_error_line(err))}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
