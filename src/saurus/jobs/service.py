"""Training jobs as a library: ask for one, list them, follow one, stop it, resume it.

    jobs = Jobs(Path("~/.local/share/saurus").expanduser())
    job = jobs.create(JobRequest(dataset="dinos", time_budget=20), owner="me")
    ...
    jobs.close()

The data folder holds the records (jobs.sqlite3), the uploads (uploads/) and one folder a
job (jobs/<id>/: model.saurus, its training state and log, and the process's output).
The front ends (the HTTP API, the page) call these functions and nothing else.
"""

from __future__ import annotations

import os
import shutil
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saurus.data.datasets import DATASETS
from saurus.errors import OptionError
from saurus.jobs.progress import progress_of
from saurus.jobs.runner import NICE, JobRunner
from saurus.jobs.store import JobRecord, JobStore, new_job_id
from saurus.jobs.uploads import UploadError, UploadLimits, folder_bytes, store_upload, table_suffix
from saurus.resources import human
from saurus.training.config import MAX_SEED

DEFAULT_JOB_BUDGET = 60.0
MAX_JOB_BUDGET = 3600.0
MAX_QUEUED = 8
MAX_ITERATIONS = 10_000_000
MAX_HIDDEN = 4096
MAX_LAYERS = 8
MODES = ("auto", "lines", "stream")
ENGINES = ("auto", "numpy", "torch")
MODELS = ("lstm", "gru", "rnn", "transformer")


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/saurus, else ~/.local/share/saurus."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "saurus"


class JobError(OptionError):
    """A request for a job that cannot be taken; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param


@dataclass(frozen=True)
class JobLimits:
    """What one server's jobs may take."""

    max_budget: float = MAX_JOB_BUDGET  # seconds a job may train
    max_queued: int = MAX_QUEUED  # jobs waiting for their turn
    upload: UploadLimits = field(default_factory=UploadLimits)


@dataclass(frozen=True)
class JobRequest:
    """What a job is asked to do: the data (an upload's bytes or a dataset's name) and
    the options of `saurus train` that a job may set; the rest is planned."""

    upload: bytes | None = None
    filename: str | None = None
    dataset: str | None = None
    name: str | None = None
    mode: str = "auto"
    time_budget: float | None = None
    iterations: int | None = None
    engine: str = "auto"
    model: str = "lstm"
    hidden: int | None = None
    layers: int | None = None
    seed: int | None = None
    lowercase: bool = False
    labelled: bool = False  # name<TAB>label lines; implied by an uploaded .tsv or .csv


def pick(value: Any, allowed: tuple[str, ...], param: str) -> str:
    if value not in allowed:
        raise JobError(f"{param} must be one of {', '.join(allowed)}, got {str(value)[:40]!r}", param=param)
    return str(value)


