"""The `saurus` command line: argument parsing only; the work is done by the API.

Every mistake a user can make ends in one line on stderr and exit status 2; Ctrl-C ends
with 130 (SIGTERM during training with 143), after training has saved what it had.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

import numpy as np

from saurus import __version__
from saurus.data.batches import BATCHINGS
from saurus.data.corpus import MODES, decode_text, make_corpus, read_text
from saurus.data.datasets import DATASETS, dataset_path, open_source
from saurus.data.mode_detect import SAMPLE_CHARS, detect_mode
from saurus.data.unknown_chars import drop_unknown, prepare_scored
from saurus.data.vocab import Vocab
from saurus.engine.model import DTYPES
from saurus.engine.optim import OPTIMIZERS, SCHEDULES
from saurus.errors import DataError, OptionError, SaurusError, os_reason
from saurus.files import models
from saurus.generation.evaluation import evaluate, score_strings
from saurus.generation.novelty import overlap
from saurus.generation.sampling import DEFAULT_MAX_LEN, iter_lines, iter_text, iter_texts
from saurus.protocol import SequenceModel
from saurus.reference.name_model import classic_training_run
from saurus.training.config import DEVICES, ENGINES, MAX_SEED, MODELS, TrainConfig, torch_available
from saurus.training.loop import make_plan, train_text
from saurus.training.memory import check_fits, classic_bytes, human
from saurus.training.output_lock import output_lock
from saurus.training.outputs import (
    LOG,
    MODEL,
    check_folder,
    check_output,
    is_model_file,
    log_path_for,
    same_file,
)
from saurus.training.plan import DEFAULT_BUDGET, Plan
from saurus.training.progress_line import ProgressLine
from saurus.training.resume import state_path_for

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
DEFAULT_LENGTH = 200
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


def add_command(sub: argparse._SubParsersAction, name: str, helptext: str, *example: str) -> Parser:
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
    else:
        p.set_defaults(lowercase=False)
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
    datasets = ", ".join(DATASETS)

    p = add_command(
        sub,
        "train",
        "train a model on a UTF-8 text file or a registered dataset",
        "saurus train dinos -o dinos.saurus --lowercase",
        "saurus train names.txt -o names.saurus --time-budget 60",
        "saurus train sonnets -o sonnets.saurus --hidden 512 --overwrite",
    )
    p.add_argument(
        "file",
        help=f"training data, a UTF-8 file: one example per line, or running text; or a dataset: {datasets}",
    )
    add_train_options(p)
    p.set_defaults(run=cmd_train)

    p = add_command(
        sub,
        "sample",
        "generate new names or text from a model",
        "saurus sample -n 5",
        "saurus sample dinos.saurus -n 20 --novel --seed 1",
        "saurus sample dinos.saurus --prefix tyr --temperature 0.7",
        "saurus sample sonnets.saurus --length 400 --prefix 'Shall I'",
        "saurus sample dinos.saurus --most-likely 20 --novel",
    )
    p.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=Path("dinos"),
        help="a model file written by saurus train, or a pretrained model: dinos (the default) "
        "or shakespeare",
    )
    p.add_argument(
        "-n",
        type=positive_int,
        help="how many names (lines models; default: 10), or independent text samples "
        f"(stream models, separated by a '{TEXT_SEPARATOR}' line; default: 1)",
    )
    p.add_argument("--seed", type=seed_value, help="seed for repeatable output (default: random)")
    p.add_argument("--temperature", type=temperature_value, help="below 1 safer, above 1 wilder (default: 1)")
    p.add_argument("--top-k", type=positive_int, help="draw only from the k likeliest characters")
    p.add_argument(
        "--top-p",
        type=lambda t: float_value(t, lambda v: 0 < v <= 1, "above 0 and at most 1"),
        help="draw from the fewest likeliest characters holding this share of the probability",
    )
    p.add_argument("--greedy", action="store_true", help="always take the likeliest character")
    p.add_argument(
        "--novel",
        action="store_true",
        help="lines: only names that are not in the training data, each once",
    )
    p.add_argument("--unique", action="store_true", help="lines: print no name twice")
    p.add_argument(
        "--most-likely",
        type=positive_int,
        metavar="N",
        help="lines: the N most probable names, best first, each after its log-probability "
        "(an exact search; with --novel, new names only)",
    )
    p.add_argument("--prefix", default="", help="text every sample starts with")
    p.add_argument(
        "--max-len",
        type=positive_int,
        help=f"lines: longest name, prefix included (default: {DEFAULT_MAX_LEN})",
    )
    p.add_argument(
        "--length",
        type=positive_int,
        help=f"stream: characters to write after the prefix (default: {DEFAULT_LENGTH})",
    )
    p.set_defaults(run=cmd_sample)

    p = add_command(
        sub,
        "eval",
        "loss of a model on a text file or dataset (nats/char, bits/char, perplexity)",
        "saurus eval dinos.saurus held_out.txt",
        "saurus eval names.saurus names --skip-unknown",
    )
    p.add_argument("model", type=Path, help="a model file written by saurus train")
    p.add_argument("file", help=f"a UTF-8 file in the model's format, or a dataset: {datasets}")
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="leave out what the model cannot score (lines: names with an unknown character; "
        "stream: the unknown characters) and say how much",
    )
    p.set_defaults(run=cmd_eval)

    p = add_command(
        sub,
        "score",
        "log-probability per character of each string under a model",
        "saurus score dinos.saurus tyrannosaurus xqzvw",
        "saurus score dinos.saurus - < candidates.txt",
    )
    p.add_argument("model", type=Path, help="a model file written by saurus train")
    p.add_argument(
        "texts",
        nargs="+",
        metavar="TEXT",
        help="names (lines models) or text to score; - reads them from standard input, one per line",
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="score strings with unknown characters anyway (lines: -inf; stream: without them)",
    )
    p.set_defaults(run=cmd_score)

    reproduce = add_command(
        sub,
        "reproduce",
        "rerun a classic exercise and print its transcript",
        "saurus reproduce dinos",
        "saurus reproduce dinos --iterations 4000 --every 1000",
        "saurus reproduce jazz -o jazz.mid",
        "saurus reproduce jaychou --epochs 50",
        "saurus reproduce minchar tinyshakespeare --iterations 5000",
    )
    runs = reproduce.add_subparsers(dest="experiment", required=True, parser_class=Parser, metavar="EXERCISE")
    p = add_command(
        runs,
        "dinos",
        "the 'Dinosaur Island' training run",
        "saurus reproduce dinos",
        "saurus reproduce dinos --iterations 4000 --every 1000",
    )
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
    p = add_command(
        sub,
        "info",
        "what a model file holds: its kind, size, characters, training and the plan it followed",
        "saurus info dinos.saurus",
        "saurus info dinos",
    )
    p.add_argument("model", type=Path, help="a model file, or a pretrained model by name")
    p.set_defaults(run=cmd_info)
    # each command's heavy packages load only when it runs
    from saurus.complete import add_complete_command
    from saurus.music.commands import add_jazz_command, add_music_command
    from saurus.plot import add_plot_command
    from saurus.recipes.commands import add_recipe_commands
    from saurus.web.commands import add_serve_command

    add_jazz_command(runs)
    add_recipe_commands(runs)
    reproduce.commands = dict(runs.choices)
    add_music_command(sub)
    p = add_command(
        sub,
        "datasets",
        "list the named datasets: size, source, checksum, and whether each is here",
        "saurus datasets",
    )
    p.set_defaults(run=cmd_datasets)
    add_complete_command(sub)
    add_serve_command(sub)
    add_plot_command(sub)
    parser.commands = dict(sub.choices)
    return parser


def say(message: str) -> None:
    print(one_line(message), file=sys.stderr, flush=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list[bool]]:
    """Within the block SIGTERM acts like Ctrl-C (training saves what it has); the flag
    list tells afterwards whether it came."""
    came = [False]

    def handler(signum: int, frame: object) -> None:
        came[0] = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield came
        return
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_train(args: argparse.Namespace) -> int:
    started = getattr(args, "started", None) or time.perf_counter()
    mode = None if args.mode == "auto" else args.mode
    if mode is None and Path(args.file).is_file():
        mode, why = detect_mode(read_head(Path(args.file)))
        # said with the plan, once the data and options have passed their checks
        args.found_mode = f"mode: {mode} ({why}); give --mode lines or --mode stream to choose"
    if args.val is None and mode == "stream" and args.model != "classic" and Path(args.file).exists():
        # running text from a file is read in bounded memory, as ids in a temporary
        # memory-mapped file (saurus.data.stream_file), once the options and outputs are
        # known to be good (reading a large file takes a while)
        from saurus.data.stream_file import LARGE_FILE, check_regular_file, map_text

        path = Path(args.file)
        size = check_regular_file(path)
        checked_config(args, "stream")
        if launched_rank() == 0 and not args.plan:
            check_train_outputs(args, (path,))
        if size >= LARGE_FILE and not args.quiet:
            say(f"reading {path} ({human(size)}) into a temporary file of character ids")
        mapped = map_text(path, lowercase=args.lowercase)
        return train_and_save(args, mapped, "stream", (path,), started=started)  # type: ignore[arg-type]
    source = open_source(args.file)
    mode = mode or source.mode or "lines"
    if args.val is None:
        return train_and_save(args, source.text, mode, (source.path,), started=started)
    held = open_source(args.val)
    if not held.text.strip():
        raise DataError(f"the validation file {args.val} is empty")
    protect = (source.path, held.path)
    return train_and_save(args, source.text, mode, protect, started=started, val_text=held.text)


def checked_config(args: argparse.Namespace, mode: str) -> TrainConfig:
    """The TrainConfig of the train options, checked (a bad option fails before any file is
    touched); every TrainConfig field has a train option of the same name."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "mode"}
    config = TrainConfig(mode=mode, **values)
    config.resolved()
    return config


