"""Central-difference checks of the engine's backward pass in float64 (relative error < 1e-7):
every weight of stacked layers, with padding masks, dropout, and a carried state that
enters the first step and leaves the last (a random read-out of the final state)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import gradcheck_setup as setup

from saurus.reference.gradcheck import numerical_gradient, relative_error

TOL = 1e-7


def total_loss(model, ids, targets, mask, state, readout, dropout_seed):
    rng = None if model.dropout == 0 else np.random.default_rng(dropout_seed)
    loss, _, final, _ = model.loss(ids, targets, mask, state, rng)
    return loss + sum(
        float((f * r).sum())
        for fs, rs in zip(final, readout, strict=False)
        for f, r in zip(fs, rs, strict=False)
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,use_mask,dropout", [(1, False, 0.0), (3, True, 0.0), (2, True, 0.4)])
def test_engine_gradients(cell: str, layers: int, use_mask: bool, dropout: float) -> None:
    model, ids, targets, mask, state, readout = setup(
        cell, layers, seed=layers * 7 + len(cell), dropout=dropout
    )
    mask = mask if use_mask else None
    rng = None if dropout == 0 else np.random.default_rng(5)
    _, _, _, fwd = model.loss(ids, targets, mask, state, rng)
    grads, dstate0 = model.backward(fwd, targets, mask, dstate=readout)

    def loss() -> float:
        return total_loss(model, ids, targets, mask, state, readout, 5)

    assert set(grads) == set(model.params)
    for name, w in model.params.items():
        err = relative_error(grads[name], numerical_gradient(loss, w))
        assert err < TOL, f"{cell} {name}: {err:.2e}"
    for k, layer_state in enumerate(state):
        for j, s in enumerate(layer_state):
            err = relative_error(dstate0[k][j], numerical_gradient(loss, s))
            assert err < TOL, f"{cell} initial state {k}.{j}: {err:.2e}"


def test_padding_does_not_change_the_loss_or_the_gradients() -> None:
    """A padded batch gives the same loss and gradients as the real characters alone."""
    model, ids, targets, mask, state, _ = setup("lstm", 2, seed=3)
    zero = [tuple(np.zeros_like(s) for s in layer) for layer in state]
    padded_ids, padded_targets = ids.copy(), targets.copy()
    padded_ids[mask == 0], padded_targets[mask == 0] = 1, 2
    other_ids = ids.copy()
    other_ids[mask == 0] = 3
    loss_a, count, _, fa = model.loss(padded_ids, padded_targets, mask, zero)
    loss_b, _, _, fb = model.loss(other_ids, targets, mask, zero)
    ga, _ = model.backward(fa, padded_targets, mask)
    gb, _ = model.backward(fb, targets, mask)
    assert count == int(mask.sum())
    assert loss_a == pytest.approx(loss_b, abs=1e-14)
    for name in ga:
        np.testing.assert_allclose(ga[name], gb[name], atol=1e-14)
