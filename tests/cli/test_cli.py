"""The command line, as a user runs it: outputs, repeatability, and one-line errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, assert_one_line_error, saurus, tiny_lines_model

from saurus.cli.main import main
from saurus.data.corpus import LinesCorpus
from saurus.files import models
from saurus.files.model_file import load_model_file
from saurus.generation.scoring import evaluate


@pytest.fixture(scope="module")
def names_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "names.txt"
    path.write_text(NAMES * 4)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.saurus"
    models.save(tiny_lines_model(), path)
    return path


def test_train_sample_eval_round_trip(
    names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.saurus"
    assert (
        main(
            [
                "train",
                str(names_file),
                "-o",
                str(out),
                "--iterations",
                "300",
                "--hidden",
                "12",
                "--lowercase",
                "--quiet",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert re.search(r"validation \d+\.\d{4} nats/char", err) and f"saved {out}" in err
    assert main(["sample", str(out), "-n", "5", "--seed", "3"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert len(names) == 5
    assert main(["eval", str(out), str(names_file)]) == 0
    line = capsys.readouterr().out
    expected = evaluate(models.load(out), LinesCorpus.from_text(names_file.read_text(), lowercase=True))
    assert f"{expected.nats:.4f} nats/char" in line and f"{expected.bits:.4f} bits/char" in line
    assert f"({expected.chars} characters)" in line


def test_the_readme_quickstart_on_dinosaurs(dinos_path: Path, tmp_path: Path) -> None:
    """The issue's acceptance run: default training, then 10 lowercase names, twice the same."""
    trained = saurus("train", dinos_path, "-o", "dinos.saurus", "--lowercase", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "validation" in trained.stderr
    first = saurus("sample", "dinos.saurus", "-n", "10", "--seed", "0", cwd=tmp_path)
    second = saurus("sample", "dinos.saurus", "-n", "10", "--seed", "0", cwd=tmp_path)
    assert first.returncode == 0 and first.stdout == second.stdout
    names = first.stdout.splitlines()
    assert len(names) == 10 and all(re.fullmatch(r"[a-z]+", n) for n in names), names


def test_stream_model_writes_text_after_the_prefix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = tmp_path / "poem.txt"
    text.write_text("shall i compare thee to a summer's day?\n" * 30)
    out = tmp_path / "poem.saurus"
    assert main(["train", str(text), "-o", str(out), "--mode", "stream", "--iterations", "200", "-q"]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--prefix", "shall ", "--length", "40", "--seed", "1"]) == 0
    written = capsys.readouterr().out
    assert written.startswith("shall ") and len(written.rstrip("\n")) == 46


def test_unicode_prefix_and_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "lyrics.txt"
    data.write_text("天青色等烟雨 而我在等你\n" * 20, encoding="utf-8")
    out = tmp_path / "l.saurus"
    assert main(["train", str(data), "-o", str(out), "--mode", "stream", "--iterations", "100", "-q"]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--prefix", "天青", "--length", "5", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("天青")


def test_reproduce_matches_the_published_transcript() -> None:
    result = saurus("reproduce", "dinos", "--iterations", "2001")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(PUBLISHED_FIRST_TWO_BLOCKS)


PUBLISHED_FIRST_TWO_BLOCKS = """\
Iteration: 0, Loss: 23.087336
Nkzxwtdmfqoeyhsqwasjkjvu
Kneb
Kzxwtdmfqoeyhsqwasjkjvu
Neb
Zxwtdmfqoeyhsqwasjkjvu
Eb
Xwtdmfqoeyhsqwasjkjvu

Iteration: 2000, Loss: 27.884160
Liusskeomnolxeros
Hmdaairus
Hytroligoraurus
Lecalosapaus
Xusicikoraurus
Abalpsamantisaurus
Tpraneronxeros

"""


def test_reproduce_with_explicit_data_and_options(dinos_path: Path) -> None:
    result = saurus(
        "reproduce", "dinos", "--data", dinos_path, "--iterations", "3", "--every", "1", "--names", "2"
    )
    blocks = result.stdout.split("\n\n")
    # the smoothed loss starts from a uniform guess over --names names: -log(1/27) * 2
    assert result.returncode == 0 and blocks[0].startswith("Iteration: 0, Loss: 6.624631\nNkzxw")
    assert [b.splitlines()[0].split(",")[0] for b in blocks if b] == [
        "Iteration: 0",
        "Iteration: 1",
        "Iteration: 2",
    ]
    assert all(len(b.splitlines()) == 3 for b in blocks if b)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_saves_the_model_trained_so_far(
    names_file: Path, tmp_path: Path, signum: int, status: int
) -> None:
    out = tmp_path / "m.saurus"
    args = ["train", names_file, "-o", out, "--iterations", "10000000", "--report-every", "100"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "saurus", *map(str, args)], stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        while first and " val " not in first:  # a tick before the first evaluation
            first = proc.stderr.readline()
        assert first.startswith("step 100/"), first  # the first evaluation: a checkpoint is on disk
        assert out.is_file()
        proc.send_signal(signum)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == status
    assert "interrupted after" in rest and "Traceback" not in rest
    assert not (tmp_path / "m.saurus.lock").exists()
    meta = load_model_file(out).meta["training"]
    assert meta["interrupted"] is True and 100 <= meta["iterations"] < 10000000
    models.load(out)


def test_sample_into_a_closed_pipe_is_quiet(model_file: Path) -> None:
    pipeline = f'"{sys.executable}" -m saurus sample "{model_file}" -n 100000 --seed 0 | head -n 1'
    result = subprocess.run(pipeline, shell=True, capture_output=True, text=True, timeout=120)
    assert len(result.stdout.splitlines()) == 1 and result.stderr == ""


def test_reproduce_reads_lines_like_the_exercise(dinos_path: Path, tmp_path: Path) -> None:
    """A final newline in --data must not add an empty name (readlines() adds none)."""
    with_newline = tmp_path / "dinos.txt"
    with_newline.write_text(dinos_path.read_text() + "\n")
    ours = saurus("reproduce", "dinos", "--data", with_newline, "--iterations", "2001")
    assert ours.returncode == 0 and ours.stdout.startswith(PUBLISHED_FIRST_TWO_BLOCKS)


# --- every error a user can cause ends in one line and exit status 2 ---


def test_empty_training_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(saurus("train", empty, "-o", tmp_path / "m.saurus"), "empty")
    assert not (tmp_path / "m.saurus").exists()


def test_training_file_that_is_not_utf8(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("José\nRenée\n".encode("latin-1"))
    assert_one_line_error(saurus("train", latin, "-o", tmp_path / "m.saurus"), "not UTF-8")


def test_missing_training_file(tmp_path: Path) -> None:
    assert_one_line_error(saurus("train", tmp_path / "nope.txt", "-o", tmp_path / "m"), "no such file")


def test_train_never_overwrites_the_data_or_a_stranger_file(names_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES)
    assert_one_line_error(saurus("train", data, "-o", data), "refusing to write the model over")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert_one_line_error(saurus("train", data, "-o", notes), "refusing to overwrite")
    assert data.read_text() == NAMES and notes.read_text() == "my notes"
    assert_one_line_error(saurus("train", data, "-o", tmp_path), "is a folder")


def test_train_replaces_an_older_model_only_when_told(
    names_file: Path, model_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "old.saurus"
    target.write_bytes(model_file.read_bytes())
    refused = saurus("train", names_file, "-o", target, "--iterations", "50", "-q")
    assert_one_line_error(refused, "already exists (a saurus model file)", "--overwrite")
    assert target.read_bytes() == model_file.read_bytes()
    result = saurus("train", names_file, "-o", target, "--iterations", "50", "-q", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert load_model_file(target).meta["training"]["iterations"] == 50


def test_prefix_outside_the_vocabulary(model_file: Path) -> None:
    assert_one_line_error(saurus("sample", model_file, "--prefix", "An9"), "'9'", "prefix")


def test_missing_model_file(tmp_path: Path) -> None:
    assert_one_line_error(saurus("sample", tmp_path / "none.saurus"), "no model file")


def test_truncated_model_file(model_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.saurus"
    cut.write_bytes(model_file.read_bytes()[:200])
    assert_one_line_error(saurus("sample", cut), "not a saurus model")
    assert_one_line_error(saurus("eval", cut, model_file), "not a saurus model")


def test_foreign_model_file(tmp_path: Path) -> None:
    foreign = tmp_path / "photo.saurus"
    foreign.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    assert_one_line_error(saurus("sample", foreign), "not a saurus model")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["sample", "{model}", "-n", "0"], "-n: must be a positive integer, got 0"),
        (["sample", "{model}", "-n", "-3"], "-n: must be a positive integer, got -3"),
        (["sample", "{model}", "--temperature", "0"], "--temperature: must be a positive number"),
        (["sample", "{model}", "--temperature", "-1"], "--temperature: must be a positive number"),
        (["sample", "{model}", "-n", "many"], "must be an integer"),
        (["train", "{data}", "-o", "x", "--hidden", "0"], "--hidden: must be a positive integer"),
        (["train", "{data}", "-o", "x", "--hidden", "-5"], "--hidden: must be a positive integer"),
        (["train", "{data}", "-o", "x", "--val-fraction", "1"], "--val-fraction"),
        (["train", "{data}"], "-o/--output"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_options(args: list[str], fragment: str, model_file: Path, names_file: Path) -> None:
    filled = [a.format(model=model_file, data=names_file) for a in args]
    assert_one_line_error(saurus(*filled), fragment)


def test_eval_with_an_unknown_character(model_file: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text("anna\nbj0rn\n")
    assert_one_line_error(saurus("eval", model_file, odd), "'0'")


def test_version_and_help() -> None:
    assert saurus("--version").stdout.startswith("saurus ")
    helped = saurus("train", "--help")
    assert helped.returncode == 0 and "--lowercase" in helped.stdout
