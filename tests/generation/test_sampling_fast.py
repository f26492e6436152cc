"""Fast batched sampling: the fused LSTM step equals the engine's, the prefix tree and the
bulk decoding give the model's own distribution, and the draws respect every rule."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from helpers import NAMES, tiny_lines_model

import saurus.generation.sampling as sampling
from saurus.data.corpus import LinesCorpus
from saurus.data.vocab import Vocab
from saurus.generation.decoding import Decoding, choose, cumulative, pick
from saurus.generation.names import assemble, code_points, draw_names
from saurus.generation.sampling import generate_lines, iter_lines
from saurus.generation.steppers import RowStepper, StateStepper, stepper_for
from saurus.models.fused_lstm import FusedLSTM
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import START

VOCAB = LinesCorpus.from_text(NAMES).vocab()


def engine(cell: str = "lstm", layers: int = 1, hidden: int = 12, seed: int = 3) -> CharModel:
    """An untrained engine model with lively weights (not the flat start), so that the
    characters' probabilities differ."""
    model = CharModel.create(VOCAB, "lines", cell=cell, hidden=hidden, layers=layers, seed=seed)
    rng = np.random.default_rng(seed)
    for name, w in model.params.items():
        w += rng.normal(0, 0.6, w.shape).astype(w.dtype)
        model.params[name] = w
    return model


def step_logits(model: CharModel, texts: list[list[int]]) -> np.ndarray:
    """Logits (V, k) after START and each id sequence (all of one length), by model.step."""
    state = model.start(len(texts))
    logits, state = model.step(state, np.full(len(texts), START))
    for t in range(len(texts[0])):
        logits, state = model.step(state, np.array([row[t] for row in texts]))
    return logits.T


@pytest.mark.parametrize("layers", [1, 2])
def test_the_fused_lstm_step_equals_the_engine_step(layers: int) -> None:
    model = engine(layers=layers)
    fused = FusedLSTM(model)
    root = fused.root(np.array([3, 5]))
    np.testing.assert_allclose(root.logits, step_logits(model, [[3, 5]]), rtol=1e-5, atol=1e-5)
    # branching: node 0 has three children, then the tree thins out again
    kids = fused.children(root, np.zeros(3, dtype=np.int64), np.array([1, 4, 7]))
    np.testing.assert_allclose(
        kids.logits, step_logits(model, [[3, 5, 1], [3, 5, 4], [3, 5, 7]]), rtol=1e-5, atol=1e-5
    )
    grand = fused.children(kids, np.array([2, 0]), np.array([0, 2]))
    expected = step_logits(model, [[3, 5, 7, 0], [3, 5, 1, 2]])
    np.testing.assert_allclose(grand.logits, expected, rtol=1e-5, atol=1e-5)


def test_the_fused_lstm_computes_big_batches_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import saurus.models.fused_lstm as fused_lstm

    model = engine(hidden=16)
    fused = FusedLSTM(model)
    rng = np.random.default_rng(0)
    root = fused.root(np.zeros(0, dtype=np.int64))
    first = fused.children(root, np.zeros(40, dtype=np.int64), rng.integers(0, VOCAB.size, 40))
    parent, ids = rng.integers(0, 40, 100), rng.integers(0, VOCAB.size, 100)
    whole = fused.children(first, parent, ids)
    monkeypatch.setattr(fused_lstm, "CHUNK", 7)
    chunked = fused.children(first, parent, ids)
    np.testing.assert_allclose(chunked.logits, whole.logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(chunked.c[0], whole.c[0], rtol=1e-6, atol=1e-6)


def test_each_model_gets_the_stepper_that_runs_it() -> None:
    assert isinstance(stepper_for(engine()), FusedLSTM)
    assert isinstance(stepper_for(engine("gru")), StateStepper)
    assert isinstance(stepper_for(tiny_lines_model()), StateStepper)
    transformer = TransformerModel.create(VOCAB, "lines", d_model=8, layers=1, heads=2, context=16)
    assert isinstance(stepper_for(transformer), RowStepper)


def softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max())
    return p / p.sum()


