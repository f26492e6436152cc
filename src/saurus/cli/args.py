"""What every command shares: the parser whose errors are one line, the value parsers
(each a one-line message for a bad value), and the option groups of training and decoding."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from saurus.data.batches import BATCHINGS
from saurus.data.corpus import MODES
from saurus.errors import OptionError, os_reason
from saurus.generation.decoding import Decoding
from saurus.models.optim import OPTIMIZERS, SCHEDULES
from saurus.models.recurrent import DTYPES
from saurus.training.config import DEVICES, ENGINES, MAX_SEED, MODELS
from saurus.training.plan import DEFAULT_BUDGET

EXIT_USAGE = 2


EXIT_INTERRUPTED = 130


EXIT_TERMINATED = 143


TEXT_SEPARATOR = "---"  # the line between text samples when -n asks for several


def one_line(message: str) -> str:
    """A message kept to one line, whatever file names it quotes."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2, pointing to
    the --help of the command that was meant."""

    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: None = None) -> argparse.Namespace:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        self.refuse_unknown_options(argv)
        parsed, extra = self.parse_known_args(argv)
        if extra:
            (self.command_parser(argv) or self).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def command_parser(self, argv: list[str]) -> argparse.ArgumentParser | None:
        """The parser of the (sub)command that `argv` names, e.g. `music train`, if any."""
        words = (a for a in argv if not a.startswith("-"))
        parser: argparse.ArgumentParser = self
        while (commands := getattr(parser, "commands", None)) and (word := next(words, None)) in commands:
            parser = commands[word]
        return None if parser is self else parser

    def refuse_unknown_options(self, argv: list[str]) -> None:
        """An unknown option is named before anything else (such as a missing -o) is, and so
        is `--opt=--`, whose value argparse would drop unchecked."""
        for arg in argv[: argv.index("--")] if "--" in argv else argv:
            if arg.startswith("--") and arg.endswith("=--"):
                (self.command_parser(argv) or self).error(f"{arg[:-3]} needs a value, not '--'")
        parser = self.command_parser(argv)
        if parser is None or getattr(parser, "commands", None):
            return
        known = set(parser._option_string_actions)
        for arg in argv[: argv.index("--")] if "--" in argv else argv:
            flag = arg.split("=", 1)[0]
            if flag.startswith("--") and flag not in known:
                parser.error(f"unrecognized arguments: {arg}")


def shown_value(text: str) -> str:
    """An option's value as typed, quoted and cut short for a one-line message."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def shown_number(value: int) -> str:
    """A whole number for a message; one of thousands of digits is not spelt out."""
    digits = str(value)
    return digits if len(digits) <= 40 else f"a number of {len(digits.lstrip('-'))} digits"


def positive_int(text: str) -> int:
    value = int_value(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {shown_number(value)}")
    return value


MAX_REPORT_NAMES = 1000


MAX_THREADS = 1024  # BLAS libraries cap their threads lower; a bigger number is a typo


def bounded_int(text: str, limit: int) -> int:
    value = positive_int(text)
    if value > limit:
        raise argparse.ArgumentTypeError(f"must be at most {limit}, got {shown_number(value)}")
    return value


def thread_count(text: str) -> int:
    return bounded_int(text, MAX_THREADS)


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        digits = text.strip().removeprefix("-").removeprefix("+")
        if digits.isdigit() and digits.isascii():  # past Python's limit of 4300 digits
            raise argparse.ArgumentTypeError(f"is far too large (it has {len(digits)} digits)") from None
        raise argparse.ArgumentTypeError(f"must be an integer, got {shown_value(text)}") from None


def seed_value(text: str) -> int:
    value = int_value(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to {MAX_SEED}, got {shown_number(value)}"
        )
    return value


def float_value(text: str, ok: Callable[[float], bool], wanted: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {shown_value(text)}") from None
    if not (math.isfinite(value) and ok(value)):
        shown = text.strip() if len(text.strip()) <= 40 else shown_value(text)
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {shown}")
    return value


def positive_float(text: str) -> float:
    return float_value(text, lambda v: v > 0, "a positive number")


def temperature_value(text: str) -> float:
    return float_value(
        text, lambda v: v > 0, "a positive number (for the likeliest character every time, use --greedy)"
    )


def non_negative_float(text: str) -> float:
    return float_value(text, lambda v: v >= 0, "a number of at least 0")


def fraction(text: str) -> float:
    return float_value(text, lambda v: 0 <= v < 1, "at least 0 and below 1")


def examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(sub: argparse._SubParsersAction, name: str, usage: str) -> Parser:
    """Register the command `name`; `usage` is its help (the lines before the first that
    starts with "saurus "), then one example command line a line, which --help shows."""
    lines = usage.strip().splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("saurus ")), len(lines))
    helptext, example = " ".join(lines[:first]), lines[first:]
    parser = sub.add_parser(
        name,
        help=helptext,
        allow_abbrev=False,
        description=helptext[0].upper() + helptext[1:] + ".",
        epilog=examples(*example),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        help="BLAS threads (default: all cores; 1 when running jobs side by side)",
    )
    return parser


