"""Resuming a run exactly: 200 steps straight equal 100 steps, a stop, and a resume to 200.

The NumPy engine in float64 is compared bit for bit: the weights of the model file, every
array of the training state (current and best weights, optimizer slots, the carried stream
state), the evaluation history and the log. Stops: the step limit (a constant schedule,
whose learning rates do not depend on the run's length), SIGINT and SIGTERM in this process
(the default warmup + cosine schedule, planned for the whole run), and both signals sent
to `saurus train` after its Nth checkpoint. torch on the CPU is held to the same standard:
its tolerance is zero, since the same process repeats the same kernels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import find_data_dir

from saurus.cli import main as cli
from saurus.errors import DataError, ModelFileError, OptionError
from saurus.files import models
from saurus.files.model_file import load_model_file
from saurus.training.config import torch_available
from saurus.training.interrupts import sigterm_as_interrupt
from saurus.training.loop import TrainConfig, TrainResult, train_text
from saurus.training.monitor import Monitor
from saurus.training.resume import state_path_for

DINOS_PATH = find_data_dir() / "dinos.txt"
if not DINOS_PATH.is_file():  # the cases are built from it at collection
    if os.environ.get("CI") == "true":
        raise FileNotFoundError(f"{DINOS_PATH} is missing (needed under CI)")
    pytest.skip(f"the shared corpora are not at {DINOS_PATH.parent}", allow_module_level=True)
DINOS = DINOS_PATH.read_text()
LINES_TEXT = "\n".join(DINOS.splitlines()[:240]) + "\n"
STREAM_TEXT = DINOS[:5000]
# labelled names: the dinosaurs sorted into three made-up categories by their first letter
LABELLED_TEXT = "".join(f"{n}\t{'abcdefgh'.find(n[0].lower()) // 3}\n" for n in LINES_TEXT.split())
F64 = {
    "engine": "numpy",
    "hidden": 24,
    "dropout": 0.3,
    "dtype": "float64",
    "lr": 0.01,
    "weight_decay": 0.01,  # given, as lr is: the planner's would follow each run's own limit
    "eval_every": 20,
    "patience": 0,
}
LINES = TrainConfig(batch_size=16, **F64)  # type: ignore[arg-type]
STREAM = TrainConfig(mode="stream", batch_size=8, seq_len=16, batching="consecutive", **F64)  # type: ignore[arg-type]
CONSTANT = {"schedule": "constant", "warmup": 0.0}
BOTH_MODES = pytest.mark.parametrize(
    ("text", "cfg"), [(LINES_TEXT, LINES), (STREAM_TEXT, STREAM)], ids=["lines", "stream"]
)
TIMING = ("seconds", "chars_per_second", "iterations")  # what may differ between two equal runs


def train(tmp: Path, name: str, text: str, cfg: TrainConfig, **kwargs: Any) -> TrainResult:
    """Train with a model file and a log in `tmp`; `resume=True` continues that model's run."""
    model = tmp / name
    if kwargs.pop("resume", False):
        kwargs["resume"] = model
    return train_text(text, cfg, checkpoint=model, log=tmp / f"{name}.log.jsonl", **kwargs)


def state_of(model: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    saved = load_model_file(state_path_for(model))
    return saved.meta["resume"], saved.arrays


def log_of(path: Path) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIMING}
        for line in path.read_text().splitlines()
    ]


def assert_same_run(a: Path, b: Path) -> None:
    """Two model files, their training states and logs hold the same run, bit for bit."""
    ma, mb = models.load(a), models.load(b)
    assert ma.params.keys() == mb.params.keys()
    for name, w in ma.params.items():
        assert np.array_equal(w, mb.params[name]), name
    (sa, arrays_a), (sb, arrays_b) = state_of(a), state_of(b)
    assert arrays_a.keys() == arrays_b.keys()
    for name, w in arrays_a.items():
        assert np.array_equal(w, arrays_b[name]), name
    for key in ("step", "best", "best_step", "evals_since_best", "window", "trainer", "data"):
        assert sa[key] == sb[key], key
    assert [{k: v for k, v in p.items() if k not in TIMING} for p in sa["history"]] == [
        {k: v for k, v in p.items() if k not in TIMING} for p in sb["history"]
    ]
    assert log_of(Path(f"{a}.log.jsonl")) == log_of(Path(f"{b}.log.jsonl"))


