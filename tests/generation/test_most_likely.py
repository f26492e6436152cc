"""--most-likely: the N most probable complete names, best first, found by uniform-cost
search; checked against brute-force enumeration of every name up to a small length."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model, tiny_stream_model

import saurus.generation.likely as likely
from saurus.data.corpus import LinesCorpus
from saurus.errors import OptionError
from saurus.files import models
from saurus.generation.likely import most_likely_names
from saurus.generation.novelty import hashes_of, name_hashes
from saurus.generation.scoring import score_strings
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel
from saurus.training.loop import TrainConfig, train_text

TRAINING = set(LinesCorpus.from_text(NAMES).examples)
VOCAB = LinesCorpus.from_text(NAMES).vocab()


@pytest.fixture(scope="module", params=["lstm", "gru", "classic"])
def model(request: pytest.FixtureRequest) -> SequenceModel:
    """A small trained model of each stepper kind (fused LSTM, model.step GRU, classic)."""
    if request.param == "classic":
        classic = tiny_lines_model()
        classic.seen = name_hashes(sorted(TRAINING))
        return classic
    config = TrainConfig(
        model=request.param, hidden=16, batch_size=4, iterations=150, lr=0.01, val_fraction=0
    )
    return train_text(NAMES * 4, config).model


def brute_force(model: SequenceModel, longest: int, prefix: str = "") -> list[tuple[str, float]]:
    """Every name of at most `longest` characters (prefix included), scored by score_strings,
    most probable first."""
    letters = [c for c in model.vocab.chars if c != "\n"]
    tails = range(0 if prefix else 1, longest - len(prefix) + 1)
    names = [prefix + "".join(p) for n in tails for p in itertools.product(letters, repeat=n)]
    logp = [-r.total_nats for r in score_strings(model, names)]
    return sorted(zip(names, logp, strict=True), key=lambda pair: -pair[1])


def assert_same(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [name for name, _ in found] == [name for name, _ in expected]
    np.testing.assert_allclose([p for _, p in found], [p for _, p in expected], rtol=1e-5, atol=1e-5)


def test_the_search_finds_the_brute_force_order(model: SequenceModel) -> None:
    expected = brute_force(model, 3)
    found = most_likely_names(model, 150, max_len=3)
    assert_same(found, expected[:150])
    assert found[0][1] > found[-1][1]


def test_a_prefix_and_a_longer_limit(model: SequenceModel) -> None:
    assert_same(most_likely_names(model, 40, prefix="an", max_len=5), brute_force(model, 5, "an")[:40])


def test_novel_leaves_out_the_training_names(model: SequenceModel) -> None:
    expected = [pair for pair in brute_force(model, 3) if pair[0] not in TRAINING][:60]
    found = most_likely_names(model, 60, max_len=3, novel=True)
    assert_same(found, expected)
    assert not {name for name, _ in found} & TRAINING


def test_a_model_that_recites_lists_its_names_first() -> None:
    config = TrainConfig(hidden=32, batch_size=4, iterations=300, lr=0.01, val_fraction=0)
    reciter = train_text(NAMES * 4, config).model
    top = [name for name, _ in most_likely_names(reciter, 12)]
    assert len(set(top) & TRAINING) >= 10
    new = most_likely_names(reciter, 12, novel=True)
    assert len(new) == 12 and not {name for name, _ in new} & TRAINING
    # a file from before chain hashes: training names are left out as they are given
    reciter.seen = np.unique(hashes_of(sorted(TRAINING)))
    # the same names; float32 BLAS rounds the last bits by the batch's shape
    assert_same(most_likely_names(reciter, 12, novel=True), new)


def test_fewer_names_exist_than_asked() -> None:
    model = tiny_lines_model()
    found = most_likely_names(model, 100, max_len=1)
    assert sorted(name for name, _ in found) == sorted(set(NAMES) - {"\n"})


def test_a_transformer_is_searched_by_recomputing_its_nodes() -> None:
    transformer = TransformerModel.create(VOCAB, "lines", d_model=8, layers=1, heads=2, context=16, seed=1)
    transformer.params["head.W"] = transformer.params["head.W"] * 40.0
    assert_same(most_likely_names(transformer, 30, max_len=3), brute_force(transformer, 3)[:30])


def test_past_the_memory_budget_it_says_the_order_may_be_approximate(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_lines_model()
    monkeypatch.setattr(likely, "MEMORY_BUDGET", 20_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = most_likely_names(model, 300, max_len=6)
    assert any("some likelier ones may be missing" in str(w.message) for w in caught)
    logp = [p for _, p in found]
    assert len(found) == 300 and logp == sorted(logp, reverse=True)


def test_requests_are_checked() -> None:
    with pytest.raises(OptionError, match="stream model"):
        most_likely_names(tiny_stream_model(), 3)
    with pytest.raises(OptionError):
        most_likely_names(tiny_lines_model(), 0)
    with pytest.raises(OptionError, match="--max-len"):
        most_likely_names(tiny_lines_model(), 3, prefix="anna", max_len=3)


def run(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "saurus", "sample", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_command_prints_log_probability_then_name(tmp_path: Path) -> None:
    config = TrainConfig(hidden=16, batch_size=4, iterations=150, lr=0.01, val_fraction=0)
    trained = train_text(NAMES * 4, config).model
    path = tmp_path / "m.saurus"
    models.save(trained, path)
    result = run(path, "--most-likely", "8", "--novel", "--max-len", "6")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    expected = most_likely_names(trained, 8, novel=True, max_len=6)
    assert [name for _, name in rows] == [name for name, _ in expected]
    assert [float(p) for p, _ in rows] == [round(p, 4) for _, p in expected]
    for flag in (("--seed", "1"), ("-n", "3"), ("--temperature", "0.5"), ("--greedy",)):
        refused = run(path, "--most-likely", "3", *flag)
        assert refused.returncode == 2 and flag[0] in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    stream = tmp_path / "s.saurus"
    models.save(tiny_stream_model(), stream)
    refused = run(stream, "--most-likely", "3")
    assert refused.returncode == 2 and "lines models" in refused.stderr