def add_train_options(p: Parser, *, text: bool = True) -> None:
    """Every option of `saurus train` (one per TrainConfig field) but the data argument;
    `text=False` leaves out what only text has (--mode, --lowercase), as music does."""
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model file (and its log); without it train refuses",
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="MODEL",
        help="continue the run that wrote MODEL (the -o file) from its last checkpoint, on the same data; "
        "--iterations, --epochs and --time-budget count the whole run",
    )
    if text:
        p.add_argument(
            "--mode",
            choices=(*MODES, "auto"),
            help="lines: one example per line (names); stream: running text; auto (default for "
            "files): found from the file, and said (a dataset brings its own)",
        )
    p.add_argument(
        "--model",
        choices=MODELS,
        default="lstm",
        help="lstm, gru, rnn, transformer (--engine torch) or classic (default: lstm)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto (default): torch where it is installed, else numpy; numpy; or torch (CPU or GPU; "
        "the transformer needs it)",
    )
    p.add_argument("--device", choices=DEVICES, help="torch: cpu, cuda or auto (default: auto)")
    p.add_argument("--init-from", metavar="MODEL", help="start from the weights of this model file")
    p.add_argument(
        "--ema",
        type=fraction,
        metavar="DECAY",
        help="torch: evaluate and keep a moving average of the weights (e.g. 0.99)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch: torch.compile the model first (pays a compile time up front; needs a C compiler on CPU)",
    )
    g = p.add_argument_group("model size (defaults depend on --model and --mode; see the README)")
    g.add_argument("--hidden", type=positive_int, help="hidden units per layer")
    g.add_argument("--layers", type=positive_int, help="stacked recurrent layers")
    g.add_argument("--dropout", type=fraction, help="dropout between layers and before the head")
    g.add_argument("--dtype", choices=tuple(DTYPES), help="float precision (default: float32)")
    g.add_argument("--heads", type=positive_int, help="transformer: attention heads (default: 4)")
    g.add_argument(
        "--context",
        type=positive_int,
        help="transformer: positions it attends over (default: 128 for text, the longest name for names)",
    )
    g.add_argument("--tied", action="store_true", help="transformer: share the input and output embeddings")
    g.add_argument(
        "--positions",
        choices=("learned", "rotary"),
        help="transformer: learned position embeddings (default) or rotary (RoPE)",
    )
    g = p.add_argument_group("how long (the first limit reached ends training)")
    g.add_argument("--iterations", "--steps", type=positive_int, help="optimizer steps")
    g.add_argument("--epochs", type=positive_float, help="passes over the training split")
    g.add_argument(
        "--time-budget",
        type=positive_float,
        metavar="SECONDS",
        help="seconds for the whole command, start-up, data, evaluations and saving included "
        f"(default: {DEFAULT_BUDGET:g} with early stopping, unless --iterations or --epochs)",
    )
    g.add_argument(
        "--plan",
        action="store_true",
        help="print the plan for this data, machine and budget (size, batch, lr, ... and why) and "
        "train nothing",
    )
    g.add_argument(
        "--patience",
        type=int_value,
        help="stop after this many evaluations without a better validation loss (0: never)",
    )
    g = p.add_argument_group("optimization")
    g.add_argument("--lr", type=positive_float, help="peak learning rate")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="engine default: adam (adamw with --weight-decay)")
    g.add_argument("--batch-size", type=positive_int, help="examples (lines) or chunks (stream) per step")
    g.add_argument("--seq-len", type=positive_int, help="stream: chunk length for truncated BPTT")
    g.add_argument(
        "--batching",
        choices=BATCHINGS,
        help="stream: consecutive chunks carry the state (default), random chunks start from zeros",
    )
    g.add_argument("--clip", type=non_negative_float, help="global gradient-norm limit (0: none)")
    g.add_argument(
        "--weight-decay",
        type=non_negative_float,
        help="AdamW decay (default: planned, 0.01 from two passes on)",
    )
    g.add_argument("--warmup", type=fraction, help="share of the run spent warming the learning rate up")
    g.add_argument("--schedule", choices=SCHEDULES, help="learning-rate decay (default: cosine)")
    g = p.add_argument_group("data and reporting")
    g.add_argument(
        "--seed", type=seed_value, default=0, help="seed for weights, order and dropout (default: 0)"
    )
    if text:
        g.add_argument("--lowercase", action="store_true", help="lowercase the data (and prefixes) first")
        g.add_argument(
            "--labelled",
            action="store_true",
            help="read the file as name<TAB>label lines and train one model conditioned on the label "
            "(implied by a folder of one .txt file per label, or a .tsv or .csv file)",
        )
    else:
        p.set_defaults(lowercase=False, labelled=False)
    g.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.1,
        help="share held out for validation, 0 for none (default: 0.1)",
    )
    g.add_argument(
        "--split-seed", type=seed_value, default=42, help="seed of the validation split (default: 42)"
    )
    if text:
        g.add_argument(
            "--val",
            metavar="FILE",
            help="validate on this file (or dataset) instead of a split of the training data",
        )
    g.add_argument(
        "--eval-every",
        "--report-every",
        type=positive_int,
        help="evaluate, report and checkpoint the best model every N steps "
        "(default: every epoch or 200 steps; classic: 10 per run)",
    )
    g.add_argument(
        "--log",
        type=Path,
        help="JSON-lines log of every evaluation (default: OUTPUT.log.jsonl, e.g. dinos.saurus.log.jsonl)",
    )
    g.add_argument(
        "--plot",
        action="store_true",
        help="after training, draw the loss curves beside the model (OUTPUT.png, e.g. dinos.saurus.png; "
        "needs the 'plot' extra)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")