def check_train_outputs(args: argparse.Namespace, protect: tuple[Path, ...]) -> None:
    """Refuse at once what train_and_save would refuse after reading the data."""
    replace = args.overwrite or resumed_model(args) is not None
    check_output(args.output, MODEL, protect=protect, overwrite=replace)
    log = args.log if args.log is not None else log_path_for(args.output)
    check_output(log, LOG, protect=(*protect, args.output), overwrite=replace)


def resumed_model(args: argparse.Namespace) -> Path | None:
    """The model whose run --resume continues (None without it): the -o file itself, which
    the run goes on writing (see saurus.training.resume)."""
    resume: Path | None = getattr(args, "resume", None)
    if resume is None:
        return None
    if args.overwrite:
        raise OptionError("--resume continues a run and --overwrite starts a new one; give one of them")
    if not same_file(resume, args.output) and resume.absolute() != args.output.absolute():
        raise OptionError(f"--resume {resume} continues the run into its own file; give -o {resume} too")
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise OptionError("--resume continues runs of one process; a torchrun launch cannot resume")
    if not resume.exists() and not state_path_for(resume).exists():  # (a crash may leave the state alone)
        raise OptionError(f"--resume: there is no model at {resume} to continue")
    return args.output


def train_and_save(
    args: argparse.Namespace,
    text: str,
    mode: str,
    protect: tuple[Path, ...],
    *,
    started: float,
    val_text: str | None = None,
    file_meta: dict[str, object] | None = None,
    unit: str | None = None,
) -> int:
    """Train on `text` with the train options in `args` and write the model and its log,
    refusing to write over `protect` (the data) or, without --overwrite, an earlier run."""
    config = checked_config(args, mode)
    found_mode = getattr(args, "found_mode", None)
    if getattr(args, "plan", False):
        plan = make_plan(text, config, started, val_text=val_text)
        print("\n".join([*([found_mode] if found_mode else []), *plan.lines()]))
        return 0
    resume = resumed_model(args)
    shown_plan = None if args.quiet else functools.partial(show_plan, found_mode=found_mode)
    run = functools.partial(
        train_text, val_text=val_text, file_meta=file_meta, resume=resume, on_plan=shown_plan
    )
    if launched_rank() > 0:  # torchrun: rank 0 writes; the others train beside it
        run(text, config, None, None, None, started)
        return 0
    output: Path = args.output
    for path, option in ((output, "-o"), (args.log, "--log")):
        if path is not None and path.name in ("", ".", ".."):
            raise OptionError(f"{option} {str(path)!r} names a folder; give a file name")
    log = args.log if args.log is not None else log_path_for(output)
    check_folder(output, "the model")
    replace = args.overwrite or resume is not None  # a resumed run goes on writing its files
    with output_lock(output), output_lock(log):
        check_output(output, MODEL, protect=protect, overwrite=replace)
        check_output(log, LOG, protect=(*protect, output), overwrite=replace)
        picture = None
        if getattr(args, "plot", False):
            from saurus.plot import check_training_picture, draw_after_training

            picture = check_training_picture(output, protect=(*protect, log), overwrite=replace)
        display = ProgressLine(
            sys.stderr,
            quiet=args.quiet,
            unit="token" if unit == "tokens" else "char",
            budget_seconds=config.time_budget,
        )
        with sigterm_as_interrupt() as terminated:
            try:
                result = run(text, config, display.show, output, log, started)
            finally:
                display.close()
            models.save(result.model, output, extra={**(file_meta or {}), "training": result.summary()})
        drawn = picture is not None and draw_after_training(log, picture)
    what = unit or ("names" if mode == "lines" else "characters")
    shown = ("token", "tokens") if unit == "tokens" else ("char", "characters")
    val = f"validation {result.val.described(*shown)}" if result.val else "no validation split"
    if result.val_sampled:
        val += " (a seeded sample of the validation split: the whole would not fit the budget)"
    say(
        f"trained on {result.train_examples} {what} for {result.iterations_done} steps "
        f"in {result.seconds:.1f} s ({result.stop_reason}; best at step {result.best_iteration}); {val}"
    )
    uniform = math.log(result.model.vocab.size)
    if result.val is not None and result.val.nats > uniform:
        say(
            f"warning: the validation loss is worse than a uniform guess ({uniform:.4f} nats/{shown[0]}); "
            "the learning rate may be too high (--lr)"
        )
    if result.interrupted:
        say(
            f"interrupted after {result.iterations_done} steps; saved the best model so far "
            f"(step {result.best_iteration}) to {output}"
        )
        if drawn:
            say(f"drew the loss curves in {picture}")
        return EXIT_TERMINATED if terminated[0] else EXIT_INTERRUPTED
    if result.ranks > 1:
        agree = "the same weights" if result.ranks_agree else "DIFFERENT weights (a bug: please report it)"
        say(f"{result.ranks} processes trained together and ended with {agree}")
    say(f"saved {output} (log: {log})")
    if drawn:
        say(f"drew the loss curves in {picture}")
    return 0


