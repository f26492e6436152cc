"""The data rule of the test suite: without the corpora, skip with a message; under CI, fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

ONE_DATA_TEST = "tests/data/test_vocab_corpus.py::test_dinosaur_vocabulary_has_27_entries"


def run_one(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["SAURUS_DATA_DIR"] = str(tmp_path / "no-such-folder")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_DATA_TEST],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_missing_corpora_skip_with_a_message(tmp_path: Path) -> None:
    result = run_one(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "set SAURUS_DATA_DIR" in result.stdout


def test_missing_corpora_fail_under_ci(tmp_path: Path) -> None:
    result = run_one(tmp_path, ci=True)
    assert result.returncode != 0
    assert "set SAURUS_DATA_DIR" in result.stdout
