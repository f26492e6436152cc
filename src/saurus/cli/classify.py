"""`saurus classify MODEL NAME...`: the category each name likely belongs to, by Bayes' rule
over a model trained on labelled names (saurus.generation.categories.posteriors)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saurus.cli.args import add_command, positive_int, say
from saurus.cli.sample import load_text_model, read_texts
from saurus.errors import OptionError
from saurus.generation.categories import categories_of, classify
from saurus.generation.unknown_chars import prepare_scored

CLASSIFY_USAGE = """\
the likeliest category of each name, with its posterior probability, by a model trained
on labelled names (a folder of one file per category, or a .tsv / .csv of name and label)
saurus classify surnames.saurus Nakamura O'Neill Rossi
saurus classify surnames.saurus - --top 3 < names.txt
"""


def cmd_classify(args: argparse.Namespace) -> int:
    """One line per name: category, tab, posterior, (more pairs with --top), tab, name."""
    model = load_text_model(args.model)
    if not categories_of(model):
        raise OptionError(
            f"{args.model} was not trained on labelled names, so it has no categories; train one on a "
            "folder of one .txt file per category, or on a .tsv or .csv of name and label"
        )
    names = read_texts(args.names)
    top = min(args.top, len(categories_of(model)))
    scored, skipped = prepare_scored(model, names, skip_unknown=args.skip_unknown)
    kept = [name for name in scored if name is not None]
    ranked = iter(classify(model, kept, top))
    for name, known in zip(names, scored, strict=True):
        shown = name.encode("utf-8", "backslashreplace").decode()
        if known is None:
            print(f"?\tnan\t{shown}")
            continue
        pairs = "\t".join(f"{label}\t{p:.4f}" for label, p in next(ranked))
        print(f"{pairs}\t{shown}")
    if skipped:
        say(skipped.replace("(scored -inf)", "(classified ?)"))
    return 0


def add_classify_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus classify`."""
    p = add_command(sub, "classify", CLASSIFY_USAGE)
    p.add_argument("model", type=Path, help="a model trained on labelled names")
    p.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="names to classify; - reads them from standard input, one a line",
    )
    p.add_argument(
        "--top", type=positive_int, default=1, metavar="K", help="the K likeliest categories (default: 1)"
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="print ? for names with characters the model has never seen, instead of stopping",
    )
    p.set_defaults(run=cmd_classify)