def show_plan(plan: Plan, found_mode: str | None = None) -> None:
    """The plan (and the mode --mode auto found), before training, on standard error."""
    for line in [*([found_mode] if found_mode else []), *plan.lines()]:
        say(line)


def read_head(path: Path) -> str:
    """The start of a file as text (for --mode auto): its first SAMPLE_CHARS bytes."""
    with path.open("rb") as f:
        raw = f.read(SAMPLE_CHARS)
    return raw.decode("utf-8", errors="ignore")


def launched_rank() -> int:
    """This process's rank when torchrun started several, else 0."""
    try:
        return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
    except ValueError:
        return 0


def load_text_model(path: Path) -> SequenceModel:
    """A names or text model; a music model is pointed to `saurus music`."""
    model, meta = models.load_with_meta(path)
    if "music" in meta:
        raise OptionError(f"{path} is a music model; use 'saurus music sample' or 'saurus music eval'")
    return model


def decoding_options(args: argparse.Namespace) -> dict[str, object]:
    """temperature, top-k and top-p, refused beside --greedy, which makes them meaningless."""
    given = {"--temperature": args.temperature, "--top-k": args.top_k, "--top-p": args.top_p}
    if args.greedy:
        clash = [flag for flag, value in given.items() if value is not None]
        if clash:
            raise OptionError(
                f"--greedy always takes the likeliest character, so {clash[0]} has no effect; drop one"
            )
    return dict(
        temperature=1.0 if args.temperature is None else args.temperature,
        top_k=args.top_k or 0,
        top_p=1.0 if args.top_p is None else args.top_p,
        greedy=args.greedy,
        prefix=args.prefix,
    )


