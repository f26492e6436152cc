"""The progress bar of `saurus train` (on a terminal, in a pipe, on Ctrl-C) and the training
curves of `saurus plot` and `saurus train --plot`: the numbers drawn are the log's."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from helpers import NAMES, tiny_lines_model

from saurus import plot
from saurus.cli.main import main
from saurus.cli.progress import ProgressLine, format_progress, run_fraction, seconds_left
from saurus.files import models
from saurus.training.monitor import Progress

pytest.importorskip("tqdm")
matplotlib = pytest.importorskip("matplotlib")

BAR = re.compile(r"\d+%\|[^|\r\n]*\| step (\d+)/300 \[\d\d:\d\d<\d\d:\d\d, epoch [\d.]+  train [\d.]+")
PLAIN = re.compile(
    r"^step \d+/300  epoch [\d.]+  train [\d.]+(  val [\d.]+)? nats/char  [\d,]+ chars/s  \d+ s$"
)
SMALL = ("--hidden", "16", "--batch-size", "8", "--threads", "1")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress(step: int, seconds: float, *, total: int | None = None, val: float | None = 2.25) -> Progress:
    return Progress(step, total, 2.5, val, 12345.6, seconds, 0.01, 1.5, val is not None)


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text(NAMES * 4)
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def read_until(fd: int, proc: subprocess.Popen[bytes], done: re.Pattern[str] | None, limit: float) -> str:
    """What the pseudo-terminal shows until `done` matches (None: until the process ends)."""
    out, deadline = b"", time.monotonic() + limit
    while time.monotonic() < deadline:
        if done is not None and done.search(out.decode(errors="replace")):
            break
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the process ended and closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None and done is None:
            break
    return out.decode(errors="replace")


def in_terminal(*args: str | Path) -> tuple[int, subprocess.Popen[bytes]]:
    """Start `python -m saurus ARGS` on a 150-column pseudo-terminal; its master end and process."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "saurus", *map(str, args)], stdin=slave, stdout=slave, stderr=slave, env=env()
    )
    os.close(slave)
    return master, proc


# -- the bar's numbers ------------------------------------------------------------------------


def test_the_run_fraction_is_the_further_of_steps_and_time() -> None:
    assert run_fraction(progress(30, 5.0, total=300), None) == pytest.approx(0.1)
    assert run_fraction(progress(30, 15.0), 60.0) == pytest.approx(0.25)
    assert run_fraction(progress(30, 15.0, total=300), 60.0) == pytest.approx(0.25)
    assert run_fraction(progress(150, 15.0, total=300), 60.0) == pytest.approx(0.5)
    assert run_fraction(progress(30, 70.0), 60.0) == 1.0  # the last evaluation runs past the budget
    assert run_fraction(progress(30, 5.0), None) is None


def test_the_time_left_is_the_sooner_end() -> None:
    assert seconds_left(progress(100, 24.0), 60.0, None) == pytest.approx(36.0)
    assert seconds_left(progress(100, 10.0, total=300), None, 10.0) == pytest.approx(20.0)
    assert seconds_left(progress(100, 10.0, total=300), 15.0, 10.0) == pytest.approx(5.0)
    assert seconds_left(progress(100, 10.0, total=300), 60.0, 10.0) == pytest.approx(20.0)
    assert seconds_left(progress(100, 10.0), None, 10.0) is None


def test_a_terminal_gets_a_bar_of_the_steps_with_the_time_left() -> None:
    """300 steps: 100 done at 10 s (10 steps/s so far: 20 s left), then 200 at 15 s
    (20 steps/s since: 5 s left); the losses and speed follow the bar."""
    screen = FakeTerminal()
    line = ProgressLine(screen, unit="token")
    line.show(progress(100, 10.0, total=300))
    line.show(progress(200, 15.0, total=300, val=None))
    line.close()
    text = screen.getvalue()
    first, second, final = text.split("\r")[1:]
    assert first.startswith(" 33%|") and "| step 100/300 [00:10<00:20, epoch 1.5  train 2.5000" in first
    assert "val 2.2500 nats/token  12,346 tokens/s]" in first
    assert second.startswith(" 67%|") and "step 200/300 [00:15<00:05," in second
    assert "val 2.2500 nats/token" in second  # a tick shows the last validation loss
    assert final == second + "\n"  # closed: the last state stays, and what follows starts a fresh line


