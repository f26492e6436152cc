"""`saurus plot`: draw the loss curves of training logs (saurus.plot does the drawing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saurus.cli.args import add_command, say
from saurus.files.outputs import PICTURE, check_output
from saurus.plot import make_figure, read_logs, require_matplotlib, save_figure

PLOT_USAGE = """\
draw training and validation loss from training logs (needs the 'plot' extra)
saurus plot dinos.saurus.log.jsonl -o dinos.png
saurus plot small.saurus.log.jsonl big.saurus.log.jsonl -o compare.png --overwrite
"""


def add_plot_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus plot`."""
    p = add_command(sub, "plot", PLOT_USAGE)
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="training logs (MODEL.log.jsonl)")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="the picture to write (.png, .svg or .pdf)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing picture")
    p.set_defaults(run=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    require_matplotlib()
    runs = read_logs(args.logs)
    check_output(args.output, PICTURE, protect=tuple(args.logs), overwrite=args.overwrite)
    save_figure(make_figure(runs), args.output)
    evaluations = sum(len(r.steps) for r in runs)
    say(f"drew {len(runs)} run{'s' if len(runs) > 1 else ''} ({evaluations} evaluations) in {args.output}")
    return 0
