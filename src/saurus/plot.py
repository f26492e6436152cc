"""`saurus plot`: training curves from the JSON-lines logs.

Each log (MODEL.log.jsonl) holds one record per evaluation (the fields of
training.monitor.Progress plus "best"). The picture has two panels, the loss against steps
and against seconds; each run has its colour, its training loss dashed and its validation
loss solid, and the legend names the runs by file name. matplotlib (the `plot` extra) draws
it off screen (Agg); it is imported only when a picture is drawn.
"""

from __future__ import annotations

import importlib.util
import json
import math
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saurus.atomic import atomic_writer
from saurus.errors import DataError, SaurusError, os_reason
from saurus.files.outputs import is_model_file, log_path_for

PLOT_EXTRA = "needs the 'plot' extra: pip install 'saurus[plot]'"
MAX_LOG_BYTES = 256 * 1024**2
# what a picture of each kind starts with (SVG: an XML declaration or the svg element)
NUMBERS = ("iteration", "seconds", "train_nats")  # every record has them; val_nats may be null


class PlotExtraMissingError(SaurusError):
    """matplotlib, the `plot` extra, is not installed."""


@dataclass(frozen=True)
class Run:
    """One training log's curves: one entry per evaluation."""

    name: str
    steps: list[int]
    seconds: list[float]
    train: list[float]
    val: list[float | None]  # None where the run had no validation split


def require_matplotlib() -> None:
    """Fail in one line, before any work, when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotExtraMissingError(PLOT_EXTRA)


def read_lines(path: Path) -> list[str]:
    """The lines of a log file, or a DataError saying why it cannot be one."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise DataError(f"{path} is a folder, not a training log")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path} is not a regular file, not a training log")
        if info.st_size > MAX_LOG_BYTES:
            raise DataError(f"{path} is too large to be a training log ({info.st_size:,} bytes)")
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {os_reason(err)}") from None
    if is_model_file(path):
        raise DataError(f"{path} is a model file, not a training log; plot its log, {log_path_for(path)}")
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a saurus training log (not UTF-8 text)") from None


def number(record: dict[str, Any], key: str) -> float:
    """A record's number; a missing or non-numeric field is a KeyError/TypeError."""
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(key)
    return float(value)


def parse_record(line: str, where: str) -> tuple[int, float, float, float | None]:
    """(step, seconds, train loss, validation loss or None) of one log line."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise DataError(f"{where}: not a saurus training log record (not JSON)") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: not a saurus training log record")
    try:
        step, seconds, train = (number(record, k) for k in NUMBERS)
        val = None if record.get("val_nats") is None else number(record, "val_nats")
    except (KeyError, TypeError) as err:
        raise DataError(f"{where}: a damaged training log record (no number for {err.args[0]!r})") from None
    if step != int(step) or step < 0 or not math.isfinite(seconds):
        raise DataError(f"{where}: a damaged training log record (step {step:g}, {seconds:g} s)")
    return int(step), seconds, train, val


def read_log(path: Path, name: str | None = None) -> Run:
    """The curves of one training log; a missing, empty, damaged or foreign file is a
    DataError naming the file (and the line)."""
    records = [
        parse_record(line, f"{path}:{lineno}")
        for lineno, line in enumerate(read_lines(path), start=1)
        if line.strip()
    ]
    if not records:
        raise DataError(f"{path} holds no evaluations: not a saurus training log, or one not yet written")
    steps, seconds, train, val = (list(column) for column in zip(*records, strict=True))
    return Run(name or path.name, steps, seconds, train, val)


def read_logs(paths: list[Path]) -> list[Run]:
    """Every log's curves, named by file name (by the path given where two names clash)."""
    names = [p.name for p in paths]
    return [read_log(p, p.name if names.count(p.name) == 1 else str(p)) for p in paths]


def plotted(value: float | None) -> float:
    """A loss as drawn: missing or infinite values are gaps (NaN)."""
    return math.nan if value is None or not math.isfinite(value) else value


def series(run: Run) -> dict[str, tuple[list[float], list[float]]]:
    """The (x, y) data the picture draws for a run: the training and validation loss
    against steps and against seconds (validation only where it was measured)."""
    measured = [i for i, v in enumerate(run.val) if v is not None]
    val = [plotted(run.val[i]) for i in measured]
    train = [plotted(t) for t in run.train]
    return {
        "train by step": ([float(s) for s in run.steps], train),
        "validation by step": ([float(run.steps[i]) for i in measured], val),
        "train by time": (list(run.seconds), train),
        "validation by time": ([run.seconds[i] for i in measured], val),
    }


def make_figure(runs: list[Run]) -> Any:
    """A matplotlib Figure (Agg canvas, no display) with the loss against steps and time;
    each line's label is "NAME: train" or "NAME: validation"."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    by_step, by_time = fig.subplots(1, 2, sharey=True)
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for run, colour in zip(runs, colours, strict=True):
        data = series(run)
        few = len(run.steps) <= 30  # markers show where the evaluations were
        for ax, x in ((by_step, "step"), (by_time, "time")):
            train_x, train_y = data[f"train by {x}"]
            val_x, val_y = data[f"validation by {x}"]
            ax.plot(train_x, train_y, "--", color=colour, alpha=0.7, label=f"{run.name}: train")
            ax.plot(
                val_x,
                val_y,
                "-",
                color=colour,
                marker="o" if few else None,
                ms=3,
                label=f"{run.name}: validation",
            )
    by_step.set(title="loss against steps", xlabel="step", ylabel="loss (nats per character or token)")
    by_time.set(title="loss against time", xlabel="seconds")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, label=run.name) for run, c in zip(runs, colours, strict=True)]
    handles += [
        Line2D([], [], color="grey", ls="-", label="validation"),
        Line2D([], [], color="grey", ls="--", label="train"),
    ]
    by_time.legend(handles=handles, fontsize="small")
    return fig


def save_figure(fig: Any, path: Path) -> None:
    """Write the picture atomically (a temporary file beside it, then renamed), with the
    permissions `open()` would give."""
    with atomic_writer(path) as handle:
        fig.savefig(handle, format=path.suffix.lower()[1:], dpi=110)


def draw(logs: list[Path], output: Path) -> list[Run]:
    """Read the logs and save their curves to `output` (checked beforehand)."""
    runs = read_logs(logs)
    save_figure(make_figure(runs), output)
    return runs


def picture_path_for(model: Path) -> Path:
    """Where `train --plot` puts the curves: beside the model, MODEL.png."""
    return model.with_name(model.name + ".png")


def draw_after_training(log: Path, picture: Path) -> str | None:
    """Draw a finished (or interrupted) run's curves: None, or the warning that says why
    none were drawn (no evaluation logged, a picture that cannot be written; the model is
    saved already)."""
    try:
        if not log.is_file() or not log.stat().st_size:
            return f"no evaluation was logged, so no curves were drawn in {picture}"
        draw([log], picture)
    except (SaurusError, OSError) as err:
        reason = err if isinstance(err, SaurusError) else os_reason(err)
        return f"warning: could not draw the curves in {picture}: {reason}"
    return None
