"""Apply the frame planner (saurus.music.frame_plan) to a training config: measure this
machine on the training pieces, plan, and fill in what the user left open.

`given` names the config fields the user set (hidden, layers, dropout, lr); those stand.
A run is measured only when its time budget bounds it and its size is open; the seconds
spent measuring come out of the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from saurus.music.frame_model import piece_ids
from saurus.music.frame_plan import EVAL_SHARE, MEASURED, NOTES_RULES, ROLL_RULES, FramePlan, plan_frames
from saurus.music.frame_train import FrameTrainConfig, measure_notes
from saurus.music.roll_train import RollConfig, measure_roll


def sized(
    config: FrameTrainConfig | RollConfig, train: Sequence[np.ndarray], given: set[str], timed: bool
) -> tuple[Any, FramePlan]:
    """`config` with its size, dropout and learning rate planned where not given, and
    its budget less the time spent measuring; the plan says why."""
    roll = isinstance(config, RollConfig)
    if not roll and config.family == "transformer":
        return config, FramePlan(
            config.layers, config.hidden, config.dropout, config.lr, None, ["not planned"]
        )
    rules = ROLL_RULES if roll else NOTES_RULES
    cell = config.cell if isinstance(config, RollConfig) else config.family
    units = sum(len(p) for p in train) if roll else sum(len(y) for y in piece_ids(train))
    measured, spent = None, 0.0
    if timed and "hidden" not in given:
        begin = time.perf_counter()
        measured = measure_roll(config, train, MEASURED) if roll else measure_notes(config, train, MEASURED)
        spent = time.perf_counter() - begin
    budget = max(1.0, config.budget_s - spent)
    plan = plan_frames(
        cell,
        units,
        budget * (1 - EVAL_SHARE),
        rules,
        measured,
        layers=config.layers if "layers" in given else None,
        hidden=config.hidden if "hidden" in given else None,
    )
    chosen = {"layers": plan.layers, "hidden": plan.hidden, "dropout": plan.dropout, "lr": plan.lr}
    chosen = {k: v for k, v in chosen.items() if k not in given}
    if spent:
        plan.lines.append(f"measuring two sizes took {spent:.1f} s of the budget")
    return replace(config, budget_s=budget, **chosen), plan
