"""A names model with categories exports them: the page's sampler folds the chosen blend w
into the model's inputs (a CharModel's l0.b + w cat, a Transformer's x_t + w cat_emb) and
gives the Python model's probabilities for w to 1e-5, for one category and for a blend;
the page offers every label, "all" (the blend by training names) and a typed blend, and
says what is wrong with a blend it cannot read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from exported import (
    LABELS,
    chromium,
    conditioned,
    opened,
    python_probabilities,
    recurrent,
    transformer,
    with_categories,
)

from saurus.errors import OptionError
from saurus.export.spec import model_json

pytestmark = pytest.mark.browser
BLENDS = {"Italian": [0.0, 1.0, 0.0], "Irish=0.7, Ndebele=0.3": [0.7, 0.0, 0.3], "all": [0.5, 0.3, 0.2]}
PROBABILITIES = """([text, prefix]) => {
  sampler.setBlend(sampler.parseBlend(text));
  return [sampler.blend, sampler.probabilities(prefix)];
}"""


MODELS: dict[str, Callable[[Path], Any]] = {
    "lstm-2": lambda path: recurrent(path, model="lstm", layers=2),
    "gru": lambda path: recurrent(path, model="gru"),
    "transformer-rotary-tied": lambda path: transformer(path, positions="rotary", tied=True),
    "transformer-learned": transformer,
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.mark.parametrize("which", MODELS)
def test_a_category_and_a_blend_give_the_python_probabilities(
    browser: Any, dinos_path: Path, tmp_path: Path, which: str
) -> None:
    model = with_categories(MODELS[which](dinos_path))
    page, requests = opened(browser, model, tmp_path)
    for text, w in BLENDS.items():
        reference = conditioned(model, np.array(w))
        for prefix in ("", "tyr", "brachiosau"):
            blend, js = page.evaluate(PROBABILITIES, [text, prefix])
            np.testing.assert_allclose(blend, w, atol=1e-12)
            expected = python_probabilities(reference, prefix)
            np.testing.assert_allclose(np.array(js), expected, atol=1e-5, err_msg=f"{text} {prefix!r}")
    assert requests == [(tmp_path / "names.html").as_uri()]


def test_the_page_picks_a_category_reads_a_blend_and_refuses_an_unknown_label(
    browser: Any, dinos_path: Path, tmp_path: Path
) -> None:
    model = with_categories(recurrent(dinos_path))
    page, requests = opened(browser, model, tmp_path)
    options = page.locator("#category option").all_inner_texts()
    assert options == ["all (by training names)", *LABELS]
    page.fill("#count", "5")
    page.select_option("#category", label="Ndebele")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#names li').length === 5")
    assert page.evaluate("Array.from(sampler.blend)") == [0, 0, 1]
    page.fill("#blend", "Irish=2, Italian=2")
    page.click("#generate")
    page.wait_for_function("sampler.blend[0] === 0.5")
    assert page.evaluate("Array.from(sampler.blend)") == [0.5, 0.5, 0]
    page.fill("#blend", "Irish=0.5, Klingon=0.5")
    page.click("#generate")
    status = page.text_content("#status") or ""
    assert 'unknown category "Klingon"' in status and "Irish, Italian, Ndebele" in status
    assert page.locator("#names li").count() == 0
    page.fill("#blend", "Irish=-1")
    page.click("#generate")
    assert ">= 0" in (page.text_content("#status") or "")
    assert requests == [(tmp_path / "names.html").as_uri()]


def test_categories_export_their_labels_and_counts_and_need_their_weight(dinos_path: Path) -> None:
    model = with_categories(recurrent(dinos_path))
    spec = model_json(model)
    assert spec["categories"] == list(LABELS) and spec["category_counts"] == [5, 3, 2]
    assert spec["params"]["cat"]["shape"] == [3, 4 * 24]
    del model.params["cat"]
    with pytest.raises(OptionError, match="categories lack their weight cat"):
        model_json(model)