@BOTH_MODES
def test_the_step_limit_then_resume_equals_a_straight_run(
    tmp_path: Path, text: str, cfg: TrainConfig
) -> None:
    cfg = replace(cfg, **CONSTANT)  # type: ignore[arg-type]
    straight = train(tmp_path, "straight.saurus", text, replace(cfg, iterations=200))
    first = train(tmp_path, "resumed.saurus", text, replace(cfg, iterations=100))
    assert first.iterations_done == 100 and first.stopped_by == "steps"
    resumed = train(tmp_path, "resumed.saurus", text, replace(cfg, iterations=200), resume=True)
    assert resumed.iterations_done == straight.iterations_done == 200
    assert resumed.best_iteration == straight.best_iteration
    assert resumed.val is not None and straight.val is not None and resumed.val.nats == straight.val.nats
    assert [p.val_nats for p in resumed.history] == [p.val_nats for p in straight.history]
    assert_same_run(tmp_path / "straight.saurus", tmp_path / "resumed.saurus")
    if cfg.mode == "stream":  # the state carried from batch to batch was saved and put back
        meta, arrays = state_of(tmp_path / "resumed.saurus")
        assert meta["trainer"]["carry"] == [2] and arrays["carry-0-0"].shape == (8, 24)


def signal_at(monkeypatch: pytest.MonkeyPatch, step: int, signum: int) -> None:
    """Send `signum` to this process in the middle of training step `step` (not at an
    evaluation), as a user would at any moment."""
    original = Monitor.add

    def add(self: Monitor, nats: float, chars: int) -> None:
        original(self, nats, chars)
        if self.steps == step:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(Monitor, "add", add)


LABELLED = replace(LINES, labelled=True)


@pytest.mark.parametrize(
    ("text", "cfg", "signum"),
    [
        (LINES_TEXT, LINES, signal.SIGINT),
        (STREAM_TEXT, STREAM, signal.SIGTERM),
        (LABELLED_TEXT, LABELLED, signal.SIGINT),
    ],
    ids=["lines-sigint", "stream-sigterm", "labelled-sigint"],
)
def test_a_signal_then_resume_equals_a_straight_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, cfg: TrainConfig, signum: int
) -> None:
    """Stopped at step 107 of 200 (between evaluations, under the cosine schedule planned
    for 200 steps), the run saves its state of that step and resumes to the same end."""
    cfg = replace(cfg, iterations=200)
    straight = train(tmp_path, "straight.saurus", text, cfg)
    with monkeypatch.context() as patch, sigterm_as_interrupt() as terminated:
        signal_at(patch, 107, signum)
        first = train(tmp_path, "resumed.saurus", text, cfg)
    assert first.interrupted and first.iterations_done == 107
    assert terminated[0] == (signum == signal.SIGTERM)
    meta, _ = state_of(tmp_path / "resumed.saurus")
    assert meta["step"] == 107 and meta["window"][1] > 0  # mid-window: the train loss so far is kept
    resumed = train(tmp_path, "resumed.saurus", text, cfg, resume=True)
    assert resumed.iterations_done == 200 and not resumed.interrupted
    assert resumed.best_iteration == straight.best_iteration
    assert_same_run(tmp_path / "straight.saurus", tmp_path / "resumed.saurus")


