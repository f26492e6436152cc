"""`saurus music …`: roundtrip, train, sample and eval, on MIDI files.

Argument parsing and printing only; the work is done by the modules beside this one.
The music packages are imported when a command runs, so `saurus --help` works without them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from saurus.cli.args import (
    Parser,
    add_command,
    add_decoding_options,
    add_train_options,
    decoding_of,
    float_value,
    positive_int,
    refuse,
    say,
    seed_value,
)
from saurus.cli.music_frames import (
    add_frame_eval_options,
    add_frame_sample_options,
    add_frame_train_options,
    cmd_eval_frames,
    cmd_sample_frames,
    cmd_train_frames,
    is_frame_model_file,
    refuse_token_model_for_frames,
    wants_frames,
)
from saurus.cli.train import check_train_outputs, checked_config, train_and_save
from saurus.data.datasets import verified_path
from saurus.errors import OptionError
from saurus.files.outputs import MIDI, WAV, check_output
from saurus.generation.sampling import Decoding
from saurus.music.pieces import METHENY, MUSIC_SOURCES, load_pieces, read_prime
from saurus.music.tokens import (
    decode_tokens,
    encode_score,
    notes_of,
    read_score,
    tokens_to_score,
    write_score,
)

SAMPLE_BARS = 16


MUSIC_USAGE = """\
learn from MIDI files and improvise new ones (needs the 'music' extra)
saurus music train bach -o bach.saurus --time-budget 60
saurus music sample bach.saurus -o new.mid --seed 1
saurus music eval bach.saurus held_out/*.mid
saurus music train jsb -o jsb.saurus --time-budget 600
saurus music eval jsb.saurus jsb --split test
"""

ROUNDTRIP_USAGE = """\
turn a MIDI file into tokens and back, to hear what the tokenisation keeps
saurus music roundtrip song.mid -o song.roundtrip.mid
"""

TRAIN_USAGE = """\
train a token model on MIDI music
saurus music train bach -o bach.saurus --time-budget 60
saurus music train songs/ -o songs.saurus --engine torch
saurus music train metheny -o jazz.saurus --val-fraction 0.1
saurus music train jsb -o jsb.saurus --time-budget 600
saurus music train jsb -o roll.saurus --frames roll --engine numpy --hidden 64
saurus music train songs/ -o frames.saurus --frames roll --step 0.5
"""

SAMPLE_USAGE = """\
improvise a new MIDI file with a music model
saurus music sample bach.saurus -o new.mid --seed 1
saurus music sample bach.saurus -o more.mid --prime opening.mid --bars 8 --temperature 0.9
saurus music sample jsb.saurus -o chorale.mid --frames-count 64 --seed 1
"""

EVAL_USAGE = """\
how well a music model predicts MIDI files, and how its music compares with them
saurus music eval bach.saurus held_out/*.mid
saurus music eval jazz.saurus metheny --samples 8 --train metheny
saurus music eval jsb.saurus jsb --split test
"""

JAZZ_USAGE = """\
the 'Improvise a jazz solo with an LSTM' exercise: train on the Metheny piece, write MIDI
saurus reproduce jazz -o jazz.mid
saurus reproduce jazz -o varied.mid --temperature 1.0 --seed 3 --all-targets
"""


def add_music_command(sub: argparse._SubParsersAction) -> None:
    music = add_command(sub, "music", MUSIC_USAGE)
    verbs = music.add_subparsers(dest="music_command", required=True, parser_class=Parser, metavar="VERB")

    p = add_command(verbs, "roundtrip", ROUNDTRIP_USAGE)
    p.add_argument("midi", type=Path, help="a MIDI file")
    add_output(p, "the MIDI file to write")
    p.set_defaults(run=cmd_roundtrip)

    p = add_command(verbs, "train", TRAIN_USAGE)
    p.add_argument(
        "source",
        help=f"{MUSIC_SOURCES} (music21's bundled chorales); validation holds out whole pieces, "
        "or the last bars of a single piece",
    )
    p.add_argument("--max-pieces", type=positive_int, help="use only the first N pieces")
    add_train_options(p, text=False)
    add_frame_train_options(p)
    p.set_defaults(run=cmd_train)

    p = add_command(verbs, "sample", SAMPLE_USAGE)
    p.add_argument("model", type=Path, help="a model file written by saurus music train")
    add_output(p, "the MIDI file to write")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--length", type=positive_int, help="tokens to draw after the primer")
    length.add_argument(
        "--bars", type=positive_int, help=f"bars to draw after the primer (default: {SAMPLE_BARS})"
    )
    p.add_argument("--seed", type=seed_value, help="seed for repeatable output (default: random)")
    add_decoding(p)
    p.add_argument("--prime", type=Path, metavar="FILE.mid", help="an opening to continue")
    p.add_argument("--tempo", type=tempo_value, help="tempo in BPM (default: the model's music)")
    p.add_argument(
        "--wav",
        type=Path,
        metavar="OUT.wav",
        help="also render a preview: with FluidSynth and a General MIDI soundfont where installed, "
        "else sine tones",
    )
    add_frame_sample_options(p)
    p.set_defaults(run=cmd_sample, prefix="")

    p = add_command(verbs, "eval", EVAL_USAGE)
    p.add_argument("model", type=Path, help="a model file written by saurus music train")
    p.add_argument("files", nargs="+", help=f"held-out music: {MUSIC_SOURCES}")
    p.add_argument(
        "--samples",
        type=positive_int,
        default=4,
        help="pieces to improvise for the comparison (default: 4)",
    )
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the improvised pieces (default: 0)")
    p.add_argument("--train", metavar="SOURCE", help="the training music, to measure how much is copied")
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="leave out tokens the model never saw (and say how many) instead of refusing",
    )
    add_frame_eval_options(p)
    p.set_defaults(run=cmd_eval)
    music.commands = dict(verbs.choices)


def add_output(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-o", "--output", type=Path, required=True, help=what)
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")


def add_decoding(p: argparse.ArgumentParser) -> None:
    add_decoding_options(p, "token")


def tempo_value(text: str) -> float:
    from saurus.music.sample import MAX_TEMPO, MIN_TEMPO

    between = f"between {MIN_TEMPO:g} and {MAX_TEMPO:g} BPM"
    return float_value(text, lambda v: MIN_TEMPO <= v <= MAX_TEMPO, between)


def cmd_roundtrip(args: argparse.Namespace) -> int:

    check_output(args.output, MIDI, protect=(args.midi,), overwrite=args.overwrite)
    score = read_score(args.midi)
    tokens = encode_score(score)
    before, after = notes_of(score), notes_of(tokens_to_score(tokens))
    written = decode_tokens(tokens, args.output)
    say(
        f"{len(before)} notes -> {len(tokens)} tokens -> {written} notes "
        f"({len({(p, d) for p, d, *_ in after})} program tracks); wrote {args.output}"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:

    from saurus.music.token_text import TokenTable, hold_out, pieces_text

    if wants_frames(args):
        return cmd_train_frames(args)
    if args.model == "classic":
        raise OptionError(
            "--model classic is the names exercise; for music use lstm, gru, rnn or transformer"
        )
    checked_config(args, "stream")
    given = Path(args.source)
    check_train_outputs(args, (given,) if given.is_file() else ())
    pieces = load_pieces(args.source, limit=args.max_pieces, on_progress=say)
    train, held = hold_out(pieces, args.val_fraction, args.split_seed)
    table = TokenTable.of(pieces)
    say(
        f"{len(pieces)} pieces, {sum(len(p.tokens) for p in pieces)} tokens ({len(table.tokens)} distinct); "
        f"validating on {len(held)} {'piece' if len(held) == 1 else 'pieces'}"
    )
    # the clock starts once the music is read (converting the chorales happens once, cached)
    return train_and_save(
        args,
        pieces_text(table, train),
        "stream",
        tuple(p.path for p in pieces if p.path is not None),
        started=time.perf_counter(),
        val_text=pieces_text(table, held) if held else None,
        file_meta=table.meta(),
        unit="tokens",
    )


def cmd_sample(args: argparse.Namespace) -> int:

    from saurus.music.render import sine_note, write_wav
    from saurus.music.sample import improvise_piece, load_music_model, split_known

    if is_frame_model_file(args.model):
        return cmd_sample_frames(args)
    if args.frames_count is not None:
        refuse("--frames-count", "frame models", f"{args.model} is a token model: give --bars or --length")
    music = load_music_model(args.model)
    protect = tuple(p for p in (args.model, args.prime) if p is not None)
    check_output(args.output, MIDI, protect=protect, overwrite=args.overwrite)
    if args.wav is not None:
        check_output(args.wav, WAV, protect=(*protect, args.output), overwrite=args.overwrite)
    prime = read_prime(args.prime) if args.prime is not None else []
    prime, unknown = split_known(music, prime)
    if unknown:
        say(f"left out {len(unknown)} tokens of the opening the model never saw (e.g. {unknown[0]!r})")
    bars = SAMPLE_BARS if args.length is None and args.bars is None else args.bars
    how = decoding_of(args)
    rng = np.random.default_rng(args.seed)
    piece = improvise_piece(music, rng, how, length=args.length, bars=bars, prime=prime, tempo=args.tempo)
    notes = write_score(piece.score, args.output)
    say(f"drew {piece.drawn} tokens ({notes} notes in all); wrote {args.output}")
    if args.wav is not None:
        seconds, renderer = write_wav(piece.midi(), args.wav)
        how_made = "FluidSynth" if renderer == "fluidsynth" else sine_note()
        say(f"wrote {args.wav} ({seconds:.1f} s, {how_made})")
    if notes == 0:
        say("warning: no notes came out; train longer or raise --temperature")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:

    from saurus.music.assess import assess

    if is_frame_model_file(args.model):
        return cmd_eval_frames(args)
    refuse_token_model_for_frames(args)
    report = assess(
        args.model,
        args.files,
        samples=args.samples,
        seed=args.seed,
        train_source=args.train,
        skip_unknown=args.skip_unknown,
        on_progress=say,
    )
    sys.stdout.write(report.table())
    return 0


def add_jazz_command(runs: argparse._SubParsersAction) -> None:
    p = add_command(runs, "jazz", JAZZ_USAGE)
    add_output(p, "the MIDI file to write")
    p.add_argument(
        "--epochs", type=positive_int, default=100, help="passes over the 60 windows (default: 100)"
    )
    p.add_argument(
        "--every", type=positive_int, default=10, help="print the loss every N epochs (default: 10)"
    )
    p.add_argument("--hidden", type=positive_int, default=64, help="LSTM units (default: 64)")
    p.add_argument(
        "--all-targets",
        action="store_true",
        help="fix: make all 30 targets of a window real (the exercise's last one is a zero vector)",
    )
    p.add_argument(
        "--random-start",
        action="store_true",
        help="fix: start each measure's line from a random value, not the zero vector",
    )
    p.add_argument(
        "--seed", type=seed_value, default=0, help="seed of the weights and the drawing (default: 0)"
    )
    add_decoding(p)
    p.add_argument("--data", type=Path, help="original_metheny.mid (default: the registered file)")
    p.set_defaults(run=cmd_jazz, prefix="")


def cmd_jazz(args: argparse.Namespace) -> int:

    from saurus.classics.jazz import EpochReport, JazzSetup, parameter_count, train_jazz, write_improvisation
    from saurus.classics.jazz_grammar import load_jazz

    sampled = any(v is not None for v in (args.temperature, args.top_k, args.top_p))
    if args.greedy and sampled:
        decoding_of(args)  # names the clash
    path = args.data if args.data is not None else verified_path(METHENY)
    check_output(args.output, MIDI, protect=(path,), overwrite=args.overwrite)
    start = time.perf_counter()
    data = load_jazz(path)
    values = data.values
    print(f"{len(values)} values, {len(set(values))} distinct, in {len(data.measures)} measures", flush=True)
    print(f"parameters: {parameter_count(len(set(values)), args.hidden):,}", flush=True)
    model = None
    for item in train_jazz(values, JazzSetup(args.epochs, args.hidden, args.all_targets, args.seed)):
        if isinstance(item, EpochReport):
            if item.epoch % args.every == 0 or item.epoch in (1, args.epochs):
                print(f"epoch {item.epoch:4d}  loss {item.loss:.4f}", flush=True)
        else:
            model = item
    assert model is not None
    how = decoding_of(args) if sampled else Decoding(greedy=True)
    notes = write_improvisation(model, values, data.chords, args.output, how, args.seed, args.random_start)
    say(
        f"wrote {notes} melody notes over {len(data.chords)} measures to {args.output} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0
