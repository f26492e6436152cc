"""The `saurus` command line: argument parsing only; the work is done by the API."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from saurus import __version__, models
from saurus.checkpoint import check_writable_model_path
from saurus.corpus import MODES, make_corpus, read_text
from saurus.datasets import dataset_path
from saurus.errors import SaurusError
from saurus.evaluation import evaluate
from saurus.reference.name_model import classic_training_run
from saurus.sampling import DEFAULT_MAX_LEN, generate_lines, generate_text
from saurus.training import Progress, TrainConfig, train_file
from saurus.vocab import Vocab

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    value = int_value(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def build_parser() -> Parser:
    parser = Parser(prog="saurus", description="Train small character models and invent new names and text.")
    parser.add_argument("--version", action="version", version=f"saurus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a UTF-8 text file")
    p.add_argument("file", type=Path, help="training data: one example per line, or running text")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="lines",
        help="lines: one example per line (names); stream: continuous text (default: lines)",
    )
    p.add_argument("--hidden", type=positive_int, help="hidden units (default: 50 lines, 100 stream)")
    p.add_argument(
        "--iterations",
        type=positive_int,
        help="training steps: names (lines) or chunks (stream) (default: 35000 / 20000)",
    )
    p.add_argument(
        "--lr", type=positive_float, help="learning rate (default: 0.01 SGD lines, 0.1 Adagrad stream)"
    )
    p.add_argument("--seq-len", type=positive_int, default=25, help="stream chunk length (default: 25)")
    p.add_argument(
        "--seed", type=int_value, default=0, help="seed for weights and example order (default: 0)"
    )
    p.add_argument("--lowercase", action="store_true", help="lowercase the data (and prefixes) first")
    p.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.1,
        help="share held out for validation, 0 for none (default: 0.1)",
    )
    p.add_argument(
        "--split-seed", type=int_value, default=42, help="seed of the validation split (default: 42)"
    )
    p.add_argument(
        "--report-every",
        type=positive_int,
        help="print progress and save a checkpoint to the output every N iterations (default: 10 per run)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("sample", help="generate new examples from a model")
    p.add_argument("model", type=Path)
    p.add_argument("-n", type=positive_int, default=10, help="how many names (lines models; default: 10)")
    p.add_argument("--seed", type=int_value, help="seed for repeatable output (default: random)")
    p.add_argument(
        "--temperature", type=positive_float, default=1.0, help="below 1 safer, above 1 wilder (default: 1.0)"
    )
    p.add_argument("--prefix", default="", help="text every sample starts with")
    p.add_argument(
        "--max-len",
        type=positive_int,
        default=DEFAULT_MAX_LEN,
        help=f"longest name, prefix included (lines models; default: {DEFAULT_MAX_LEN})",
    )
    p.add_argument(
        "--length",
        type=positive_int,
        default=200,
        help="characters to write after the prefix (stream models; default: 200)",
    )
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser("eval", help="loss of a model on a text file (nats/char, bits/char, perplexity)")
    p.add_argument("model", type=Path)
    p.add_argument("file", type=Path)
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("reproduce", help="rerun a classic exercise and print its transcript")
    p.add_argument("experiment", choices=["dinos"], help="dinos: the 'Dinosaur Island' training run")
    p.add_argument("--iterations", type=positive_int, default=35000)
    p.add_argument("--every", type=positive_int, default=2000, help="report every N iterations")
    p.add_argument("--hidden", type=positive_int, default=50)
    p.add_argument("--names", type=positive_int, default=7, help="names sampled per report")
    p.add_argument("--data", type=Path, help="dinos.txt (default: the registered dataset)")
    p.set_defaults(run=cmd_reproduce)
    return parser


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    config = TrainConfig(
        mode=args.mode,
        hidden=args.hidden,
        iterations=args.iterations,
        lr=args.lr,
        seed=args.seed,
        lowercase=args.lowercase,
        val_fraction=args.val_fraction,
        split_seed=args.split_seed,
        seq_len=args.seq_len,
        report_every=args.report_every or 0,
    )

    check_writable_model_path(args.output, protect=(args.file,))

    def show(p: Progress) -> None:
        if not args.quiet:
            say(
                f"iteration {p.iteration:>{len(str(p.iterations))}}/{p.iterations}  "
                f"train {p.train_nats:.4f} nats/char  {p.chars_per_second:,.0f} chars/s"
            )

    result = train_file(args.file, config, show, checkpoint=args.output)
    models.save(result.model, args.output, extra={"training": result.summary()})
    what = "names" if args.mode == "lines" else "characters"
    val = f"validation {result.val}" if result.val else "no validation split"
    say(f"trained on {result.train_examples} {what} in {result.seconds:.1f} s; {val}")
    uniform = math.log(result.model.vocab.size)
    if result.val is not None and result.val.nats > uniform:
        say(
            f"warning: the validation loss is worse than a uniform guess ({uniform:.4f} nats/char); "
            "the learning rate may be too high (--lr)"
        )
    if result.interrupted:
        say(f"interrupted after {result.iterations_done} iterations; saved the model so far to {args.output}")
        return EXIT_INTERRUPTED
    say(f"saved {args.output}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    model = models.load(args.model)
    rng = np.random.default_rng(args.seed)
    if model.mode == "lines":
        for name in generate_lines(
            model, args.n, rng, temperature=args.temperature, prefix=args.prefix, max_len=args.max_len
        ):
            print(name)
    else:
        print(generate_text(model, args.length, rng, temperature=args.temperature, prefix=args.prefix))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    model = models.load(args.model)
    corpus = make_corpus(read_text(args.file), model.mode, lowercase=model.lowercase)
    report = evaluate(model, corpus)
    print(
        f"{args.file}: {report.nats:.4f} nats/char  {report.bits:.4f} bits/char  "
        f"perplexity {report.perplexity:.3f}  ({report.chars} characters)"
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    path = args.data if args.data is not None else dataset_path("dinos")
    text = read_text(path).lower()
    # readlines() semantics, as in the exercise: a final newline ends the last line
    examples = [line.strip() for line in text.removesuffix("\n").split("\n")]
    vocab = Vocab.from_text(text, with_eos=True)
    start = time.perf_counter()
    for block in classic_training_run(
        examples,
        vocab.char_to_ix(),
        num_iterations=args.iterations,
        n_a=args.hidden,
        dino_names=args.names,
        every=args.every,
    ):
        print(block.format(), end="", flush=True)
    say(f"{args.iterations} iterations in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SaurusError as err:
        print(f"saurus {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"saurus {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`saurus sample ... | head`): silence the final flush as well
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
