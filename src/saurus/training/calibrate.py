"""Measuring this machine's speed for the planner: a few steps of two model sizes.

seconds/char = a + b * W(H) (plan.py): the steps of a small and a large size on a sample
of the training data give two points and so a and b; a forward pass over a sample of the
validation split gives how much faster evaluating is than training. It takes about
CALIBRATION_SHARE of the budget (at least MIN_SECONDS, at most MAX_SECONDS), and that time
is counted in the budget like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from saurus.data.corpus import Corpus, StreamCorpus
from saurus.training.config import TrainConfig
from saurus.training.plan import (
    CALIBRATION_SHARE,
    CorpusStats,
    Throughput,
    plan_run,
    work_per_char,
)
from saurus.training.trainee import Trainee

MIN_SECONDS, MAX_SECONDS = 0.15, 2.0
SAMPLE_CHARS = 60_000  # training characters the measuring steps read from
VAL_SAMPLE_CHARS = 4_096
SIZES = {False: (96, 320), True: (256, 1024)}  # CPU, GPU

Build = Callable[[TrainConfig, Corpus, Corpus], Any]  # (cfg, corpus, train) -> a Setup


def sample_corpus(corpus: Corpus, chars: int, seed: int) -> Corpus:
    """About `chars` characters of `corpus`: seeded whole lines, or the text's start."""
    if isinstance(corpus, StreamCorpus):
        return StreamCorpus(corpus.text[: max(2, chars)])
    names = corpus.examples
    mean = corpus.num_chars() / len(names)
    count = min(len(names), max(1, int(chars / mean)))
    if count == len(names):
        return corpus
    picked = np.sort(np.random.default_rng(seed).choice(len(names), count, replace=False))
    return corpus.part(picked.tolist())


def calibration_seconds(budget: float) -> float:
    return min(MAX_SECONDS, max(MIN_SECONDS, CALIBRATION_SHARE * budget))


def measure(
    config: TrainConfig,
    stats: CorpusStats,
    corpus: Corpus,
    train: Corpus,
    val: Corpus | None,
    build: Build,
    budget: float,
    gpu: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> Throughput:
    """Time a few training steps of two sizes (or of the size given) on a sample of `train`,
    and one evaluation, for the planner."""
    started = clock()
    allowed = calibration_seconds(budget)
    sample = sample_corpus(train, SAMPLE_CHARS, config.split_seed)
    points: list[tuple[int, float, float]] = []  # (hidden, W, seconds per char)
    eval_ratio = 3.0
    sizes = SIZES[gpu] if config.hidden is None else (config.hidden,)  # a given size: its own speed
    for k, hidden in enumerate(sizes):
        sized = replace(config, hidden=hidden, iterations=10**9, time_budget=None, epochs=None)
        cfg = plan_run(sized, stats, None).config
        cfg = replace(cfg, dropout=0.0, patience=0)
        setup = build(cfg, corpus, sample)  # (the whole corpus's characters)
        steps = setup.steps
        next(steps)  # the first step pays for allocations
        share = allowed * (0.3 if k == 0 and len(sizes) > 1 else 0.45)
        t0, chars, count = clock(), 0, 0
        while count < 2 or (clock() - t0 < share and count < 200):
            chars += next(steps)[1]
            count += 1
        per_char = (clock() - t0) / max(chars, 1)
        points.append((hidden, work_per_char(cfg, hidden, stats.vocab), per_char))
        if k == len(sizes) - 1 and val is not None:
            eval_ratio = eval_speedup(setup.trainee, val, per_char, config.split_seed, clock)
    if len(points) == 1:
        a, b = points[0][2], 0.0
    else:
        (_, w1, s1), (_, w2, s2) = points
        b = max((s2 - s1) / (w2 - w1), 1e-15)
        a = max(s1 - b * w1, 0.0)
    return Throughput(
        a,
        b,
        eval_ratio,
        clock() - started,
        tuple((h, round(1.0 / s)) for h, _, s in points),
    )


def eval_speedup(
    trainee: Trainee, val: Corpus, train_per_char: float, seed: int, clock: Callable[[], float]
) -> float:
    """Evaluation characters per second over training ones, for the model in training."""
    sample = sample_corpus(val, VAL_SAMPLE_CHARS, seed)
    t0 = clock()
    report = trainee.evaluate(sample)
    per_char = (clock() - t0) / max(report.chars, 1)
    return float(min(50.0, max(1.0, train_per_char / max(per_char, 1e-12))))
