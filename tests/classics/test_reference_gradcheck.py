"""Float64 central-difference checks of every reference backward pass (relative error < 1e-7).

Each loss depends on every time step, through the hidden states (a random linear read-out)
and through the softmax head (cross-entropy on random targets), so gradients must flow
back through a (and the LSTM's c) across steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from saurus import reference as ref
from saurus.reference.activations import softmax
from saurus.reference.gradcheck import numerical_gradient, relative_error

TOL = 1e-7
N_X, N_A, N_Y, M, T = 3, 4, 5, 3, 4  # the cell tests' shapes


def random_shapes(count: int, seed: int = 2024) -> list[tuple[int, int, int, int, int]]:
    """(n_x, n_a, n_y, m, T) drawn at random, always with m > 1 and T > 1."""
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in rng.integers([1, 1, 2, 2, 2], [6, 7, 7, 5, 6])) for _ in range(count)]


GATES = {
    "rnn": ("Wax", "Waa", "ba"),
    "lstm": ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo"),
    "gru": ("Wz", "Wr", "Wc", "bz", "br", "bc"),
}


def make_params(
    kind: str, rng: np.random.Generator, n_x: int = N_X, n_a: int = N_A, n_y: int = N_Y
) -> dict[str, np.ndarray]:
    p: dict[str, np.ndarray] = {}
    for name in GATES[kind]:
        if name.startswith("b"):
            p[name] = rng.normal(size=(n_a, 1))
        elif kind == "rnn":
            p[name] = rng.normal(size=(n_a, n_x if name == "Wax" else n_a))
        else:
            p[name] = rng.normal(size=(n_a, n_a + n_x)) * 0.7
    head = ("Wya", "by") if kind == "rnn" else ("Wy", "by")
    p[head[0]], p[head[1]] = rng.normal(size=(n_y, n_a)), rng.normal(size=(n_y, 1))
    return p


def head_loss(y: np.ndarray, targets: np.ndarray) -> float:
    """Cross-entropy of probabilities y (n_y, m, ...) against targets (m, ...)."""
    picked = np.take_along_axis(y, targets[None], axis=0)
    return float(-np.log(picked).sum())


def head_grad(y: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """dL/dz for cross-entropy after softmax: y - one_hot(targets)."""
    dy = y.copy()
    np.put_along_axis(dy, targets[None], np.take_along_axis(dy, targets[None], axis=0) - 1, axis=0)
    return dy


def check(loss: Callable[[], float], wrt: dict[str, np.ndarray], analytic: dict[str, np.ndarray]) -> None:
    for name, array in wrt.items():
        err = relative_error(analytic[name], numerical_gradient(loss, array))
        assert err < TOL, f"d{name}: relative error {err:.2e}"


FORWARD = {"rnn": ref.rnn_forward, "lstm": ref.lstm_forward, "gru": ref.gru_forward}
BACKWARD = {"rnn": ref.rnn_backward, "lstm": ref.lstm_backward, "gru": ref.gru_backward}


def run_sequence(kind: str, x: np.ndarray, a0: np.ndarray, p: dict[str, np.ndarray]):
    out = FORWARD[kind](x, a0, p)
    return out[0], out[1], out[-1]  # a, y, caches


@pytest.mark.parametrize("shape", random_shapes(3))
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_sequence_backward_matches_central_differences(kind: str, shape: tuple[int, ...]) -> None:
    n_x, n_a, n_y, m, steps = shape
    rng = np.random.default_rng(sum(shape))
    x, a0 = rng.normal(size=(n_x, m, steps)), rng.normal(size=(n_a, m))
    p = make_params(kind, rng, n_x, n_a, n_y)
    read_out = rng.normal(size=(n_a, m, steps))
    targets = rng.integers(0, n_y, size=(m, steps))

    def loss() -> float:
        a, y, _ = run_sequence(kind, x, a0, p)
        return float((read_out * a).sum()) + head_loss(y, targets)

    _, y, caches = run_sequence(kind, x, a0, p)
    grads = BACKWARD[kind](read_out, caches, head_grad(y, targets))
    analytic = {"x": grads["dx"], "a0": grads["da0"], **{k: grads["d" + k] for k in p}}
    check(loss, {"x": x, "a0": a0, **p}, analytic)


CELLS = {
    "rnn": (ref.rnn_cell_forward, ref.rnn_cell_backward),
    "gru": (ref.gru_cell_forward, ref.gru_cell_backward),
}


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_cell_backward_matches_central_differences(kind: str) -> None:
    forward, backward = CELLS[kind]
    rng = np.random.default_rng({"rnn": 1, "gru": 3}[kind])
    xt, a_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M))
    p = make_params(kind, rng)
    read_out, targets = rng.normal(size=(N_A, M)), rng.integers(0, N_Y, size=M)

    def loss() -> float:
        a_next, y, _ = forward(xt, a_prev, p)
        return float((read_out * a_next).sum()) + head_loss(y, targets)

    _, y, cache = forward(xt, a_prev, p)
    g = backward(read_out, cache, head_grad(y, targets))
    analytic = {"xt": g["dxt"], "a_prev": g["da_prev"], **{k: g["d" + k] for k in p}}
    check(loss, {"xt": xt, "a_prev": a_prev, **p}, analytic)


def test_lstm_cell_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(2)
    xt, a_prev, c_prev = (rng.normal(size=s) for s in [(N_X, M), (N_A, M), (N_A, M)])
    p = make_params("lstm", rng)
    read_a, read_c = rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M))
    targets = rng.integers(0, N_Y, size=M)

    def loss() -> float:
        a_next, c_next, y, _ = ref.lstm_cell_forward(xt, a_prev, c_prev, p)
        return float((read_a * a_next).sum() + (read_c * c_next).sum()) + head_loss(y, targets)

    _, _, y, cache = ref.lstm_cell_forward(xt, a_prev, c_prev, p)
    g = ref.lstm_cell_backward(read_a, read_c, cache, head_grad(y, targets))
    analytic = {"xt": g["dxt"], "a_prev": g["da_prev"], "c_prev": g["dc_prev"], **{k: g["d" + k] for k in p}}
    check(loss, {"xt": xt, "a_prev": a_prev, "c_prev": c_prev, **p}, analytic)


def test_the_check_catches_the_published_lstm_defect() -> None:
    """Dropping dc between steps (the published notebook's bug) must fail the check."""
    rng = np.random.default_rng(4)
    x, a0 = rng.normal(size=(N_X, M, T)), rng.normal(size=(N_A, M))
    p = make_params("lstm", rng)
    read_out = rng.normal(size=(N_A, M, T))
    _, _, _, (caches, _) = ref.lstm_forward(x, a0, p)
    dWf_buggy = np.zeros_like(p["Wf"])
    da_prev = np.zeros((N_A, M))
    for t in reversed(range(T)):
        step = ref.lstm_cell_backward(read_out[:, :, t] + da_prev, np.zeros((N_A, M)), caches[t])
        da_prev = step["da_prev"]
        dWf_buggy += step["dWf"]

    def loss() -> float:
        return float((read_out * ref.lstm_forward(x, a0, p)[0]).sum())

    assert relative_error(dWf_buggy, numerical_gradient(loss, p["Wf"])) > 1e-3


def test_name_model_backward_matches_central_differences() -> None:
    rng = np.random.RandomState(5)
    V, n_a = 6, 4
    p = {
        "Wax": rng.randn(n_a, V),
        "Waa": rng.randn(n_a, n_a),
        "Wya": rng.randn(V, n_a),
        "b": rng.randn(n_a, 1),
        "by": rng.randn(V, 1),
    }
    a0 = rng.randn(n_a, 1)
    X, Y = [None, 2, 4, 1, 3], [2, 4, 1, 3, 0]

    def loss() -> float:
        return ref.name_forward(X, Y, a0, p)[0]

    _, cache = ref.name_forward(X, Y, a0, p)
    g, _ = ref.name_backward(X, Y, p, cache)
    check(loss, p, {k: g["d" + k] for k in p})


def test_softmax_is_a_distribution_per_column() -> None:
    z = np.array([[1000.0, 0.0], [1001.0, 1.0]])
    s = softmax(z)
    np.testing.assert_allclose(s.sum(axis=0), [1.0, 1.0])
    np.testing.assert_allclose(s[:, 0], s[:, 1])


def test_numerical_gradient_is_exact_on_a_polynomial() -> None:
    """The stencil is exact for polynomials up to degree 4: d/dw (w^4 + 3w^2) = 4w^3 + 6w."""
    w = np.array([0.5, -1.5, 2.0])
    grad = numerical_gradient(lambda: float((w**4 + 3 * w**2).sum()), w)
    np.testing.assert_allclose(grad, 4 * w**3 + 6 * w, rtol=1e-9)
    np.testing.assert_array_equal(w, [0.5, -1.5, 2.0])  # restored