def test_the_weights_of_the_moment_are_kept_but_the_resumed_run_goes_on_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An interrupt keeps the weights of the moment in the model file when they beat the
    best evaluation; the run itself did not evaluate there, so its state keeps its own
    best, and resuming rewrites the model file from it before going on."""
    cfg = replace(LINES, iterations=200, eval_every=50, dropout=0.0)
    signal_at(monkeypatch, 139, signal.SIGINT)
    first = train(tmp_path, "m.saurus", LINES_TEXT, cfg)
    assert first.best_iteration == 139  # early in training every step helps
    meta, _ = state_of(tmp_path / "m.saurus")
    assert meta["best_step"] == 100 and meta["step"] == 139
    monkeypatch.undo()
    resumed = train(tmp_path, "m.saurus", LINES_TEXT, replace(cfg, iterations=140), resume=True)
    assert resumed.iterations_done == 140 and resumed.best_iteration == 140


def poll(until: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def checkpoints(model: Path) -> int:
    """The evaluations the run at `model` has logged (each one is checkpointed after it)."""
    try:
        return len(Path(f"{model}.log.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


def saurus_train(*args: object) -> list[str]:
    return [sys.executable, "-m", "saurus", "train", *map(str, args)]


CLI_OPTIONS = ("--hidden", "24", "--dtype", "float64", "--dropout", "0.3", "--eval-every", "10", "-q")


@pytest.mark.parametrize(
    ("mode", "signum", "code"),
    [("lines", signal.SIGINT, 130), ("stream", signal.SIGTERM, 143)],
    ids=["lines-sigint", "stream-sigterm"],
)
def test_saurus_train_stopped_by_a_signal_resumes_to_the_straight_run(
    tmp_path: Path, mode: str, signum: int, code: int
) -> None:
    """`saurus train` gets the signal once its third checkpoint is on disk, saves, exits
    with 130 (143); `--resume` takes it to the end of the straight run's 200 steps."""
    data = tmp_path / "data.txt"
    data.write_text(LINES_TEXT if mode == "lines" else STREAM_TEXT)
    options = (data, "--mode", mode, "--iterations", "200", *CLI_OPTIONS)
    model = tmp_path / "m.saurus"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(saurus_train(*options, "-o", model), env=env, stderr=subprocess.PIPE, text=True)
    try:
        poll(lambda: checkpoints(model) >= 3 or proc.poll() is not None)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    meta, _ = state_of(model)
    assert 30 <= meta["step"] < 200
    done = subprocess.run(
        saurus_train(*options, "-o", model, "--resume", model), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    straight = tmp_path / "straight.saurus"
    assert subprocess.run(saurus_train(*options, "-o", straight), env=env).returncode == 0
    assert_same_run(straight, model)


def cli_train(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    """`saurus train ARGS` in this process: (exit status, stderr)."""
    code = cli.main(["train", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.fixture
def trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Path, Path]]:
    """A data file and a model trained on it for 40 steps by `saurus train`."""
    data, model = tmp_path / "names.txt", tmp_path / "m.saurus"
    data.write_text(LINES_TEXT)
    code, err = cli_train(capsys, data, "-o", model, "--hidden", "16", "--iterations", "40", "-q")
    assert code == 0, err
    yield data, model


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_resume_continues_into_the_same_file_and_counts_the_whole_run(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = trained
    code, err = cli_train(capsys, data, "-o", model, "--resume", model, "--iterations", "60", "-q")
    assert code == 0, err
    assert "for 60 steps" in err  # the whole run, resumed part included
    summary = load_model_file(model).meta["training"]
    assert summary["iterations"] == 60 and summary["complete"]
    iterations = [line["iteration"] for line in log_of(Path(f"{model}.log.jsonl"))]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 60  # one log, continued


def test_resume_refuses_what_would_not_continue_the_run(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, model = trained
    other = tmp_path / "other.txt"
    other.write_text(LINES_TEXT.replace("a", "o"))
    cases = [
        ((other, "--iterations", "80"), ("--resume", "data differs from the run's")),
        ((data, "--hidden", "32", "--iterations", "80"), ("--hidden 32 (the run has 16)",)),
        ((data, "--model", "gru", "--iterations", "80"), ("--model gru",)),
        ((data,), ("has done 40 steps", "give a larger --iterations")),
        ((data, "--iterations", "80", "--overwrite"), ("--overwrite starts a new one",)),
    ]
    for args, fragments in cases:
        assert_one_line(*cli_train(capsys, *args, "-o", model, "--resume", model), *fragments)
    elsewhere = tmp_path / "elsewhere.saurus"
    code, err = cli_train(capsys, data, "-o", elsewhere, "--resume", model, "--iterations", "80")
    assert_one_line(code, err, "into its own file", f"-o {model}")
    state_path_for(model).unlink()
    code, err = cli_train(capsys, data, "-o", model, "--resume", model, "--iterations", "80")
    assert_one_line(code, err, "no training state", "m.saurus.resume")


def test_the_api_refuses_changed_data_and_shape(tmp_path: Path) -> None:
    cfg = replace(LINES, iterations=20)
    train(tmp_path, "m.saurus", LINES_TEXT, cfg)
    with pytest.raises(DataError, match="data differs"):
        train(tmp_path, "m.saurus", LINES_TEXT + "zzz\n", replace(cfg, iterations=40), resume=True)
    with pytest.raises(OptionError, match="--layers 2"):
        train(tmp_path, "m.saurus", LINES_TEXT, replace(cfg, iterations=40, layers=2), resume=True)
    with pytest.raises(ModelFileError, match="no model at"):
        train(tmp_path, "none.saurus", LINES_TEXT, cfg, resume=True)


def test_a_foreign_file_where_the_state_goes_is_not_overwritten(tmp_path: Path) -> None:
    state = state_path_for(tmp_path / "m.saurus")
    state.write_text("my notes\n")
    with pytest.raises(ModelFileError, match="not a saurus training state"):
        train(tmp_path, "m.saurus", LINES_TEXT, replace(LINES, iterations=20))
    assert state.read_text() == "my notes\n"


def test_the_time_budget_counts_the_whole_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = replace(LINES, dtype="float32", time_budget=2.0, eval_every=10)
    signal_at(monkeypatch, 30, signal.SIGINT)
    first = train(tmp_path, "m.saurus", LINES_TEXT, cfg)
    assert first.interrupted
    monkeypatch.undo()
    resumed = train(tmp_path, "m.saurus", LINES_TEXT, cfg, resume=True)
    assert resumed.stopped_by == "time budget"
    in_loop = resumed.timings["total"] - resumed.timings["before_training"]
    assert first.seconds < resumed.seconds and in_loop < 2.0 + 1.0  # not 2 s more
    assert resumed.history[0].iteration == first.history[0].iteration  # the history goes on


torch_only = pytest.mark.skipif(not torch_available(), reason="needs the torch extra")


@torch_only
@pytest.mark.parametrize(
    ("text", "cfg"),
    [(LINES_TEXT, LINES), (STREAM_TEXT, STREAM), (LABELLED_TEXT, LABELLED)],
    ids=["lines", "stream", "labelled"],
)
def test_torch_resumes_exactly_on_the_cpu(tmp_path: Path, text: str, cfg: TrainConfig) -> None:
    """torch's weights, Adam's moments, the dropout generator and the carried state come
    back exactly: on the CPU, in one process, the tolerance is zero."""
    cfg = replace(cfg, engine="torch", device="cpu", dtype="float32", hidden=16, iterations=60, eval_every=10)
    straight = train(tmp_path, "straight.saurus", text, cfg)
    with pytest.MonkeyPatch.context() as patch:
        signal_at(patch, 27, signal.SIGINT)
        first = train(tmp_path, "resumed.saurus", text, cfg)
    assert first.interrupted and first.iterations_done == 27
    resumed = train(tmp_path, "resumed.saurus", text, cfg, resume=True)
    assert resumed.iterations_done == 60 and resumed.best_iteration == straight.best_iteration
    assert_same_run(tmp_path / "straight.saurus", tmp_path / "resumed.saurus")
