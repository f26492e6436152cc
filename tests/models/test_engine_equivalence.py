"""The engine equals saurus.reference on the same weights, in float64, to 1e-10:
probabilities, loss and every gradient, for RNN, LSTM and GRU.

The reference works in columns (n, m, T) with one-hot inputs and separate gate matrices
acting on [a_prev; x]; the engine in rows (T, B, n) with gathered inputs and fused gates.
`to_engine` is the whole correspondence.
"""

from __future__ import annotations

import numpy as np
import pytest

from saurus import reference as ref
from saurus.data.vocab import Vocab
from saurus.models.recurrent import CharModel

TOL = 1e-10
ENGINE_GATES = {  # the engine's fused gate order, as reference weight suffixes
    "rnn": ("ax",),
    "lstm": ("i", "f", "o", "c"),
    "gru": ("z", "r", "c"),
}


def reference_params(cell: str, V: int, H: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p: dict[str, np.ndarray] = {}
    if cell == "rnn":
        p = {"Wax": rng.normal(size=(H, V)), "Waa": rng.normal(size=(H, H)), "ba": rng.normal(size=(H, 1))}
        p["Wya"] = rng.normal(size=(V, H))
    else:
        for g in ENGINE_GATES[cell]:
            p["W" + g] = rng.normal(size=(H, H + V)) * 0.7
            p["b" + g] = rng.normal(size=(H, 1))
        p["Wy"] = rng.normal(size=(V, H))
    p["by"] = rng.normal(size=(V, 1))
    return p


def to_engine(cell: str, p: dict[str, np.ndarray], V: int, H: int) -> dict[str, np.ndarray]:
    """Reference weights -> engine weights: transpose, split [a_prev; x], fuse the gates."""
    if cell == "rnn":
        return {
            "embed": p["Wax"].T.copy(),
            "l0.Wh": p["Waa"].T.copy(),
            "l0.b": p["ba"][:, 0].copy(),
            "head.W": p["Wya"].T.copy(),
            "head.b": p["by"][:, 0].copy(),
        }
    gates = ENGINE_GATES[cell]
    return {
        "embed": np.concatenate([p["W" + g][:, H:].T for g in gates], axis=1),
        "l0.Wh": np.concatenate([p["W" + g][:, :H].T for g in gates], axis=1),
        "l0.b": np.concatenate([p["b" + g][:, 0] for g in gates]),
        "head.W": p["Wy"].T.copy(),
        "head.b": p["by"][:, 0].copy(),
    }


def reference_run(
    cell: str, p: dict, x: np.ndarray, a0: np.ndarray, dy: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Probabilities (V, m, T) and the gradients from the reference, given dL/dscores."""
    if cell == "rnn":
        a, y, caches = ref.rnn_forward(x, a0, p)
        return y, ref.rnn_backward(np.zeros_like(a), caches, dy)
    if cell == "lstm":
        a, y, _, caches = ref.lstm_forward(x, a0, p)
        return y, ref.lstm_backward(np.zeros_like(a), caches, dy)
    a, y, caches = ref.gru_forward(x, a0, p)
    return y, ref.gru_backward(np.zeros_like(a), caches, dy)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("V,H,m,T", [(5, 4, 3, 6), (7, 9, 2, 3)])
def test_engine_equals_reference(cell: str, V: int, H: int, m: int, T: int) -> None:
    rng = np.random.default_rng(V * 100 + H)
    p = reference_params(cell, V, H, rng)
    ids = rng.integers(0, V, size=(T, m))
    targets = rng.integers(0, V, size=(T, m))
    a0 = rng.normal(size=(H, m))

    vocab = Vocab(tuple("abcdefghijk"[:V]))
    model = CharModel(to_engine(cell, p, V, H), vocab, "stream", False, cell, H, 1)
    state = [(a0.T.copy(),) if cell != "lstm" else (a0.T.copy(), np.zeros((m, H)))]
    loss, count, _, fwd = model.loss(ids, targets, None, state)
    grads, _ = model.backward(fwd, targets, None)

    x = np.zeros((V, m, T))
    x[ids.T, np.arange(m)[:, None], np.arange(T)] = 1.0
    onehot_y = np.zeros((V, m, T))
    onehot_y[targets.T, np.arange(m)[:, None], np.arange(T)] = 1.0
    probs_ref, _ = reference_run(cell, p, x, a0, np.zeros((V, m, T)))
    dy = (probs_ref - onehot_y) / (m * T)
    _, g_ref = reference_run(cell, p, x, a0, dy)

    probs = fwd.probs.reshape(T, m, V).transpose(2, 1, 0)
    np.testing.assert_allclose(probs, probs_ref, rtol=0, atol=TOL)
    loss_ref = -np.log((probs_ref * onehot_y).sum(axis=0)).mean()
    assert count == m * T
    assert abs(loss - loss_ref) < TOL
    expected = to_engine(cell, {k[1:]: v for k, v in g_ref.items() if k.startswith("d")}, V, H)
    for name, g in expected.items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=TOL, err_msg=f"{cell} d{name}")