def step_logits_any(model: object, ids: list[int]) -> np.ndarray:
    """The logits after START and `ids`, by the model's own step (one row)."""
    state = model.start(1)  # type: ignore[attr-defined]
    logits, state = model.step(state, np.array([START]))  # type: ignore[attr-defined]
    for i in ids:
        logits, state = model.step(state, np.array([i]))  # type: ignore[attr-defined]
    return np.asarray(logits[0], dtype=np.float64)


def two_letter_odds(model: object) -> dict[str, float]:
    """P(name) for max_len 2: the first letter is drawn with the end token masked; then
    "a" ends with the end token, "ab" is cut at two letters."""
    eos = VOCAB.eos_id
    first = step_logits_any(model, [])
    first[eos] = -np.inf
    odds = {}
    for a, pa in enumerate(softmax(first)):
        if a == eos:
            continue
        second = softmax(step_logits_any(model, [a]))
        for b, pb in enumerate(second):
            odds[VOCAB.chars[a] + ("" if b == eos else VOCAB.chars[b])] = pa * pb
    return odds


@pytest.mark.parametrize("kind", ["lstm", "gru", "classic", "transformer"])
def test_drawn_names_follow_the_models_probabilities(kind: str) -> None:
    """60,000 names of at most two letters, counted against their exact probabilities."""
    if kind == "classic":
        model = tiny_lines_model(seed=4)
        model.params = {name: w * 150.0 for name, w in model.params.items()}  # far from flat
    elif kind == "transformer":
        model = TransformerModel.create(VOCAB, "lines", d_model=8, layers=1, heads=2, context=16, seed=2)
        model.params["head.W"] = model.params["head.W"] * 60.0
    else:
        model = engine(kind)
    names = generate_lines(model, 60_000, np.random.default_rng(0), max_len=2)
    odds = two_letter_odds(model)
    assert set(names) <= set(odds)
    counts = {name: 0 for name in odds}
    for name in names:
        counts[name] += 1
    expected = np.array(list(odds.values()))
    seen = np.array([counts[name] for name in odds]) / len(names)
    assert expected.max() > 0.02  # not a flat distribution
    np.testing.assert_allclose(seen, expected, atol=0.005)


def test_the_same_seed_gives_the_same_names_and_rows_share_prefixes() -> None:
    model = engine()
    a = generate_lines(model, 3000, np.random.default_rng(7), prefix="an", max_len=9)
    assert a == generate_lines(model, 3000, np.random.default_rng(7), prefix="an", max_len=9)
    assert a != generate_lines(model, 3000, np.random.default_rng(8), prefix="an", max_len=9)
    assert all(n.startswith("an") and 2 <= len(n) <= 9 for n in a)
    # the prefix tree: 3000 rows need far fewer model columns than row steps
    stepper = stepper_for(model)
    calls: list[int] = []
    original = stepper.children

    def counting(nodes: object, parent: np.ndarray, ids: np.ndarray) -> object:
        calls.append(len(parent))
        return original(nodes, parent, ids)

    stepper.children = counting  # type: ignore[method-assign]
    names = draw_names(
        model, 3000, np.random.default_rng(7), Decoding(), np.zeros(0, np.int64), 9, None, stepper
    )
    row_steps = sum(len(n) for n in names)
    assert calls[0] < VOCAB.size and sum(calls) < 0.9 * row_steps