def whole(value: Any, low: int, high: int, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise JobError(f"{param} must be a whole number from {low:,} to {high:,}", param=param)
    return value


def label(name: str | None, fallback: str) -> str:
    """The job's label: printable, one line, at most 80 characters."""
    kept = "".join(c for c in (name or "") if unicodedata.category(c)[0] != "C").strip()
    return kept[:80] or fallback


def checked_options(req: JobRequest, limits: JobLimits) -> dict[str, Any]:
    """The request's options, each checked, as `saurus train` will take them."""
    budget = req.time_budget
    if budget is None and req.iterations is None:
        budget = min(DEFAULT_JOB_BUDGET, limits.max_budget)
    if budget is not None and not (isinstance(budget, int | float) and 0 < budget <= limits.max_budget):
        raise JobError(
            f"time_budget must be above 0 and at most {limits.max_budget:g} seconds on this server",
            param="time_budget",
        )
    options = {
        "mode": pick(req.mode, MODES, "mode"),
        "engine": pick(req.engine, ENGINES, "engine"),
        "model": pick(req.model, MODELS, "model"),
        "time_budget": None if budget is None else float(budget),
        "iterations": whole(req.iterations, 1, MAX_ITERATIONS, "iterations"),
        "hidden": whole(req.hidden, 1, MAX_HIDDEN, "hidden"),
        "layers": whole(req.layers, 1, MAX_LAYERS, "layers"),
        "seed": whole(req.seed, 0, MAX_SEED, "seed"),
        "lowercase": bool(req.lowercase),
    }
    return {k: v for k, v in options.items() if v is not None}


def labelled_options(req: JobRequest, options: dict[str, Any]) -> dict[str, Any]:
    """The options with labelled: true where the data is labelled names (an uploaded .tsv
    or .csv, or an upload asked for as labelled), checked against the rest."""
    if not isinstance(req.labelled, bool):
        raise JobError("labelled must be true or false", param="labelled")
    if req.labelled and req.upload is None:
        raise JobError(
            "labelled applies to uploaded names with their labels; the datasets are not labelled",
            param="labelled",
        )
    if req.upload is None or table_suffix(req.filename, req.labelled) is None:
        return options
    if options["mode"] == "stream":
        raise JobError(
            "labelled names (a .tsv or .csv of name and label) train in lines mode; drop mode stream",
            param="mode",
        )
    return {**options, "labelled": True}


class Jobs:
    """The jobs of one data folder, run `slots` at once."""

    def __init__(
        self,
        folder: Path,
        *,
        slots: int = 1,
        limits: JobLimits | None = None,
        resume: bool = False,
        env: dict[str, str] | None = None,
        nice: int = NICE,
    ) -> None:
        self.folder = folder
        self.limits = limits or JobLimits()
        self.store = JobStore(folder)
        self.runner = JobRunner(self.store, slots, env=env, nice=nice)
        self.runner.recover(resume=resume)
        self.runner.start()

    def close(self, wait: float | None = None) -> None:
        """Stop the queue; running jobs save their state and end interrupted."""
        if wait is None:
            self.runner.stop()
        else:
            self.runner.stop(wait)

    def create(self, req: JobRequest, owner: str = "local") -> JobRecord:
        """Check the request, keep its data, and queue the job."""
        options = checked_options(req, self.limits)
        if self.runner.slots > 1:  # jobs side by side share the cores
            options["threads"] = max(1, (os.cpu_count() or 1) // self.runner.slots)
        if (req.upload is None) == (req.dataset is None):
            raise JobError("give either a file to upload or the name of a dataset, not both", param="file")
        options = labelled_options(req, options)
        if len(self.store.with_status("queued")) >= self.limits.max_queued:
            raise JobError(
                f"{self.limits.max_queued} jobs are waiting already; try again when one has started", 429
            )
        job_id = new_job_id()
        if req.dataset is not None:
            texts = [name for name, ds in DATASETS.items() if ds.kind == "text"]
            if req.dataset not in texts:
                raise JobError(
                    f"no text dataset {req.dataset[:40]!r}; the datasets are {', '.join(texts)}",
                    param="dataset",
                )
            used = folder_bytes(self.folder)
            if used >= self.limits.upload.max_disk:
                raise JobError(
                    f"the data folder holds {human(used)} of its {human(self.limits.upload.max_disk)}; "
                    "delete old jobs or start the server with a larger --max-disk-mb",
                    507,
                )
            source, shown, data_path, chars, lines = "dataset", req.dataset, req.dataset, 0, 0
        else:
            try:
                upload = store_upload(
                    req.upload or b"",
                    req.filename,
                    self.folder,
                    self.limits.upload,
                    labelled=bool(options.get("labelled")),
                )
            except UploadError as err:
                raise JobError(str(err), err.status, param="file") from None
            source, shown, data_path = "upload", upload.shown_name, str(upload.path)
            chars, lines = upload.chars, upload.lines
        record = JobRecord(
            id=job_id,
            created=time.time(),
            owner=owner,
            name=label(req.name, shown),
            status="queued",
            source=source,
            data_name=shown,
            data_path=data_path,
            data_chars=chars,
            data_lines=lines,
            options=options,
            folder=str(self.folder / "jobs" / job_id),
        )
        return self.runner.submit(record)

    def get(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id) if isinstance(job_id, str) and len(job_id) <= 64 else None
        if job is None:
            raise JobError(f"no job {job_id[:64]!r}", 404, param="job_id")
        return job

    def all(self) -> list[JobRecord]:
        return self.store.all()

    def cancel(self, job_id: str) -> JobRecord:
        return self.runner.cancel(self.get(job_id).id)

    def resume(self, job_id: str) -> JobRecord:
        found = self.get(job_id)
        try:
            return self.runner.resume(found.id)
        except OptionError as err:
            raise JobError(str(err), 409) from None

    def delete(self, job_id: str) -> JobRecord:
        """Forget a job that has ended: its record, its folder (model, state, log) and its
        upload; a queued or running one is refused (stop it first)."""
        job = self.get(job_id)
        if job.status in ("queued", "running"):
            raise JobError(f"{job.id} is {job.status}; stop it first (DELETE /v1/jobs/{job.id})", 409)
        shutil.rmtree(job.folder, ignore_errors=True)
        others = [j for j in self.store.all() if j.id != job.id and j.data_path == job.data_path]
        if job.source == "upload" and not others:
            Path(job.data_path).unlink(missing_ok=True)
        self.store.delete(job.id)
        return job

    def model_of(self, job: JobRecord) -> Path | None:
        """The job's model file once it has one (the best weights so far, while it runs)."""
        return job.model_path if job.model_path.exists() else None


def job_view(job: JobRecord, jobs: Jobs) -> dict[str, Any]:
    """A job as the API shows it."""
    progress = progress_of(job.model_path, job.options, job.started)
    if job.status != "running":
        progress.eta = None
    return {
        "id": job.id,
        "object": "training.job",
        "status": job.status,
        "created": int(job.created),
        "started": None if job.started is None else int(job.started),
        "finished": None if job.finished is None else int(job.finished),
        "name": job.name,
        "owner": job.owner,
        "data": {
            "source": job.source,
            "name": job.data_name,
            "chars": job.data_chars,
            "lines": job.data_lines,
        },
        "options": job.options,
        "model": job.id if jobs.model_of(job) is not None else None,
        "progress": vars(progress),
        "error": job.error,
        "runs": job.runs,
    }
