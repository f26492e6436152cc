"""Train to files: the checks, locks and resume rules around one training run, and the save.

`train_to_files` is what `saurus train` (and `saurus music train`) do once the data is
read: refuse outputs that would overwrite the data or an earlier run, hold a lock on the
model and its log, train (training.loop), save the best model with the run's summary,
and check where the curves will go if asked. It returns what happened and never prints: the caller says
it, in its own words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saurus.errors import OptionError
from saurus.files import models
from saurus.files.locks import output_lock
from saurus.files.outputs import LOG, MODEL, PICTURE, check_folder, check_output, log_path_for, same_file
from saurus.training.config import TrainConfig
from saurus.training.interrupts import sigterm_as_interrupt
from saurus.training.loop import TrainResult, train_text
from saurus.training.monitor import Progress
from saurus.training.plan import Plan
from saurus.training.resume import state_path_for
from saurus.training.world import launched_rank, world_size


@dataclass
class Outputs:
    """Where a run writes: the model, its log, and (train --plot) the picture of its curves."""

    model: Path
    log: Path | None = None
    overwrite: bool = False
    resume: Path | None = None
    picture: Path | None = None  # train --plot: where the curves go (drawn by the caller)

    def __post_init__(self) -> None:
        for path, option in ((self.model, "-o"), (self.log, "--log")):
            if path is not None and path.name in ("", ".", ".."):
                raise OptionError(f"{option} {str(path)!r} names a folder; give a file name")

    @property
    def log_path(self) -> Path:
        return self.log if self.log is not None else log_path_for(self.model)

    def resumed(self) -> Path | None:
        """The model whose run is continued (None for a new run): the model file itself,
        which the run goes on writing (see resume.py)."""
        resume = self.resume
        if resume is None:
            return None
        if self.overwrite:
            raise OptionError("--resume continues a run and --overwrite starts a new one; give one of them")
        if not same_file(resume, self.model) and resume.absolute() != self.model.absolute():
            raise OptionError(f"--resume {resume} continues the run into its own file; give -o {resume} too")
        if world_size() > 1:
            raise OptionError("--resume continues runs of one process; a torchrun launch cannot resume")
        if not resume.exists() and not state_path_for(resume).exists():  # a crash may leave the state alone
            raise OptionError(f"--resume: there is no model at {resume} to continue")
        return self.model

    def check(self, protect: tuple[Path, ...]) -> None:
        """Refuse at once what `train_to_files` would refuse after reading the data."""
        replace = self.overwrite or self.resumed() is not None
        check_output(self.model, MODEL, protect=protect, overwrite=replace)
        check_output(self.log_path, LOG, protect=(*protect, self.model), overwrite=replace)


@dataclass
class Session:
    """What `train_to_files` did: the run's result, where it wrote, and whether SIGTERM
    ended it."""

    result: TrainResult
    outputs: Outputs
    terminated: bool = False


def train_to_files(
    text: str,
    config: TrainConfig,
    outputs: Outputs,
    protect: tuple[Path, ...],
    *,
    started: float,
    val_text: str | None = None,
    file_meta: dict[str, Any] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_end: Callable[[], None] | None = None,
) -> Session | None:
    """Train on `text` and write the best model and its log, refusing to write over
    `protect` (the data) or, unless `outputs` says overwrite or resume, an earlier run.
    Under torchrun only rank 0 writes: the other ranks train beside it and get None.
    `on_end` runs when training ends, before the save (a progress display closes there)."""
    resume = outputs.resumed()

    def run(
        checkpoint: Path | None, log: Path | None, progress: Callable[[Progress], None] | None
    ) -> TrainResult:
        try:
            return train_text(
                text,
                config,
                progress,
                checkpoint,
                log,
                started,
                val_text=val_text,
                file_meta=file_meta,
                resume=resume,
                on_plan=on_plan,
            )
        finally:
            if on_end is not None:
                on_end()

    if launched_rank() > 0:  # torchrun: rank 0 writes; the others train beside it
        run(None, None, None)
        return None
    output, log = outputs.model, outputs.log_path
    check_folder(output, "the model")
    replace = outputs.overwrite or resume is not None  # a resumed run goes on writing its files
    with output_lock(output), output_lock(log):
        check_output(output, MODEL, protect=protect, overwrite=replace)
        check_output(log, LOG, protect=(*protect, output), overwrite=replace)
        if outputs.picture is not None:
            check_output(outputs.picture, PICTURE, protect=(*protect, log), overwrite=replace)
        with sigterm_as_interrupt() as terminated:
            result = run(output, log, on_progress)
            models.save(result.model, output, extra={**(file_meta or {}), "training": result.summary()})
    return Session(result, outputs, terminated[0])
