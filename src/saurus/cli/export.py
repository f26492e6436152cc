"""`saurus export MODEL -o names.html`: a name generator in one HTML file (saurus.export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saurus.cli.args import add_command, say
from saurus.export.page import write_page
from saurus.files import models
from saurus.files.outputs import PAGE, check_output
from saurus.files.pretrained import resolve

EXPORT_USAGE = """\
write a names model (any family, its categories too) as one HTML page that generates names
in any browser, offline
saurus export dinos -o dinos.html
saurus export names.saurus -o names.html --title "baby names"
"""


def add_export_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus export`."""
    p = add_command(sub, "export", EXPORT_USAGE)
    p.add_argument(
        "model",
        help="a names model file (LSTM, GRU, RNN, Transformer or classic), or a pretrained one: dinos",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="the page to write (.html)")
    p.add_argument("--title", help="the page's title (default: the model's name)")
    p.add_argument("--overwrite", action="store_true", help="replace a page saurus exported before")
    p.set_defaults(run=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    source = Path(resolve(args.model))
    check_output(args.output, PAGE, protect=(source,), overwrite=args.overwrite)
    model = models.load_for(source, "text", "saurus export writes names pages")[0]
    size = write_page(model, args.output, args.title or Path(args.model).stem)
    say(f"wrote {args.output} ({size / 1024:,.0f} KiB): open it in a browser, no server needed")
    return 0
