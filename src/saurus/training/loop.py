"""Training: read a corpus, hold out a validation split, fit a model, keep the best weights.

The recurrent models (LSTM, GRU or RNN) train on padded batches of names or truncated-BPTT chunks
of text with Adam and a warmup + cosine schedule; the classic model keeps its exercise
recipe (per-name SGD, or min-char-rnn's Adagrad). Both stop after a number of steps,
epochs or seconds, or early when the validation loss stops improving, and Ctrl-C
returns the best model so far (the weights of the moment included), marked as
interrupted. A time budget counts from the call, data preparation and the final
evaluation included. The recurrent models and the transformer save their whole training state beside
the model at every checkpoint, and `resume` continues a run from it exactly (resume.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from saurus.data.corpus import LinesCorpus
from saurus.errors import OptionError
from saurus.generation.novelty import name_hashes
from saurus.generation.scoring import LossReport
from saurus.models.optim import Schedule
from saurus.training.build import (
    Setup,
    architecture_of,
    build_run,
    check_memory,
    engine_for_time_left,
    final_validation,
    load_start,
    plan_for,
    prepare_data,
    total_steps,
    training_text,
)
from saurus.training.calibrate import sample_corpus
from saurus.training.config import TrainConfig
from saurus.training.interrupts import step_signals
from saurus.training.monitor import Monitor, Progress
from saurus.training.plan import EVAL_SHARE, Plan
from saurus.training.resume import (
    SavedRun,
    StateSaver,
    check_state_output,
    fingerprint,
    load_run,
    resumable,
    state_path_for,
)
from saurus.training.world import World

__all__ = ["Progress", "TrainConfig", "TrainResult", "train_file", "train_text"]

# --engine auto on the CPU: importing torch and its optimizers' first use take about 3 s
# on a 2-core machine; with less than 8 s left after reading the data NumPy trains longer.


@dataclass
class TrainResult:
    model: Any
    config: TrainConfig
    train_examples: int
    val: LossReport | None
    iterations_done: int
    seconds: float
    interrupted: bool = False
    history: list[Progress] = field(default_factory=list)
    stopped_by: str = "steps"
    best_iteration: int = 0
    ranks: int = 1  # processes that trained together (torchrun)
    ranks_agree: bool | None = None  # whether they ended with the same weights
    plan: Plan | None = None
    val_sampled: bool = False  # the final figure is on a sample of the validation split
    timings: dict[str, float] = field(default_factory=dict)  # where the seconds went

    @property
    def stop_reason(self) -> str:
        """Why the run ended, in words."""
        return STOP_REASONS.get(self.stopped_by, self.stopped_by)

    def summary(self) -> dict[str, object]:
        """Figures worth keeping in the model file."""
        cfg = self.config
        return {
            "model": cfg.model,
            "engine": cfg.engine,
            "ranks": self.ranks,
            "ranks_agree": self.ranks_agree,
            "iterations": self.iterations_done,
            "best_iteration": self.best_iteration,
            "seconds": round(self.seconds, 3),
            "stopped_by": self.stopped_by,
            "interrupted": self.interrupted,
            "seed": cfg.seed,
            "lr": cfg.lr,
            "optimizer": cfg.optimizer,
            "batch_size": cfg.batch_size,
            "seq_len": cfg.seq_len,
            "val_fraction": cfg.val_fraction,
            "split_seed": cfg.split_seed,
            "val_nats_per_char": None if self.val is None else self.val.nats,
            "val_chars": None if self.val is None else self.val.chars,
            "val_sampled": self.val_sampled,
            "complete": not self.interrupted,
            "plan": None if self.plan is None else self.plan.to_json(),
        }


STOP_REASONS = {
    "steps": "reached --iterations",
    "epochs": "reached --epochs",
    "time budget": "spent --time-budget",
    "early stopping": "stopped early: validation stopped improving",
    "interrupted": "interrupted",
}


# Early stopping waits for half the run: the decaying learning rate brings most of the
# late gains (names, 300 s: stopped at 84 s with 1.923, where 60 s runs reach 1.898).
EARLY_STOP_FROM = 0.5


@dataclass
class Run:
    """The step loop shared by both families: when to evaluate, when to stop."""

    cfg: TrainConfig
    monitor: Monitor
    steps_per_epoch: int
    total_steps: int | None
    every: int
    stopped_by: str = "steps"
    first_step: int = 0  # steps done before this call: a resumed run's
    eval_seconds: float | None = None  # evaluate by the clock this often (else every `every` steps)

    def progress(self, step: int) -> float:
        """Fraction of the run done: by steps (or epochs) and by time, whichever is further.
        Time counts what is still to come after the last step (the last evaluations and the
        save), so the run ends within its budget."""
        done = 0.0 if self.total_steps is None else step / self.total_steps
        if self.cfg.time_budget is not None:
            spent = self.monitor.elapsed + self.monitor.closing_cost()
            done = max(done, spent / self.cfg.time_budget)
        return done

    def evaluates(self, step: int) -> bool:
        """Whether an evaluation is due after `step`: by steps, or by the clock."""
        if self.eval_seconds is not None:
            # by the clock, and never more often than keeps evaluating under EVAL_SHARE
            spacing = self.monitor.eval_cost() * (1 - EVAL_SHARE) / EVAL_SHARE
            return self.monitor.since_evaluation() >= max(self.eval_seconds, spacing)
        return step % self.every == 0

    def drive(
        self,
        steps: Iterator[tuple[float, int]],
        schedule: Schedule,
        lr_box: list[float],
        boundary: Callable[[], None] = lambda: None,
    ) -> None:
        """Pull steps until a stopping rule fires; `lr_box[0]` is set to the next step's lr.
        `boundary` is called after each step is wholly done (its evaluation included), where
        a pending interrupt may stop the run with a state that resumes exactly."""
        lr_box[0] = schedule(self.progress(self.first_step) if self.first_step else 0.0)
        for step, (nats, chars) in enumerate(steps, start=self.first_step + 1):
            self.monitor.add(nats, chars)
            done = self.progress(step)
            finished = done >= 1.0
            evaluate = finished or self.evaluates(step)
            out_of_patience = evaluate and self.monitor.report(
                self.total_steps, lr_box[0], step / self.steps_per_epoch
            )
            if out_of_patience and (done >= EARLY_STOP_FROM or self.cfg.schedule == "constant"):
                self.stopped_by = "early stopping"
                return
            if finished:
                if self.total_steps is None or step < self.total_steps:
                    self.stopped_by = "time budget"
                else:
                    by_epochs = self.cfg.epochs is not None and self.cfg.iterations != step
                    self.stopped_by = "epochs" if by_epochs else "steps"
                return
            if not evaluate:
                self.monitor.tick(self.total_steps, lr_box[0], step / self.steps_per_epoch)
            lr_box[0] = schedule(done)
            boundary()

    def check_unfinished(self) -> None:
        """A resumed run must have steps left under its limits."""
        if self.total_steps is not None and self.first_step >= self.total_steps:
            raise OptionError(
                f"--resume: the run has done {self.first_step} steps, all that its limits allow "
                f"({self.total_steps}); give a larger --iterations or --epochs to continue"
            )
        budget = self.cfg.time_budget
        if budget is not None and self.monitor.elapsed >= budget:
            raise OptionError(
                f"--resume: the run has spent {self.monitor.elapsed:.1f} s of its --time-budget "
                f"({budget:g} s); give a larger one to continue"
            )


def follow_leader(model: Any, steps: Iterator[tuple[float, int]], cfg: TrainConfig) -> int:
    """A rank other than 0 of a torchrun launch: train in step with rank 0 until it stops
    the run; rank 0 evaluates, logs and saves. Returns the steps taken."""
    from saurus.training.backends.torch.distributed import finish

    count = sum(1 for _ in steps)
    finish(model.world, model.module, steps)
    return count


def train_text(
    text: str,
    config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint: str | Path | None = None,
    log: str | Path | None = None,
    started: float | None = None,
    *,
    val_text: str | None = None,
    file_meta: dict[str, Any] | None = None,
    resume: str | Path | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> TrainResult:
    """Train on `text`; the vocabulary covers the whole text, so the validation split never
    holds an unknown character. With `checkpoint`, the best model so far is saved there
    (atomically) at every evaluation, and the training state beside it (resume.py); with
    `log`, every evaluation is a JSON line there. A time budget counts from `started` (a
    time.perf_counter() value; default: now). `val_text` validates instead of a split of
    `text` (the vocabulary covers both), and `file_meta` goes into every model file written
    (e.g. what the characters stand for). `resume` (a model file) continues the run that
    wrote it, on the same data: `config`'s limits count the whole run (see resume.py for
    which options may change). The run is planned first (plan.py: the size, batch, lr, ...
    for the options left unset), and `on_plan` is shown the plan before training starts."""
    started = time.perf_counter() if started is None else started
    saved = None if resume is None else load_run(resume)
    if saved is not None:
        config = saved.config_for(config)
    asked_engine = config.engine
    config = config.resolved()  # check the options before reading the data
    start = None if config.init_from is None or saved is not None else load_start(config.init_from)
    if start is not None:
        config = replace(config, **architecture_of(start, config))
    corpus, train, val = prepare_data(text, val_text, config)
    # the record of the training lines (for --novel), before planning: on a list of
    # millions of names it takes seconds that the plan must know are spent
    seen = None if config.family == "classic" else name_hashes(corpus.lines())
    if asked_engine == "auto" and saved is None:
        config = engine_for_time_left(config, started)
    plan = plan_for(config, corpus, train, val, started, None if saved is None else saved.plan)
    cfg = plan.config
    if plan.train_chars is not None:
        train = sample_corpus(train, plan.train_chars, cfg.split_seed)
    check_memory(cfg, corpus, train)
    saves_state = checkpoint is not None and resumable(cfg)
    data = fingerprint(corpus, train, val) if saves_state or saved is not None else {}
    if saved is not None:
        saved.check_data(data)
    if saves_state:
        assert checkpoint is not None
        check_state_output(checkpoint)
    setup = build_run(cfg, corpus, train, start, seen)
    plan_done = time.perf_counter()
    watched = (
        val if val is None or plan.val_chars is None else sample_corpus(val, plan.val_chars, cfg.split_seed)
    )
    monitor = Monitor(
        setup.trainee,
        watched,
        lr=setup.schedule.lr,
        patience=cfg.patience or 0,
        checkpoint=checkpoint,
        log=log,
        on_progress=on_progress,
        started=started,
        file_meta={**(file_meta or {}), "plan": plan.to_json()},
    )
    final = final_validation(val, plan, cfg)
    monitor.closing = final
    if saves_state and setup.trainer is not None:
        assert checkpoint is not None
        monitor.saver = StateSaver(state_path_for(checkpoint), setup.trainer, cfg, data, plan.to_json())
    run = Run(cfg, monitor, setup.per_epoch, total_steps(cfg, setup.per_epoch), setup.every)
    run.eval_seconds = None if cfg.eval_every else plan.eval_seconds
    if saved is not None:
        continue_saved(saved, setup, monitor, run)
    if on_plan is not None:  # (once the data and options have passed every check)
        on_plan(plan)
    seconds, ranks_agree, interrupted = drive_run(run, setup)
    if interrupted:
        run.stopped_by = "interrupted"
    monitor.restore_best()
    model = monitor.numpy_model()
    report, judged = monitor.best, watched
    trained_until = monitor.elapsed
    if final is not None and monitor.best is not None and not interrupted:
        report, judged = monitor.evaluate_on(final), final
        seconds = monitor.elapsed
    timings = {
        "before_training": round(plan_done - started, 3),
        "evaluations": round(monitor.eval_total, 3),
        "final_evaluation": round(monitor.elapsed - trained_until, 3),
        "total": round(monitor.elapsed, 3),
    }
    world = getattr(setup.model, "world", None)
    n_train = len(train.examples) if isinstance(train, LinesCorpus) else train.num_chars()
    return TrainResult(
        model,
        cfg,
        n_train,
        report,
        monitor.steps,
        seconds,
        interrupted,
        monitor.history,
        run.stopped_by,
        monitor.best_step,
        1 if world is None else world.size,
        ranks_agree,
        plan,
        report is not None and judged is not val,
        timings,
    )


def continue_saved(saved: SavedRun, setup: Setup, monitor: Monitor, run: Run) -> None:
    """Put a resumed run back where it stopped, rewrite its model file from the saved best
    (a crash may have left it behind the state), and check it has steps left."""
    if setup.trainer is None:
        raise OptionError(
            "--resume applies to recurrent (lstm, gru, rnn) and transformer models, not the classic one"
        )
    saved.restore(setup.trainer, monitor)
    run.first_step = monitor.steps
    run.check_unfinished()
    monitor.save_model()


def drive_run(run: Run, setup: Setup) -> tuple[float, bool | None, bool]:
    """Train until a stopping rule or an interrupt; (seconds, ranks agree, interrupted).

    In one process Ctrl-C and SIGTERM wait for the end of the step (interrupts.py): there
    the training state is saved, so that the run resumes exactly, before the weights of the
    moment are considered. Under torchrun rank 0 holds them until its next step (see there)."""
    monitor, world = run.monitor, getattr(setup.model, "world", None) or World()
    interrupted, ranks_agree = False, None
    with step_signals(world) as signals:
        if world.active:  # the torch trainer delivers them between steps, where every rank waits
            setup.model.interrupts = signals
        if not world.leader:
            monitor.steps = follow_leader(setup.model, setup.steps, setup.cfg)
            run.stopped_by = "rank 0"
            return 0.0, None, False
        # a diverging run overflows and takes log(0); the monitor reports it, numpy need not
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            try:
                run.drive(setup.steps, setup.schedule, setup.lr_box, signals.deliver)
            except KeyboardInterrupt:
                interrupted = True
                with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: keep the best so far
                    if signals.at_boundary:
                        monitor.save_checkpoint()
                    monitor.consider_current()
        seconds = monitor.elapsed
        if world.active:
            from saurus.training.backends.torch.distributed import finish

            ranks_agree = finish(world, setup.model.module, setup.steps)
    return seconds, ranks_agree, interrupted


def train_file(
    path: str | Path,
    config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint: str | Path | None = None,
    log: str | Path | None = None,
) -> TrainResult:
    """Train on the UTF-8 file `path`. In stream mode it is read in bounded memory (see
    `training_text`), so a file of gigabytes trains in the memory its model needs."""
    started = time.perf_counter()
    config = config.checked()  # before reading the data
    return train_text(training_text(path, config), config, on_progress, checkpoint, log, started)  # type: ignore[arg-type]
