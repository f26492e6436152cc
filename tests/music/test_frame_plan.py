"""The frame planner: the rungs it picks from measured speeds, the data bound, what the
user gives, and sizing a real config on a few chorales."""

from __future__ import annotations

import numpy as np
import pytest

from saurus.music.frame_plan import (
    MEASURED,
    NOTES_RULES,
    ROLL_RULES,
    SIZES,
    dropout_for,
    lr_for,
    params,
    plan_frames,
    seconds_per_unit,
    work,
)

A, B = 1e-5, 8e-11  # seconds a unit = A + B W: a made-up machine near this one


def speeds(cell: str = "lstm", rules=NOTES_RULES) -> dict[tuple[int, int], float]:
    return {r: A + B * work(cell, *r, rules) for r in MEASURED}


def passes(rung: tuple[int, int], seconds: float, units: int, rules=NOTES_RULES) -> float:
    return seconds / ((A + B * work("lstm", *rung, rules)) * units)


def test_the_speed_line_goes_through_both_measured_points() -> None:
    cost = seconds_per_unit(speeds(), "lstm", NOTES_RULES)
    for rung in SIZES:
        w = work("lstm", *rung, NOTES_RULES)
        assert cost(w) == pytest.approx(A + B * w)


@pytest.mark.parametrize("seconds", [5.0, 30.0, 120.0, 600.0, 6000.0])
def test_the_plan_is_the_largest_rung_with_enough_passes(seconds: float) -> None:
    units = 60_000
    plan = plan_frames("lstm", units, seconds, NOTES_RULES, speeds())
    rules = NOTES_RULES
    fits = [
        r
        for r in SIZES
        if (
            passes(r, seconds, units) >= rules.min_passes
            or passes(r, seconds, units) * units >= rules.per_param * params("lstm", *r, rules)
        )
        and params("lstm", *r, rules) <= rules.max_params * units
    ]
    assert (plan.layers, plan.hidden) == (fits[-1] if fits else SIZES[0])
    assert plan.passes == pytest.approx(passes((plan.layers, plan.hidden), seconds, units))
    assert plan.lr == lr_for(plan.hidden, NOTES_RULES) and plan.dropout in (0.3, 0.4)


def test_more_time_never_plans_a_smaller_model() -> None:
    budgets = (10, 60, 120, 300, 600, 3000)
    sizes = [plan_frames("lstm", 60_000, s, NOTES_RULES, speeds()).hidden for s in budgets]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_little_data_bounds_the_size_however_long_the_run() -> None:
    units = 2_000
    plan = plan_frames("lstm", units, 1e6, NOTES_RULES, speeds())
    assert params("lstm", plan.layers, plan.hidden, NOTES_RULES) <= NOTES_RULES.max_params * units
    bigger = SIZES[SIZES.index((plan.layers, plan.hidden)) + 1]
    assert params("lstm", *bigger, NOTES_RULES) > NOTES_RULES.max_params * units


def test_what_the_user_gives_is_not_measured_and_stands() -> None:
    plan = plan_frames("lstm", 60_000, 600.0, NOTES_RULES, None, hidden=96)
    assert (plan.layers, plan.hidden, plan.passes) == (1, 96, None) and "given" in plan.lines[0]
    two = plan_frames("lstm", 60_000, 6000.0, NOTES_RULES, speeds(), layers=2)
    assert two.layers == 2
    one = plan_frames("lstm", 60_000, 6000.0, NOTES_RULES, speeds(), layers=1)
    assert (one.layers, one.hidden) == max(r for r in SIZES if r[0] == 1)


def test_dropout_rises_with_parameters_a_unit() -> None:
    assert dropout_for("lstm", 1, 64, 60_000, NOTES_RULES) == 0.3
    assert dropout_for("lstm", 2, 384, 60_000, NOTES_RULES) == 0.4
    assert lr_for(256, ROLL_RULES) == pytest.approx(ROLL_RULES.lr_256)
    assert lr_for(1024, NOTES_RULES) == pytest.approx(NOTES_RULES.lr_256 / 2)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["notes", "roll"])
def test_sizing_a_config_measures_and_keeps_what_was_given(kind: str) -> None:
    pytest.importorskip("torch")
    from saurus.music.frame_sizing import sized
    from saurus.music.frame_train import FrameTrainConfig
    from saurus.music.roll_train import RollConfig

    rng = np.random.default_rng(0)
    pieces = [rng.random((int(t), 88)) < 0.05 for t in rng.integers(8, 20, size=12)]
    config = RollConfig(engine="torch", budget_s=30.0) if kind == "roll" else FrameTrainConfig(budget_s=30.0)
    planned, plan = sized(config, pieces, {"dropout"}, timed=True)
    assert plan.passes is not None and "measuring two sizes took" in plan.lines[-1]
    assert planned.dropout == config.dropout  # given: it stands
    assert (planned.layers, planned.hidden) == (plan.layers, plan.hidden) and planned.lr == plan.lr
    assert 0 < planned.budget_s < 30.0
    kept, plan = sized(config, pieces, {"hidden"}, timed=True)
    assert kept.hidden == config.hidden and kept.budget_s == 30.0 and plan.passes is None


def test_the_roll_model_counts_frames() -> None:
    frames = 13_807  # JSB's training frames
    assert dropout_for("lstm", 1, 256, frames, ROLL_RULES) == 0.3
    assert dropout_for("lstm", 2, 384, frames, ROLL_RULES) == 0.4
    assert params("lstm", 2, 384, ROLL_RULES) <= ROLL_RULES.max_params * frames


def test_data_too_big_to_pass_over_often_plans_by_units_a_parameter() -> None:
    units = 3_000_000  # ids: far more than the run can read 40 times
    plan = plan_frames("lstm", units, 600.0, NOTES_RULES, speeds())
    assert plan.passes is not None and plan.passes < NOTES_RULES.min_passes
    size = params("lstm", plan.layers, plan.hidden, NOTES_RULES)
    assert plan.passes * units >= NOTES_RULES.per_param * size
    assert (plan.layers, plan.hidden) != SIZES[0]
