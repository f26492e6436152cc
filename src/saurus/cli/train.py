"""`saurus train`: the data, the mode found, the plan, and the summary; the work is done by
saurus.training."""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from saurus.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    add_command,
    add_train_options,
    say,
)
from saurus.cli.progress import ProgressLine
from saurus.data.datasets import DATASETS, open_source
from saurus.data.labelled import is_labelled
from saurus.data.mode_detect import SAMPLE_CHARS, detect_mode
from saurus.data.stream_file import LARGE_FILE, check_regular_file, map_text
from saurus.errors import DataError, OptionError
from saurus.plot import draw_after_training, picture_path_for, require_matplotlib
from saurus.resources import human
from saurus.training.build import make_plan
from saurus.training.config import TrainConfig
from saurus.training.plan import Plan
from saurus.training.session import Outputs, Session, train_to_files
from saurus.training.world import launched_rank

TRAIN_USAGE = """\
train a model on a UTF-8 text file or a registered dataset
saurus train dinos -o dinos.saurus --lowercase
saurus train names.txt -o names.saurus --time-budget 60
saurus train sonnets -o sonnets.saurus --hidden 512 --overwrite
"""


def cmd_train(args: argparse.Namespace) -> int:
    started = getattr(args, "started", None) or time.perf_counter()
    mode = None if args.mode == "auto" else args.mode
    labelled = args.labelled or (Path(args.file).exists() and is_labelled(Path(args.file)))
    if labelled:  # names with a category each: one model conditioned on the category
        args.labelled = True
        if mode == "stream":
            raise OptionError("labelled names train in lines mode; drop --mode stream")
        mode = "lines"
        args.found_mode = "labelled names (name and category): one model conditioned on the category"
    if mode is None and Path(args.file).is_file():
        mode, why = detect_mode(read_head(Path(args.file)))
        # said with the plan, once the data and options have passed their checks
        args.found_mode = f"mode: {mode} ({why}); give --mode lines or --mode stream to choose"
    if args.val is None and mode == "stream" and args.model != "classic" and Path(args.file).exists():
        # running text from a file is read in bounded memory, as ids in a temporary
        # memory-mapped file (saurus.data.stream_file), once the options and outputs are
        # known to be good (reading a large file takes a while)

        path = Path(args.file)
        size = check_regular_file(path)
        checked_config(args, "stream")
        if launched_rank() == 0 and not args.plan:
            check_train_outputs(args, (path,))
        if size >= LARGE_FILE and not args.quiet:
            say(f"reading {path} ({human(size)}) into a temporary file of character ids")
        mapped = map_text(path, lowercase=args.lowercase)
        return train_and_save(args, mapped, "stream", (path,), started=started)  # type: ignore[arg-type]
    source = open_source(args.file, labelled=labelled)
    mode = mode or source.mode or "lines"
    if args.val is None:
        return train_and_save(args, source.text, mode, (source.path,), started=started)
    held = open_source(args.val, labelled=labelled)
    if not held.text.strip():
        raise DataError(f"the validation file {args.val} is empty")
    protect = (source.path, held.path)
    return train_and_save(args, source.text, mode, protect, started=started, val_text=held.text)


def checked_config(args: argparse.Namespace, mode: str) -> TrainConfig:
    """The TrainConfig of the train options, checked (a bad option fails before any file is
    touched); every TrainConfig field has a train option of the same name."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "mode"}
    return TrainConfig(mode=mode, **values).checked()


def show_plan(plan: Plan, found_mode: str | None = None) -> None:
    """The plan (and the mode --mode auto found), before training, on standard error."""
    for line in [*([found_mode] if found_mode else []), *plan.lines()]:
        say(line)


def read_head(path: Path) -> str:
    """The start of a file as text (for --mode auto): its first SAMPLE_CHARS bytes."""
    with path.open("rb") as f:
        raw = f.read(SAMPLE_CHARS)
    return raw.decode("utf-8", errors="ignore")


def outputs_of(args: argparse.Namespace) -> Outputs:
    """The files the train options name: -o, --log, --overwrite, --resume, --plot."""
    picture = None
    if getattr(args, "plot", False):
        require_matplotlib()
        picture = picture_path_for(args.output)
    return Outputs(
        args.output, args.log, overwrite=args.overwrite, resume=getattr(args, "resume", None), picture=picture
    )


def check_train_outputs(args: argparse.Namespace, protect: tuple[Path, ...]) -> None:
    """Refuse at once what train_and_save would refuse after reading the data."""
    outputs_of(args).check(protect)


def train_and_save(
    args: argparse.Namespace,
    text: str,
    mode: str,
    protect: tuple[Path, ...],
    *,
    started: float,
    unit: str | None = None,
    **data: Any,
) -> int:
    """Train on `text` with the train options in `args`, write the model and its log
    (training.session, which takes `data`: val_text, file_meta), and say what happened;
    `unit` names what the data counts (default: names or characters)."""
    config = checked_config(args, mode)
    found_mode = getattr(args, "found_mode", None)
    if getattr(args, "plan", False):
        plan = make_plan(text, config, started, val_text=data.get("val_text"))
        print("\n".join([*([found_mode] if found_mode else []), *plan.lines()]))
        return 0
    outputs = outputs_of(args)
    display = ProgressLine(
        sys.stderr,
        quiet=args.quiet,
        unit="token" if unit == "tokens" else "char",
        budget_seconds=config.time_budget,
    )
    session = train_to_files(
        text,
        config,
        outputs,
        protect,
        started=started,
        **data,
        on_plan=None if args.quiet else functools.partial(show_plan, found_mode=found_mode),
        on_progress=display.show,
        on_end=display.close,
    )
    if session is None:  # a torchrun rank beside rank 0, which writes and speaks
        return 0
    note = None if outputs.picture is None else draw_after_training(outputs.log_path, outputs.picture)
    say_summary(session, mode, unit, note)
    if session.result.interrupted:
        return EXIT_TERMINATED if session.terminated else EXIT_INTERRUPTED
    return 0


def say_summary(session: Session, mode: str, unit: str | None, picture_note: str | None) -> None:
    """The lines that end `saurus train`: what was trained, the loss, where it was saved,
    and the picture of the curves (or the warning why none was drawn)."""
    result, output, log = session.result, session.outputs.model, session.outputs.log_path
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
    if picture_note:
        say(picture_note)
    if result.interrupted:
        say(
            f"interrupted after {result.iterations_done} steps; saved the best model so far "
            f"(step {result.best_iteration}) to {output}"
        )
    else:
        if result.ranks > 1:
            agree = (
                "the same weights" if result.ranks_agree else "DIFFERENT weights (a bug: please report it)"
            )
            say(f"{result.ranks} processes trained together and ended with {agree}")
        say(f"saved {output} (log: {log})")
    if session.outputs.picture is not None and picture_note is None:
        say(f"drew the loss curves in {session.outputs.picture}")


def add_train_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus train`."""
    datasets = ", ".join(DATASETS)
    p = add_command(sub, "train", TRAIN_USAGE)
    p.add_argument(
        "file",
        help=f"training data, a UTF-8 file: one example per line, or running text; or a dataset: {datasets}",
    )
    add_train_options(p)
    p.set_defaults(run=cmd_train)
