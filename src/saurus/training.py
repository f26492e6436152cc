"""Training: read a corpus, hold out a validation split, fit a model, report its loss.

Ctrl-C stops training cleanly: the model trained so far is returned (and saved by the
CLI), marked as interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from saurus.classic import ClassicRNN
from saurus.corpus import Corpus, LinesCorpus, Mode, make_corpus, read_text
from saurus.errors import OptionError, TrainingError
from saurus.evaluation import LossReport, evaluate
from saurus.models import save

# Measured defaults per corpus kind for the classic model (see the README).
CLASSIC_DEFAULTS: dict[str, dict[str, float]] = {
    "lines": {"hidden": 50, "iterations": 35000, "lr": 0.01},
    "stream": {"hidden": 100, "iterations": 20000, "lr": 0.1},
}


@dataclass(frozen=True)
class TrainConfig:
    """What to train. None means the per-mode default from CLASSIC_DEFAULTS."""

    mode: Mode = "lines"
    hidden: int | None = None
    iterations: int | None = None
    lr: float | None = None
    seed: int = 0
    lowercase: bool = False
    val_fraction: float = 0.1
    split_seed: int = 42
    seq_len: int = 25
    report_every: int = 0  # 0: ten reports per run

    def resolved(self) -> TrainConfig:
        """Fill the per-mode defaults and check every value."""
        d = CLASSIC_DEFAULTS.get(self.mode, {})
        if not d:
            raise OptionError(f"unknown mode {self.mode!r}; choose lines or stream")
        cfg = replace(
            self,
            hidden=int(d["hidden"]) if self.hidden is None else self.hidden,
            iterations=int(d["iterations"]) if self.iterations is None else self.iterations,
            lr=float(d["lr"]) if self.lr is None else self.lr,
        )
        for name in ("hidden", "iterations", "seq_len"):
            if getattr(cfg, name) <= 0:
                raise OptionError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
        if not cfg.lr > 0 or not np.isfinite(cfg.lr):
            raise OptionError(f"--lr must be a positive number, got {cfg.lr}")
        if cfg.report_every < 0:
            raise OptionError("--report-every must not be negative")
        return cfg


@dataclass(frozen=True)
class Progress:
    iteration: int
    iterations: int
    train_nats: float  # mean nats/char since the last report
    chars_per_second: float


@dataclass
class TrainResult:
    model: ClassicRNN
    config: TrainConfig
    train_examples: int
    val: LossReport | None
    iterations_done: int
    seconds: float
    interrupted: bool = False
    history: list[Progress] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """Figures worth keeping in the model file."""
        return {
            "iterations": self.iterations_done,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "seed": self.config.seed,
            "lr": self.config.lr,
            "val_fraction": self.config.val_fraction,
            "split_seed": self.config.split_seed,
            "val_nats_per_char": None if self.val is None else self.val.nats,
            "complete": not self.interrupted,
        }


def split_corpus(corpus: Corpus, config: TrainConfig) -> tuple[Corpus, Corpus | None]:
    if config.val_fraction == 0:
        return corpus, None
    train, val = corpus.split(config.val_fraction, config.split_seed)
    return train, val


class Reporter:
    """Every `every` steps: average the window's loss, check the weights, checkpoint, report."""

    def __init__(
        self,
        model: ClassicRNN,
        cfg: TrainConfig,
        total: int,
        checkpoint: str | Path | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.model, self.cfg, self.total = model, cfg, total
        self.checkpoint, self.on_progress = checkpoint, on_progress
        self.every = cfg.report_every or max(1, total // 10)
        self.history: list[Progress] = []
        self.done, self.window_nats, self.window_chars = 0, 0.0, 0
        self.last_time = time.perf_counter()

    def add(self, loss: float, chars: int) -> None:
        self.done += 1
        self.window_nats += loss
        self.window_chars += chars
        if self.done % self.every == 0 or self.done == self.total:
            self.report()

    def report(self) -> None:
        now = time.perf_counter()
        progress = Progress(
            self.done,
            self.total,
            self.window_nats / self.window_chars,
            self.window_chars / max(now - self.last_time, 1e-9),
        )
        self.history.append(progress)
        if not self.model.is_finite():
            kept = f"; the last good checkpoint is {self.checkpoint}" if self.checkpoint else ""
            raise TrainingError(
                f"training diverged by iteration {self.done}: the weights became NaN or infinite; "
                f"lower --lr (it is {self.cfg.lr}){kept}"
            )
        if self.checkpoint is not None:
            extra = {"training": {"iterations": self.done, "complete": False}}
            save(self.model, self.checkpoint, extra=extra)
        if self.on_progress is not None:
            self.on_progress(progress)
        self.window_nats, self.window_chars, self.last_time = 0.0, 0, now


def train_text(
    text: str,
    config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train the classic model on `text`; the vocabulary covers the whole text, so the
    validation split never holds an unknown character. With `checkpoint`, the model is
    saved there (atomically) at every report, so a crash loses at most one interval."""
    cfg = config.resolved()
    assert cfg.hidden is not None and cfg.iterations is not None and cfg.lr is not None
    corpus = make_corpus(text, cfg.mode, lowercase=cfg.lowercase)
    vocab = corpus.vocab()
    train, val = split_corpus(corpus, cfg)
    model = ClassicRNN.create(vocab, cfg.mode, hidden=cfg.hidden, seed=cfg.seed, lowercase=cfg.lowercase)
    if isinstance(train, LinesCorpus):
        rng = np.random.default_rng(cfg.seed)
        steps = model.fit_lines(train.encode(vocab), cfg.iterations, cfg.lr, rng)
        n_train = len(train.examples)
    else:
        steps = model.fit_stream(train.encode(vocab)[0], cfg.iterations, cfg.lr, cfg.seq_len)
        n_train = train.num_chars()
    reporter = Reporter(model, cfg, cfg.iterations, checkpoint, on_progress)
    start = time.perf_counter()
    interrupted = False
    try:
        # a diverging run overflows and takes log(0); the CLI reports it, numpy need not
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            for loss, chars in steps:
                reporter.add(loss, chars)
    except KeyboardInterrupt:
        interrupted = True
    seconds = time.perf_counter() - start
    val_report = None
    if val is not None and reporter.done > 0:
        try:
            val_report = evaluate(model, val)
        except KeyboardInterrupt:
            interrupted = True
    return TrainResult(model, cfg, n_train, val_report, reporter.done, seconds, interrupted, reporter.history)


def train_file(
    path: str | Path,
    config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint: str | Path | None = None,
) -> TrainResult:
    return train_text(read_text(path), config, on_progress, checkpoint)
