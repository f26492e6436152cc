"""`saurus reproduce jaychou` and `saurus reproduce minchar`: argument parsing and printing
only; the work is done in jaychou.py and minchar.py beside this file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from saurus.classics import jaychou, minchar
from saurus.classics.jaychou import (
    PREFIXES,
    SAMPLINGS,
    JaychouSetup,
    load_lyrics,
    train_and_predict,
)
from saurus.classics.minchar import MinCharSetup, train
from saurus.cli.args import (
    MAX_REPORT_NAMES,
    Parser,
    add_command,
    bounded_int,
    positive_float,
    positive_int,
    say,
    seed_value,
)
from saurus.data.corpus import read_text
from saurus.data.datasets import dataset_path, load_dataset_text, open_source
from saurus.data.vocab import Vocab
from saurus.reference.name_model import classic_training_run
from saurus.resources import check_fits, classic_bytes

JAYCHOU = JaychouSetup()
MINCHAR = MinCharSetup()


JAYCHOU_USAGE = """\
the d2l RNN from scratch on Jay Chou's lyrics: 256 hidden units, SGD at lr 100,
perplexity and the continuations of 分开 and 不分开 every 50 epochs
saurus reproduce jaychou
saurus reproduce jaychou --epochs 10 --every 5 --sampling consecutive
"""

MINCHAR_USAGE = """\
the min-char-rnn gist on any text: 100 hidden units, 25-character chunks, Adagrad at 0.1
saurus reproduce minchar tinyshakespeare
saurus reproduce minchar poems.txt --iterations 20000 --every 500
"""

REPRODUCE_USAGE = """\
rerun a classic exercise and print its transcript
saurus reproduce dinos
saurus reproduce dinos --iterations 4000 --every 1000
saurus reproduce jazz -o jazz.mid
saurus reproduce jaychou --epochs 50
saurus reproduce minchar tinyshakespeare --iterations 5000
"""

DINOS_USAGE = """\
the 'Dinosaur Island' training run
saurus reproduce dinos
saurus reproduce dinos --iterations 4000 --every 1000
"""


def add_recipe_commands(runs: argparse._SubParsersAction) -> None:
    """Register the recipe presets under `saurus reproduce`."""
    add_jaychou_command(runs)
    add_minchar_command(runs)


def add_setting(
    p: argparse.ArgumentParser, flags: str | tuple[str, ...], value: float, what: str, **more: object
) -> None:
    """An option that sets one number of an exercise's setup, whose default it shows."""
    kind = positive_float if isinstance(value, float) else positive_int
    names = (flags,) if isinstance(flags, str) else flags
    p.add_argument(*names, type=kind, default=value, help=f"{what} (default: {value})", **more)  # type: ignore[arg-type]


def add_seed(p: argparse.ArgumentParser, of: str) -> None:
    p.add_argument("--seed", type=seed_value, default=0, help=f"seed of {of} (default: 0)")


def add_jaychou_command(runs: argparse._SubParsersAction) -> None:
    p = add_command(runs, "jaychou", JAYCHOU_USAGE)
    add_setting(p, "--epochs", JAYCHOU.epochs, "epochs")
    every = "print every N epochs and at the last (d2l's pred_period)"
    add_setting(p, ("--every", "--period"), JAYCHOU.period, every, dest="period")
    p.add_argument(
        "--sampling",
        choices=(*SAMPLINGS, "both"),
        default="both",
        help="random, consecutive, or both one after the other (default: both)",
    )
    add_setting(p, "--hidden", JAYCHOU.hidden, "hidden units")
    add_setting(p, "--chars", 10000, "train on the first N characters of the lyrics")
    p.add_argument(
        "--prefix",
        action="append",
        dest="prefixes",
        metavar="TEXT",
        help=f"a prefix to continue; repeat for several (default: {' and '.join(PREFIXES)})",
    )
    add_seed(p, "the weights and the shuffles")
    p.add_argument("--data", type=Path, help="a UTF-8 text file instead of the registered jaychou lyrics")
    p.set_defaults(run=cmd_jaychou)