def test_steps_are_capped_by_the_state_budget_and_batches_by_max_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import saurus.models.fused_lstm as fused_lstm

    monkeypatch.setattr(fused_lstm, "STATE_BUDGET", 1)
    model = engine()
    assert FusedLSTM(model).batch_cap == 256
    batches = list(iter_lines(model, 2500, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [2500]  # one batch: its steps go in groups of 256 nodes
    monkeypatch.setattr(sampling, "MAX_BATCH", 100)
    assert max(len(b) for b in iter_lines(model, 250, np.random.default_rng(0))) == 100


def test_a_draw_never_lands_on_a_zero_probability() -> None:
    """u * total rounded up to total would pick the last character; it is kept below."""

    class Top:
        def random(self, n: int, dtype: type = np.float64) -> np.ndarray:
            return np.full(n, np.nextafter(dtype(1), dtype(0)), dtype=dtype)

    p = np.array([[0.25, 0.0], [0.75, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=np.float32) * 3.0
    ids = pick(p, np.array([0, 1, 0]), Top())  # type: ignore[arg-type]
    assert ids.tolist() == [1, 1, 1]
    np.testing.assert_array_equal(cumulative(p), np.cumsum(p, axis=0))


def test_choose_applies_temperature_top_k_top_p_and_greedy_per_node() -> None:
    logits = np.log(np.array([[0.5, 0.1], [0.3, 0.2], [0.15, 0.3], [0.05, 0.4]]))
    nodes = np.repeat([0, 1], 20000)
    rng = np.random.default_rng(0)
    for how, expected in [
        (Decoding(), [[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]]),
        (Decoding(top_k=2), [[0.625, 0.375, 0, 0], [0, 0, 3 / 7, 4 / 7]]),
        (Decoding(top_p=0.6), [[0.625, 0.375, 0, 0], [0, 0, 3 / 7, 4 / 7]]),
        (Decoding(greedy=True), [[1, 0, 0, 0], [0, 0, 0, 1]]),
    ]:
        ids = choose(logits, nodes, how, rng)
        for node in (0, 1):
            share = np.bincount(ids[nodes == node], minlength=4) / 20000
            np.testing.assert_allclose(share, expected[node], atol=0.012)


def test_names_are_put_together_in_bulk_whatever_the_characters() -> None:
    vocab = Vocab(("\x00", "\n", "a", "é", "😀"))
    codes = code_points(vocab)
    written = [(0, np.array([0, 1, 2]), np.array([2, 0, 4])), (1, np.array([0, 2]), np.array([3, 0]))]
    assert assemble(codes, 3, np.array([2]), written) == ["aaé", "a\x00", "a😀\x00"]
    assert assemble(codes, 2, np.zeros(0, np.int64), []) == ["", ""]


def test_the_names_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a step run side by side on several threads, each with one BLAS thread."""
    import saurus.models.fused_lstm as fused_lstm

    monkeypatch.setattr(fused_lstm, "CHUNK", 64)
    model = engine(hidden=24)
    names = {}
    for workers in (1, 3):
        stepper = FusedLSTM(model)
        stepper.workers = workers
        how, no_prefix = Decoding(), np.zeros(0, np.int64)
        names[workers] = draw_names(model, 2000, np.random.default_rng(1), how, no_prefix, 12, None, stepper)
    assert names[1] == names[3] and len(set(names[1])) > 500


def test_the_benchmark_prints_its_table(tmp_path: Path) -> None:
    """benchmarks/sampling.py --quick: a tiny dinosaur model, every row measured."""
    script = REPO / "benchmarks" / "sampling.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| what | model | code | names/s | time (s) | CPU (s) |"
    assert len(lines) == 7 and all(float(line.split("|")[5]) > 0 for line in lines[2:])


def test_the_benchmark_prints_its_constraints_table(tmp_path: Path) -> None:
    """benchmarks/sampling.py --constraints --quick: plain sampling and five constraints on
    the pretrained dinos model, each with its share and speed."""
    script = REPO / "benchmarks" / "sampling.py"
    result = subprocess.run(
        [sys.executable, str(script), "--constraints", "--quick", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| constraints | share of the model's names |") and len(lines) == 8
    cells = [re.split(r"(?<!\\)\|", line) for line in lines[2:]]  # a pattern's \| is no cell
    assert all(len(row) == 9 for row in cells)
    shares = [float(row[2].strip(" %")) for row in cells]
    assert shares[0] == 100 and all(0 < share < 20 for share in shares[1:])
    assert all(float(row[5].replace(",", "")) > 0 for row in cells)
