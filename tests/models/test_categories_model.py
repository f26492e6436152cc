"""The category embedding of a labelled recurrent model: its gradient (central differences,
float64), the fold that conditions a model on a category or a blend (the same logits as the
model fed the category), the prior blend a model reads with no category, and the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError, OptionError
from saurus.files.models import load, save
from saurus.generation.categories import blend, conditioned, one_hot, prior
from saurus.models.recurrent import CharModel
from saurus.protocol import START
from saurus.reference.gradcheck import numerical_gradient, relative_error

CATEGORIES = ("Irish", "Italian", "Korean")
COUNTS = np.array([5, 3, 2], dtype=np.int64)


def labelled_model(cell: str, layers: int, seed: int = 0, dtype: str = "float64") -> CharModel:
    model = CharModel.create(
        Vocab(tuple("\nabcd")),
        "lines",
        cell=cell,
        hidden=4,
        layers=layers,
        seed=seed,
        dtype=dtype,
        categories=CATEGORIES,
        category_counts=COUNTS,
    )
    rng = np.random.default_rng(seed + 1)
    for w in model.params.values():  # larger than the init, so every nonlinearity bends
        w += rng.normal(scale=0.5, size=w.shape).astype(w.dtype)
    return model


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2), ("rnn", 2)])
def test_the_category_gradient_matches_central_differences(cell: str, layers: int) -> None:
    model = labelled_model(cell, layers)
    rng = np.random.default_rng(3)
    ids, targets = rng.integers(0, 5, size=(5, 4)), rng.integers(0, 5, size=(5, 4))
    cats = np.array([2, 0, 2, 1])
    state = model.zero_state(4)
    _, _, _, fwd = model.loss(ids, targets, None, state, cats=cats)
    grads, _ = model.backward(fwd, targets, None)
    assert set(grads) == set(model.params)

    def loss() -> float:
        return model.loss(ids, targets, None, state, cats=cats)[0]

    for name in ("cat", "embed", "l0.b"):
        err = relative_error(grads[name], numerical_gradient(loss, model.params[name]))
        assert err < 1e-7, f"{cell} {name}: {err:.2e}"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_conditioned_model_computes_what_the_model_fed_the_category_does(cell: str) -> None:
    model = labelled_model(cell, 2)
    ids = np.random.default_rng(0).integers(0, 5, size=(6, 3))
    for k in range(len(CATEGORIES)):
        fed, _, _ = model.forward(ids, model.zero_state(3), cats=np.full(3, k))
        folded = model.conditioned(one_hot(k, 3))
        alone, _, _ = folded.forward(ids, folded.zero_state(3))
        np.testing.assert_allclose(alone, fed, atol=1e-12)
        assert not folded.categories and "cat" not in folded.params


def test_a_blend_mixes_the_embeddings_and_no_category_reads_as_the_prior_blend() -> None:
    model = labelled_model("lstm", 1)
    w = blend("Irish=0.7,Korean=0.3", CATEGORIES, COUNTS)
    np.testing.assert_allclose(w, [0.7, 0.0, 0.3])
    ids = np.random.default_rng(1).integers(0, 5, size=(4, 2))
    mixed = model.conditioned(w)
    assert np.allclose(mixed.params["l0.b"], model.params["l0.b"] + w @ model.params["cat"])
    plain, _, _ = model.forward(ids, model.zero_state(2))
    by_prior, _, _ = conditioned(model, None).forward(ids, model.zero_state(2))
    np.testing.assert_allclose(plain, by_prior, atol=1e-12)
    np.testing.assert_allclose(prior(COUNTS), COUNTS / COUNTS.sum())


def test_the_fused_stepper_of_a_labelled_lstm_runs_the_prior_blend() -> None:
    model = labelled_model("lstm", 2, dtype="float32")
    stepper = model.fused_stepper()
    assert stepper is not None
    prefix = np.array([1, 3, 2])
    node = stepper.root(prefix)
    logits, state = model.step(model.start(1), np.array([START]))
    for i in prefix:
        logits, state = model.step(state, np.array([i]))
    np.testing.assert_allclose(node.logits[:, 0], logits[0], atol=1e-4)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("Welsh", "unknown category 'Welsh'; the model's categories are: Irish, Italian, Korean"),
        ("Irish=x", "is not LABEL=WEIGHT"),
        ("Irish=-1", "is not LABEL=WEIGHT"),
        ("Irish=0,Italian=0", "sum to 0"),
        ("", "--category is empty"),
    ],
)
def test_a_bad_category_is_one_clear_error(spec: str, message: str) -> None:
    with pytest.raises(OptionError, match=message.replace("(", r"\(")):
        conditioned(labelled_model("gru", 1), spec)


def test_a_model_without_categories_refuses_one() -> None:
    plain = CharModel.create(Vocab(tuple("\nab")), "lines", hidden=3)
    assert conditioned(plain, None) is plain
    with pytest.raises(OptionError, match="not trained on labelled names"):
        conditioned(plain, "Irish")


def test_the_categories_round_trip_through_the_file(tmp_path: Path) -> None:
    model = labelled_model("gru", 2, dtype="float32")
    save(model, tmp_path / "m.saurus")
    back = load(tmp_path / "m.saurus")
    assert back.categories == CATEGORIES
    np.testing.assert_array_equal(back.category_counts, COUNTS)
    np.testing.assert_array_equal(back.params["cat"], model.params["cat"])


def test_a_file_with_damaged_categories_is_refused(tmp_path: Path) -> None:
    model = labelled_model("rnn", 1, dtype="float32")
    model.category_counts = np.array([1, 2], dtype=np.int64)  # one short
    save(model, tmp_path / "m.saurus")
    with pytest.raises(ModelFileError, match="category counts are malformed"):
        load(tmp_path / "m.saurus")


def test_a_label_holding_the_blend_signs_is_still_one_category() -> None:
    labels = ("a=b", "c,d")
    np.testing.assert_allclose(blend("a=b", labels, np.array([1, 1])), [1.0, 0.0])
    np.testing.assert_allclose(blend(" c,d ", labels, np.array([1, 1])), [0.0, 1.0])
