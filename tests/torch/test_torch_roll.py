"""The piano-roll model in torch: the NumPy model's NLL on the same weights, padding that
never enters, and weights that go NumPy -> torch -> NumPy unchanged."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from saurus.errors import OptionError  # noqa: E402
from saurus.models.roll import KEYS, RollModel, pad_rolls  # noqa: E402
from saurus.training.backends.torch.roll import masked_nll, roll_from_numpy, roll_to_numpy  # noqa: E402

CASES = [
    ("lstm", "cho", 1, False),
    ("lstm", "cho", 2, True),
    ("gru", "torch", 2, False),
    ("rnn", "cho", 1, True),
]


def numpy_model(
    cell: str, convention: str, layers: int, opening: bool = False, dtype: str = "float64"
) -> RollModel:
    m = RollModel.create(
        cell=cell,
        hidden=6,
        layers=layers,
        dropout=0.3,
        seed=2,
        dtype=dtype,
        convention=convention,
        first_rates=np.linspace(0.01, 0.5, KEYS) if opening else None,
    )
    rng = np.random.default_rng(3)
    for w in m.params.values():
        w += rng.normal(0, 0.2, w.shape).astype(w.dtype)
    return m


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    return pad_rolls([rng.random((t, KEYS)) < 0.1 for t in (6, 2, 4)], np.float64)


@pytest.mark.parametrize("cell,convention,layers,opening", CASES)
@pytest.mark.parametrize("skip_first", [False, True])
def test_torch_nll_equals_numpy(
    cell: str, convention: str, layers: int, opening: bool, skip_first: bool
) -> None:
    m = numpy_model(cell, convention, layers, opening, "float32")
    rolls, lengths = batch()
    want, _, _ = m.loss(rolls.astype(np.float32), lengths, skip_first=skip_first)
    net = roll_from_numpy(m).eval()
    padded = rolls.transpose(1, 0, 2).astype(np.float32).copy()
    padded[1, 2:] = np.nan  # padding never enters
    with torch.no_grad():
        got = masked_nll(net, torch.from_numpy(padded), torch.from_numpy(lengths), skip_first)
    assert float(got) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("cell,convention,layers,opening", CASES)
def test_numpy_torch_numpy_round_trips(cell: str, convention: str, layers: int, opening: bool) -> None:
    m = numpy_model(cell, convention, layers, opening)
    back = roll_to_numpy(roll_from_numpy(m), dtype="float64")
    assert (back.cell, back.hidden, back.layers, back.dropout, back.convention) == (
        cell,
        6,
        layers,
        0.3,
        convention,
    )
    assert set(back.params) == set(m.params)
    for name, w in m.params.items():
        np.testing.assert_allclose(back.params[name], w, rtol=0, atol=1e-15, err_msg=name)


def test_a_cho_gru_cannot_run_in_torch() -> None:
    with pytest.raises(OptionError, match="Cho"):
        roll_from_numpy(numpy_model("gru", "cho", 1))
