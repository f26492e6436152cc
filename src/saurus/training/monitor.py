"""Watching a training run: windowed train loss, validation, best weights, early stopping,
checkpoints and the JSON-lines log.

At every evaluation the validation loss is measured; when it improves, the weights are
copied aside and (with a checkpoint path) saved atomically, so the file on disk always
holds the best model so far and a crash loses at most one evaluation interval. Between
evaluations a progress tick (train loss and speed only) goes out every TICK_SECONDS, so
the first sign of life comes within a second or two. On an interrupt the weights of the
moment are evaluated once more and kept if they beat the best.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saurus.data.corpus import Corpus
from saurus.errors import TrainingError
from saurus.files.models import save
from saurus.generation.evaluation import LossReport, estimate_seconds, evaluate


@dataclass(frozen=True)
class Progress:
    iteration: int
    iterations: int | None  # None when the run is bounded by epochs or time only
    train_nats: float  # mean nats/char since the last report
    val_nats: float | None
    chars_per_second: float
    seconds: float
    lr: float
    epoch: float
    evaluated: bool = True  # False for a tick between evaluations (no validation loss)


TICK_SECONDS = 1.0


def copy_of(weights: Any) -> Any:
    """A copy of one weight array: a NumPy array, or a torch tensor (cloned)."""
    return weights.copy() if isinstance(weights, np.ndarray) else weights.clone()


class Monitor:
    def __init__(
        self,
        model: Any,
        val: Corpus | None,
        *,
        lr: float,
        patience: int,
        checkpoint: str | Path | None,
        log: str | Path | None,
        on_progress: Callable[[Progress], None] | None,
        started: float | None = None,
        file_meta: dict[str, Any] | None = None,
    ) -> None:
        self.model, self.val, self.base_lr, self.patience = model, val, lr, patience
        self.checkpoint, self.on_progress = checkpoint, on_progress
        self.file_meta = file_meta or {}
        self.log_path = None if log is None else Path(log)
        self.log_started = False  # an earlier log is replaced only once this run has a record
        self.history: list[Progress] = []
        self.best: LossReport | None = None
        self.best_params: dict[str, np.ndarray] | None = None
        self.best_step = 0
        self.evals_since_best = 0
        self.start = time.perf_counter() if started is None else started
        self.window_nats, self.window_chars, self.last = 0.0, 0, time.perf_counter()
        self.last_shown = self.last
        self.eval_seconds: float | None = None  # how long the last evaluation took
        self.steps = 0

    def add(self, nats: float, chars: int) -> None:
        """Count one training step: `nats` summed over its `chars` predicted characters."""
        self.steps += 1
        self.window_nats += nats
        self.window_chars += chars

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def eval_cost(self) -> float:
        """Seconds an evaluation is expected to take: the last one's, or before any, an
        estimate from timing a few of its steps."""
        if self.val is None:
            return 0.0
        if self.eval_seconds is None:
            own = getattr(self.model, "estimate_eval_seconds", None)
            if own is None:
                self.eval_seconds = estimate_seconds(self.numpy_model(), self.val)
            else:
                self.eval_seconds = own(self.val)
        return self.eval_seconds

    def tick(self, iterations: int | None, lr: float, epoch: float) -> None:
        """Between evaluations: show the train loss and speed every TICK_SECONDS."""
        now = time.perf_counter()
        if self.on_progress is None or now - self.last_shown < TICK_SECONDS:
            return
        self.last_shown = now
        train_nats = self.window_nats / max(self.window_chars, 1)
        speed = self.window_chars / max(now - self.last, 1e-9)
        self.on_progress(
            Progress(self.steps, iterations, train_nats, None, speed, now - self.start, lr, epoch, False)
        )

    def consider_current(self) -> None:
        """After an interrupt: evaluate the weights of the moment once, and keep them if they
        beat the best so far (without a validation split the latest weights are kept)."""
        if self.steps == self.best_step or not self.model.is_finite():
            return
        val = None if self.val is None else self.validation_loss()
        if val is None or self.best is None or val.nats < self.best.nats:
            self.keep(val)

    def keep(self, val: LossReport | None) -> None:
        """The current weights are the best so far: copy them aside and checkpoint them."""
        self.best, self.best_step, self.evals_since_best = val, self.steps, 0
        self.best_params = {k: copy_of(w) for k, w in self.model.params.items()}
        if self.checkpoint is not None:
            extra = {**self.file_meta, "training": {"iterations": self.steps, "complete": False}}
            save(self.numpy_model(), self.checkpoint, extra=extra)

    def report(self, iterations: int | None, lr: float, epoch: float) -> bool:
        """Evaluate, keep the best, checkpoint, log; True when patience has run out."""
        now = time.perf_counter()
        if not self.model.is_finite():
            kept = f"; the best model so far is in {self.checkpoint}" if self.checkpoint and self.best else ""
            raise TrainingError(
                f"training diverged by iteration {self.steps}: the weights became NaN or infinite; "
                f"lower --lr (it is {self.base_lr}){kept}"
            )
        train_nats = self.window_nats / max(self.window_chars, 1)
        speed = self.window_chars / max(now - self.last, 1e-9)
        val = None if self.val is None else self.validation_loss()
        self.eval_seconds = time.perf_counter() - now
        improved = val is not None and (self.best is None or val.nats < self.best.nats)
        if val is None or improved:
            self.keep(val)
        else:
            self.evals_since_best += 1
        progress = Progress(
            self.steps,
            iterations,
            train_nats,
            None if val is None else val.nats,
            speed,
            self.elapsed,
            lr,
            epoch,
        )
        self.history.append(progress)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a" if self.log_started else "w", encoding="utf-8") as f:
                self.log_started = True
                f.write(json.dumps({**asdict(progress), "best": improved or val is None}) + "\n")
        if self.on_progress is not None:
            self.on_progress(progress)
        self.window_nats, self.window_chars = 0.0, 0
        self.last = self.last_shown = time.perf_counter()  # evaluation time is not training time
        return self.patience > 0 and self.evals_since_best >= self.patience

    def validation_loss(self) -> LossReport:
        """The validation loss of the current weights: computed by the model itself where it
        can (the torch engine, without exporting), else by NumPy."""
        assert self.val is not None
        own = getattr(self.model, "evaluate", None)
        return evaluate(self.numpy_model(), self.val) if own is None else own(self.val)

    def numpy_model(self) -> Any:
        """The model as NumPy runs it, to evaluate and save: the model itself, or for the torch
        engine its weights exported (`as_numpy()`)."""
        export = getattr(self.model, "as_numpy", None)
        return self.model if export is None else export()

    def restore_best(self) -> None:
        if self.best_params is not None:
            for k, w in self.best_params.items():
                self.model.params[k][...] = w
