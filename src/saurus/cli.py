"""The `saurus` command line: argument parsing only; the work is done by the API."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

import numpy as np

from saurus import __version__, models
from saurus.batches import BATCHINGS
from saurus.checkpoint import check_writable_log_path, check_writable_model_path
from saurus.corpus import MODES, make_corpus, read_text
from saurus.datasets import DATASETS, dataset_path
from saurus.engine.model import DTYPES
from saurus.engine.optim import OPTIMIZERS, SCHEDULES
from saurus.errors import OptionError, SaurusError
from saurus.evaluation import evaluate, score_strings
from saurus.progress_line import ProgressLine
from saurus.reference.name_model import classic_training_run
from saurus.sampling import DEFAULT_MAX_LEN, generate_lines, generate_text
from saurus.train_config import MODELS, TrainConfig
from saurus.training import train_file
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


def float_value(text: str, ok: Callable[[float], bool], wanted: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (np.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
    return value


def positive_float(text: str) -> float:
    return float_value(text, lambda v: v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    return float_value(text, lambda v: v >= 0, "a number of at least 0")


def fraction(text: str) -> float:
    return float_value(text, lambda v: 0 <= v < 1, "at least 0 and below 1")


def build_parser() -> Parser:
    parser = Parser(prog="saurus", description="Train small character models and invent new names and text.")
    parser.add_argument("--version", action="version", version=f"saurus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a UTF-8 text file or a registered dataset")
    p.add_argument(
        "file", help=f"training data: one example per line, or running text; or one of: {', '.join(DATASETS)}"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="lines",
        help="lines: one example per line (names); stream: continuous text (default: lines)",
    )
    p.add_argument(
        "--model",
        choices=MODELS,
        default="lstm",
        help="lstm, gru, rnn (the engine) or classic (default: lstm)",
    )
    g = p.add_argument_group("model size (defaults depend on --model and --mode; see the README)")
    g.add_argument("--hidden", type=positive_int, help="hidden units per layer")
    g.add_argument("--layers", type=positive_int, help="stacked recurrent layers")
    g.add_argument("--dropout", type=fraction, help="dropout between layers and before the head")
    g.add_argument(
        "--dtype", choices=tuple(DTYPES), default="float32", help="float precision (default: float32)"
    )
    g = p.add_argument_group("how long (the first limit reached ends training)")
    g.add_argument("--iterations", "--steps", type=positive_int, help="optimizer steps")
    g.add_argument("--epochs", type=positive_float, help="passes over the training split")
    g.add_argument("--time-budget", type=positive_float, metavar="SECONDS", help="seconds of training")
    g.add_argument(
        "--patience",
        type=int_value,
        help="stop after this many evaluations without a better validation loss (0: never)",
    )
    g = p.add_argument_group("optimization")
    g.add_argument("--lr", type=positive_float, help="peak learning rate")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="engine default: adam")
    g.add_argument("--batch-size", type=positive_int, help="examples (lines) or chunks (stream) per step")
    g.add_argument("--seq-len", type=positive_int, help="stream chunk length for truncated BPTT")
    g.add_argument(
        "--batching",
        choices=BATCHINGS,
        default="consecutive",
        help="stream: consecutive chunks carry the state, random chunks start from zeros",
    )
    g.add_argument("--clip", type=non_negative_float, help="global gradient-norm limit (0: none)")
    g.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="AdamW decay (default: 0)")
    g.add_argument("--warmup", type=fraction, help="share of the run spent warming the learning rate up")
    g.add_argument(
        "--schedule", choices=SCHEDULES, default="cosine", help="learning-rate decay (default: cosine)"
    )
    g = p.add_argument_group("data and reporting")
    g.add_argument(
        "--seed", type=int_value, default=0, help="seed for weights, order and dropout (default: 0)"
    )
    g.add_argument("--lowercase", action="store_true", help="lowercase the data (and prefixes) first")
    g.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.1,
        help="share held out for validation, 0 for none (default: 0.1)",
    )
    g.add_argument(
        "--split-seed", type=int_value, default=42, help="seed of the validation split (default: 42)"
    )
    g.add_argument(
        "--eval-every",
        "--report-every",
        type=positive_int,
        help="evaluate, report and checkpoint the best model every N steps "
        "(default: every epoch or 200 steps; classic: 10 per run)",
    )
    g.add_argument("--log", type=Path, help="JSON-lines log of every evaluation (default: OUTPUT.log.jsonl)")
    g.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("sample", help="generate new examples from a model")
    p.add_argument("model", type=Path)
    p.add_argument("-n", type=positive_int, default=10, help="how many names (lines models; default: 10)")
    p.add_argument("--seed", type=int_value, help="seed for repeatable output (default: random)")
    p.add_argument(
        "--temperature", type=positive_float, default=1.0, help="below 1 safer, above 1 wilder (default: 1.0)"
    )
    p.add_argument("--top-k", type=int_value, default=0, help="draw only from the k likeliest characters")
    p.add_argument(
        "--top-p",
        type=positive_float,
        default=1.0,
        help="draw from the likeliest characters holding this mass",
    )
    p.add_argument("--greedy", action="store_true", help="always take the likeliest character")
    p.add_argument("--novel", action="store_true", help="drop names that occur in the training data (lines)")
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

    p = sub.add_parser("score", help="log-probability per character of each string under a model")
    p.add_argument("model", type=Path)
    p.add_argument("texts", nargs="+", metavar="TEXT", help="names (lines models) or text to score")
    p.set_defaults(run=cmd_score)

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


def training_data(name: str) -> Path:
    """A file, or failing that a registered dataset name."""
    path = Path(name)
    if not path.exists() and name in DATASETS:
        return dataset_path(name)
    return path


def cmd_train(args: argparse.Namespace) -> int:
    # every TrainConfig field has a train option of the same name
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    data = training_data(args.file)
    config.resolved()  # a bad option fails before any file is touched
    check_writable_model_path(args.output, protect=(data,))
    log = args.log if args.log is not None else args.output.with_suffix(".log.jsonl")
    check_writable_log_path(log, protect=(data, args.output))
    display = ProgressLine(sys.stderr, quiet=args.quiet)
    try:
        result = train_file(data, config, display.show, checkpoint=args.output, log=log)
    finally:
        display.close()
    models.save(result.model, args.output, extra={"training": result.summary()})
    what = "names" if args.mode == "lines" else "characters"
    val = f"validation {result.val}" if result.val else "no validation split"
    say(
        f"trained on {result.train_examples} {what} for {result.iterations_done} steps "
        f"in {result.seconds:.1f} s "
        f"(stopped by {result.stopped_by}; best at step {result.best_iteration}); {val}"
    )
    uniform = math.log(result.model.vocab.size)
    if result.val is not None and result.val.nats > uniform:
        say(
            f"warning: the validation loss is worse than a uniform guess ({uniform:.4f} nats/char); "
            "the learning rate may be too high (--lr)"
        )
    if result.interrupted:
        say(
            f"interrupted after {result.iterations_done} iterations; "
            f"saved the best model so far to {args.output}"
        )
        return EXIT_INTERRUPTED
    say(f"saved {args.output} (log: {log})")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    model = models.load(args.model)
    rng = np.random.default_rng(args.seed)
    decoding = dict(
        temperature=args.temperature,
        prefix=args.prefix,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
    )
    if model.mode == "lines":
        names = generate_lines(model, args.n, rng, max_len=args.max_len, novel=args.novel, **decoding)
        for name in names:
            print(name)
        if len(names) < args.n:
            say(f"only {len(names)} of {args.n} names drawn were new; try a higher --temperature")
    else:
        if args.novel:
            raise OptionError("--novel needs a lines model (names); this is a stream model")
        print(generate_text(model, args.length, rng, **decoding))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    model = models.load(args.model)
    for text, report in zip(args.texts, score_strings(model, args.texts), strict=False):
        print(f"{-report.nats:.4f}\t{text}")
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
