"""Training the classic model through the API (the engine: test_engine_training.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES

from saurus.errors import OptionError
from saurus.training.loop import Progress, TrainConfig, train_file, train_text

TEXT = NAMES * 3 + "olga\npia\nquinn\nrosa\nsven\ntom\numa\nvera\nwalt\nxena\nyara\nzeno\n"


def test_training_lowers_the_validation_loss_below_uniform() -> None:
    result = train_text(
        TEXT, TrainConfig(model="classic", hidden=16, iterations=3000, lr=0.02, val_fraction=0.25)
    )
    uniform = math.log(result.model.vocab.size)
    assert result.val is not None and result.val.nats < uniform - 0.5
    assert result.iterations_done == 3000 and not result.interrupted
    assert result.history[-1].train_nats < result.history[0].train_nats


def test_same_seed_same_model_and_split_seed_moves_the_split() -> None:
    cfg = TrainConfig(model="classic", hidden=8, iterations=200, seed=4)
    a, b = train_text(TEXT, cfg), train_text(TEXT, cfg)
    for key in a.model.params:
        np.testing.assert_array_equal(a.model.params[key], b.model.params[key])
    c = train_text(TEXT, TrainConfig(model="classic", hidden=8, iterations=200, seed=4, split_seed=1))
    assert c.val != a.val


def test_stream_training_learns() -> None:
    text = "to be or not to be, that is the question. " * 40
    result = train_text(text, TrainConfig(model="classic", mode="stream", hidden=32, iterations=600))
    assert result.val is not None and result.val.nats < 1.0


def test_ctrl_c_returns_the_model_trained_so_far() -> None:
    def interrupt(p: Progress) -> None:
        if p.iteration >= 40:
            raise KeyboardInterrupt

    result = train_text(
        TEXT, TrainConfig(model="classic", hidden=8, iterations=1000, eval_every=20), interrupt
    )
    assert result.interrupted and result.iterations_done == 40
    assert result.val is not None  # the partial model is still evaluated


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(model="classic", hidden=0),
        TrainConfig(model="classic", iterations=-1),
        TrainConfig(model="classic", lr=0.0),
        TrainConfig(model="classic", seq_len=0),
        TrainConfig(model="classic", mode="words"),
        TrainConfig(model="transformer", engine="numpy"),
    ],  # type: ignore[arg-type]
)
def test_bad_configs_are_option_errors(cfg: TrainConfig) -> None:
    with pytest.raises(OptionError):
        train_text(TEXT, cfg)


def test_dinos_reaches_the_classic_quality(dinos_path: Path) -> None:
    """10000 names of per-example SGD already beat a uniform guess by a wide margin."""
    result = train_file(dinos_path, TrainConfig(model="classic", iterations=10000, lowercase=True))
    assert result.val is not None and result.val.nats < 2.1


def test_diverged_weights_stop_training_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from saurus.errors import TrainingError
    from saurus.models.classic import ClassicRNN

    real_fit = ClassicRNN.fit_lines

    def poisoned(self, *args, **kwargs):  # the weights turn to NaN after the 30th name
        for i, step in enumerate(real_fit(self, *args, **kwargs)):
            if i == 30:
                self.params["Waa"][0, 0] = np.nan
            yield step

    monkeypatch.setattr(ClassicRNN, "fit_lines", poisoned)
    with pytest.raises(TrainingError, match=r"diverged by iteration 40.*lower --lr"):
        train_text(TEXT, TrainConfig(model="classic", hidden=8, iterations=100, eval_every=20))
