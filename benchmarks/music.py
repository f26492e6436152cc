"""Musical quality, measured: a trained token model against an untrained one and the unigram
baseline, on the Metheny piece (its last bars held out) and on Bach's chorales (whole
chorales held out), plus the classic jazz exercise's figures.

    python benchmarks/music.py                      # 60 s of training per corpus
    python benchmarks/music.py --seconds 20 --chorales 100

For each contender: held-out negative log-likelihood per token and per note, then for
--samples improvised pieces (as long as the median held-out piece) against the held-out
music: pitch-class, duration and inter-onset histogram overlaps (1 = identical), the share
of notes in the best-fitting key's scale, the empty-beat rate, and copying from the
training music (the longest shared token run, the share of 8-grams found in it).
Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from saurus.classics.jazz import EpochReport, JazzSetup, parameter_count, train_jazz
from saurus.classics.jazz_grammar import load_jazz
from saurus.data.corpus import StreamCorpus
from saurus.generation.scoring import evaluate
from saurus.models.recurrent import CharModel
from saurus.music.assess import (
    improvised,
    likelihood,
    quality,
    sample_bars,
    unigram_likelihood,
    unigram_pieces,
)
from saurus.music.pieces import load_pieces
from saurus.music.sample import MusicModel
from saurus.music.token_text import TokenTable, hold_out, pieces_text
from saurus.training.loop import TrainConfig, train_text

COLUMNS = (
    ("nll/token", None),
    ("nll/note", None),
    ("pitch-class overlap", "pitch_class_overlap"),
    ("in scale (gen/ref)", ("scale_consistency_generated", "scale_consistency_reference")),
    ("duration overlap", "duration_overlap"),
    ("IOI overlap", "ioi_overlap"),
    ("empty beats (gen/ref)", ("empty_beat_rate_generated", "empty_beat_rate_reference")),
    ("longest copy", "longest_copied_run"),
    ("8-gram copy rate", "copy_rate"),
)


def cell(metrics: dict[str, float], key: object) -> str:
    if isinstance(key, tuple):
        return "/".join(f"{metrics[k]:.3f}" for k in key)
    value = metrics[key]  # type: ignore[index]
    return f"{value:.0f}" if key == "longest_copied_run" else f"{value:.3f}"


def row(corpus: str, what: str, nll: float, per_note: float, metrics: dict[str, float], secs: float) -> str:
    cells = [f"{nll:.4f}", f"{per_note:.3f}", *(cell(metrics, key) for _, key in COLUMNS[2:])]
    return f"| {corpus} | {what} | {' | '.join(cells)} | {secs:.1f} |"


def measure(corpus: str, pieces: list, seconds: float, samples: int, engine: str) -> list[str]:
    train, held = hold_out(pieces, 0.1, 42)
    table = TokenTable.of(pieces)
    notes = sum(p.notes for p in held)
    bars = sample_bars(held)
    start = time.perf_counter()
    config = TrainConfig(mode="stream", time_budget=seconds, engine=engine)
    result = train_text(pieces_text(table, train), config, val_text=pieces_text(table, held))
    trained = MusicModel(result.model, table)
    rows = []
    lk = likelihood(trained, held)
    gen = improvised(trained, samples, bars, seed=0)
    rows.append(
        row(
            corpus,
            f"trained {seconds:.0f} s",
            lk.report.nats,
            lk.per_note,
            quality(gen, held, train),
            time.perf_counter() - start,
        )
    )
    start = time.perf_counter()
    fresh = CharModel.create(
        result.model.vocab, "stream", hidden=result.model.hidden, layers=result.model.layers
    )
    untrained = MusicModel(fresh, table)
    lk = likelihood(untrained, held)
    gen = improvised(untrained, samples, bars, seed=0)
    rows.append(
        row(
            corpus,
            "untrained",
            lk.report.nats,
            lk.per_note,
            quality(gen, held, train),
            time.perf_counter() - start,
        )
    )
    start = time.perf_counter()
    nll = unigram_likelihood(train, held)
    tokens = sum(len(p.tokens) + 1 for p in held)
    length = int(np.median([len(p.tokens) for p in held]))
    gen = unigram_pieces(train, samples, length, seed=0)
    rows.append(
        row(
            corpus,
            "unigram",
            nll,
            nll * tokens / notes,
            quality(gen, held, train),
            time.perf_counter() - start,
        )
    )
    check = evaluate(trained.model, StreamCorpus(pieces_text(table, held))).nats
    assert math.isclose(check, likelihood(trained, held).report.nats)
    print(
        f"<!-- {corpus}: {len(pieces)} pieces ({len(train)} train, {len(held)} held out), "
        f"{len(table.tokens)} distinct tokens, {samples} samples of {bars} bars -->",
        flush=True,
    )
    return rows


def classic_jazz(data: Path) -> str:
    start = time.perf_counter()
    jazz = load_jazz(data)
    reports = [r for r in train_jazz(jazz.values, JazzSetup()) if isinstance(r, EpochReport)]
    v = len(set(jazz.values))
    return (
        f"| classic jazz exercise | {len(jazz.values)} values, {v} distinct | "
        f"{parameter_count(v, 64):,} parameters | loss {reports[0].loss:.2f} -> {reports[-1].loss:.2f} "
        f"(course: 125.8 -> 6.19 at 78 values, 41,678 parameters) | {time.perf_counter() - start:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget per corpus")
    parser.add_argument("--chorales", type=int, help="use only the first N chorales (default: all)")
    parser.add_argument("--samples", type=int, default=8, help="improvised pieces per contender")
    parser.add_argument("--engine", default="numpy", choices=["numpy", "torch"])
    parser.add_argument(
        "--data", type=Path, default=None, help="original_metheny.mid (default: the registry's)"
    )
    args = parser.parse_args()
    metheny = str(args.data) if args.data else "metheny"
    heads = " | ".join(name for name, _ in COLUMNS)
    print(f"| corpus | model | {heads} | time (s) |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    for corpus, pieces in (
        ("Metheny (last bars held out)", load_pieces(metheny)),
        ("Bach chorales", load_pieces("bach", limit=args.chorales, on_progress=print)),
    ):
        for line in measure(corpus, pieces, args.seconds, args.samples, args.engine):
            print(line, flush=True)
    from saurus.data.datasets import verified_path
    from saurus.music.pieces import METHENY

    print()
    print("| what | data | size | loss | time (s) |")
    print("|---|---|---|---|---|")
    print(classic_jazz(args.data or verified_path(METHENY)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
