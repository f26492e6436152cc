"""Generation and scoring on engine models: decoding rules, --novel, score, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES

from saurus.data.corpus import LinesCorpus
from saurus.errors import ModelFileError, OptionError, VocabularyError
from saurus.files import models
from saurus.generation.novelty import name_hashes
from saurus.generation.sampling import Decoding, draw, generate_lines, generate_text
from saurus.generation.scoring import evaluate, score_strings, sequence_log_probs
from saurus.models.recurrent import CharModel
from saurus.training.loop import TrainConfig, train_text

LOGITS = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 20000))


def frequencies(how: Decoding) -> np.ndarray:
    ids = draw(LOGITS, how, np.random.default_rng(0))
    return np.bincount(ids, minlength=4) / len(ids)


def test_decoding_rules() -> None:
    np.testing.assert_allclose(frequencies(Decoding()), [0.5, 0.3, 0.15, 0.05], atol=0.01)
    np.testing.assert_allclose(frequencies(Decoding(top_k=2)), [0.625, 0.375, 0, 0], atol=0.01)
    # 0.5 + 0.3 < 0.85 <= 0.95: the three likeliest characters, renormalised
    np.testing.assert_allclose(
        frequencies(Decoding(top_p=0.85)), [0.5, 0.3, 0.15, 0] / np.float64(0.95), atol=0.01
    )
    np.testing.assert_array_equal(frequencies(Decoding(top_p=0.4)), [1, 0, 0, 0])
    np.testing.assert_array_equal(frequencies(Decoding(greedy=True)), [1, 0, 0, 0])
    np.testing.assert_array_equal(frequencies(Decoding(top_k=1, temperature=5.0)), [1, 0, 0, 0])
    for bad in (Decoding(top_k=-1), Decoding(top_p=0.0), Decoding(top_p=1.5), Decoding(temperature=0.0)):
        with pytest.raises(OptionError):
            bad.check()


@pytest.fixture(scope="module")
def names_model() -> CharModel:
    text = NAMES * 4
    return train_text(
        text, TrainConfig(hidden=32, batch_size=4, iterations=300, lr=0.01, val_fraction=0)
    ).model


def test_the_model_recites_and_novel_drops_what_it_recites(names_model: CharModel) -> None:
    training = set(LinesCorpus.from_text(NAMES).examples)
    plain = generate_lines(names_model, 200, np.random.default_rng(0))
    assert sum(name in training for name in plain) > 100  # twelve names, learnt by heart
    novel = generate_lines(names_model, 20, np.random.default_rng(0), novel=True, temperature=1.5)
    assert novel and not set(novel) & training
    greedy = generate_lines(names_model, 3, np.random.default_rng(0), greedy=True)
    assert len(set(greedy)) == 1 and greedy[0] in training
    assert all(
        n.startswith("jan") for n in generate_lines(names_model, 5, np.random.default_rng(1), prefix="jan")
    )


def test_novel_needs_the_seen_names(names_model: CharModel) -> None:
    blind = CharModel(**{**names_model.__dict__, "seen": np.zeros(0, dtype=np.uint64)})
    with pytest.raises(OptionError, match="does not record the names it was trained on"):
        generate_lines(blind, 5, np.random.default_rng(0), novel=True)


def test_scores_match_the_loss(names_model: CharModel) -> None:
    corpus = LinesCorpus(("anna", "kkkkk", "bob"))
    reports = score_strings(names_model, list(corpus.examples))
    total = sum(r.total_nats for r in reports)
    assert total == pytest.approx(evaluate(names_model, corpus).total_nats, rel=1e-6)
    assert [r.chars for r in reports] == [5, 6, 4]
    assert reports[0].nats < reports[1].nats  # a name it knows beats a name it cannot know
    with pytest.raises(VocabularyError, match="U\\+00E9"):
        score_strings(names_model, ["renée"])
    with pytest.raises(VocabularyError, match="single line"):
        score_strings(names_model, ["a\nb"])


def test_engine_step_equals_the_sequence_forward(names_model: CharModel) -> None:
    ids = np.array([[0, 0], [3, 5], [4, 1], [2, 2]])
    logits, _, _ = names_model.forward(ids, names_model.zero_state(2))
    state = names_model.start(2)
    for t in range(len(ids)):
        step_logits, state = names_model.step(state, ids[t])
        np.testing.assert_allclose(step_logits, logits[t], rtol=1e-5, atol=1e-6)
    targets = [np.array([3, 4, 2]), np.array([5, 1, 2])]
    manual = sequence_log_probs(names_model, targets)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = [log_p[np.arange(3), b, targets[b]].sum() for b in range(2)]
    np.testing.assert_allclose(manual, expected, rtol=1e-5)


def test_engine_model_files_round_trip(names_model: CharModel, tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    models.save(names_model, path)
    loaded = models.load(path)
    assert isinstance(loaded, CharModel) and loaded.cell == names_model.cell
    np.testing.assert_array_equal(loaded.seen, name_hashes(LinesCorpus.from_text(NAMES).examples))
    for key, w in names_model.params.items():
        np.testing.assert_array_equal(loaded.params[key], w)
    a = generate_lines(names_model, 5, np.random.default_rng(3))
    assert generate_lines(loaded, 5, np.random.default_rng(3)) == a
    meta, arrays = names_model.to_file()
    arrays["l0.Wh"] = arrays["l0.Wh"][:, :-1]
    from saurus.files.model_file import save_model_file

    save_model_file(path, meta, arrays)
    with pytest.raises(ModelFileError, match=r"l0\.Wh is missing or has the wrong shape"):
        models.load(path)


def test_stream_engine_generates_text() -> None:
    text = "abcabcabcabc " * 50
    cfg = TrainConfig(mode="stream", hidden=16, seq_len=12, batch_size=4, iterations=120, lr=0.02)
    model = train_text(text, cfg).model
    out = generate_text(model, 12, np.random.default_rng(0), prefix="ab", greedy=True)
    assert out == "ab" + "cab" * 4
    assert score_strings(model, ["abcabc"])[0].nats < score_strings(model, ["cbacba"])[0].nats
