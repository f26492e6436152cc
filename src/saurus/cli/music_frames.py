"""`saurus music train/sample/eval` for frame models (issue 21): the notes-as-tokens model
(--frames notes, the default) and the piano-roll model (--frames roll), on JSB Chorales
(`jsb` or a JSB-style .mat file) or on MIDI files quantised to a grid (--step).

Argument parsing and printing only: saurus.music.frame_sources reads the music,
saurus.music.frame_files loads, scores, draws and saves, roll_train and frame_train train.
The token (REMI) options that mean nothing here are refused by name, never ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from saurus.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    int_value,
    positive_float,
    positive_int,
    refuse,
    say,
    shown_number,
)
from saurus.errors import OptionError
from saurus.files.outputs import MIDI, MODEL, check_output
from saurus.music.frame_eval import Convention
from saurus.music.frame_files import (
    FRAME_KINDS,
    NOTES,
    ROLL,
    SAMPLE_FRAMES,
    draw_frames,
    file_frame_kind,
    load_frame_file,
    piece_frames,
    save_frame_file,
    score_pieces,
)
from saurus.music.frame_sizing import sized
from saurus.music.frame_sources import MIDI_SPLIT, is_jsb_source, read_frame_source, training_splits
from saurus.music.frame_train import FrameTrainConfig, train_frames
from saurus.music.frames import write_frames_midi
from saurus.music.jsb import SPLITS
from saurus.music.roll_train import RollConfig, train_roll
from saurus.training.config import INSTALL_HINT, torch_available
from saurus.training.interrupts import sigterm_as_interrupt

NEVER = 10**9  # --patience 0: no early stop
MAX_TRANSPOSE = 87  # semitones: a shift past the keyboard's span moves every note off it

# token-model options (flag by argparse dest) that frame models have no use for
TOKEN_TRAIN_OPTIONS = {
    "resume": "--resume",
    "init_from": "--init-from",
    "ema": "--ema",
    "compile": "--compile",
    "device": "--device",
    "dtype": "--dtype",
    "tied": "--tied",
    "positions": "--positions",
    "iterations": "--iterations",
    "plan": "--plan",
    "optimizer": "--optimizer",
    "seq_len": "--seq-len",
    "batching": "--batching",
    "weight_decay": "--weight-decay",
    "warmup": "--warmup",
    "schedule": "--schedule",
    "eval_every": "--eval-every",
    "log": "--log",
    "plot": "--plot",
}
TOKEN_SAMPLE_OPTIONS = {
    "length": "--length",
    "bars": "--bars",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "greedy": "--greedy",
    "prime": "--prime",
    "wav": "--wav",
}
TOKEN_EVAL_OPTIONS = {"train": "--train", "skip_unknown": "--skip-unknown"}
FRAME_TRAIN_OPTIONS = {"transpose": "--transpose", "step": "--step"}


def add_frame_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("frame models (jsb, a .mat file, or MIDI files with --frames)")
    g.add_argument(
        "--frames",
        choices=FRAME_KINDS,
        help="train a frame model: notes (each frame's notes as tokens; the default for jsb; numpy: "
        "lstm, gru, rnn; torch: the transformer too) or roll (88 on/off notes per frame; lstm, gru, rnn); "
        "--epochs counts passes; Ctrl-C keeps the best weights so far",
    )
    g.add_argument(
        "--transpose",
        type=transpose_value,
        metavar="K",
        help="shift each piece by up to K semitones each pass (default: the model's own)",
    )
    add_step(g)


def add_step(g: Any) -> None:
    g.add_argument(
        "--step",
        type=positive_float,
        metavar="QUARTERS",
        help="frame models on MIDI: the grid, in quarter notes (default: 1 to train, the model's to score)",
    )


def add_frame_sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--frames-count",
        type=positive_int,
        metavar="N",
        help=f"frame models: frames to draw (default: {SAMPLE_FRAMES})",
    )


def add_frame_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split",
        choices=tuple(SPLITS),
        help="frame models on jsb or a .mat file: the split to score (default: test)",
    )
    add_step(p)


def transpose_value(text: str) -> int:
    """A shift in semitones, 0 (none) to MAX_TRANSPOSE."""
    value = int_value(text)
    if not 0 <= value <= MAX_TRANSPOSE:
        wanted = f"0..{MAX_TRANSPOSE} semitones"
        raise argparse.ArgumentTypeError(f"must lie in {wanted}, got {shown_number(value)}")
    return value


def refuse_set(args: argparse.Namespace, options: dict[str, str], applies_to: str, instead: str) -> None:
    for dest, flag in options.items():
        if getattr(args, dest, None) not in (None, False):
            refuse(flag, applies_to, instead)


# --- train ---


def wants_frames(args: argparse.Namespace) -> bool:
    """Whether `saurus music train` trains a frame model (--frames, jsb or a .mat file)."""
    if args.frames is not None or is_jsb_source(args.source):
        return True
    refuse_set(args, FRAME_TRAIN_OPTIONS, "frame models", "add --frames notes or --frames roll")
    return False


def engine_for(kind: str, engine: str) -> str:
    """The roll model's engine ("auto": torch where installed); the notes model's is
    FrameTrainConfig.resolved()'s."""
    if engine == "auto":
        engine = "torch" if torch_available() else "numpy"
    if engine == "torch" and not torch_available():
        raise OptionError(f"--frames {kind} with the torch engine needs PyTorch: {INSTALL_HINT}")
    return engine


