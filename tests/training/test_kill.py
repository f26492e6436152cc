"""Crashes and a full disk: what `saurus train` leaves on disk stays whole and resumable.

SIGKILL at random moments (a fixed seed; 5 kills, SAURUS_LONG_TESTS=1 for 100): after
every kill the model file and the training state load, the state never goes back, the
lock left behind is taken over by the next run, and the chain of resumed runs ends where
a straight run does, bit for bit. A full disk during a save (a failing write or fsync, and
a real tiny tmpfs where this process may mount one) leaves the previous files as they were
and ends `saurus train` in one line with exit status 2.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_resume import LINES, LINES_TEXT, assert_same_run, poll, saurus_train

from saurus import atomic
from saurus.cli import main as cli
from saurus.errors import ModelFileError
from saurus.files import models
from saurus.files.locks import lock_path_for
from saurus.files.model_file import load_model_file
from saurus.training.loop import train_text
from saurus.training.resume import state_path_for

LONG = os.environ.get("SAURUS_LONG_TESTS") == "1"
KILLS = 100 if LONG else 5
KILL_SEED = 20240601
RUN = (
    "--engine",
    "numpy",  # (its start is quick: the kills come within a second or two)
    "--iterations",
    "100000",  # never reached: the kills come first
    "--hidden",
    "16",
    "--dtype",
    "float64",
    "--dropout",
    "0.3",
    "--eval-every",
    "5",
    "--schedule",
    "constant",  # a run to T steps then equals the first T steps of this one
    "--warmup",
    "0",
    "--patience",
    "0",
    "-q",
)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


def state_step(model: Path) -> int:
    """The step of the training state on disk (0: none yet); it must load."""
    path = state_path_for(model)
    return int(load_model_file(path).meta["resume"]["step"]) if path.exists() else 0


def start(data: Path, model: Path, *extra: object) -> subprocess.Popen[str]:
    """`saurus train` on `data` into `model`, resuming its run when there is one."""
    again = ("--resume", model) if state_path_for(model).exists() else ("--overwrite",)
    return subprocess.Popen(
        saurus_train(data, *RUN, "-o", model, *again, *extra),
        env=ENV,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def kill(proc: subprocess.Popen[str]) -> str:
    proc.kill()
    _, err = proc.communicate()
    return err


def test_sigkill_at_random_moments_leaves_a_model_that_loads_and_a_run_that_resumes(tmp_path: Path) -> None:
    data, model = tmp_path / "names.txt", tmp_path / "m.saurus"
    data.write_text(LINES_TEXT)
    moments = random.Random(KILL_SEED)
    steps, stale_locks = [0], 0
    for kill_number in range(KILLS):
        proc = start(data, model)
        if kill_number == 0:  # once a checkpoint is written, however slow this machine starts a run
            poll(lambda: state_step(model) > 0 or proc.poll() is not None)  # noqa: B023
        time.sleep(moments.uniform(0.1, 1.0))  # starting, reading, training, evaluating or saving
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        err = kill(proc)
        assert "error" not in err, err  # the lock the previous kill left was taken over
        if model.exists():
            models.load(model)  # whole, whatever the moment
        steps.append(state_step(model))
        assert steps[-1] >= steps[-2], steps  # never back: each run resumes from the last checkpoint
        stale_locks += lock_path_for(model).exists()
    assert steps[-1] > 0 and stale_locks > 0, (steps, stale_locks)
    end = str(steps[-1] + 20)
    done = subprocess.run(
        saurus_train(data, *RUN, "-o", model, "--resume", model, "--iterations", end),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    straight = tmp_path / "straight.saurus"
    run = subprocess.run(saurus_train(data, *RUN, "-o", straight, "--iterations", end), env=ENV)
    assert run.returncode == 0
    assert_same_run(straight, model)


def test_a_live_run_keeps_its_lock_and_a_killed_one_gives_it_up(tmp_path: Path) -> None:
    """While a run is alive (here stopped), --resume is refused and names it; once it is
    killed, its lock file is stale and --resume takes it over."""
    data, model = tmp_path / "names.txt", tmp_path / "m.saurus"
    data.write_text(LINES_TEXT)
    proc = start(data, model)
    try:
        poll(lambda: state_step(model) > 0 or proc.poll() is not None)
        proc.send_signal(signal.SIGSTOP)
        refused = subprocess.run(
            saurus_train(data, *RUN, "-o", model, "--resume", model), env=ENV, capture_output=True, text=True
        )
        assert refused.returncode == 2 and f"pid {proc.pid}" in refused.stderr, refused.stderr
    finally:
        kill(proc)
    assert lock_path_for(model).exists()  # left behind by the killed run
    at = state_step(model)
    end = str(at + 10)
    resumed = subprocess.run(
        saurus_train(data, *RUN, "-o", model, "--resume", model, "--iterations", end),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"for {end} steps" in resumed.stderr
    assert not lock_path_for(model).exists()


# ---------------------------------------------------------------- a full disk


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture
def disk_fills(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, int, Path], dict[str, bytes]]]:
    """`fill(how, after, folder)`: the atomic writes after the first `after` fail with ENOSPC,
    at the fsync ("fsync") or halfway through writing the data ("write"); returns the files
    of `folder` as they were just before the failing save began (filled in then)."""
    before: dict[str, bytes] = {}

    def fill(how: str, after: int, folder: Path) -> dict[str, bytes]:
        count = [0]
        if how == "fsync":
            real = os.fsync

            def fsync(fd: int) -> None:
                count[0] += 1
                if count[0] > after:
                    raise no_space()
                real(fd)

            monkeypatch.setattr(atomic.os, "fsync", fsync)
        else:
            real_fdopen = os.fdopen

            def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
                count[0] += 1
                handle = real_fdopen(fd, *args, **kwargs)
                return handle if count[0] <= after else HalfFull(handle)

            monkeypatch.setattr(atomic.os, "fdopen", fdopen)
        original = atomic.atomic_writer

        def writer(path: str | Path) -> Any:
            if count[0] == after and not before:
                before.update(files_of(folder))
            return original(path)

        monkeypatch.setattr(atomic, "atomic_writer", writer)
        return before

    yield fill


class HalfFull:
    """A file whose disk fills after 1000 bytes."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.written = handle, 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > 1000:
            raise no_space()
        return int(self.handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> HalfFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.mark.parametrize("how", ["fsync", "write"])
def test_a_full_disk_during_a_save_leaves_the_previous_files(
    tmp_path: Path, disk_fills: Callable[[str, int, Path], dict[str, bytes]], how: str
) -> None:
    model = tmp_path / "m.saurus"
    cfg = replace(LINES, iterations=200, eval_every=10, dropout=0.0)
    before = disk_fills(how, 6, tmp_path)
    with pytest.raises(ModelFileError, match="no space left on device"):
        train_text(LINES_TEXT, cfg, checkpoint=model, log=tmp_path / "m.log.jsonl")
    after = files_of(tmp_path)
    assert {model.name, state_path_for(model).name} <= set(before)
    assert {k: v for k, v in after.items() if k != "m.log.jsonl"} == {
        k: v for k, v in before.items() if k != "m.log.jsonl"
    }  # no temporary file left, the model and the state as they were
    models.load(model)
    assert state_step(model) > 0


def test_saurus_train_on_a_full_disk_ends_in_one_line(
    tmp_path: Path,
    disk_fills: Callable[[str, int, Path], dict[str, bytes]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, out = tmp_path / "data" / "names.txt", tmp_path / "out"
    data.parent.mkdir()
    data.write_text(LINES_TEXT)
    out.mkdir()
    model = out / "m.saurus"
    before = disk_fills("fsync", 4, out)
    options = ["--hidden", "16", "--eval-every", "10", "--iterations", "200", "-q"]
    code = cli.main(["train", str(data), "-o", str(model), *options])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no space left on device" in err[0], err
    assert files_of(out).keys() == before.keys()
    assert files_of(out)[model.name] == before[model.name]
    models.load(model)


def pages(n: int) -> int:
    return -(-n // 4096)


def test_a_real_full_tmpfs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a tmpfs with room for one checkpoint but not for a second beside it, the second
    save fails: the first model and state stay, whole."""
    data = tmp_path / "names.txt"
    data.write_text(LINES_TEXT)
    sized = tmp_path / "sized.saurus"
    args = [str(data), "--hidden", "64", "--eval-every", "10", "--iterations", "30", "--val-fraction", "0.1"]
    assert cli.main(["train", *args, "-o", str(sized), "-q"]) == 0
    capsys.readouterr()
    state, model = state_path_for(sized).stat().st_size, sized.stat().st_size
    room = pages(state) + pages(model) + 4 + pages(state) // 2  # + log, two locks, a probe
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={room * 4}k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or not allowed)")
    try:
        target = disk / "m.saurus"
        code = cli.main(["train", *args, "-o", str(target), "-q"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "no space left on device" in err[0], err
        assert models.load(target).params.keys() == models.load(sized).params.keys()
        assert state_step(target) == 10  # the first checkpoint, whole
        assert not [p for p in disk.iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
