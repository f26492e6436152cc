"""The README stays true: its two commands are what CI runs, and its Python example works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text()


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_starts_with_the_commands_ci_runs() -> None:
    """The first installs and samples names from the pretrained model; the second installs the
    test extras and runs the tests. CI runs both, in that order."""
    first, second = code_blocks("bash")[0].strip().splitlines()
    assert "pip install -e . " in first and first.endswith("saurus sample -n 10")
    assert "[dev," in second and second.endswith("-m pytest -n auto")
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert first in ci and second in ci
    assert ci.index(first) < ci.index(second)


def test_readme_python_example_runs(
    dinos_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    example = code_blocks("python")[0].replace("../shared/data/dinos.txt", str(dinos_path))
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "nats/char" in printed[0]
    names = eval(printed[1])  # the printed list of names
    assert len(names) == 5 and all(n.startswith("tyr") for n in names)
    assert (tmp_path / "dinos.saurus").is_file()