def whole_epochs(args: argparse.Namespace) -> int | None:
    if args.epochs is None:
        return None
    if args.epochs != int(args.epochs):
        raise OptionError(f"--epochs for frame models is a whole number of passes, got {args.epochs:g}")
    return int(args.epochs)


def given(**fields: Any) -> dict[str, Any]:
    """The fields the user gave (the config's own defaults stand for the rest)."""
    return {k: v for k, v in fields.items() if v is not None}


PLANNED = ("hidden", "layers", "dropout", "lr")  # what the frame planner fills in when not given


def shared_given(args: argparse.Namespace) -> dict[str, Any]:
    """The options both frame configs take under the same names, where the user gave them."""
    return given(
        **{name: getattr(args, name) for name in PLANNED},
        clip=args.clip,
        batch=args.batch_size,
        budget_s=args.time_budget,
        patience=NEVER if args.patience == 0 else args.patience,
    )


def roll_config(args: argparse.Namespace, engine: str) -> RollConfig:
    if args.model not in ("lstm", "gru", "rnn"):
        raise OptionError(f"--frames roll is recurrent: --model lstm, gru or rnn, not {args.model}")
    return dataclasses.replace(
        RollConfig(engine=engine, cell=args.model, seed=args.seed),
        **shared_given(args),
        **given(max_shift=args.transpose, max_epochs=whole_epochs(args)),
    )


def notes_config(args: argparse.Namespace) -> FrameTrainConfig:
    if args.model == "classic":
        raise OptionError("--frames notes: --model lstm, gru, rnn or transformer, not classic")
    config = dataclasses.replace(
        FrameTrainConfig(family=args.model, seed=args.seed, threads=args.threads, engine=args.engine),
        **shared_given(args),
        **given(
            heads=args.heads,
            context=args.context,
            transpose=args.transpose,
            max_passes=whole_epochs(args),
        ),
    )
    return config.resolved()


def cmd_train_frames(args: argparse.Namespace) -> int:
    kind = args.frames or NOTES
    refuse_set(args, TOKEN_TRAIN_OPTIONS, "token models", f"--frames {kind} has no use for it")
    if args.patience is not None and args.patience < 0:
        raise OptionError(f"--patience must be 0 (never stop early) or more, got {args.patience}")
    if is_jsb_source(args.source) and args.max_pieces is not None:
        refuse("--max-pieces", "MIDI files", "JSB's splits are used whole")
    if kind == ROLL:
        config: Any = roll_config(args, engine_for(kind, args.engine))
    else:
        config = notes_config(args)
    inputs = (Path(args.source),) if Path(args.source).is_file() else ()
    check_output(args.output, MODEL, protect=inputs, overwrite=args.overwrite)
    source = read_frame_source([args.source], step=args.step, limit=args.max_pieces)
    check_output(args.output, MODEL, protect=source.paths, overwrite=args.overwrite)
    train, valid = training_splits(source, args.val_fraction, args.split_seed)
    say(
        f"{source.name}: {len(train)} pieces ({piece_frames(train):,} frames) to train on, "
        f"{len(valid)} ({piece_frames(valid):,} frames) to validate on; {kind} model, {config.engine}"
    )
    given_fields = set(shared_given(args)) & set(PLANNED)
    timed = args.time_budget is not None or args.epochs is None
    config, plan = sized(config, train, given_fields, timed)
    for line in plan.lines:
        say(f"plan: {line}")
    say(
        f"plan: {config.layers} x {config.hidden} {args.model}, dropout {config.dropout:g}, "
        f"lr {config.lr:g}, {config.budget_s:.0f} s to train"
    )
    with sigterm_as_interrupt() as terminated:
        if kind == ROLL:
            model, scores, how, interrupted = train_roll_model(train, valid, config, args.quiet)
        else:
            model, scores, how, interrupted = train_notes_model(train, valid, config, args.quiet)
        data = {"source": source.name, "step": source.step, "valid": scores, "training": how}
        data["interrupted"] = interrupted
        save_frame_file(kind, model, args.output, data)
    print(nll_line("valid", scores, piece_frames(valid)), flush=True)
    if interrupted:
        say(f"interrupted; saved the best model so far ({how}) to {args.output}")
        return EXIT_TERMINATED if terminated[0] else EXIT_INTERRUPTED
    say(f"wrote {args.output} ({how})")
    return 0


