"""Training across processes with torchrun (gloo on the CPU): the same updates as one
process with the doubled batch, one model file, and Ctrl-C handled between steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, saurus

pytest.importorskip("torch")

from saurus.files import models


def torchrun(*args: object) -> list[str]:
    """The command line of a 2-process torchrun of `saurus ARGS` on this machine."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return [*launch, "-m", "saurus", *map(str, args)]


def said(stderr: str) -> str:
    """stderr without torch's warning lines, for assertion messages."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("[W"))[:4000]


def test_two_processes_train_as_one_with_the_doubled_batch(tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo), 8 names each per step, against 1 process with
    16: the same updates up to float32 summation order (tolerance 1e-5)."""
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    common = (
        "--engine",
        "torch",
        "--hidden",
        "16",
        "--iterations",
        "30",
        "--dropout",
        "0",
        "--eval-every",
        "10",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two_dir = tmp_path / "two"
    two_dir.mkdir()
    launched = subprocess.run(
        torchrun("train", data, "-o", two_dir / "m.saurus", "--batch-size", "8", *common),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert launched.returncode == 0, said(launched.stderr)
    assert "2 processes trained together and ended with the same weights" in launched.stderr
    assert sorted(p.name for p in two_dir.iterdir()) == ["m.saurus", "m.saurus.log.jsonl"]
    one = saurus("train", data, "-o", tmp_path / "one.saurus", "--batch-size", "16", *common)
    assert one.returncode == 0, one.stderr
    a, b = models.load(two_dir / "m.saurus"), models.load(tmp_path / "one.saurus")
    for name, w in b.params.items():
        np.testing.assert_allclose(a.params[name], w, atol=1e-5)


def test_ctrl_c_under_torchrun_stops_between_steps_and_keeps_the_model(tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it: rank 0 stops at
    the next step boundary, both ranks leave together (no gloo abort), and the model file
    holds the run's best weights."""
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    out = tmp_path / "m.saurus"
    args = ("--engine", "torch", "--hidden", "16", "--iterations", "1000000", "--eval-every", "5")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        torchrun("train", data, "-o", out, *args),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        assert process.stderr is not None
        for line in process.stderr:  # wait for rank 0's first evaluation
            if line.startswith("step ") or time.monotonic() > deadline:
                break
        time.sleep(1.0)
        os.killpg(process.pid, signal.SIGINT)
        rest = process.stderr.read()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "terminate called" not in rest and "SIGABRT" not in rest, said(rest)
    assert "interrupted" in rest, said(rest)
    model = models.load(out)
    assert model.kind == "engine" and model.cell == "lstm"
