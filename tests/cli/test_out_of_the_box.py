"""What works with no data at all: the pretrained models, the Hugging Face-style generate
API and `saurus datasets`; a dataset that is not here is one clear line. And `train --val`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, saurus

import saurus as api
from saurus.data.datasets import DATASETS, dataset_path
from saurus.files.pretrained import PRETRAINED, pretrained_path
from saurus.generation.api import complete
from saurus.generation.scoring import score_strings


@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shared data folder and an empty cache: only what ships in the package."""
    monkeypatch.setenv("SAURUS_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("SAURUS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_the_dinosaur_list_is_read_from_the_data_folder_and_verified(data_dir: Path):
    path = dataset_path("dinos", download=False)
    assert path.resolve().parent == data_dir  # (the data folder may be reached through a link)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DATASETS["dinos"].sha256


def test_train_dinos_without_any_data_says_where_to_put_it(no_data: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(no_data)
    result = saurus("train", "dinos", "-o", "d.saurus", "--lowercase", "--iterations", "30", "-q")
    assert_one_line_error(result, "dataset 'dinos'", "SAURUS_DATA_DIR")
    assert not (no_data / "d.saurus").exists()


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_the_pretrained_models_ship_load_and_sample(name: str):
    assert pretrained_path(name).is_file()
    model = api.load(name)
    texts = model.generate(max_new_tokens=40, num_return_sequences=3, seed=0)
    assert len(texts) == 3 and all(texts)
    if model.mode == "lines":
        assert all(t.isalpha() and t.islower() for t in texts)


def test_the_pretrained_models_are_good_ones():
    """Their validation losses, as recorded in the files: a guard against shipping a bad build."""
    from saurus.files.models import load_with_meta

    figures = {name: load_with_meta(name)[1]["training"]["val_nats_per_char"] for name in PRETRAINED}
    assert figures["dinos"] < 1.70
    assert figures["shakespeare"] < 1.75


def test_sample_shakespeare_completes_a_prompt():
    result = saurus("sample", "shakespeare", "--prefix", "ROMEO:", "--length", "80", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ROMEO:") and len(result.stdout.rstrip("\n")) == 86


def test_a_path_wins_over_a_pretrained_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    Path("dinos").write_text("not a model")
    assert_one_line_error(saurus("sample", "dinos"), "not a saurus model")


def test_generate_speaks_hugging_face():
    model = api.load("dinos")
    a = model.generate(prompt="tyr", max_new_tokens=12, temperature=0.8, top_k=10, top_p=0.9,
                       num_return_sequences=4, seed=3)  # fmt: skip
    assert a == model.generate(prompt="tyr", max_new_tokens=12, temperature=0.8, top_k=10, top_p=0.9,
                               num_return_sequences=4, seed=3)  # fmt: skip
    assert len(a) == 4 and all(t.startswith("tyr") and len(t) <= 3 + 12 for t in a)
    greedy = model.generate(temperature=0, num_return_sequences=3)
    assert len(set(greedy)) == 1  # temperature 0 is greedy
    [cut] = model.generate(prompt="tyr", temperature=0, stop=["o"])
    [whole] = model.generate(prompt="tyr", temperature=0)
    assert "o" in whole[3:] and cut == whole[: whole.index("o", 3)]


def test_finish_reasons_and_score():
    text_model = api.load("shakespeare")
    [c] = complete(text_model, "ROMEO:", max_new_tokens=30, seed=0)
    assert c.finish_reason == "length" and len(c.text) == 30
    [s] = complete(text_model, "ROMEO:", max_new_tokens=300, seed=0, stop="\n")
    assert s.finish_reason == "stop" and "\n" not in s.text
    names = api.load("dinos")
    done = complete(names, "", max_new_tokens=50, num_return_sequences=20, seed=0)
    assert all(c.finish_reason == "stop" for c in done)
    short = complete(names, "", max_new_tokens=2, num_return_sequences=20, seed=0)
    assert all(len(c.text) <= 2 for c in short) and any(len(c.text) == 2 for c in short)
    assert all((c.finish_reason == "length") == (len(c.text) == 2) for c in short)
    [good, bad] = names.score(["tyrannosaurus", "xqzvw"])
    [report, _] = score_strings(names, ["tyrannosaurus", "xqzvw"])
    assert good.nats == pytest.approx(report.nats) and good.bits == pytest.approx(report.nats / np.log(2))
    assert good.perplexity == pytest.approx(np.exp(report.nats)) and good.nats < bad.nats


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"temperature": -1}, "temperature"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": [""]}, "stop"),
        ({"num_return_sequences": 0}, "number of samples"),
        ({"top_p": 2}, "top-p"),
    ],
)
def test_generate_refuses_bad_options(options: dict, fragment: str):
    with pytest.raises(api.SaurusError, match=fragment):
        api.load("dinos").generate(**options)


def test_datasets_lists_every_dataset_and_where_it_is(no_data: Path):
    result = saurus("datasets")
    assert result.returncode == 0, result.stderr
    for name in (*DATASETS, "metheny", "bach"):
        assert f"\n{name} " in "\n" + result.stdout
    assert "not here" in result.stdout  # with no data folder and no cache
    assert DATASETS["names"].sha256[:12] in result.stdout


def test_train_val_validates_on_the_given_file(data_dir: Path, tmp_path: Path):
    names = (data_dir / "dinos.txt").read_text().lower().splitlines()
    (tmp_path / "train.txt").write_text("\n".join(names[:1200]))  # no final newline
    (tmp_path / "val.txt").write_text("\n".join(names[1200:]) + "\n")
    out = tmp_path / "m.saurus"
    result = saurus("train", tmp_path / "train.txt", "--val", tmp_path / "val.txt", "-o", out,
                    "--iterations", "60", "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "trained on 1200 names" in result.stderr
    evaluated = saurus("eval", out, tmp_path / "val.txt")
    figure = evaluated.stdout.split(":")[1].split()[0]
    assert f"validation {figure} nats/char" in result.stderr
    assert "336 of 336 names" in evaluated.stderr  # --novel knows the validation names too
    assert_one_line_error(
        saurus("train", tmp_path / "train.txt", "--val", tmp_path / "none.txt", "-o", tmp_path / "x.saurus"),
        "none.txt",
    )


def test_sample_with_no_model_prints_dinosaur_names(no_data: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(no_data)
    result = saurus("sample", "-n", "5", "--seed", "0")
    assert result.returncode == 0, result.stderr
    names = result.stdout.splitlines()
    assert len(names) == 5 and all(n.isalpha() and n.islower() for n in names)
    assert names == saurus("sample", "dinos", "-n", "5", "--seed", "0").stdout.splitlines()