def refuse(flag: str, applies_to: str, instead: str) -> NoReturn:
    raise OptionError(f"{flag} applies to {applies_to}; {instead}")


def cmd_sample(args: argparse.Namespace) -> int:
    model = load_text_model(args.model)
    out = sys.stdout
    if model.mode == "lines" and args.most_likely is not None:
        from saurus.generation.likely import write_most_likely

        given = {"-n": args.n, "--seed": args.seed, "--unique": args.unique, "--length": args.length}
        given |= {"--temperature": args.temperature, "--top-k": args.top_k, "--top-p": args.top_p}
        clash = [flag for flag, value in {**given, "--greedy": args.greedy}.items() if value]
        if clash:
            raise OptionError(
                f"--most-likely lists the likeliest names, so {clash[0]} has no effect; drop one"
            )
        max_len = DEFAULT_MAX_LEN if args.max_len is None else args.max_len
        for note in write_most_likely(model, args.most_likely, out, args.prefix, args.novel, max_len):
            say(note)
        return 0
    rng = np.random.default_rng(args.seed)
    decoding = decoding_options(args)
    if model.mode == "lines":
        if args.length is not None:
            refuse("--length", "stream models (text)", "for names, --max-len limits their length")
        n = 10 if args.n is None else args.n
        max_len = DEFAULT_MAX_LEN if args.max_len is None else args.max_len
        printed = 0
        for batch in iter_lines(
            model, n, rng, max_len=max_len, novel=args.novel, unique=args.unique, **decoding
        ):
            out.write("\n".join(batch) + "\n")
            out.flush()
            printed += len(batch)
        if printed < n and args.novel:
            say(f"only {printed} of {n} names are new: none other has at most {max_len} characters")
        elif printed < n:
            advice = "drop --greedy, which draws one name" if args.greedy else "try a higher --temperature"
            say(f"only {printed} of {n} names drawn were distinct; {advice}")
        return 0
    instead = {
        "--max-len": "this is a stream model; --length sets how much text",
        "--novel": "this is a stream model, whose text has no names to tell apart",
        "--unique": "this is a stream model; -n N draws N independent texts",
        "--most-likely": "this is a stream model, whose text has no names to list",
    }
    stream_flags = (
        ("--max-len", args.max_len),
        ("--novel", args.novel),
        ("--unique", args.unique),
        ("--most-likely", args.most_likely),
    )
    for flag, value in stream_flags:
        if value:
            refuse(flag, "lines models (names)", instead[flag])
    length = DEFAULT_LENGTH if args.length is None else args.length
    if args.n is None or args.n == 1:
        for piece in iter_text(model, length, rng, **decoding):
            out.write(piece)
            out.flush()
        out.write("\n")
        return 0
    first = True
    for group in iter_texts(model, args.n, length, rng, **decoding):
        for text in group:
            out.write(("" if first else TEXT_SEPARATOR + "\n") + text + "\n")
            first = False
        out.flush()
    return 0