def train_roll_model(train: list, valid: list, config: Any, quiet: bool) -> tuple[Any, Any, str, bool]:
    def report(row: dict[str, float]) -> None:
        if not quiet:
            say(
                f"epoch {row['epoch']:.0f}: train {row['train']:.4f}, valid {row['valid_all']:.4f} "
                f"(all frames), {row['valid_skip-first']:.4f} (first not scored) [{row['seconds']:.0f} s]"
            )

    result = train_roll(train, valid, config, on_epoch=report)
    how = f"best of {result.epochs} epochs: epoch {result.best_epoch}, {result.seconds:.0f} s"
    return result.model, result.valid, how, result.interrupted


def train_notes_model(train: list, valid: list, config: Any, quiet: bool) -> tuple[Any, Any, str, bool]:
    def report(fit: Any) -> None:
        if not quiet and fit.scores:
            say(f"pass {len(fit.scores)}: valid {fit.scores[-1]:.4f} nats per frame ({config.convention})")

    result = train_frames(train, valid, config, on_progress=report)
    how = f"best of {len(result.scores)} passes: pass {result.best_pass}, {result.steps} steps"
    how += f", {result.seconds:.0f} s"
    if result.stopped and not result.interrupted:
        how += f", stopped by {result.stopped}"
    return result.model, result.valid, how, result.interrupted


def nll_line(split: str, scores: dict[Convention, float], frames: int) -> str:
    return (
        f"{split}: {scores['all']:.4f} nats per frame (all frames), "
        f"{scores['skip-first']:.4f} (first frame not scored), over {frames} frames"
    )


# --- eval and sample ---


def is_frame_model_file(path: Path) -> bool:
    return file_frame_kind(path) is not None


def refuse_token_model_for_frames(args: argparse.Namespace) -> None:
    """A token model given what only frame models score (jsb, a .mat file, --split, --step)."""
    jsb = next((f for f in args.files if is_jsb_source(f)), None)
    if jsb is not None:
        raise OptionError(
            f"{args.model} is not a frame model; {jsb} is scored by frame models "
            "(train one with 'saurus music train jsb')"
        )
    refuse_set(args, {"split": "--split", "step": "--step"}, "frame models", f"{args.model} is a token model")


def cmd_eval_frames(args: argparse.Namespace) -> int:
    refuse_set(args, TOKEN_EVAL_OPTIONS, "token models", "a frame model is scored by NLL per frame")
    loaded = load_frame_file(args.model)
    jsb = any(is_jsb_source(f) for f in args.files)
    step = args.step if args.step is not None or jsb else loaded.step
    source = read_frame_source(args.files, step=step)
    if source.is_jsb:
        split = args.split or "test"
    elif args.split is not None:
        raise OptionError("--split applies to jsb or a .mat file; MIDI files are scored whole")
    else:
        split = MIDI_SPLIT
    pieces = source.splits[split]
    say(f"{args.model}: a {loaded.kind} model; scoring {len(pieces)} pieces of {source.name} ({split})")
    scores = score_pieces(loaded, pieces)
    print(nll_line(split, scores, piece_frames(pieces)), flush=True)
    return 0


def cmd_sample_frames(args: argparse.Namespace) -> int:
    refuse_set(args, TOKEN_SAMPLE_OPTIONS, "token models", "a frame model draws --frames-count frames")
    loaded = load_frame_file(args.model)
    check_output(args.output, MIDI, protect=(args.model,), overwrite=args.overwrite)
    count = SAMPLE_FRAMES if args.frames_count is None else args.frames_count
    rng = np.random.default_rng(args.seed)
    temperature = 1.0 if args.temperature is None else args.temperature
    frames = draw_frames(loaded, count, rng, temperature)
    tempo = {} if args.tempo is None else {"tempo": args.tempo}
    notes = write_frames_midi(frames, args.output, step=loaded.step, **tempo)
    say(f"drew {count} frames ({notes} notes) from a {loaded.kind} model; wrote {args.output}")
    if notes == 0:
        say("warning: no notes came out; train longer or raise --temperature")
    return 0
