"""Watching a training run: windowed train loss, validation, best weights, early stopping,
checkpoints and the JSON-lines log.

At every evaluation the validation loss is measured; when it improves, the weights are
copied aside and (with a checkpoint path) saved atomically, so the file on disk always
holds the best model so far and a crash loses at most one evaluation interval. With a
`saver` (resume.py) every evaluation also checkpoints the whole training state, before the
model file. Between evaluations a progress tick (train loss and speed only) goes out every
TICK_SECONDS, so the first sign of life comes within a second or two. On an interrupt the
weights of the moment are evaluated once more and kept if they beat the best.
"""

from __future__ import annotations

import contextlib
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
from saurus.generation.scoring import LossReport
from saurus.training.trainee import Trainee, Weights


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
# after the last save the command still prints and exits (torch's teardown included):
# 0.3 to 0.4 s on a 2-core machine, which the budget counts too
EXIT_SECONDS = 0.3


class Monitor:
    def __init__(
        self,
        model: Trainee,
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
        self.best_params: Weights | None = None
        self.best_step = 0
        self.evals_since_best = 0
        self.start = time.perf_counter() if started is None else started
        self.window_nats, self.window_chars, self.last = 0.0, 0, time.perf_counter()
        self.last_shown = self.last
        self.eval_seconds: float | None = None  # how long the last evaluation took
        self.steps = 0
        self.saver: Callable[[Monitor], None] | None = None  # checkpoints the training state
        self.saved_step: int | None = None  # the step of the last state checkpoint
        self.model_stale = False  # the best weights changed since the model file was written
        self.evaluated_step: int | None = None  # the step of the last evaluation
        self.evaluated_at = time.perf_counter()  # when the last evaluation ended (or training began)
        self.closing: Corpus | None = None  # a final evaluation on this corpus is to come
        self.estimates: dict[int, float] = {}  # estimated seconds of evaluating a corpus, by id
        self.save_seconds = 0.0  # how long writing the model file took, the last time
        self.checkpoint_seconds = 0.0  # the longest checkpoint (state and model) so far
        self.eval_total = 0.0  # seconds spent in evaluations, all together

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
            self.eval_seconds = self.estimate(self.val)
        return self.eval_seconds

    def estimate(self, corpus: Corpus) -> float:
        """Seconds evaluating `corpus` should take, from timing a few of its steps (once)."""
        if id(corpus) not in self.estimates:
            self.estimates[id(corpus)] = self.model.estimate_eval_seconds(corpus)
        return self.estimates[id(corpus)]

    def closing_cost(self) -> float:
        """Seconds the run needs after its last step: the last evaluation and its checkpoint,
        the final one on `closing` (its estimate, scaled by how the evaluations' own estimate
        turned out) and saving the model."""
        cost = self.eval_cost() + self.checkpoint_seconds + self.save_seconds + EXIT_SECONDS
        if self.closing is not None and self.val is not None:
            ratio = self.eval_cost() / max(self.estimate(self.val), 1e-9)
            cost += self.estimate(self.closing) * ratio
        return cost

    def since_evaluation(self) -> float:
        """Seconds of training since the last evaluation."""
        return time.perf_counter() - self.evaluated_at

    def evaluate_on(self, corpus: Corpus) -> LossReport:
        """The loss of the current weights on `corpus` (the final figure)."""
        return self.model.evaluate(corpus)

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
        beat the best so far (without a validation split the latest weights are kept), in
        the model file too. The saved training state is left as it was: a resumed run goes
        on as if it had not stopped."""
        if self.steps in (self.best_step, self.evaluated_step) or not self.model.is_finite():
            return
        val = None if self.val is None else self.validation_loss()
        if val is None or self.best is None or val.nats < self.best.nats:
            self.keep(val)
            self.save_model()

    def keep(self, val: LossReport | None) -> None:
        """The current weights are the best so far: copy them aside (the model file gets
        them at the next `save_checkpoint`)."""
        self.best, self.best_step, self.evals_since_best = val, self.steps, 0
        self.best_params = self.model.copy_weights()
        self.model_stale = True

    def save_checkpoint(self) -> None:
        """Save the training state (with a `saver`), then the model file if the best weights
        changed. In that order a crash between the two leaves the model one best behind the
        state, which --resume puts right; never a state behind its model."""
        began = time.perf_counter()
        if self.saver is not None and self.saved_step != self.steps:
            self.saver(self)
            self.saved_step = self.steps
        if self.model_stale:
            self.save_model()
        self.checkpoint_seconds = max(self.checkpoint_seconds, time.perf_counter() - began)

    def save_model(self) -> None:
        """Write the best weights so far to the model file (the current weights are set
        aside meanwhile and put back)."""
        self.model_stale = False
        if self.checkpoint is None or self.best_params is None:
            return
        current = self.model.copy_weights()
        self.restore_best()
        began = time.perf_counter()
        try:
            extra = {**self.file_meta, "training": {"iterations": self.best_step, "complete": False}}
            save(self.numpy_model(), self.checkpoint, extra=extra)
            self.save_seconds = time.perf_counter() - began
        finally:
            self.model.set_weights(current)

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
        self.eval_total += self.eval_seconds
        self.evaluated_step = self.steps
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
        self.window_nats, self.window_chars = 0.0, 0
        self.save_checkpoint()
        if self.on_progress is not None:
            self.on_progress(progress)
        self.last = self.last_shown = self.evaluated_at = time.perf_counter()  # (not training time)
        return self.patience > 0 and self.evals_since_best >= self.patience

    def validation_loss(self) -> LossReport:
        """The validation loss of the current weights: computed by the model itself where it
        can (the torch backend, without exporting), else by NumPy."""
        assert self.val is not None
        return self.evaluate_on(self.val)

    def numpy_model(self) -> Any:
        """The model with the current weights as NumPy runs it, to save."""
        return self.model.as_numpy()

    def restore_best(self) -> None:
        if self.best_params is not None:
            self.model.set_weights(self.best_params)

    # --- the run's record, for resume.py ---

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What the monitor carries from step to step, as JSON and named arrays (best-*)."""
        best = None if self.best is None else {"total_nats": self.best.total_nats, "chars": self.best.chars}
        meta = {
            "step": self.steps,
            "seconds": self.elapsed,
            "best": best,
            "best_step": self.best_step,
            "has_best": self.best_params is not None,
            "evals_since_best": self.evals_since_best,
            "window": [self.window_nats, self.window_chars],
            "history": [asdict(p) for p in self.history],
            "log": self.log_record(),
        }
        best = {} if self.best_params is None else self.model.weights_as_arrays(self.best_params)
        arrays = {f"best-{k}": w for k, w in best.items()}
        return meta, arrays

    def log_record(self) -> dict[str, Any] | None:
        """The log's path and length now, so that a resumed run cuts what came after."""
        if self.log_path is None or not self.log_started:
            return None
        try:
            return {"path": str(self.log_path.resolve()), "bytes": self.log_path.stat().st_size}
        except OSError:
            return None

    def load_state(self, meta: dict[str, Any], best: dict[str, np.ndarray]) -> None:
        """Continue the record `state()` saved; the time spent counts on from where it was."""
        self.steps = self.saved_step = int(meta["step"])
        self.start = self.start - float(meta["seconds"])
        saved_best = meta["best"]
        self.best = (
            None
            if saved_best is None
            else LossReport(float(saved_best["total_nats"]), int(saved_best["chars"]))
        )
        self.best_step, self.evals_since_best = int(meta["best_step"]), int(meta["evals_since_best"])
        self.window_nats, self.window_chars = float(meta["window"][0]), int(meta["window"][1])
        self.history = [Progress(**p) for p in meta["history"]]
        self.best_params = None
        if meta["has_best"]:
            self.best_params = self.model.weights_from_arrays(best)
        self.continue_log(meta["log"])

    def continue_log(self, record: dict[str, Any] | None) -> None:
        """Append to the run's log, cut back to its length at the checkpoint (a crash may
        have left evaluations that the resumed run makes again)."""
        if self.log_path is None or record is None:
            return
        if str(self.log_path.resolve()) != record["path"]:
            return
        self.log_started = True
        with contextlib.suppress(FileNotFoundError), self.log_path.open("r+b") as f:
            if f.seek(0, 2) > int(record["bytes"]):
                f.truncate(int(record["bytes"]))
