"""What the export tests share: small models of every family (random weights are enough to
compare probabilities), random category weights, the Python reference for a category
blend, and the exported page opened in chromium with every request it makes recorded.

Each test module makes its own `browser` fixture from `chromium()` (a conftest.py here would
shadow tests/conftest.py for the modules that import from it)."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import saurus
from saurus.data.corpus import LinesCorpus
from saurus.export.page import write_page
from saurus.generation.steppers import stepper_for
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel

CHROMIUM = "/usr/bin/chromium"
# prefixes: "brachiosau" runs a context-8 Transformer's cache full (it keeps its last 4 tokens)
PREFIXES = ["", "a", "tyr", "saurus", "qx", "brachiosau"]
LABELS = ("Irish", "Italian", "Ndebele")


def chromium() -> Iterator[Any]:
    """Debian's chromium, headless, through playwright; a skip without either, except under
    CI=true, where that fails."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("playwright is missing")
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing (needed under CI)")
        pytest.skip("chromium is missing")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


def dinos(dinos_path: Path, count: int = 400) -> str:
    return "\n".join(dinos_path.read_text().lower().split("\n")[:count]) + "\n"


def recurrent(dinos_path: Path, **options: object) -> SequenceModel:
    """A CharModel trained for 40 steps on 400 dinosaur names (24 units unless told)."""
    given = {"engine": "numpy", "hidden": 24, "iterations": 40, "val_fraction": 0, **options}
    config = saurus.TrainConfig(**given)  # type: ignore[arg-type]
    return saurus.train_text(dinos(dinos_path), config).model


def noisy(params: dict[str, np.ndarray], seed: int, std: float) -> None:
    """Every weight redrawn larger (biases and LayerNorms too), so no term hides."""
    rng = np.random.default_rng(seed)
    for w in params.values():
        w += rng.normal(0.0, std, w.shape).astype(w.dtype)


def transformer(dinos_path: Path, *, tied: bool = False, positions: str = "learned") -> TransformerModel:
    """A random Transformer (D 16, 2 layers, 2 heads, context 8) over the dinosaurs' characters."""
    vocab = LinesCorpus.from_text(dinos(dinos_path)).vocab()
    model = TransformerModel.create(
        vocab, "lines", d_model=16, layers=2, heads=2, context=8, tied=tied, positions=positions, seed=2
    )
    noisy(model.params, seed=3, std=0.3)
    return model


def classic(dinos_path: Path) -> ClassicRNN:
    """A random classic RNN (24 units) over the dinosaurs' characters."""
    vocab = LinesCorpus.from_text(dinos(dinos_path)).vocab()
    model = ClassicRNN.create(vocab, "lines", hidden=24, seed=4, lowercase=True)
    noisy(model.params, seed=5, std=0.4)
    return model


def with_categories(model: Any, seed: int = 6) -> Any:
    """The model given LABELS as categories, with random weights (the contract: cat (K, G H)
    for a CharModel, cat_emb (K, D) for a Transformer) and training counts 5, 3, 2."""
    rng = np.random.default_rng(seed)
    recurrent = isinstance(model, CharModel)
    name, width = ("cat", model.params["l0.b"].shape[0]) if recurrent else ("cat_emb", model.d_model)
    dtype = next(iter(model.params.values())).dtype
    model.params[name] = rng.normal(0.0, 0.5, (len(LABELS), width)).astype(dtype)
    model.categories = LABELS
    model.category_counts = np.array([5, 3, 2])
    return model


def conditioned(model: Any, w: np.ndarray) -> SequenceModel:
    """The model for the blend w, without categories: the model's own `conditioned` when it
    has one, else the fold the contract states (CharModel: l0.b += w cat; Transformer:
    every input gets w cat_emb, through tok_emb, with a tied head untied first)."""
    if callable(getattr(model, "conditioned", None)):
        return model.conditioned(np.asarray(w, dtype=np.float64))  # type: ignore[no-any-return]
    out = copy.copy(model)
    params = {k: v.copy() for k, v in model.params.items()}
    if isinstance(model, CharModel):
        params["l0.b"] += (w @ params.pop("cat")).astype(params["l0.b"].dtype)
    else:
        if model.tied:
            params["head.W"] = params["tok_emb"].T.copy()
            out.tied = False
        params["tok_emb"] += (w @ params.pop("cat_emb")).astype(params["tok_emb"].dtype)
    out.params = params
    out.categories = ()
    return out


def python_probabilities(model: SequenceModel, prefix: str) -> np.ndarray:
    logits = stepper_for(model).root(model.vocab.encode(prefix)).logits[:, 0].astype(np.float64)
    p = np.exp(logits - logits.max())
    return p / p.sum()


def opened(browser: Any, model: SequenceModel, folder: Path) -> tuple[Any, list[str]]:
    """The exported page, opened from disk, and the list of every request it makes."""
    path = folder / "names.html"
    write_page(model, path, "test")
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, requests


def assert_same_probabilities(page: Any, model: SequenceModel, prefixes: list[str] = PREFIXES) -> None:
    """The page's next-character probabilities equal the model's, to 1e-5, after each prefix."""
    for prefix in prefixes:
        js = np.array(page.evaluate("(p) => sampler.probabilities(p)", prefix))
        np.testing.assert_allclose(js, python_probabilities(model, prefix), atol=1e-5, err_msg=repr(prefix))