def test_under_a_time_budget_the_bar_counts_the_seconds() -> None:
    screen = FakeTerminal()
    line = ProgressLine(screen, budget_seconds=60.0)
    line.show(progress(100, 24.0))
    line.close()
    shown = screen.getvalue().split("\r")[1]
    assert shown.startswith(" 40%|") and "| step 100  24/60 s [00:24<00:36, " in shown
    assert "nats/char  12,346 chars/s]" in shown


def test_a_pipe_gets_the_plain_lines_and_quiet_gets_nothing() -> None:
    pipe = io.StringIO()
    line = ProgressLine(pipe, budget_seconds=60.0)
    shown = [
        progress(100, 1.0, total=300),
        progress(120, 3.0, total=300, val=None),
        progress(200, 12.0, total=300),
    ]
    for p in shown:
        line.show(p)
    line.close()
    assert pipe.getvalue() == format_progress(shown[0]) + "\n" + format_progress(shown[2]) + "\n"
    quiet = FakeTerminal()
    line = ProgressLine(quiet, quiet=True)
    line.show(shown[0])
    line.close()
    assert quiet.getvalue() == ""


# -- the bar as a user sees it ------------------------------------------------------------------


def test_train_on_a_terminal_draws_a_tqdm_bar_and_in_a_pipe_plain_lines(
    names_file: Path, tmp_path: Path
) -> None:
    fd, proc = in_terminal("train", names_file, "-o", tmp_path / "t.saurus", "--iterations", "300", *SMALL)
    try:
        screen = read_until(fd, proc, None, 120)
    finally:
        os.close(fd)
    assert proc.wait(timeout=60) == 0, screen
    bars = BAR.findall(screen)
    assert bars and bars[-1] == "300", screen
    assert re.search(r"100%\|[^|\r\n]*\| step 300/300 \[\d\d:\d\d<00:00", screen), screen
    assert "\r\ntrained on " in screen and "%|" not in screen.split("trained on")[1]  # closed first

    piped = subprocess.run(
        [
            sys.executable,
            "-m",
            "saurus",
            "train",
            names_file,
            "-o",
            tmp_path / "p.saurus",
            "--iterations",
            "300",
            *SMALL,
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    lines = piped.stderr.splitlines()
    progress_lines = [x for x in lines if x.startswith("step ")]
    assert progress_lines and all(PLAIN.match(x) for x in progress_lines), lines
    assert "\r" not in piped.stderr and "%|" not in piped.stderr
    assert progress_lines[-1].startswith("step 300/300 ")


def test_ctrl_c_on_a_terminal_closes_the_bar_and_still_draws_the_curves(
    names_file: Path, tmp_path: Path
) -> None:
    model = tmp_path / "c.saurus"
    fd, proc = in_terminal(
        "train", names_file, "-o", model, "--iterations", "10000000", "--eval-every", "50", "--plot", *SMALL
    )
    try:
        before = read_until(fd, proc, re.compile(r"step [1-9]\d*/10000000 .*val "), 120)
        proc.send_signal(signal.SIGINT)
        after = read_until(fd, proc, None, 120)
    finally:
        os.close(fd)
    assert proc.wait(timeout=60) == 130, before + after
    assert re.search(r"\d+%\|", before), before
    screen = before + after
    assert "]\r\ntrained on " in screen and "\r\ninterrupted after" in screen, (
        screen
    )  # the bar ended its line
    tail = screen.split("trained on")[1]
    assert "%|" not in tail and f"drew the loss curves in {model}.png" in tail
    assert Path(f"{model}.png").read_bytes().startswith(PNG_SIGNATURE)


# -- saurus plot ---------------------------------------------------------------------------------


def write_log(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def record(step: int, seconds: float, train: float, val: float | None) -> dict[str, object]:
    return {
        "iteration": step,
        "iterations": 300,
        "train_nats": train,
        "val_nats": val,
        "chars_per_second": 1000.0,
        "seconds": seconds,
        "lr": 0.01,
        "epoch": step / 100,
        "evaluated": True,
        "best": True,
    }


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    a = write_log(tmp_path / "a.saurus.log.jsonl", [record(100, 1.5, 2.5, 2.4), record(200, 2.75, 2.0, 2.1)])
    b = write_log(
        tmp_path / "b.saurus.log.jsonl",
        [record(50, 0.5, 3.0, None), record(150, 1.25, 2.2, 2.3), record(300, 3.0, 1.9, 2.05)],
    )
    return [a, b]


def test_the_curves_drawn_are_the_logs_numbers(logs: list[Path]) -> None:
    runs = plot.read_logs(logs)
    assert [r.name for r in runs] == ["a.saurus.log.jsonl", "b.saurus.log.jsonl"]
    assert runs[1].steps == [50, 150, 300] and runs[1].val == [None, 2.3, 2.05]
    fig = plot.make_figure(runs)
    by_step, by_time = fig.axes
    drawn = {
        (ax, line.get_label()): (list(line.get_xdata()), list(line.get_ydata()))
        for ax in (by_step, by_time)
        for line in ax.lines
    }
    assert drawn[(by_step, "a.saurus.log.jsonl: train")] == ([100, 200], [2.5, 2.0])
    assert drawn[(by_step, "a.saurus.log.jsonl: validation")] == ([100, 200], [2.4, 2.1])
    assert drawn[(by_time, "a.saurus.log.jsonl: train")] == ([1.5, 2.75], [2.5, 2.0])
    assert drawn[(by_step, "b.saurus.log.jsonl: validation")] == ([150, 300], [2.3, 2.05])  # no None
    assert drawn[(by_time, "b.saurus.log.jsonl: validation")] == ([1.25, 3.0], [2.3, 2.05])
    assert drawn[(by_time, "b.saurus.log.jsonl: train")] == ([0.5, 1.25, 3.0], [3.0, 2.2, 1.9])
    legend = [t.get_text() for t in by_time.get_legend().get_texts()]
    assert legend[:2] == ["a.saurus.log.jsonl", "b.saurus.log.jsonl"]


def test_two_logs_of_one_name_are_told_apart_by_path(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    paths = [write_log(tmp_path / d / "m.log.jsonl", [record(1, 1.0, 2.0, 2.0)]) for d in ("x", "y")]
    assert [r.name for r in plot.read_logs(paths)] == [str(p) for p in paths]


def test_saurus_plot_writes_a_png_and_keeps_what_is_there(
    logs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from matplotlib.image import imread

    out = tmp_path / "pics" / "curves.png"
    assert main(["plot", *map(str, logs), "-o", str(out)]) == 0
    assert f"drew 2 runs (5 evaluations) in {out}" in capsys.readouterr().err
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert imread(out).shape[:2] == (495, 1210)  # 11 x 4.5 inches at 110 dpi
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())

    assert main(["plot", str(logs[0]), "-o", str(out)]) == 2
    assert "already exists (a PNG picture); pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == data
    assert main(["plot", str(logs[0]), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != data and out.read_bytes().startswith(PNG_SIGNATURE)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    ("output", "overwrite", "message"),
    [
        ("a.saurus.log.jsonl", True, "refusing to write the picture over"),  # an input
        ("m.saurus", True, "ending in .png, .svg or .pdf"),
        ("notes.png", True, "refusing to overwrite"),  # exists, and is not a PNG
        ("pics", False, "is a folder"),
        ("curves.jpg", False, "ending in .png, .svg or .pdf"),
    ],
)
def test_saurus_plot_refuses_outputs_it_must_not_write(
    logs: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output: str,
    overwrite: bool,
    message: str,
) -> None:
    (tmp_path / "notes.png").write_text("my notes")
    (tmp_path / "pics").mkdir()
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    args = ["plot", str(logs[0]), "-o", str(tmp_path / output), *(["--overwrite"] if overwrite else [])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_saurus_plot_never_writes_over_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_log(tmp_path / "run.png", [record(1, 1.0, 2.0, 2.0)])
    before = log.read_bytes()
    assert main(["plot", str(log), "-o", str(log), "--overwrite"]) == 2
    assert "refusing to write the picture over" in capsys.readouterr().err
    assert log.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "holds no evaluations"),
        (b"\n\n", "holds no evaluations"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"anna\nbob\n", ":1: not a saurus training log record (not JSON)"),
        (b"[1, 2]\n", ":1: not a saurus training log record"),
        (
            json.dumps(record(1, 1.0, 2.0, 2.0)).encode() + b'\n{"iteration": 2, "seconds": 2.0}\n',
            ":2: a damaged",
        ),
        (json.dumps({**record(1, 1.0, 2.0, 2.0), "train_nats": "low"}).encode(), "'train_nats'"),
        (json.dumps(record(1, 1.0, 2.0, 2.0)).encode() + b'\n{"iteration": 2, "seco', ":2: not a saurus"),
    ],
)
def test_saurus_plot_refuses_a_bad_log_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    log = tmp_path / "bad.log.jsonl"
    log.write_bytes(content)
    assert main(["plot", str(log), "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("saurus plot: error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err and str(log) in err, err
    assert not (tmp_path / "c.png").exists()


def test_saurus_plot_names_a_missing_log_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "c.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "c.png")]) == 2
    assert "is a folder, not a training log" in capsys.readouterr().err
    model = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), model)
    assert main(["plot", str(model), "-o", str(tmp_path / "c.png")]) == 2
    assert f"is a model file, not a training log; plot its log, {model}.log.jsonl" in capsys.readouterr().err


def test_without_matplotlib_plot_and_train_plot_say_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    logs: list[Path],
    names_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = plot.importlib.util.find_spec
    monkeypatch.setattr(
        plot.importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name)
    )
    hint = "needs the 'plot' extra: pip install 'saurus[plot]'"
    assert main(["plot", str(logs[0]), "-o", str(tmp_path / "c.png")]) == 2
    assert capsys.readouterr().err.strip() == f"saurus plot: error: {hint}"
    model = tmp_path / "m.saurus"
    assert main(["train", str(names_file), "-o", str(model), "--iterations", "5", "--plot", *SMALL[:4]]) == 2
    assert capsys.readouterr().err.strip() == f"saurus train: error: {hint}"
    assert not model.exists() and not Path(f"{model}.log.jsonl").exists()  # refused before training


# -- saurus train --plot -------------------------------------------------------------------------


def test_train_plot_saves_the_curves_beside_the_model(
    names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.saurus"
    args = [
        "train",
        str(names_file),
        "-o",
        str(model),
        "--iterations",
        "60",
        "--eval-every",
        "20",
        "--plot",
        *SMALL[:4],
    ]
    assert main(args) == 0
    err = capsys.readouterr().err.strip().splitlines()
    picture = tmp_path / "m.saurus.png"
    assert (
        err[-2] == f"saved {model} (log: {model}.log.jsonl)"
        and err[-1] == f"drew the loss curves in {picture}"
    )
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    run = plot.read_log(Path(f"{model}.log.jsonl"))
    assert run.steps == [20, 40, 60]

    picture.write_bytes(b"\x89PNG\r\n\x1a\nold")
    assert main(args) == 2  # the model is there: refused as before, the picture untouched
    assert main([*args, "--overwrite"]) == 0
    assert picture.read_bytes() != b"\x89PNG\r\n\x1a\nold"


def test_train_plot_refuses_an_existing_picture_before_training(
    names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.saurus"
    (tmp_path / "m.saurus.png").write_text("my drawing")
    assert main(["train", str(names_file), "-o", str(model), "--iterations", "5", "--plot", *SMALL[:4]]) == 2
    err = capsys.readouterr().err
    assert "m.saurus.png: it is not a PNG picture" in err and len(err.strip().splitlines()) == 1
    assert not model.exists() and (tmp_path / "m.saurus.png").read_text() == "my drawing"
