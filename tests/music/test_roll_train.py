"""Training the piano-roll model: both engines lower the validation NLL of a tiny synthetic
set, the kept weights are the best epoch's, and transposition keeps notes on the keys."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from saurus.errors import DataError, OptionError
from saurus.models.roll import KEYS, pad_rolls
from saurus.music import roll_train
from saurus.music.chunks import chunked
from saurus.music.roll_train import (
    RollConfig,
    augmented,
    evaluate_roll,
    new_roll_model,
    opening_rates,
    shift_range,
    train_roll,
    transpose,
)


def chorale(start: int, length: int, root: int) -> np.ndarray:
    """A piece cycling through four chords: learnable from the previous frame alone."""
    roll = np.zeros((length, KEYS), dtype=bool)
    for t in range(length):
        chord = (start + t) % 4
        roll[t, [root + 2 * chord, root + 4 + 2 * chord, root + 7 + 2 * chord]] = True
    return roll


TRAIN = [chorale(s % 4, 12 + s, 30 + 2 * (s % 3)) for s in range(8)]
VALID = [chorale(s + 1, 10, 30 + 2 * s) for s in range(3)]


@pytest.mark.parametrize("engine", ["numpy", pytest.param("torch", marks=pytest.mark.torch)])
def test_a_short_run_lowers_the_validation_nll(engine: str) -> None:
    if engine == "torch":
        pytest.importorskip("torch")
    config = RollConfig(
        engine=engine, hidden=16, dropout=0.1, lr=2e-2, batch=4, max_epochs=10, max_shift=0, seed=1
    )
    rows: list[dict[str, float]] = []
    result = train_roll(TRAIN, VALID, config, on_epoch=rows.append)
    assert len(rows) == result.epochs == 10
    first = rows[0]["valid_all"]
    assert result.valid["all"] < 0.6 * first, (first, result.valid)
    assert result.valid["all"] == min(r["valid_all"] for r in rows)
    assert rows[result.best_epoch - 1]["valid_all"] == result.valid["all"]
    again = evaluate_roll(result.model, VALID)  # the kept weights score what was recorded
    assert again["all"] == pytest.approx(result.valid["all"], rel=1e-5)
    assert again["skip-first"] == pytest.approx(result.valid["skip-first"], rel=1e-5)


def test_the_same_seed_trains_the_same_weights() -> None:
    config = RollConfig(hidden=8, dropout=0.2, batch=3, max_epochs=2, max_shift=3, seed=5)
    a, b = train_roll(TRAIN, VALID, config), train_roll(TRAIN, VALID, config)
    for name, w in a.model.params.items():
        np.testing.assert_array_equal(w, b.model.params[name])


def test_patience_stops_training_and_the_lr_decays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roll_train, "score", lambda *_: {"all": 5.0, "skip-first": 5.0})
    rows: list[dict[str, float]] = []
    stalled = RollConfig(hidden=4, lr=1e-3, max_epochs=50, patience=3, decay=0.5, decay_after=2)
    result = train_roll(TRAIN, VALID, stalled, on_epoch=rows.append)
    assert (result.epochs, result.best_epoch) == (4, 1)
    assert [r["lr"] for r in rows] == [1e-3, 1e-3, 1e-3, 5e-4]


def test_ctrl_c_ends_the_run_with_the_best_epoch_so_far() -> None:
    config = RollConfig(hidden=8, lr=2e-2, batch=4, max_epochs=50, patience=50, seed=1)
    rows: list[dict[str, float]] = []

    def on_epoch(row: dict[str, float]) -> None:
        rows.append(row)
        if row["epoch"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # recorded; delivered once the epoch is judged

    result = train_roll(TRAIN, VALID, config, on_epoch=on_epoch)
    assert result.interrupted and result.epochs == len(rows) == 3
    assert result.valid["all"] == min(r["valid_all"] for r in rows)
    assert evaluate_roll(result.model, VALID) == pytest.approx(result.valid, rel=1e-6)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_before_the_first_epoch_ends_keeps_the_weights_of_the_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = roll_train.trainee_for

    def interrupted_trainee(*args: Any) -> Any:
        trainee = made(*args)
        step = trainee.train_batch

        def train_batch(*batch: Any) -> float:
            os.kill(os.getpid(), signal.SIGINT)
            return step(*batch)

        trainee.train_batch = train_batch
        return trainee

    monkeypatch.setattr(roll_train, "trainee_for", interrupted_trainee)
    rows: list[dict[str, float]] = []
    result = train_roll(TRAIN, VALID, RollConfig(hidden=8, batch=4, seed=1), on_epoch=rows.append)
    assert result.interrupted and rows == [] and (result.epochs, result.best_epoch) == (1, 1)
    assert evaluate_roll(result.model, VALID) == pytest.approx(result.valid, rel=1e-6)


def test_the_opening_is_fit_on_the_first_frames_by_hand() -> None:
    a, b, c = (np.zeros((2, KEYS), dtype=bool) for _ in range(3))
    a[0, 10] = b[0, 10] = c[0, 20] = True
    a[1, 5] = True  # a later frame: only in the prior
    rates = np.full(KEYS, 0.1)
    q = opening_rates([a, b, c], rates, prior=2.0)
    assert q[10] == pytest.approx((2 + 0.2) / 5) and q[20] == pytest.approx((1 + 0.2) / 5)
    assert q[5] == q[0] == pytest.approx(0.2 / 5)
    model = new_roll_model(RollConfig(hidden=4), TRAIN)
    want = opening_rates(TRAIN, (np.concatenate(TRAIN).sum(axis=0) + 0.5) / (sum(map(len, TRAIN)) + 1.0))
    np.testing.assert_allclose(1 / (1 + np.exp(-model.params["first.b"])), np.clip(want, 1e-4, 1), rtol=1e-5)
    assert not new_roll_model(RollConfig(hidden=4, opening=False), TRAIN).opening


@pytest.mark.parametrize("engine", ["numpy", pytest.param("torch", marks=pytest.mark.torch)])
def test_training_leaves_the_opening_as_it_was_fit(engine: str) -> None:
    if engine == "torch":
        pytest.importorskip("torch")
    config = RollConfig(engine=engine, hidden=8, lr=2e-2, batch=4, max_epochs=3, max_shift=4, seed=2)
    result = train_roll(TRAIN, VALID, config)
    fit = new_roll_model(config, TRAIN)
    np.testing.assert_allclose(result.model.params["first.b"], fit.params["first.b"], rtol=1e-6)
    assert not np.allclose(result.model.params["head.b"], fit.params["head.b"])


def test_transposition_keeps_every_note_on_the_keys() -> None:
    piece = np.zeros((3, KEYS), dtype=bool)
    piece[0, 2], piece[2, 80] = True, True
    assert shift_range(piece, 12) == (-2, 7)
    assert shift_range(np.zeros((2, KEYS), dtype=bool), 12) == (0, 0)
    assert np.flatnonzero(transpose(piece, -2).any(axis=0)).tolist() == [0, 78]
    with pytest.raises(ValueError):
        transpose(piece, 8)
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(200):
        (moved,) = augmented([piece], 12, rng)
        keys = np.flatnonzero(moved.any(axis=0))
        assert moved.sum() == 2 and keys[1] - keys[0] == 78
        shifts.add(int(keys[0]) - 2)
    assert shifts == set(range(-2, 8))


def test_bad_settings_and_data_are_refused() -> None:
    with pytest.raises(OptionError):
        train_roll(TRAIN, VALID, RollConfig(engine="jax"))
    with pytest.raises(DataError, match="validation"):
        train_roll(TRAIN, [], RollConfig())
    with pytest.raises(DataError, match="training piece 1"):
        train_roll([np.zeros((4, 12), bool)], VALID, RollConfig())


@pytest.mark.parametrize("engine", ["numpy", pytest.param("torch", marks=pytest.mark.torch)])
def test_the_average_is_the_moving_mean_of_the_weights_by_hand(engine: str) -> None:
    if engine == "torch":
        pytest.importorskip("torch")
    plain_config = RollConfig(engine=engine, hidden=5, dropout=0.0, lr=1e-2, seed=3, average=0.0)
    averaged_config = replace(plain_config, average=0.5)
    plain = roll_train.trainee_for(new_roll_model(plain_config, TRAIN), plain_config)
    averaged = roll_train.trainee_for(new_roll_model(plain_config, TRAIN), averaged_config)
    want = {k: w.astype(np.float64) for k, w in plain.snapshot().params.items()}
    rng = np.random.default_rng(0)
    for n, start in enumerate((0, 4, 2), 1):
        rolls, lengths = pad_rolls(TRAIN[start : start + 3])
        assert plain.train_batch(rolls, lengths, rng) == pytest.approx(
            averaged.train_batch(rolls, lengths, rng)
        )
        rate = 1 - min(0.5, (1 + n) / (10 + n))  # 1 - 2/11, then 1 - 3/12, then 1/2
        for name, w in plain.snapshot().params.items():
            want[name] += rate * (w - want[name])
    got = averaged.snapshot()
    for name, w in want.items():
        np.testing.assert_allclose(got.params[name], w, rtol=1e-5, atol=1e-6, err_msg=name)
    valid, lengths = pad_rolls(VALID)
    np.testing.assert_allclose(
        averaged.log_likelihoods(valid, lengths), got.log_likelihoods(valid), rtol=1e-5, atol=1e-5
    )
    averaged.restore(plain.snapshot())  # both the weights and their average
    for name, w in plain.snapshot().params.items():
        np.testing.assert_allclose(averaged.snapshot().params[name], w, rtol=1e-6, err_msg=name)


def test_long_pieces_train_in_chunks_but_validate_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    long = [chorale(0, 300, 30), chorale(1, 40, 32)]
    pieces = chunked(long, 128)
    assert [len(p) for p in pieces] == [100, 100, 100, 40] and pieces[3] is long[1]
    np.testing.assert_array_equal(np.concatenate(pieces[:3]), long[0])
    made, seen = roll_train.trainee_for, []

    def counting(*args: Any) -> Any:
        trainee = made(*args)
        step = trainee.train_batch

        def train_batch(rolls: np.ndarray, lengths: np.ndarray, rng: Any) -> float:
            seen.extend(lengths.tolist())
            return step(rolls, lengths, rng)

        trainee.train_batch = train_batch
        return trainee

    monkeypatch.setattr(roll_train, "trainee_for", counting)
    result = train_roll(long, [chorale(2, 300, 30)], RollConfig(hidden=4, batch=1, max_epochs=1, max_shift=0))
    assert sorted(seen) == [40, 100, 100, 100]
    want = evaluate_roll(result.model, [chorale(2, 300, 30)])  # scored whole: 300 frames
    assert result.valid == pytest.approx(want, rel=1e-6)


def test_the_budget_cuts_an_epoch_short_and_keeps_time_for_its_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    made = roll_train.trainee_for

    def timed_trainee(*args: Any) -> Any:
        trainee = made(*args)
        step = trainee.train_batch

        def train_batch(*a: Any) -> float:
            now[0] += 1.0  # a step costs a second
            return step(*a)

        trainee.train_batch = train_batch
        return trainee

    def slow_score(*_: Any) -> dict[str, float]:
        now[0] += 5.0  # an evaluation five
        return {"all": 5.0 - now[0] / 100, "skip-first": 5.0}

    monkeypatch.setattr(roll_train, "trainee_for", timed_trainee)
    monkeypatch.setattr(roll_train, "score", slow_score)
    config = RollConfig(hidden=4, batch=1, max_epochs=50, budget_s=30, max_shift=0)
    result = train_roll(TRAIN, VALID, config, clock=lambda: now[0])
    # 8 pieces an epoch: epoch 1 ends at 8 s and is evaluated by 13; epoch 2 is cut once
    # 13 + k + 5 >= 30 (k = 12 steps, more than an epoch: so it ends whole at 21, evaluated
    # by 26); epoch 3 is cut at its first step (27 + 5 >= 30) and evaluated by 32
    assert [round(r["seconds"]) for r in result.history] == [13, 26, 32]
    assert result.epochs == 3 and result.seconds <= config.budget_s + 5