def say(message: str) -> None:
    print(one_line(message), file=sys.stderr, flush=True)


def add_decoding_options(p: argparse.ArgumentParser, unit: str = "character", *, zero: bool = False) -> None:
    """--temperature, --top-k and --top-p, and --greedy; with `zero`, temperature 0 takes
    the likeliest `unit` every time instead (and there is no --greedy)."""
    if zero:
        p.add_argument(
            "--temperature",
            type=lambda t: float_value(t, lambda v: v >= 0, f"0 (the likeliest {unit} every time) or more"),
            help="below 1 safer, above 1 wilder, 0 always the likeliest (default: 1)",
        )
    else:
        p.add_argument(
            "--temperature", type=temperature_value, help="below 1 safer, above 1 wilder (default: 1)"
        )
    p.add_argument("--top-k", type=positive_int, help=f"draw only from the k likeliest {unit}s")
    p.add_argument(
        "--top-p",
        type=lambda t: float_value(t, lambda v: 0 < v <= 1, "above 0 and at most 1"),
        help=f"draw from the fewest likeliest {unit}s holding this share of the probability",
    )
    if not zero:
        p.add_argument("--greedy", action="store_true", help=f"always take the likeliest {unit}")


DECODING_FLAGS = {
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "greedy": "--greedy",
}


def decoding_of(args: argparse.Namespace) -> Decoding:
    """The decoding --temperature, --top-k, --top-p and --greedy ask for, refusing what
    --greedy would ignore (generation.decoding.Decoding.from_options)."""
    return Decoding.from_options(args.temperature, args.top_k, args.top_p, args.greedy, flags=DECODING_FLAGS)


def refuse(flag: str, applies_to: str, instead: str) -> NoReturn:
    raise OptionError(f"{flag} applies to {applies_to}; {instead}")


def os_error_line(err: OSError) -> str:
    """An OSError a user caused (a read-only folder, a full disk) in words."""
    if err.filename:
        return f"cannot use {err.filename}: {os_reason(err)}"
    return os_reason(err)
