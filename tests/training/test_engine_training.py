"""Training the engine: batches, stopping rules, best weights, the log, determinism."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES

from saurus.data.batches import LineBatches, StreamBatches
from saurus.data.corpus import LinesCorpus
from saurus.errors import OptionError
from saurus.files import models
from saurus.generation.scoring import evaluate
from saurus.training.loop import Progress, TrainConfig, train_text

TEXT = NAMES * 3 + "olga\npia\nquinn\nrosa\nsven\ntom\numa\nvera\nwalt\nxena\nyara\nzeno\n"
SMALL = {"hidden": 16, "batch_size": 8}


def test_line_batches_pad_group_and_cover_every_name_once() -> None:
    names = [np.arange(1, n + 1) for n in (3, 1, 7, 2, 7, 4, 5)]
    batches = LineBatches(names, eos=0, batch_size=3)
    seen = []
    for b in batches.epoch(np.random.default_rng(0)):
        assert (b.inputs[0] == 0).all()  # every name starts from the end token
        mask = np.ones_like(b.inputs, dtype=float) if b.mask is None else b.mask
        for col in range(b.inputs.shape[1]):
            n = int(mask[:, col].sum())
            name = b.targets[: n - 1, col]
            assert b.targets[n - 1, col] == 0  # ... and ends with it
            np.testing.assert_array_equal(b.inputs[1:n, col], name)
            seen.append(len(name))
        assert b.chars == int(mask.sum())
    assert sorted(seen) == sorted(len(n) for n in names)
    assert len(batches) == 3


def test_consecutive_stream_batches_continue_each_other() -> None:
    ids = np.arange(1000)
    batches = list(
        StreamBatches(ids, batch_size=4, seq_len=10, batching="consecutive").epoch(np.random.default_rng(1))
    )
    assert batches[0].fresh and not any(b.fresh for b in batches[1:])
    for a, b in itertools.pairwise(batches):
        np.testing.assert_array_equal(b.inputs[0], a.inputs[-1] + 1)  # each track goes on
    for b in batches:
        np.testing.assert_array_equal(b.targets, b.inputs + 1)
    random = list(
        StreamBatches(ids, batch_size=4, seq_len=10, batching="random").epoch(np.random.default_rng(1))
    )
    assert all(b.fresh for b in random) and len(random) == len(batches)
    with pytest.raises(OptionError, match="longer than --seq-len"):
        StreamBatches(np.arange(5), 4, 10, "consecutive")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_learns_names(cell: str) -> None:
    result = train_text(TEXT, TrainConfig(model=cell, iterations=150, lr=0.01, val_fraction=0.25, **SMALL))
    assert result.val is not None and result.val.nats < math.log(result.model.vocab.size) - 0.6
    assert result.history[-1].train_nats < result.history[0].train_nats - 0.5


@pytest.mark.parametrize("batching", ["consecutive", "random"])
def test_stream_training_learns_with_both_batchings(batching: str) -> None:
    text = "to be or not to be, that is the question. " * 60
    cfg = TrainConfig(
        mode="stream", hidden=32, seq_len=16, batch_size=8, iterations=150, lr=0.01, batching=batching
    )
    result = train_text(text, cfg)
    assert result.val is not None and result.val.nats < 0.5


def test_same_seed_same_model() -> None:
    cfg = TrainConfig(iterations=30, dropout=0.3, **SMALL)
    a, b = train_text(TEXT, cfg), train_text(TEXT, cfg)
    for key in a.model.params:
        np.testing.assert_array_equal(a.model.params[key], b.model.params[key])
    c = train_text(TEXT, TrainConfig(iterations=30, dropout=0.3, seed=1, **SMALL))
    assert not np.array_equal(a.model.params["head.W"], c.model.params["head.W"])


def test_the_best_weights_are_kept_and_early_stopping_ends_the_run(tmp_path: Path) -> None:
    """A high learning rate overfits twelve names fast; the run stops `patience` evaluations
    after its best one and returns the best weights, which the checkpoint also holds."""
    ckpt, log = tmp_path / "m.saurus", tmp_path / "m.log.jsonl"
    cfg = TrainConfig(
        hidden=64,
        batch_size=4,
        lr=0.03,
        iterations=5000,
        patience=3,
        eval_every=5,
        val_fraction=0.3,
        schedule="constant",  # a decaying schedule waits for half the run (next test)
    )
    result = train_text(TEXT, cfg, checkpoint=ckpt, log=log)
    assert result.stopped_by == "early stopping" and result.iterations_done < 5000
    vals = [p.val_nats for p in result.history]
    best = min(vals)
    assert vals.index(best) == len(vals) - 1 - 3  # three evaluations without improvement
    assert result.val is not None and result.val.nats == pytest.approx(best)
    assert result.best_iteration == result.history[vals.index(best)].iteration
    val = LinesCorpus.from_text(TEXT).split(0.3, 42)[1]
    assert evaluate(result.model, val).nats == pytest.approx(best, rel=1e-6)
    assert evaluate(models.load(ckpt), val).nats == pytest.approx(best, rel=1e-6)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [p.iteration for p in result.history]
    assert [line["val_nats"] for line in lines] == pytest.approx(vals)


def test_early_stopping_waits_for_half_of_a_decaying_run() -> None:
    """With the cosine schedule, patience running out before half the run does not stop it
    (the late, small learning rates bring most of the gains); after half, it does."""
    cfg = TrainConfig(
        hidden=64, batch_size=4, lr=0.03, iterations=400, patience=3, eval_every=5, val_fraction=0.3
    )
    result = train_text(TEXT, cfg)
    vals = [p.val_nats for p in result.history]
    best = vals.index(min(vals))
    assert best + 3 < 200 // 5, "patience ran out well before half the run"
    assert result.stopped_by == "early stopping" and result.iterations_done == 200


def test_a_time_budget_ends_the_run() -> None:
    """By the run's own clock: the budget plus the 2 s slack of very short budgets."""
    result = train_text(TEXT, TrainConfig(time_budget=1.0, eval_every=10, patience=0, epochs=10**6, **SMALL))
    assert result.stopped_by == "time budget"
    timings = result.timings  # (the loop's share: a stall before it is the machine's, not the rule's)
    assert timings["total"] >= 0.5 and timings["total"] - timings["before_training"] <= 1.0 + 2.0
    assert result.history[-1].lr < result.history[0].lr  # the cosine schedule follows the clock


