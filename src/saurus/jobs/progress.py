"""A job's progress, read from its training log (MODEL.log.jsonl, one JSON record per
evaluation, written by `saurus train` as it goes).

A reader keeps its place in the file and returns only the whole lines written since, so
a line still being written is read next time. A record becomes a point of the curve:
step, seconds, train and validation loss (nats per character), whether it is the best so
far, and the time left: for a time budget, the budget less the time the job has run;
for a step limit, the steps left at the mean pace so far.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saurus.files.outputs import log_path_for

MAX_RECORD = 1 << 16  # a longer line is not a record of ours


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def eta_of(record: dict[str, Any], options: dict[str, Any], ran: float) -> float | None:
    """Seconds left: of the time budget (the whole command's clock) or of the steps."""
    budget = options.get("time_budget")
    if budget:
        return max(0.0, float(budget) - ran)
    step, steps, seconds = record.get("iteration"), record.get("iterations"), finite(record.get("seconds"))
    if isinstance(step, int) and isinstance(steps, int) and step > 0 and seconds is not None:
        return max(0.0, (steps - step) * seconds / step)
    return None


def point_of(record: dict[str, Any], options: dict[str, Any], ran: float) -> dict[str, Any]:
    """One point of the curve from one log record."""
    return {
        "step": int(record.get("iteration", 0)),
        "seconds": finite(record.get("seconds")),
        "eta": eta_of(record, options, ran),
        "train_loss": finite(record.get("train_nats")),
        "val_loss": finite(record.get("val_nats")),
        "best": bool(record.get("best", False)),
    }


class LogReader:
    """Reads the new records of a training log, from where it stopped last time."""

    def __init__(self, model: Path) -> None:
        self.path = log_path_for(model)
        self.offset = 0

    def new_records(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                if f.seek(0, 2) < self.offset:  # cut back (a resumed run): read it again
                    self.offset = 0
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            if len(line) > MAX_RECORD:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "iteration" in record:
                records.append(record)
        return records


@dataclass
class Progress:
    """The latest point and the best validation loss of a job."""

    step: int = 0
    seconds: float = 0.0
    eta: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None

    def add(self, point: dict[str, Any]) -> None:
        self.step, self.eta = point["step"], point["eta"]
        self.seconds = point["seconds"] if point["seconds"] is not None else self.seconds
        self.train_loss, self.val_loss = point["train_loss"], point["val_loss"]
        val = point["val_loss"]
        if val is not None and (self.best_val_loss is None or val < self.best_val_loss):
            self.best_val_loss = val


def progress_of(model: Path, options: dict[str, Any], started: float | None) -> Progress:
    """The progress a job's log shows now."""
    progress = Progress()
    ran = time.time() - started if started else 0.0
    for record in LogReader(model).new_records():
        progress.add(point_of(record, options, ran))
    return progress
