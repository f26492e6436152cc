"""Where train writes: folders made for the model and the log alike, logs named after the
whole model file, no silent replacement, one writer per model, the umask honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import NAMES, assert_one_line_error, saurus

from saurus.atomic import atomic_write_bytes
from saurus.files import models
from saurus.files.locks import lock_path_for, output_lock
from saurus.files.model_file import load_model_file

FAST = ("--iterations", "20", "--hidden", "8", "-q")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text(NAMES * 4)
    return path


def test_missing_folders_are_made_for_the_model_and_the_log_alike(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "deep" / "d.saurus"
    log = tmp_path / "logs" / "x.jsonl"
    first = saurus("train", data, "-o", out, *FAST)
    assert first.returncode == 0, first.stderr
    assert out.is_file() and (out.parent / "d.saurus.log.jsonl").is_file()
    second = saurus("train", data, "-o", tmp_path / "m2" / "e.saurus", "--log", log, *FAST)
    assert second.returncode == 0, second.stderr
    assert json.loads(log.read_text().splitlines()[0])["iteration"] > 0


def test_each_model_file_gets_its_own_log(data: Path, tmp_path: Path) -> None:
    """run.v1 and run.v2 used to share run.log.jsonl."""
    for name in ("run.v1", "run.v2"):
        result = saurus("train", data, "-o", tmp_path / name, *FAST)
        assert result.returncode == 0, result.stderr
        assert f"log: {tmp_path / (name + '.log.jsonl')}" in result.stderr
    assert (tmp_path / "run.v1.log.jsonl").is_file() and (tmp_path / "run.v2.log.jsonl").is_file()


def test_an_existing_log_is_kept_unless_told(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.saurus"
    assert saurus("train", data, "-o", out, *FAST).returncode == 0
    out.unlink()  # the model is gone, its log is not
    log = tmp_path / "m.saurus.log.jsonl"
    before = log.read_bytes()
    assert_one_line_error(saurus("train", data, "-o", out, *FAST), "log", "already exists", "--overwrite")
    assert log.read_bytes() == before and not out.exists()
    assert saurus("train", data, "-o", out, *FAST, "--overwrite").returncode == 0


def test_a_second_run_on_the_same_model_is_refused_while_the_first_runs(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy.saurus"
    with output_lock(out):
        assert lock_path_for(out).is_file()
        result = saurus("train", data, "-o", out, *FAST)
        assert_one_line_error(result, "being written by another saurus run", f"pid {os.getpid()}")
    assert not lock_path_for(out).exists() and not out.exists()


def test_a_lock_left_by_a_killed_run_is_stale_and_taken_over(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.saurus"
    code = (
        "import os, sys; from pathlib import Path; from saurus.files.locks import acquire;"
        f"acquire(Path({str(out)!r})); os._exit(9)"  # dies holding the lock, leaving the file
    )
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert lock_path_for(out).is_file()
    result = saurus("train", data, "-o", out, *FAST)
    assert result.returncode == 0, result.stderr
    assert not lock_path_for(out).exists()


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == expected


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    path.chmod(0o640)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o640


def test_model_and_log_get_the_same_mode(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.saurus"
    assert saurus("train", data, "-o", out, *FAST).returncode == 0
    log = tmp_path / "m.saurus.log.jsonl"
    assert out.stat().st_mode & 0o777 == log.stat().st_mode & 0o777


@pytest.mark.parametrize("where", ["/proc/saurus-test.saurus", "/sys/saurus-test.saurus"])
def test_unwritable_places_end_in_one_line(data: Path, where: str) -> None:
    assert_one_line_error(saurus("train", data, "-o", where, *FAST), "cannot")


def test_an_unwritable_log_ends_in_one_line(data: Path, tmp_path: Path) -> None:
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--log", "/proc/x/log.jsonl", *FAST)
    assert_one_line_error(result, "cannot")
    assert not (tmp_path / "m.saurus").exists()


def test_interrupted_summary_wording(data: Path, tmp_path: Path) -> None:
    """The model file records the run; the summary line no longer says 'stopped by interrupted'."""
    out = tmp_path / "m.saurus"
    result = saurus("train", data, "-o", out, "--iterations", "30", "--hidden", "8")
    assert "stopped by" not in result.stderr and "(reached --iterations;" in result.stderr
    assert load_model_file(out).meta["training"]["stopped_by"] == "steps"
    models.load(out)
