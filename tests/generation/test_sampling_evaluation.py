"""Generation and scoring on the classic model, checked against the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model, tiny_stream_model

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.errors import OptionError, VocabularyError
from saurus.generation.sampling import Decoding, draw, generate_lines, generate_text
from saurus.generation.scoring import LossReport, evaluate, log_softmax
from saurus.protocol import START
from saurus.reference.name_model import name_forward


def test_evaluate_equals_the_reference_loss_name_by_name() -> None:
    model = tiny_lines_model(hidden=6)
    corpus = LinesCorpus.from_text(NAMES)
    eos = model.vocab.eos_id
    zeros = np.zeros((model.hidden, 1))
    total = 0.0
    for name in corpus.examples:
        ids = model.vocab.encode(name).tolist()
        total += name_forward([None, *ids], [*ids, eos], zeros, model.params)[0]
    report = evaluate(model, corpus)
    assert report.chars == corpus.num_chars()
    np.testing.assert_allclose(report.total_nats, total, rtol=1e-12)


def test_stream_evaluation_equals_the_reference() -> None:
    model = tiny_stream_model()
    text = "the mat sat. "
    ids = model.vocab.encode(text).tolist()
    expected = name_forward([None, *ids[:-1]], ids, np.zeros((model.hidden, 1)), model.params)[0]
    report = evaluate(model, StreamCorpus(text))
    np.testing.assert_allclose(report.total_nats, expected, rtol=1e-12)
    assert report.chars == len(text)


def test_loss_report_units() -> None:
    r = LossReport(total_nats=20 * math.log(4), chars=20)
    assert r.nats == pytest.approx(math.log(4))
    assert r.bits == pytest.approx(2.0)
    assert r.perplexity == pytest.approx(4.0)
    assert LossReport(total_nats=8000.0, chars=10).perplexity == math.inf  # no OverflowError


def test_draw_follows_the_distribution() -> None:
    p = np.array([0.1, 0.6, 0.3])
    logits = np.tile(np.log(p), (30000, 1))
    counts = np.bincount(draw(logits, Decoding(1.0), np.random.default_rng(0)), minlength=3) / 30000
    np.testing.assert_allclose(counts, p, atol=0.01)
    hot = np.bincount(draw(logits, Decoding(0.5), np.random.default_rng(0)), minlength=3) / 30000
    sharpened = p**2 / (p**2).sum()  # T = 0.5 squares the probabilities
    np.testing.assert_allclose(hot, sharpened, atol=0.01)


def test_samples_are_repeatable_and_well_formed() -> None:
    model = tiny_lines_model()
    a = generate_lines(model, 20, np.random.default_rng(1), max_len=12)
    b = generate_lines(model, 20, np.random.default_rng(1), max_len=12)
    c = generate_lines(model, 20, np.random.default_rng(2), max_len=12)
    assert a == b and a != c
    for name in a:
        assert "\n" not in name and len(name) <= 12
        model.vocab.check(name)


def test_draw_survives_extreme_temperatures() -> None:
    logits = np.array([[0.0, 3.0, 1.0], [5.0, -2.0, 4.9]])
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(draw(logits, Decoding(1e-300), rng), [1, 0])
    assert set(draw(np.tile(logits[:1], (200, 1)), Decoding(1e300), rng).tolist()) == {0, 1, 2}


def test_many_names_come_in_bounded_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import saurus.generation.sampling as sampling

    monkeypatch.setattr(sampling, "MAX_BATCH", 7)
    names = generate_lines(tiny_lines_model(), 20, np.random.default_rng(0), max_len=8)
    assert len(names) == 20 and len(set(names)) > 1


def test_near_zero_temperature_is_greedy() -> None:
    model = tiny_lines_model(hidden=12, seed=3)
    for key in model.params:  # untrained weights of 0.01 give exact ties; make a clear winner
        model.params[key] = np.random.default_rng(9).normal(size=model.params[key].shape)
    names = generate_lines(model, 5, np.random.default_rng(0), temperature=1e-6, max_len=15)
    assert len(set(names)) == 1
    state, ids, greedy = model.start(1), np.array([START]), []
    for t in range(15):
        logits, state = model.step(state, ids)
        if t == 0:  # a name is never empty: the end token cannot come first
            logits[0, model.vocab.eos_id] = -np.inf
        ids = np.array([int(np.argmax(logits[0]))])
        if ids[0] == model.vocab.eos_id:
            break
        greedy.append(int(ids[0]))
    assert names[0] == model.vocab.decode(greedy)


def test_prefix_is_normalised_and_kept() -> None:
    model = tiny_lines_model()
    names = generate_lines(model, 10, np.random.default_rng(0), prefix="An", max_len=10)
    assert all(n.startswith("an") for n in names)


def test_prefix_conditions_the_stream() -> None:
    model = tiny_stream_model()
    text = generate_text(model, 30, np.random.default_rng(0), prefix="the ")
    assert text.startswith("the ") and len(text) == 34


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, OptionError, "positive"),
        ({"n": 3, "temperature": 0.0}, OptionError, "temperature"),
        ({"n": 3, "temperature": -1.0}, OptionError, "temperature"),
        ({"n": 3, "prefix": "an7"}, VocabularyError, "'7'"),
        ({"n": 3, "prefix": "a\nb"}, VocabularyError, "single line"),
        ({"n": 3, "prefix": "anna", "max_len": 4}, OptionError, "max-len"),
    ],
)
def test_bad_generation_requests(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        generate_lines(tiny_lines_model(), rng=np.random.default_rng(0), **kwargs)


def test_log_softmax_is_stable() -> None:
    out = log_softmax(np.array([[1000.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.0, -1000.0]])
