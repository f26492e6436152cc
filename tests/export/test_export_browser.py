"""`saurus export`: the page opens from disk in Debian's chromium, makes no request, and its
JavaScript sampler gives the NumPy model's next-character probabilities to 1e-5, for every
family (LSTM, GRU in both conventions, RNN, one and two layers; the Transformer with
learned and rotary positions, tied and untied; the classic RNN), and names that meet the
constraints typed into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exported import assert_same_probabilities, chromium, classic, opened, recurrent, transformer

import saurus
from saurus.files.pretrained import resolve
from saurus.generation.novelty import seen_mask

DRAW = """(prefix) => {
  const r = seeded(5);
  return Array.from({length: 30}, () => sampler.draw(r, {prefix, maxLen: 40}));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.mark.parametrize(
    "options",
    [
        {"model": "lstm"},
        {"model": "lstm", "layers": 2},
        {"model": "gru"},
        {"model": "rnn", "layers": 2},
    ],
    ids=["lstm", "lstm-2", "gru", "rnn-2"],
)
def test_the_javascript_step_gives_the_numpy_probabilities(
    browser: Any, dinos_path: Path, tmp_path: Path, options: dict[str, object]
) -> None:
    model = recurrent(dinos_path, **options)
    page, requests = opened(browser, model, tmp_path)
    assert_same_probabilities(page, model)
    assert requests == [(tmp_path / "names.html").as_uri()]  # the page itself, nothing more


def test_a_torch_convention_gru_too(browser: Any, tmp_path: Path, dinos_path: Path) -> None:
    pytest.importorskip("torch")
    model = recurrent(dinos_path, model="gru", engine="torch")
    page, _ = opened(browser, model, tmp_path)
    assert_same_probabilities(page, model, ["", "a", "tyr"])


@pytest.mark.parametrize(
    ("positions", "tied"), [("learned", False), ("learned", True), ("rotary", False), ("rotary", True)]
)
def test_the_transformer_step_with_its_cache_gives_the_numpy_probabilities(
    browser: Any, dinos_path: Path, tmp_path: Path, positions: str, tied: bool
) -> None:
    model = transformer(dinos_path, tied=tied, positions=positions)
    page, requests = opened(browser, model, tmp_path)
    assert_same_probabilities(page, model)  # "brachiosau" refills the context-8 cache
    # drawing after a prefix longer than the context runs the cache full and on
    names = page.evaluate(DRAW, "brachiosaurus")
    assert len(names) == 30 and all(n.startswith("brachiosaurus") and len(n) <= 40 for n in names)
    assert all(set(n) <= set(model.vocab.chars) for n in names)
    assert requests == [(tmp_path / "names.html").as_uri()]


def test_the_classic_rnn_reads_a_zero_start_and_gives_the_numpy_probabilities(
    browser: Any, dinos_path: Path, tmp_path: Path
) -> None:
    model = classic(dinos_path)
    page, requests = opened(browser, model, tmp_path)
    assert_same_probabilities(page, model)
    assert page.evaluate("document.getElementById('categories').hidden") is True  # no categories
    assert requests == [(tmp_path / "names.html").as_uri()]


def test_the_page_generates_names_with_constraints_and_marks_them(browser: Any, tmp_path: Path) -> None:
    model = saurus.load(resolve("dinos"))
    page, requests = opened(browser, model, tmp_path)
    page.fill("#count", "15")
    page.fill("#seed", "3")
    page.fill("#ends-with", "saurus")
    page.fill("#max-len", "11")
    page.check("#novel")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#names li').length === 15")
    names = [t.replace("new", "").strip() for t in page.locator("#names li").all_inner_texts()]
    assert all(n.endswith("saurus") and len(n) <= 11 for n in names) and len(set(names)) == 15
    assert not seen_mask(model.seen, names).any()  # type: ignore[attr-defined]
    assert page.evaluate("sampler.isSeen('tyrannosaurus')") is True
    assert page.evaluate("sampler.isSeen('tyrannosaurusx')") is False
    assert requests == [(tmp_path / "names.html").as_uri()]
