"""The command line on engine models: train, the log, sample options, score, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import NAMES, assert_one_line_error, saurus

from saurus.files import models
from saurus.models.recurrent import CharModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("engine")
    data = folder / "names.txt"
    data.write_text(NAMES * 4)
    out = folder / "names.saurus"
    result = saurus(
        "train",
        data,
        "-o",
        out,
        "--hidden",
        "32",
        "--batch-size",
        "4",
        "--iterations",
        "300",
        "--lr",
        "0.01",
        "--eval-every",
        "50",
        "--val-fraction",
        "0.2",
    )
    assert result.returncode == 0, result.stderr
    return data, out, result.stderr


def test_train_reports_progress_and_writes_the_log(trained: tuple[Path, Path, str]) -> None:
    _, out, stderr = trained
    lines = stderr.splitlines()
    assert lines[0].startswith("mode: lines (") and lines[1].startswith("plan: lstm 1 x 32, engine ")
    lines = [line for line in lines if not line.startswith(("mode:", "plan:", "  "))]
    assert lines[0].startswith("step 50/300  epoch ") and " val " in lines[0] and "chars/s" in lines[0]
    assert "(reached --iterations;" in stderr or "(stopped early: validation stopped improving;" in stderr
    log_path = out.with_name(out.name + ".log.jsonl")
    log = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert log[0]["iteration"] == 50 and {"train_nats", "val_nats", "chars_per_second", "lr"} <= set(log[0])
    model = models.load(out)
    assert isinstance(model, CharModel) and model.cell == "lstm" and model.hidden == 32


def test_sample_novel_and_decoding_options(trained: tuple[Path, Path, str]) -> None:
    data, out, _ = trained
    known = set(data.read_text().split())
    novel = saurus("sample", out, "-n", "15", "--novel", "--seed", "0", "--temperature", "1.3")
    assert novel.returncode == 0, novel.stderr
    names = novel.stdout.split()
    assert names and not set(names) & known
    greedy = saurus("sample", out, "-n", "3", "--greedy")
    assert len(set(greedy.stdout.split())) == 1
    top = saurus("sample", out, "-n", "5", "--top-k", "3", "--top-p", "0.9", "--seed", "1", "--prefix", "e")
    assert top.returncode == 0 and all(n.startswith("e") for n in top.stdout.split())


def test_score_prints_log_probability_per_character(trained: tuple[Path, Path, str]) -> None:
    _, out, _ = trained
    result = saurus("score", out, "anna", "kkkkk")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [r[1] for r in rows] == ["anna", "kkkkk"]
    assert 0 > float(rows[0][0]) > float(rows[1][0])


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--dropout", "1.5"], "--dropout"),
        (["--model", "transformer", "--engine", "numpy"], "--model transformer trains with --engine torch"),
        (["--time-budget", "0"], "--time-budget"),
        (["--optimizer", "lbfgs"], "--optimizer"),
    ],
)
def test_bad_train_options_are_one_line_errors(
    trained: tuple[Path, Path, str], tmp_path: Path, args, fragment
) -> None:
    data, _, _ = trained
    assert_one_line_error(saurus("train", data, "-o", tmp_path / "x.saurus", *args), fragment)
    assert not (tmp_path / "x.saurus").exists()


def test_bad_sample_options_are_one_line_errors(trained: tuple[Path, Path, str]) -> None:
    _, out, _ = trained
    assert_one_line_error(saurus("sample", out, "--top-p", "2"), "--top-p")
    assert_one_line_error(saurus("score", out, "renée"), "U+00E9")


def test_the_log_never_overwrites_a_stranger_file(trained: tuple[Path, Path, str], tmp_path: Path) -> None:
    data, _, _ = trained
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes\n")
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--log", precious, "--iterations", "5")
    assert_one_line_error(result, "not a saurus training log")
    assert precious.read_text() == "my notes\n"
