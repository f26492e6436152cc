"""Generation rules: no empty names, unique and novel names, streamed output, bounded
lengths, and one-line errors for every out-of-range number."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model, tiny_stream_model

import saurus.generation.sampling as sampling
from saurus.data.corpus import LinesCorpus
from saurus.errors import OptionError
from saurus.generation.sampling import (
    MAX_NAME_LEN,
    generate_lines,
    generate_text,
    generate_texts,
    iter_lines,
    iter_text,
    iter_texts,
)
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel
from saurus.protocol import SequenceModel
from saurus.training.loop import TrainConfig, train_text

DECODINGS = [{}, {"greedy": True}, {"top_k": 3}, {"top_p": 0.5}]
TRAINING = set(LinesCorpus.from_text(NAMES).examples)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def ending_model(kind: str, bias: float) -> SequenceModel:
    """A tiny lines model whose every step gives the end token an extra logit of `bias`."""
    if kind == "classic":
        model = tiny_lines_model()
        model.params["by"][model.vocab.eos_id] += bias
        return model
    vocab = LinesCorpus.from_text(NAMES).vocab()
    engine = CharModel.create(vocab, "lines", hidden=8, seed=0)
    engine.params["head.b"][vocab.eos_id] += bias
    return engine


class Unrecorded:
    """A model with no `seen` attribute at all: it steps as `model` does."""

    kind = "test"

    def __init__(self, model: ClassicRNN) -> None:
        self.vocab, self.mode, self.lowercase = model.vocab, model.mode, model.lowercase
        self.start, self.step = model.start, model.step


@pytest.fixture(scope="module")
def trained() -> CharModel:
    config = TrainConfig(
        engine="numpy",
        hidden=32,
        batch_size=4,
        iterations=300,
        lr=0.01,
        val_fraction=0,
        dropout=0.4,
        weight_decay=0,
    )
    return train_text(NAMES * 4, config).model


# --- 1. no empty names ---


@pytest.mark.parametrize("kind", ["classic", "engine"])
@pytest.mark.parametrize("decoding", DECODINGS)
def test_no_name_is_empty_even_when_the_end_token_dominates(kind: str, decoding: dict) -> None:
    model = ending_model(kind, 12.0)
    names = generate_lines(model, 2000, rng(), **decoding)
    assert len(names) == 2000 and all(names)
    # the end token still wins at once after the first character: the mask is what helps
    assert sum(len(name) == 1 for name in names) > 1900


def test_after_a_prefix_the_end_token_may_come_at_once() -> None:
    names = generate_lines(ending_model("classic", 12.0), 200, rng(), prefix="an")
    assert names.count("an") > 190


# --- 2. unique and novel names ---


def test_novel_names_are_new_and_never_repeat(trained: CharModel) -> None:
    plain = generate_lines(trained, 3000, rng())
    assert len(set(plain)) < 3000 and TRAINING & set(plain)  # the plain draw repeats and recites
    novel = generate_lines(trained, 3000, rng(), novel=True)
    assert len(novel) == 3000 and len(set(novel)) == 3000
    assert not TRAINING & set(novel)


def test_unique_names_never_repeat_across_batches(
    trained: CharModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampling, "MAX_BATCH", 50)
    batches = list(iter_lines(trained, 3000, rng(), unique=True))
    names = [name for batch in batches for name in batch]
    assert len(batches) > 10 and all(len(batch) <= 50 for batch in batches)
    assert len(names) == 3000 and len(set(names)) == 3000
    assert TRAINING & set(names)  # unique alone keeps the training names


def test_unique_effort_is_bounded_and_the_shortfall_returned() -> None:
    model = tiny_lines_model()
    # one-character names: only the vocabulary's letters can be drawn
    letters = generate_lines(model, 500, rng(), max_len=1, unique=True)
    assert 0 < len(letters) < model.vocab.size and len(set(letters)) == len(letters)
    assert all(len(name) == 1 for name in letters)
    # greedy draws the same name every time: one draw, one name
    assert len(generate_lines(model, 5, rng(), greedy=True, unique=True)) == 1


def test_novel_without_recorded_names_says_what_is_missing() -> None:
    blind = tiny_lines_model()
    blind.seen = np.zeros(0, dtype=np.uint64)
    with pytest.raises(OptionError, match="does not record the names it was trained on") as err:
        generate_lines(blind, 5, rng(), novel=True)
    assert "saurus train" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(OptionError, match="does not record"):
        generate_lines(Unrecorded(blind), 5, rng(), novel=True)


# --- 3. streamed output ---


@pytest.mark.parametrize("options", [{}, {"unique": True}, {"prefix": "an", "top_k": 4}])
def test_iter_lines_streams_what_generate_lines_returns(
    options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampling, "MAX_BATCH", 16)
    model = tiny_lines_model()
    batches = list(iter_lines(model, 100, rng(4), max_len=10, **options))
    assert len(batches) > 1 and all(0 < len(batch) <= 16 for batch in batches)
    whole = generate_lines(model, 100, rng(4), max_len=10, **options)
    assert [name for batch in batches for name in batch] == whole


def test_a_huge_request_streams_its_first_batch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "MAX_BATCH", 32)
    first = next(iter_lines(tiny_lines_model(), 10**15, rng()))
    assert len(first) == 32
    pieces = iter_text(tiny_stream_model(), 10**15, rng(), prefix="the ", chunk=100)
    assert [len(next(pieces)) for _ in range(3)] == [4, 100, 100]


def test_iter_text_is_generate_text_in_pieces() -> None:
    model = tiny_stream_model()
    pieces = list(iter_text(model, 1000, rng(2), prefix="the ", chunk=64, top_p=0.9))
    assert pieces[0] == "the " and [len(p) for p in pieces[1:]] == [64] * 15 + [40]
    assert "".join(pieces) == generate_text(model, 1000, rng(2), prefix="the ", top_p=0.9)
    assert next(iter_text(model, 5, rng(), chunk=64)) != ""  # no empty prefix piece


def test_generate_texts_of_one_equals_generate_text() -> None:
    model = tiny_stream_model()
    assert generate_texts(model, 1, 300, rng(5), prefix="the ") == [
        generate_text(model, 300, rng(5), prefix="the ")
    ]


def test_generate_texts_rows_are_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_stream_model()
    monkeypatch.setattr(sampling, "MAX_BATCH", 4)
    groups = list(iter_texts(model, 10, 40, rng(6), prefix="the "))
    assert [len(group) for group in groups] == [4, 4, 2]
    texts = [text for group in groups for text in group]
    assert texts == generate_texts(model, 10, 40, rng(6), prefix="the ")
    assert all(text.startswith("the ") and len(text) == 44 for text in texts)
    assert len(set(texts)) == 10


# --- 4. bounded lengths, and 5/6. one-line errors ---


def test_names_can_reach_the_longest_length() -> None:
    never_ends = ending_model("classic", -100.0)
    names = generate_lines(never_ends, 2, rng(), max_len=MAX_NAME_LEN)
    assert [len(name) for name in names] == [MAX_NAME_LEN] * 2


def test_an_absurd_max_len_is_refused_before_any_memory_is_taken() -> None:
    with pytest.raises(OptionError) as err:
        generate_lines(tiny_lines_model(), 3, rng(), max_len=1_000_000_000)
    assert "1000000000" in str(err.value) and "10000" in str(err.value)


def test_a_zero_temperature_points_to_greedy() -> None:
    with pytest.raises(OptionError, match="--greedy"):
        generate_lines(tiny_lines_model(), 3, rng(), temperature=0)


@pytest.mark.parametrize(
    "options",
    [
        {"n": 0},
        {"n": -3},
        {"n": 2**63},
        {"n": 2.5},
        {"max_len": 0},
        {"max_len": -1},
        {"max_len": MAX_NAME_LEN + 1},
        {"max_len": 7.5},
        {"temperature": 0.0},
        {"temperature": -1.0},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"temperature": 2**2000},
        {"top_k": -1},
        {"top_k": 2.5},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"top_p": float("nan")},
    ],
)
def test_bad_numbers_for_names_are_one_line_option_errors(options: dict) -> None:
    request = {"n": 3, **options}
    with pytest.raises(OptionError) as err:
        generate_lines(tiny_lines_model(), rng=rng(), **request)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("call", "options"),
    [
        ("text", {"length": 0}),
        ("text", {"length": -5}),
        ("text", {"length": 2**63}),
        ("text", {"length": 5, "chunk": 0}),
        ("texts", {"n": 0, "length": 5}),
        ("texts", {"n": 2**63, "length": 5}),
        ("texts", {"n": 2, "length": 0}),
        ("texts", {"n": 2, "length": -1}),
    ],
)
def test_bad_numbers_for_text_are_one_line_option_errors(call: str, options: dict) -> None:
    function = iter_text if call == "text" else iter_texts
    with pytest.raises(OptionError) as err:
        function(tiny_stream_model(), rng=rng(), **options)  # refused before the first piece
    assert "\n" not in str(err.value)


def test_a_top_k_above_the_vocabulary_is_no_limit() -> None:
    model = tiny_lines_model()
    a = generate_lines(model, 50, rng(8), top_k=10**6)
    assert a == generate_lines(model, 50, rng(8))


@pytest.mark.parametrize("temperature", [1e-300, 1e-40, 1e40, 1e300])
def test_extreme_temperatures_work_on_float32_models(temperature: float) -> None:
    model = ending_model("engine", 0.0)
    assert model.dtype == np.float32  # where T rounds to 0 or inf and logits / T is NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = generate_lines(model, 200, rng(), temperature=temperature, max_len=8)
    assert all(names)
    assert (len(set(names)) == 1) == (temperature < 1)  # a cold draw is greedy, a hot one uniform