MAX_STDIN_BYTES = 64 * 1024**2


def read_texts(texts: list[str]) -> list[str]:
    """The strings to score: the arguments, with - standing for stdin's non-blank lines
    (UTF-8, at most MAX_STDIN_BYTES)."""
    if "-" not in texts:
        return texts
    if sys.stdin is None:
        raise DataError("standard input is closed; give the strings as arguments")
    raw = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(raw) > MAX_STDIN_BYTES:
        raise DataError(f"standard input holds more than {human(MAX_STDIN_BYTES)}; score it in parts")
    lines = decode_text(raw, "standard input").split("\n")
    stdin = [line for line in lines if line.strip()]
    return [t for text in texts for t in (stdin if text == "-" else [text])]


def cmd_score(args: argparse.Namespace) -> int:
    model = load_text_model(args.model)
    texts = read_texts(args.texts)
    scored, skipped = prepare_scored(model, texts, skip_unknown=args.skip_unknown)
    reports = iter(score_strings(model, [t for t in scored if t is not None]))
    for text, kept in zip(texts, scored, strict=True):
        score = -math.inf if kept is None else -next(reports).nats
        shown = text.encode("utf-8", "backslashreplace").decode()  # bytes from argv that are not UTF-8
        print(f"{score:.4f}\t{shown}")
    if skipped:
        say(skipped)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if not args.model.exists() and is_model_file(Path(args.file)):
        raise OptionError(f"the model comes first: saurus eval {args.file} {args.model}")
    model = load_text_model(args.model)
    source = open_source(args.file)
    text = source.text.lower() if model.lowercase else source.text
    text, skipped = drop_unknown(model, text, str(args.file), skip_unknown=args.skip_unknown)
    corpus = make_corpus(text, model.mode, lowercase=model.lowercase)
    report = evaluate(model, corpus)
    print(
        f"{args.file}: {report.nats:.4f} nats/char  {report.bits:.4f} bits/char  "
        f"perplexity {report.perplexity:.3f}  ({report.chars} characters)"
    )
    if skipped:
        say(skipped)
    warning = overlap(model, corpus.lines(), str(args.file))
    if warning:
        say(warning)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print what the model file holds, one fact a line, and its training plan."""
    model, meta = models.load_with_meta(args.model)
    print(f"model: {args.model}")
    print(f"kind: {meta.get('kind')}, mode: {model.mode}, characters: {model.vocab.size}")
    sizes = {k: getattr(model, k, None) for k in ("cell", "layers", "hidden", "d_model", "heads", "context")}
    print("size: " + ", ".join(f"{k} {v}" for k, v in sizes.items() if v is not None))
    training = meta.get("training")
    if isinstance(training, dict):
        shown = {k: v for k, v in training.items() if k != "plan" and v is not None}
        for key, value in shown.items():
            print(f"{key}: {value}")
        plan = training.get("plan")
        if isinstance(plan, dict) and isinstance(plan.get("settings"), dict):
            settings = plan["settings"]
            print(
                "plan: {model} {layers} x {hidden}, engine {engine}, batch {batch_size}, lr {lr}, "
                "dropout {dropout}, weight decay {weight_decay}".format_map(
                    {k: settings.get(k) for k in PLAN_SHOWN}
                )
            )
            for reason in plan.get("reasons") or ():
                print(f"  {reason}")
    return 0


PLAN_SHOWN = ("model", "layers", "hidden", "engine", "batch_size", "lr", "dropout", "weight_decay")


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


def cmd_datasets(args: argparse.Namespace) -> int:
    from saurus.data.datasets import where_is
    from saurus.music.pieces import METHENY

    print(f"{'name':<16} {'kind':<7} {'size':>9}  {'sha256':<14} source / where")
    for ds in (*DATASETS.values(), METHENY):
        kind = "midi" if ds is METHENY else ds.mode
        source = "ships with saurus" if ds.embedded else (ds.url or "the classic exercise (no public URL)")
        print(f"{ds.name:<16} {kind:<7} {ds.size / 1000:>7,.1f} kB  {ds.sha256[:12]}…  {source}")
        print(f"{'':<16} {'':<7} {'':>9}  {'':<14} {where_is(ds)}")
    bach = "music21's Bach chorales, read from the installed package"
    print(f"{'bach':<16} {'music':<7} {'':>9}  {'':<14} {bach}")
    return 0


def os_error_line(err: OSError) -> str:
    """An OSError a user caused (a read-only folder, a full disk) in words."""
    if err.filename:
        return f"cannot use {err.filename}: {os_reason(err)}"
    return os_reason(err)


def run_with_threads(args: argparse.Namespace) -> int:
    if args.threads is None:
        return int(args.run(args))
    from threadpoolctl import threadpool_limits

    os.environ["SAURUS_THREADS"] = str(args.threads)  # for the torch engine under torchrun
    if getattr(args, "engine", "numpy") != "numpy" and torch_available():
        import torch

        torch.set_num_threads(args.threads)

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