def test_epochs_bound_the_steps() -> None:
    result = train_text(TEXT, TrainConfig(epochs=2, patience=0, **SMALL))
    # 48 names, 43 for training after the 10% split, in batches of 8: 6 steps an epoch
    assert result.train_examples == 43
    assert result.iterations_done == 2 * 6 and result.stopped_by == "epochs"


def test_ctrl_c_returns_the_best_model_so_far() -> None:
    def interrupt(p: Progress) -> None:
        if p.iteration >= 20:
            raise KeyboardInterrupt

    result = train_text(TEXT, TrainConfig(iterations=1000, eval_every=10, **SMALL), interrupt)
    assert result.interrupted and result.iterations_done == 20 and result.val is not None


def test_float64_training() -> None:
    result = train_text(TEXT, TrainConfig(iterations=5, dtype="float64", **SMALL))
    assert all(w.dtype == np.float64 for w in result.model.params.values())


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(dropout=1.0),
        TrainConfig(optimizer="lbfgs"),
        TrainConfig(batching="shuffled"),
        TrainConfig(dtype="float16"),
        TrainConfig(time_budget=-1.0),
        TrainConfig(epochs=0.0),
        TrainConfig(clip=-1.0),
        TrainConfig(layers=0),
    ],
)
def test_bad_engine_configs_are_option_errors(cfg: TrainConfig) -> None:
    with pytest.raises(OptionError):
        train_text(TEXT, cfg)
