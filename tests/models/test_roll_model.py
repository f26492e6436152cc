"""The piano-roll model: central-difference gradients in float64, padding that never
enters, seeded sampling, and its model file (round trip; damage refused in one line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saurus.errors import ModelFileError, OptionError
from saurus.files.model_file import load_model_file, save_model_file
from saurus.files.roll import load_roll, save_roll
from saurus.models.roll import KEYS, RollModel, frame_nll, pad_rolls
from saurus.reference.gradcheck import numerical_gradient, relative_error

TOL = 1e-7


def pieces(seed: int, lengths: tuple[int, ...], density: float = 0.1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((t, KEYS)) < density for t in lengths]


def model(
    cell: str = "lstm", layers: int = 1, dropout: float = 0.0, convention: str = "cho", opening: bool = False
) -> RollModel:
    m = RollModel.create(
        cell=cell,
        hidden=3,
        layers=layers,
        dropout=dropout,
        seed=4,
        dtype="float64",
        convention=convention,
        first_rates=np.full(KEYS, 0.2) if opening else None,
    )
    rng = np.random.default_rng(9)
    for w in m.params.values():  # biases off zero, so every gradient is exercised
        w += rng.normal(0, 0.3, w.shape)
    return m


@pytest.mark.parametrize(
    "cell,convention,layers,dropout,skip,opening",
    [
        ("lstm", "cho", 1, 0.0, False, False),
        ("lstm", "cho", 2, 0.4, True, False),
        ("gru", "cho", 1, 0.0, False, False),
        ("gru", "torch", 2, 0.0, False, False),
        ("rnn", "cho", 2, 0.3, False, False),
        ("lstm", "cho", 2, 0.3, False, True),
        ("gru", "torch", 1, 0.0, True, True),
    ],
)
def test_gradients(
    cell: str, convention: str, layers: int, dropout: float, skip: bool, opening: bool
) -> None:
    m = model(cell, layers, dropout, convention, opening)
    rolls, lengths = pad_rolls(pieces(1, (4, 2, 3)), np.float64)
    rolls[3:, 1] = np.nan  # padding: never read
    rng = (lambda: np.random.default_rng(5)) if dropout else (lambda: None)
    _, count, fwd = m.loss(rolls, lengths, rng(), skip)
    grads = m.backward(fwd, rolls, lengths, skip)
    assert count == (6 if skip else 9)
    assert set(grads) == set(m.params)

    def loss() -> float:
        return m.loss(rolls, lengths, rng(), skip)[0]

    for name, w in m.params.items():
        numeric = numerical_gradient(loss, w)
        if not grads[name].any():  # first.b when the first frame is not scored: the stencil's rounding
            assert np.abs(numeric).max() < 1e-10, f"{cell} {name}"
            continue
        err = relative_error(grads[name], numeric)
        assert err < TOL, f"{cell} {name}: {err:.2e}"


def test_the_loss_is_the_binary_cross_entropy_by_hand() -> None:
    logits, y = np.array([[2.0, -1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]])
    sig = 1 / (1 + np.exp(-logits))
    want = -(y * np.log(sig) + (1 - y) * np.log(1 - sig)).sum()
    assert frame_nll(logits, y)[0] == pytest.approx(want, rel=1e-12)
    assert np.isfinite(frame_nll(np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]]))).all()


def test_a_padded_batch_scores_as_the_pieces_one_by_one() -> None:
    m = model("lstm", 2)
    ps = pieces(2, (5, 1, 3))
    rolls, lengths = pad_rolls(ps, np.float64)
    rolls[lengths[1] :, 1] = 1.0  # padding full of notes changes nothing
    ll = m.log_likelihoods(rolls)
    for b, piece in enumerate(ps):
        alone = m.log_likelihoods(pad_rolls([piece], np.float64)[0])[:, 0]
        np.testing.assert_allclose(ll[: len(piece), b], alone, rtol=1e-12)
    loss, count, fwd = m.loss(rolls, lengths)
    assert count == 9
    assert loss == pytest.approx(-sum(ll[: len(p), b].sum() for b, p in enumerate(ps)) / 9, rel=1e-12)
    grads = m.backward(fwd, rolls, lengths)
    clean, _ = pad_rolls(ps, np.float64)
    _, _, fwd_clean = m.loss(clean, lengths)
    for name, g in m.backward(fwd_clean, clean, lengths).items():
        np.testing.assert_allclose(grads[name], g, atol=1e-14)


def test_the_first_frame_comes_from_an_empty_frame() -> None:
    m = model("gru")
    piece = pieces(3, (3,))[0]
    first = m.log_likelihoods(pad_rolls([piece[:1]], np.float64)[0])[0, 0]
    assert m.log_likelihoods(pad_rolls([piece], np.float64)[0])[0, 0] == pytest.approx(first, rel=1e-12)
    logits, _ = m.step(m.zero_state(1), np.zeros((1, KEYS)))
    assert first == pytest.approx(-frame_nll(logits, piece[:1].astype(float))[0], rel=1e-12)


def test_an_opening_alone_predicts_the_first_frame() -> None:
    m = model("lstm", 2, opening=True)
    piece = pieces(3, (4,))[0].astype(float)
    q = 1 / (1 + np.exp(-m.params["first.b"]))
    by_hand = np.log(np.where(piece[0], q, 1 - q)).sum()
    ll = m.log_likelihoods(pad_rolls([piece], np.float64)[0])[:, 0]
    assert ll[0] == pytest.approx(by_hand, rel=1e-12)
    plain = RollModel({k: w for k, w in m.params.items() if k != "first.b"}, "lstm", 3, 2)
    np.testing.assert_allclose(ll[1:], plain.log_likelihoods(pad_rolls([piece], np.float64)[0])[1:, 0])
    m.params["head.W"] += 1.0  # the head moves every later frame, not the first
    moved = m.log_likelihoods(pad_rolls([piece], np.float64)[0])[:, 0]
    assert moved[0] == ll[0] and not np.allclose(moved[1:], ll[1:])
    m.params["first.b"][:] = 50.0  # every key certain: greedy sampling opens with all 88
    assert m.sample(2, 3, np.random.default_rng(0), temperature=0)[:, 0].all()
    assert m.sample(2, 3, np.random.default_rng(0))[:, 0].all()


def test_sampling_is_seeded_and_shaped() -> None:
    m = model("lstm", 2, dropout=0.5)
    a = m.sample(3, 7, np.random.default_rng(1))
    b = m.sample(3, 7, np.random.default_rng(1))
    assert a.shape == (3, 7, KEYS) and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, m.sample(3, 7, np.random.default_rng(2)))
    greedy = m.sample(2, 5, np.random.default_rng(1), temperature=0)
    np.testing.assert_array_equal(greedy, m.sample(2, 5, np.random.default_rng(7), temperature=0))
    with pytest.raises(OptionError):
        m.sample(1, 5, np.random.default_rng(1), temperature=-1)


def test_note_rates_start_the_head_at_independent_notes() -> None:
    rates = np.full(KEYS, 0.1)
    m = RollModel.create(hidden=4, note_rates=rates)
    np.testing.assert_allclose(1 / (1 + np.exp(-m.params["head.b"])), rates, rtol=1e-5)


@pytest.mark.parametrize("opening", [False, True])
def test_the_file_round_trips(tmp_path: Path, opening: bool) -> None:
    m = model("gru", 2, 0.3, "torch", opening)
    save_roll(m, tmp_path / "m.saurus", extra={"valid_nll": 8.5})
    back, meta = load_roll(tmp_path / "m.saurus")
    assert (back.cell, back.hidden, back.layers, back.dropout, back.convention) == ("gru", 3, 2, 0.3, "torch")
    assert back.opening is opening and set(back.params) == set(m.params)
    assert meta["valid_nll"] == 8.5
    for name, w in m.params.items():
        np.testing.assert_array_equal(back.params[name], w)


@pytest.mark.parametrize(
    "damage,words",
    [
        (lambda meta, arrays: arrays.__setitem__("l0.Wh", arrays["l0.Wh"][:, :-1]), "l0.Wh"),
        (lambda meta, arrays: arrays["head.b"].__setitem__(0, np.nan), "NaN"),
        (lambda meta, arrays: arrays.pop("head.W"), "head.W"),
        (lambda meta, arrays: meta.__setitem__("hidden", -3), "hidden size"),
        (lambda meta, arrays: meta.__setitem__("cell", "transformer"), "unknown cell"),
        (lambda meta, arrays: meta.__setitem__("keys", 12), "88 piano keys"),
        (lambda meta, arrays: meta.__setitem__("kind", "engine"), "not a piano-roll"),
        (lambda meta, arrays: meta.__setitem__("opening", True), "first.b"),
        (lambda meta, arrays: meta.__setitem__("opening", "yes"), "opening"),
        (lambda meta, arrays: arrays.__setitem__("first.b", np.zeros(KEYS)), "unexpected arrays"),
    ],
)
def test_a_damaged_file_is_refused_in_one_line(tmp_path: Path, damage, words: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.saurus"
    save_roll(model(), path)
    record = load_model_file(path)
    meta = {k: v for k, v in record.meta.items() if k not in ("format", "version")}
    arrays = dict(record.arrays)
    damage(meta, arrays)
    save_model_file(path, meta, arrays)
    with pytest.raises(ModelFileError) as caught:
        load_roll(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    save_roll(model(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="not a saurus model file"):
        load_roll(path)
