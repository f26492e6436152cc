"""`saurus export`: the page opens from disk in Debian's chromium, makes no request, and its
JavaScript sampler gives the NumPy model's next-character probabilities to 1e-5, for each
family (LSTM, GRU in both conventions, RNN; one and two layers), and names that meet the
constraints typed into it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import saurus
from saurus.files.pretrained import resolve
from saurus.generation.steppers import stepper_for
from saurus.protocol import SequenceModel

CHROMIUM = "/usr/bin/chromium"
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("playwright is missing", allow_module_level=True)
if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing (needed under CI)")
    pytest.skip("chromium is missing", allow_module_level=True)

PREFIXES = ["", "a", "tyr", "saurus", "qx", "brachiosau"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


def opened(browser: Browser, model: SequenceModel, folder: Path) -> tuple[Page, list[str]]:
    """The exported page, opened from disk, and the list of every request it makes."""
    path = folder / "names.html"
    saurus_export(model, path)
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, requests


def saurus_export(model: SequenceModel, path: Path) -> None:
    from saurus.export.page import write_page

    write_page(model, path, "test")


def python_probabilities(model: SequenceModel, prefix: str) -> np.ndarray:
    logits = stepper_for(model).root(model.vocab.encode(prefix)).logits[:, 0].astype(np.float64)
    p = np.exp(logits - logits.max())
    return p / p.sum()


def tiny(dinos_path: Path, **options: object) -> SequenceModel:
    names = "\n".join(dinos_path.read_text().lower().split("\n")[:400]) + "\n"
    given = {"engine": "numpy", "hidden": 24, "iterations": 40, "val_fraction": 0, **options}
    config = saurus.TrainConfig(**given)  # type: ignore[arg-type]
    return saurus.train_text(names, config).model


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
    browser: Browser, dinos_path: Path, tmp_path: Path, options: dict[str, object]
) -> None:
    model = tiny(dinos_path, **options)
    page, requests = opened(browser, model, tmp_path)
    for prefix in PREFIXES:
        js = np.array(page.evaluate("(p) => sampler.probabilities(p)", prefix))
        np.testing.assert_allclose(js, python_probabilities(model, prefix), atol=1e-5, err_msg=prefix)
    assert requests == [(tmp_path / "names.html").as_uri()]  # the page itself, nothing more


def test_a_torch_convention_gru_too(browser: Browser, tmp_path: Path, dinos_path: Path) -> None:
    torch = pytest.importorskip("torch")
    del torch
    model = tiny(dinos_path, model="gru", engine="torch")
    page, _ = opened(browser, model, tmp_path)
    for prefix in PREFIXES[:3]:
        js = np.array(page.evaluate("(p) => sampler.probabilities(p)", prefix))
        np.testing.assert_allclose(js, python_probabilities(model, prefix), atol=1e-5)


def test_the_page_generates_names_with_constraints_and_marks_them(browser: Browser, tmp_path: Path) -> None:
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
    seen = model.seen  # type: ignore[attr-defined]
    from saurus.generation.novelty import seen_mask

    assert not seen_mask(seen, names).any()
    assert page.evaluate("sampler.isSeen('tyrannosaurus')") is True
    assert page.evaluate("sampler.isSeen('tyrannosaurusx')") is False
    assert requests == [(tmp_path / "names.html").as_uri()]
