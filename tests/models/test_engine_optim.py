"""Optimizers, clipping and schedules against their equations, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saurus.errors import OptionError
from saurus.models.optim import Optimizer, Schedule, clip_elementwise, clip_global_norm, global_norm


def one_param(value: float = 1.0) -> dict[str, np.ndarray]:
    return {"l0.Wh": np.array([value]), "l0.b": np.array([value])}


def test_adam_follows_the_bias_corrected_equations() -> None:
    params, opt = one_param(), Optimizer("adam")
    w, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate([0.5, -0.2, 0.9], start=1):
        opt.step(params, {"l0.Wh": np.array([g]), "l0.b": np.array([g])}, lr=0.1)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w -= 0.1 * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
        assert params["l0.Wh"][0] == pytest.approx(w, rel=1e-12)


def test_adamw_decays_matrices_but_not_biases() -> None:
    params = one_param(2.0)
    Optimizer("adamw", weight_decay=0.5).step(params, {k: np.zeros(1) for k in params}, lr=0.1)
    assert params["l0.Wh"][0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)
    assert params["l0.b"][0] == 2.0


def test_sgd_momentum_and_adagrad() -> None:
    params, opt = one_param(), Optimizer("sgd", momentum=0.9)
    opt.step(params, {k: np.array([1.0]) for k in params}, lr=0.1)
    opt.step(params, {k: np.array([1.0]) for k in params}, lr=0.1)
    assert params["l0.Wh"][0] == pytest.approx(1.0 - 0.1 * 1.0 - 0.1 * 1.9)
    params, opt = one_param(), Optimizer("adagrad")
    for g in (2.0, 1.0):
        opt.step(params, {k: np.array([g]) for k in params}, lr=0.1)
    assert params["l0.Wh"][0] == pytest.approx(1.0 - 0.1 * 2 / 2 - 0.1 * 1 / math.sqrt(5), rel=1e-7)


def test_clipping() -> None:
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}
    assert clip_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    small = {"a": np.array([0.1])}
    clip_global_norm(small, 1.0)
    assert small["a"][0] == 0.1  # below the limit: untouched
    grads = {"a": np.array([-7.0, 2.0, 9.0])}
    clip_elementwise(grads, 5.0)
    np.testing.assert_array_equal(grads["a"], [-5.0, 2.0, 5.0])


def test_schedules() -> None:
    cosine = Schedule(1.0, "cosine", warmup=0.1, min_ratio=0.1)
    assert cosine(0.05) == pytest.approx(0.51, abs=0.01)  # halfway through the warmup
    assert cosine(0.1) == pytest.approx(1.0)
    assert cosine(0.55) == pytest.approx(0.55)  # halfway down: (1 + 0.1) / 2
    assert cosine(1.0) == pytest.approx(0.1)
    step = Schedule(1.0, "step", gamma=0.5, drops=2)
    assert [step(p) for p in (0.0, 0.4, 0.7, 1.0)] == [1.0, 0.5, 0.25, 0.25]
    assert Schedule(0.3, "constant")(0.9) == 0.3
    with pytest.raises(OptionError):
        Schedule(1.0, "linear")
    with pytest.raises(OptionError):
        Optimizer("rmsprop")
