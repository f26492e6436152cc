"""`saurus datasets`: the named datasets, their size, source and checksum."""

from __future__ import annotations

import argparse

from saurus.cli.args import (
    add_command,
)
from saurus.data.datasets import DATASETS, where_is
from saurus.music.pieces import METHENY

DATASETS_USAGE = """\
list the named datasets: size, source, checksum, and whether each is here
saurus datasets
"""


def cmd_datasets(args: argparse.Namespace) -> int:

    print(f"{'name':<16} {'kind':<7} {'size':>9}  {'sha256':<14} source / where")
    for ds in (*DATASETS.values(), METHENY):
        kind = "midi" if ds is METHENY else ds.mode if ds.kind == "text" else ds.kind
        source = ds.url or "the classic exercise (no public URL)"
        print(f"{ds.name:<16} {kind:<7} {ds.size / 1000:>7,.1f} kB  {ds.sha256[:12]}…  {source}")
        print(f"{'':<16} {'':<7} {'':>9}  {'':<14} {where_is(ds)}")
    bach = "music21's Bach chorales, read from the installed package"
    print(f"{'bach':<16} {'music':<7} {'':>9}  {'':<14} {bach}")
    return 0


def add_datasets_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus datasets`."""
    p = add_command(sub, "datasets", DATASETS_USAGE)
    p.set_defaults(run=cmd_datasets)