def add_minchar_command(runs: argparse._SubParsersAction) -> None:
    p = add_command(runs, "minchar", MINCHAR_USAGE)
    p.add_argument("file", help="a UTF-8 text file, or a registered dataset (e.g. tinyshakespeare)")
    add_setting(p, "--iterations", MINCHAR.iterations, "chunks to train on (the gist never stops)")
    add_setting(p, "--every", MINCHAR.every, "print a sample and the loss every N iterations (the gist: 100)")
    add_setting(p, "--hidden", MINCHAR.hidden, "hidden units")
    add_setting(p, "--seq-len", MINCHAR.seq_length, "characters per chunk")
    add_setting(p, "--lr", MINCHAR.lr, "Adagrad's rate")
    add_seed(p, "the weights and the samples")
    p.set_defaults(run=cmd_minchar)


def cmd_jaychou(args: argparse.Namespace) -> int:

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
    jaychou.check_setup(lyrics, setup, samplings)
    print(f"vocab_size {lyrics.vocab_size}, corpus of {len(lyrics.indices)} characters", flush=True)
    start = time.perf_counter()
    for sampling in samplings:
        print(f"{sampling} sampling", flush=True)
        for report in train_and_predict(lyrics, setup, sampling):
            if report.predictions:
                print(report.format(), end="", flush=True)
    say(f"{args.epochs} epochs of {' and '.join(samplings)} sampling in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_minchar(args: argparse.Namespace) -> int:

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
    minchar.check_setup(source.text, setup, where)
    print(f"data has {len(source.text)} characters, {len(set(source.text))} unique.", flush=True)
    start = time.perf_counter()
    for report in train(source.text, setup, where):
        if report.n % setup.every == 0:
            print(report.format(), end="", flush=True)
    say(f"{args.iterations} iterations in {time.perf_counter() - start:.1f} s")
    return 0


def add_reproduce_command(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register `saurus reproduce` and its dinos exercise; the others join the returned
    subcommands."""
    reproduce = add_command(sub, "reproduce", REPRODUCE_USAGE)
    runs = reproduce.add_subparsers(dest="experiment", required=True, parser_class=Parser, metavar="EXERCISE")
    p = add_command(runs, "dinos", DINOS_USAGE)
    p.add_argument("--iterations", type=positive_int, default=35000, help="SGD steps (default: 35000)")
    p.add_argument("--every", type=positive_int, default=2000, help="report every N iterations")
    p.add_argument("--hidden", type=positive_int, default=50, help="hidden units (default: 50)")
    p.add_argument(
        "--names",
        type=lambda t: bounded_int(t, MAX_REPORT_NAMES),
        default=7,
        help=f"names sampled per report (at most {MAX_REPORT_NAMES})",
    )
    p.add_argument("--data", type=Path, help="dinos.txt (default: the registered dataset)")
    p.set_defaults(run=cmd_reproduce)
    reproduce.commands = runs.choices  # (the same dict: later exercises join it)
    add_recipe_commands(runs)
    return runs


def cmd_reproduce(args: argparse.Namespace) -> int:
    path = args.data if args.data is not None else dataset_path("dinos")
    text = read_text(path).lower()
    # readlines() semantics, as in the exercise: a final newline ends the last line
    names = [line.strip() for line in text.removesuffix("\n").split("\n")]
    vocab = Vocab.from_text(text, with_eos=True)
    longest = max(map(len, names)) + 1
    check_fits(
        classic_bytes(hidden=args.hidden, vocab=vocab.size, steps=longest),
        f"the classic run with --hidden {args.hidden}",
        "choose a smaller --hidden",
    )
    start = time.perf_counter()
    for block in classic_training_run(
        names,
        vocab.char_to_ix(),
        num_iterations=args.iterations,
        n_a=args.hidden,
        dino_names=args.names,
        every=args.every,
    ):
        print(block.format(), end="", flush=True)
    say(f"{args.iterations} iterations in {time.perf_counter() - start:.1f} s")
    return 0
