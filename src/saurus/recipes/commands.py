"""`saurus reproduce jaychou` and `saurus reproduce minchar`: argument parsing and printing
only; the work is done in jaychou.py and minchar.py beside this file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from saurus import cli
from saurus.recipes.jaychou import PREFIXES, SAMPLINGS, JaychouSetup
from saurus.recipes.minchar import MinCharSetup

JAYCHOU = JaychouSetup()
MINCHAR = MinCharSetup()


def add_recipe_commands(runs: argparse._SubParsersAction) -> None:
    """Register the recipe presets under `saurus reproduce`."""
    add_jaychou_command(runs)
    add_minchar_command(runs)


def add_jaychou_command(runs: argparse._SubParsersAction) -> None:
    p = cli.add_command(
        runs,
        "jaychou",
        "the d2l RNN from scratch on Jay Chou's lyrics: 256 hidden units, SGD at lr 100, "
        "perplexity and the continuations of 分开 and 不分开 every 50 epochs",
        "saurus reproduce jaychou",
        "saurus reproduce jaychou --epochs 10 --every 5 --sampling consecutive",
    )
    p.add_argument(
        "--epochs", type=cli.positive_int, default=JAYCHOU.epochs, help=f"epochs (default: {JAYCHOU.epochs})"
    )
    p.add_argument(
        "--every",
        "--period",
        dest="period",
        type=cli.positive_int,
        default=JAYCHOU.period,
        help=f"print every N epochs and at the last (d2l's pred_period; default: {JAYCHOU.period})",
    )
    p.add_argument(
        "--sampling",
        choices=(*SAMPLINGS, "both"),
        default="both",
        help="random, consecutive, or both one after the other (default: both)",
    )
    p.add_argument(
        "--hidden",
        type=cli.positive_int,
        default=JAYCHOU.hidden,
        help=f"hidden units (default: {JAYCHOU.hidden})",
    )
    p.add_argument(
        "--chars",
        type=cli.positive_int,
        default=10000,
        help="train on the first N characters of the lyrics (default: 10000)",
    )
    p.add_argument(
        "--prefix",
        action="append",
        dest="prefixes",
        metavar="TEXT",
        help=f"a prefix to continue; repeat for several (default: {' and '.join(PREFIXES)})",
    )
    p.add_argument(
        "--seed", type=cli.seed_value, default=0, help="seed of the weights and the shuffles (default: 0)"
    )
    p.add_argument("--data", type=Path, help="a UTF-8 text file instead of the registered jaychou lyrics")
    p.set_defaults(run=cmd_jaychou)


def add_minchar_command(runs: argparse._SubParsersAction) -> None:
    p = cli.add_command(
        runs,
        "minchar",
        "the min-char-rnn gist on any text: 100 hidden units, 25-character chunks, Adagrad at 0.1",
        "saurus reproduce minchar tinyshakespeare",
        "saurus reproduce minchar poems.txt --iterations 20000 --every 500",
    )
    p.add_argument("file", help="a UTF-8 text file, or a registered dataset (e.g. tinyshakespeare)")
    p.add_argument(
        "--iterations",
        type=cli.positive_int,
        default=MINCHAR.iterations,
        help=f"chunks to train on (the gist never stops; default: {MINCHAR.iterations})",
    )
    p.add_argument(
        "--every",
        type=cli.positive_int,
        default=MINCHAR.every,
        help=f"print a sample and the loss every N iterations (the gist: 100; default: {MINCHAR.every})",
    )
    p.add_argument(
        "--hidden",
        type=cli.positive_int,
        default=MINCHAR.hidden,
        help=f"hidden units (default: {MINCHAR.hidden})",
    )
    p.add_argument(
        "--seq-len",
        type=cli.positive_int,
        default=MINCHAR.seq_length,
        help=f"characters per chunk (default: {MINCHAR.seq_length})",
    )
    p.add_argument(
        "--lr", type=cli.positive_float, default=MINCHAR.lr, help=f"Adagrad's rate (default: {MINCHAR.lr})"
    )
    p.add_argument(
        "--seed", type=cli.seed_value, default=0, help="seed of the weights and the samples (default: 0)"
    )
    p.set_defaults(run=cmd_minchar)


def cmd_jaychou(args: argparse.Namespace) -> int:
    from saurus.data.corpus import read_text
    from saurus.data.datasets import load_dataset_text
    from saurus.recipes.jaychou import check_setup, load_lyrics, train_and_predict

    text = read_text(args.data) if args.data is not None else load_dataset_text("jaychou")
    lyrics = load_lyrics(text, args.chars)
    setup = JaychouSetup(
        epochs=args.epochs,
        hidden=args.hidden,
        period=args.period,
        prefixes=tuple(args.prefixes) if args.prefixes else PREFIXES,
        seed=args.seed,
    )
    samplings = SAMPLINGS if args.sampling == "both" else (args.sampling,)
    check_setup(lyrics, setup, samplings)
    print(f"vocab_size {lyrics.vocab_size}, corpus of {len(lyrics.indices)} characters", flush=True)
    start = time.perf_counter()
    for sampling in samplings:
        print(f"{sampling} sampling", flush=True)
        for report in train_and_predict(lyrics, setup, sampling):
            if report.predictions:
                print(report.format(), end="", flush=True)
    cli.say(
        f"{args.epochs} epochs of {' and '.join(samplings)} sampling in {time.perf_counter() - start:.1f} s"
    )
    return 0


def cmd_minchar(args: argparse.Namespace) -> int:
    from saurus.data.datasets import open_source
    from saurus.recipes.minchar import check_setup, train

    source = open_source(args.file)
    setup = MinCharSetup(
        iterations=args.iterations,
        every=args.every,
        hidden=args.hidden,
        seq_length=args.seq_len,
        lr=args.lr,
        seed=args.seed,
    )
    where = str(source.path) if source.dataset is None else f"dataset {source.dataset.name!r}"
    check_setup(source.text, setup, where)
    print(f"data has {len(source.text)} characters, {len(set(source.text))} unique.", flush=True)
    start = time.perf_counter()
    for report in train(source.text, setup, where):
        if report.n % setup.every == 0:
            print(report.format(), end="", flush=True)
    cli.say(f"{args.iterations} iterations in {time.perf_counter() - start:.1f} s")
    return 0
