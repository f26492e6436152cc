"""Building a run: the data and its validation split, the plan (measured where it must
be), the engine by the time left, and the model with the trainer whose steps train it,
for either backend. The loop (loop.py) then drives what is built here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from saurus.data.corpus import Corpus, LinesCorpus, make_corpus, read_text
from saurus.data.labelled import labelled_corpus
from saurus.data.stream_file import MappedText, map_text
from saurus.errors import OptionError
from saurus.files.models import load
from saurus.generation.novelty import name_hashes
from saurus.models.cells import CELLS
from saurus.models.optim import Schedule
from saurus.models.recurrent import DTYPES, CharModel, param_shapes
from saurus.resources import check_fits, classic_bytes, recurrent_bytes
from saurus.training.backends.numpy import (
    NumpyTrainee,
    NumpyTrainer,
    build_classic,
    build_recurrent,
)
from saurus.training.calibrate import measure, sample_corpus
from saurus.training.config import TrainConfig
from saurus.training.plan import DEFAULT_BUDGET, CorpusStats, Plan, needs_measuring, plan_run
from saurus.training.trainee import Trainee

EVALS_PER_EPOCH_MAX_STEPS = 200  # by steps: every epoch, or every 200 steps if sooner


TORCH_MIN_SECONDS_LEFT = 8.0


def split_corpus(corpus: Corpus, config: TrainConfig) -> tuple[Corpus, Corpus | None]:
    if config.val_fraction == 0:
        return corpus, None
    return corpus.split(config.val_fraction, config.split_seed)


def architecture_of(start: Any, config: TrainConfig) -> dict[str, Any]:
    """The sizes --init-from's model brings, for the options left unset; one set to another
    value is an error."""
    if getattr(start, "kind", None) == "transformer":
        sizes = {"model": "transformer", "hidden": start.d_model, "layers": start.layers}
        sizes.update(heads=start.heads, context=start.context, positions=start.positions)
    elif isinstance(start, CharModel):
        sizes = {"model": start.cell, "hidden": start.hidden, "layers": start.layers}
    else:
        raise OptionError(
            "--init-from takes a recurrent (lstm, gru, rnn) or transformer model, not the classic one"
        )
    clash = [  # (--model lstm is also the default, so it cannot clash)
        f"--{k} {getattr(config, k)} (the model has {v})"
        for k, v in sizes.items()
        if getattr(config, k) not in (None, v) and not (k == "model" and config.model == "lstm")
    ]
    if clash:
        raise OptionError(f"--init-from: {', '.join(clash)}; drop those options")
    if sizes["model"] == "transformer":
        sizes["tied"] = start.tied
    return {k: v for k, v in sizes.items() if getattr(config, k) is None or k in ("model", "tied")}


def load_start(path: str) -> Any:
    """The model whose weights --init-from starts the run with."""

    return load(path)


def make_plan(
    text: str, config: TrainConfig, started: float | None = None, *, val_text: str | None = None
) -> Plan:
    """The plan `train_text` would follow on `text` (measuring this machine where it needs
    to), without training."""
    started = time.perf_counter() if started is None else started
    asked_engine = config.engine
    config = config.resolved()
    corpus, train, val = prepare_data(text, val_text, config)
    if config.family != "classic":
        name_hashes(corpus.lines())  # as train_text does: its time counts in the budget
    if asked_engine == "auto":
        config = engine_for_time_left(config, started)
    return plan_for(config, corpus, train, val, started, None)


def plan_for(
    config: TrainConfig,
    corpus: Corpus,
    train: Corpus,
    val: Corpus | None,
    started: float,
    saved: dict[str, Any] | None,
) -> Plan:
    """The run's plan: a resumed run's own, else planned now (measuring this machine when
    the size is left to the planner and time bounds the run)."""
    stats = CorpusStats.of(corpus, train, val, corpus.vocab().size)
    if saved is not None:
        return Plan.from_json(config, saved)
    speed = None
    gpu = on_gpu(config)
    if needs_measuring(config):
        check_memory(plan_run(config, stats, None, gpu=gpu).config, corpus, train)  # before building one
        budget = config.time_budget or DEFAULT_BUDGET
        speed = measure(config, stats, corpus, train, val, build_for_measuring, budget, gpu)
    return plan_run(config, stats, speed, time.perf_counter() - started, gpu)


def build_for_measuring(cfg: TrainConfig, corpus: Corpus, train: Corpus) -> Setup:
    return build_run(cfg, corpus, train, None, np.zeros(0, dtype=np.uint64))


def engine_for_time_left(config: TrainConfig, started: float) -> TrainConfig:
    """--engine auto: torch, unless the time left after reading the data is too short to
    pay for starting it (TORCH_START_SECONDS) and still train (then NumPy, which is here)."""
    if config.engine != "torch" or config.family != "recurrent" or config.ema is not None or config.compile:
        return config
    if config.device == "cuda" or config.time_budget is None:
        return config
    left = config.time_budget - (time.perf_counter() - started)
    if left >= TORCH_MIN_SECONDS_LEFT:
        return config
    return replace(config, engine="numpy", device=None)


def on_gpu(config: TrainConfig) -> bool:
    """Whether the run trains on a GPU (torch, --device cuda or auto with one visible)."""
    if config.engine != "torch" or config.device == "cpu":
        return False
    from saurus.training.backends.torch.train import gpu_visible

    return gpu_visible()


def final_validation(val: Corpus | None, plan: Plan, cfg: TrainConfig) -> Corpus | None:
    """What the final figure is measured on, when it is not what the evaluations used:
    the whole split, or a larger sample of it (None: the evaluations' own)."""
    if val is None or plan.val_chars is None:
        return None
    if plan.final_val_chars is None:
        return val
    if plan.final_val_chars <= plan.val_chars:
        return None
    return sample_corpus(val, plan.final_val_chars, cfg.split_seed + 1)


def prepare_data(
    text: str, val_text: str | None, config: TrainConfig
) -> tuple[Corpus, Corpus, Corpus | None]:
    """The whole corpus (whose vocabulary the model gets), the training and validation parts."""
    if config.labelled:
        return labelled_data(text, val_text, config)
    if val_text is None:
        corpus = make_corpus(text, config.mode, lowercase=config.lowercase)
        train, val = split_corpus(corpus, config)
        return corpus, train, val
    joined = text if text.endswith("\n") or not text else text + "\n"  # keep the last line whole
    corpus = make_corpus(joined + val_text, config.mode, lowercase=config.lowercase)
    train = make_corpus(text, config.mode, lowercase=config.lowercase)
    val = make_corpus(val_text, config.mode, lowercase=config.lowercase)
    return corpus, train, val


def labelled_data(
    text: str, val_text: str | None, config: TrainConfig
) -> tuple[LinesCorpus, LinesCorpus, LinesCorpus | None]:
    """prepare_data for labelled names: the categories are those of the training and the
    validation names together."""
    if val_text is None:
        corpus = labelled_corpus(text, lowercase=config.lowercase)
        train, val = split_corpus(corpus, config)
        assert isinstance(train, LinesCorpus) and (val is None or isinstance(val, LinesCorpus))
        return corpus, train, val
    joined = text if text.endswith("\n") or not text else text + "\n"
    corpus = labelled_corpus(joined + val_text, lowercase=config.lowercase)
    index = {label: k for k, label in enumerate(corpus.categories)}

    def relabelled(part: LinesCorpus) -> LinesCorpus:
        assert part.labels is not None
        labels = tuple(index[part.categories[k]] for k in part.labels)
        return LinesCorpus(part.examples, labels, corpus.categories)

    train = relabelled(labelled_corpus(text, lowercase=config.lowercase))
    return corpus, train, relabelled(labelled_corpus(val_text, lowercase=config.lowercase))


@dataclass
class Setup:
    """A run ready to start: the model, its steps, its trainer (None: classic) and rhythm."""

    model: Any
    trainee: Trainee
    steps: Iterator[tuple[float, int]]
    trainer: Any
    schedule: Schedule
    lr_box: list[float]
    per_epoch: int
    every: int
    cfg: TrainConfig


def build_run(
    cfg: TrainConfig, corpus: Corpus, train: Corpus, start: Any | None, seen: np.ndarray | None = None
) -> Setup:
    """The model and the trainer whose steps train it, for either family and engine; `seen`
    is the record of the training lines (name_hashes of corpus.lines()), if worked out."""
    seen = name_hashes(corpus.lines()) if seen is None and cfg.family != "classic" else seen
    assert cfg.lr is not None
    rng = np.random.default_rng(cfg.seed)
    lr_box = [cfg.lr]
    trainer: Any = None
    if cfg.family == "classic":
        model, steps, per_epoch = build_classic(cfg, corpus, train)
        trainee: Trainee = NumpyTrainee(model)
        schedule = Schedule(cfg.lr, "constant")
    else:
        if cfg.uses_torch:
            from saurus.training.backends.torch.train import TorchTrainer, build_torch

            assert seen is not None
            model, batches = build_torch(cfg, corpus, train, seen, start)
            trainer, trainee = TorchTrainer(model, batches, cfg, rng), model
        else:
            model, batches = build_recurrent(cfg, corpus, train, start, seen)
            trainer, trainee = NumpyTrainer(model, batches, cfg, rng), NumpyTrainee(model)
        steps = trainer.steps(lr_box)
        per_epoch = len(batches)
        schedule = Schedule(cfg.lr, cfg.schedule, cfg.warmup or 0.0)
    total = total_steps(cfg, per_epoch)
    every = cfg.eval_every or (
        max(1, (total or per_epoch) // 10)
        if cfg.family == "classic"
        else min(per_epoch, EVALS_PER_EPOCH_MAX_STEPS)
    )
    return Setup(model, trainee, steps, trainer, schedule, lr_box, per_epoch, every, cfg)


def total_steps(cfg: TrainConfig, per_epoch: int) -> int | None:
    """The step limit: --iterations, or --epochs in steps, whichever is fewer (None: time only)."""
    total = cfg.iterations
    if cfg.epochs is not None:
        by_epochs = max(1, math.ceil(cfg.epochs * per_epoch))
        total = by_epochs if total is None else min(total, by_epochs)
    return total


def check_memory(cfg: TrainConfig, corpus: Corpus, train: Corpus) -> None:
    """Refuse a run whose largest step would not fit in memory, giving the numbers."""
    vocab = len(corpus.vocab())
    assert cfg.hidden is not None
    if isinstance(train, LinesCorpus):
        longest = max(map(len, train.examples)) + 1
        steps, batch = longest, min(cfg.batch_size or 1, len(train.examples))
        padded = len(train.examples) * longest
    else:
        steps = cfg.seq_len or 1
        batch = max(1, min(cfg.batch_size or 1, train.num_chars() // steps))
        padded = 0
    if cfg.family == "classic":
        needed = classic_bytes(hidden=cfg.hidden, vocab=vocab, steps=steps)
    elif cfg.family == "transformer":
        D, L = cfg.hidden, cfg.layers or 1
        steps = max(steps, cfg.context or 0)
        params = 12 * L * D * D + 2 * vocab * D + steps * D
        caches = steps * batch * (L * (20 * D + (cfg.heads or 4) * steps) + 4 * vocab)
        needed = 4 * (5 * params + caches)
    else:
        assert cfg.layers is not None and cfg.dtype is not None
        shapes = param_shapes(cfg.model, vocab, cfg.hidden, cfg.layers)
        needed = recurrent_bytes(
            params=sum(math.prod(s) for s in shapes.values()),
            itemsize=np.dtype(DTYPES[cfg.dtype]).itemsize,
            steps=steps,
            batch=batch,
            layers=cfg.layers,
            hidden=cfg.hidden,
            gates=CELLS[cfg.model].gates,
            vocab=vocab,
            padded_names=padded,
        )
    what = f"training the {cfg.model} model ({cfg.layers or 1} x {cfg.hidden} units)"
    window = "--context" if cfg.family == "transformer" else "--seq-len"
    check_fits(needed, what, f"choose a smaller --hidden, --layers, --batch-size or {window}")


def training_text(path: str | Path, config: TrainConfig) -> str | MappedText:
    """The text of the file `path` as `config` trains on it: in stream mode a MappedText, read
    in two streaming passes and kept as memory-mapped ids (saurus.data.stream_file), except
    for the classic model, whose recipe holds the text as a list; else the str of read_text."""
    if config.mode == "stream" and config.family != "classic":
        return map_text(path, lowercase=config.lowercase)
    return read_text(path)
