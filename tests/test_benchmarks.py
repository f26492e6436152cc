"""The benchmark scripts still run (a smoke test with --quick; their figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def run_quick(script: str) -> list[str]:
    """The table a benchmark script prints with --quick, as lines."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| what | data | figure | time (s) |"
    return lines


def test_classic_benchmark_prints_its_table(data_dir: Path) -> None:
    lines = run_quick("classic.py")
    assert len(lines) == 5 and all("nats/char" in line for line in lines[3:])


def test_engine_benchmark_prints_its_table(data_dir: Path) -> None:
    lines = run_quick("engine.py")
    throughput = [line for line in lines if line.startswith("| throughput")]
    quality = [line for line in lines if line.startswith("| quality")]
    assert len(throughput) == 10 and all("chars/s" in line for line in throughput)
    assert len(quality) == 1 and "nats/char" in quality[0]


def test_yardstick_benchmark_prints_its_table(data_dir: Path) -> None:
    import pytest

    pytest.importorskip("torch")
    lines = run_quick("yardsticks.py")
    assert len(lines) == 5 and all("nats/char" in line for line in lines[2:])
    assert [line.split("|")[1].strip().split(",")[0] for line in lines[2:]] == [
        "saurus numpy engine",
        "saurus torch engine",
        "plain torch LSTM-256",
    ]


def test_planner_benchmark_prints_its_table(data_dir: Path) -> None:
    import pytest

    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "planner.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| corpus | budget (s) | engine | saurus | yardstick | difference |")
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert cells[0] == "dinos" and cells[1] == "5" and cells[2] in ("numpy", "torch")
    assert float(cells[3]) > 0 and float(cells[4]) > 0 and cells[6].endswith("x)")
