"""Every published value of shared/spec/REFERENCE.md, reproduced (rtol 1e-6 unless stated)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from saurus import reference as ref

RTOL = 1e-6
# Values printed to 8 decimals are known to +-5e-9 at best (0.00138482 is 0.0013848231).
PRINTED = 5e-9


def test_rnn_cell_forward_matches_published_values() -> None:
    rng = np.random.RandomState(1)
    xt, a_prev = rng.randn(3, 10), rng.randn(5, 10)
    p = {"Waa": rng.randn(5, 5), "Wax": rng.randn(5, 3), "Wya": rng.randn(2, 5)}
    p["ba"], p["by"] = rng.randn(5, 1), rng.randn(2, 1)
    a_next, yt_pred, _ = ref.rnn_cell_forward(xt, a_prev, p)
    assert_allclose(
        a_next[4],
        [
            0.59584544,
            0.18141802,
            0.61311866,
            0.99808218,
            0.85016201,
            0.99980978,
            -0.18887155,
            0.99815551,
            0.6531151,
            0.82872037,
        ],
        rtol=RTOL,
        atol=PRINTED,
    )
    assert_allclose(
        yt_pred[1],
        [
            0.9888161,
            0.01682021,
            0.21140899,
            0.36817467,
            0.98988387,
            0.88945212,
            0.36920224,
            0.9966312,
            0.9982559,
            0.17746526,
        ],
        rtol=RTOL,
        atol=PRINTED,
    )
    assert a_next.shape == (5, 10) and yt_pred.shape == (2, 10)


def test_rnn_forward_matches_published_values() -> None:
    rng = np.random.RandomState(1)
    x, a0 = rng.randn(3, 10, 4), rng.randn(5, 10)
    p = {"Waa": rng.randn(5, 5), "Wax": rng.randn(5, 3), "Wya": rng.randn(2, 5)}
    p["ba"], p["by"] = rng.randn(5, 1), rng.randn(2, 1)
    a, y_pred, caches = ref.rnn_forward(x, a0, p)
    assert_allclose(a[4][1], [-0.99999375, 0.77911235, -0.99861469, -0.99833267], rtol=RTOL, atol=PRINTED)
    assert_allclose(y_pred[1][3], [0.79560373, 0.86224861, 0.11118257, 0.81515947], rtol=RTOL, atol=PRINTED)
    assert a.shape == (5, 10, 4) and y_pred.shape == (2, 10, 4) and len(caches[0]) == 4


def lstm_parameters(rng: np.random.RandomState) -> dict[str, np.ndarray]:
    p = {}
    for gate in "fioc":
        p["W" + gate], p["b" + gate] = rng.randn(5, 8), rng.randn(5, 1)
    p["Wy"], p["by"] = rng.randn(2, 5), rng.randn(2, 1)
    return p


def test_lstm_cell_forward_matches_published_values() -> None:
    rng = np.random.RandomState(1)
    xt, a_prev, c_prev = rng.randn(3, 10), rng.randn(5, 10), rng.randn(5, 10)
    p = lstm_parameters(rng)
    a_next, c_next, yt_pred, _ = ref.lstm_cell_forward(xt, a_prev, c_prev, p)
    assert_allclose(
        a_next[4],
        [
            -0.66408471,
            0.0036921,
            0.02088357,
            0.22834167,
            -0.85575339,
            0.00138482,
            0.76566531,
            0.34631421,
            -0.00215674,
            0.43827275,
        ],
        rtol=RTOL,
        atol=PRINTED,
    )
    assert_allclose(
        c_next[2],
        [
            0.63267805,
            1.00570849,
            0.35504474,
            0.20690913,
            -1.64566718,
            0.11832942,
            0.76449811,
            -0.0981561,
            -0.74348425,
            -0.26810932,
        ],
        rtol=RTOL,
        atol=PRINTED,
    )
    assert_allclose(
        yt_pred[1],
        [
            0.79913913,
            0.15986619,
            0.22412122,
            0.15606108,
            0.97057211,
            0.31146381,
            0.00943007,
            0.12666353,
            0.39380172,
            0.07828381,
        ],
        rtol=RTOL,
        atol=PRINTED,
    )


def test_lstm_forward_matches_published_values() -> None:
    rng = np.random.RandomState(1)
    x, a0 = rng.randn(3, 10, 7), rng.randn(5, 10)
    p = lstm_parameters(rng)
    a, y, c, _ = ref.lstm_forward(x, a0, p)
    assert_allclose(a[4][3][6], 0.17211776753291672, rtol=RTOL)
    assert_allclose(y[1][4][3], 0.9508734618501101, rtol=RTOL)
    assert_allclose(c[1][2][1], -0.8555449167181982, rtol=RTOL)


def test_clip_matches_published_values_and_works_in_place() -> None:
    rng = np.random.RandomState(3)
    g = {
        "dWax": rng.randn(5, 3) * 10,
        "dWaa": rng.randn(5, 5) * 10,
        "dWya": rng.randn(2, 5) * 10,
        "db": rng.randn(5, 1) * 10,
        "dby": rng.randn(2, 1) * 10,
    }
    arrays = {k: v for k, v in g.items()}
    out = ref.clip(g, 10)
    assert out["dWaa"][1][2] == 10.0
    assert out["dWax"][3][1] == -10.0
    assert_allclose(out["dWya"][1][2], 0.2971381536101662, rtol=RTOL)
    assert_allclose(out["db"][4], [10.0], rtol=RTOL, atol=PRINTED)
    assert_allclose(out["dby"][1], [8.45833407], rtol=RTOL, atol=PRINTED)
    for key, array in arrays.items():
        assert out[key] is array, "clip must work in place"
        assert np.abs(array).max() <= 10.0


def test_sample_matches_published_indices() -> None:
    rng = np.random.RandomState(2)
    n_a = 100
    p = {"Wax": rng.randn(n_a, 27), "Waa": rng.randn(n_a, n_a), "Wya": rng.randn(27, n_a)}
    p["b"], p["by"] = rng.randn(n_a, 1), rng.randn(27, 1)
    char_to_ix = {c: i for i, c in enumerate("\nabcdefghijklmnopqrstuvwxyz")}
    indices = ref.sample(p, char_to_ix, 0)
    assert indices[:40] == [
        12,
        17,
        24,
        14,
        13,
        9,
        10,
        22,
        24,
        6,
        13,
        11,
        12,
        6,
        21,
        15,
        21,
        14,
        3,
        2,
        1,
        21,
        18,
        24,
        7,
        25,
        6,
        25,
        18,
        10,
        16,
        2,
        3,
        8,
        15,
        12,
        11,
        7,
        1,
        12,
    ]
    # no end token was drawn, so the sample stops at 50 characters and gets one appended
    assert len(indices) == 51 and indices[-1] == 0


def test_optimize_matches_published_values() -> None:
    rng = np.random.RandomState(1)
    V, n_a = 27, 100
    a_prev = rng.randn(n_a, 1)
    p = {"Wax": rng.randn(n_a, V), "Waa": rng.randn(n_a, n_a), "Wya": rng.randn(V, n_a)}
    p["b"], p["by"] = rng.randn(n_a, 1), rng.randn(V, 1)
    before = {k: v.copy() for k, v in p.items()}
    X, Y = [12, 3, 5, 11, 22, 3], [4, 14, 11, 22, 25, 26]
    loss, g, a_last = ref.optimize(X, Y, a_prev, p, learning_rate=0.01)
    assert_allclose(loss, 126.50397572165362, rtol=RTOL)
    assert_allclose(g["dWaa"][1][2], 0.19470931534720892, rtol=RTOL)
    assert np.argmax(g["dWax"]) == 93
    assert_allclose(g["dWya"][1][2], -0.007773876032003782, rtol=RTOL)
    assert_allclose(g["db"][4], [-0.06809825], rtol=RTOL, atol=PRINTED)
    assert_allclose(g["dby"][1], [0.01538192], rtol=RTOL, atol=PRINTED)
    assert_allclose(a_last[4], [-1.0], rtol=RTOL, atol=PRINTED)
    for key in ("Wax", "Waa", "Wya", "b", "by"):  # the SGD step really happened
        assert_allclose(p[key], before[key] - 0.01 * g["d" + key], rtol=1e-12)


def test_initial_loss_and_smoothing() -> None:
    assert_allclose(ref.get_initial_loss(27, 7), -np.log(1 / 27) * 7)
    assert_allclose(ref.smooth(10.0, 20.0), 10.01)
