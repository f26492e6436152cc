"""The job records: SQLite through the standard library, one file in the data folder.

A record says who asked for what (the data, the options), its state, its timings and where
its files are. States: queued -> running -> succeeded | failed | cancelled, and
running -> interrupted when the server stopped (or died) under it; an interrupted job is
queued again to resume from its training state. Every call opens its own connection (the
server's threads and the runner's share the file; SQLite's WAL journal lets them read while
one writes), and every write is one transaction, so a kill leaves the file consistent.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saurus.errors import OptionError, os_reason

DB_NAME = "jobs.sqlite3"
STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINISHED = ("succeeded", "failed", "cancelled")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    data_name TEXT NOT NULL,
    data_path TEXT NOT NULL,
    data_chars INTEGER NOT NULL,
    data_lines INTEGER NOT NULL,
    options TEXT NOT NULL,
    folder TEXT NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    pid INTEGER,
    runs INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    cancel INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class JobRecord:
    """One training job as the database holds it."""

    id: str
    created: float
    owner: str  # who asked: the client's address
    name: str  # the label shown for it
    status: str
    source: str  # "upload" or "dataset"
    data_name: str  # the uploaded file's name as given (shown only), or the dataset's
    data_path: str  # what `saurus train` reads: a file saurus named, or a dataset name
    data_chars: int
    data_lines: int
    options: dict[str, Any] = field(default_factory=dict)
    folder: str = ""  # the job's own folder: model, training state, log, output
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    pid: int | None = None
    runs: int = 0  # processes started for it (a resume is one more)
    resume: bool = False  # the next run continues from the training state
    cancel: bool = False  # a stop was asked for

    @property
    def model_path(self) -> Path:
        return Path(self.folder) / "model.saurus"

    @property
    def output_path(self) -> Path:
        return Path(self.folder) / "output.txt"

    @property
    def finished_for_good(self) -> bool:
        return self.status in FINISHED


def new_job_id() -> str:
    return "job-" + secrets.token_hex(6)


class JobStore:
    """The jobs table in `folder`/jobs.sqlite3 (created on first use)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / DB_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with self.connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            reason = os_reason(err) if isinstance(err, OSError) else str(err)
            raise OptionError(f"cannot keep the job records in {self.path}: {reason}") from None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One connection, one transaction: committed on success, rolled back on error."""
        with closing(sqlite3.connect(self.path, timeout=30.0)) as db:
            db.row_factory = sqlite3.Row
            with db:
                yield db

    def add(self, job: JobRecord) -> JobRecord:
        row = asdict(job)
        row["options"] = json.dumps(job.options, sort_keys=True)
        columns = ", ".join(row)
        with self.connect() as db:
            db.execute(
                f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
        return job

    def get(self, job_id: str) -> JobRecord | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else as_record(row)

    def all(self) -> list[JobRecord]:
        """Every job, newest first."""
        with self.connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC, id").fetchall()
        return [as_record(r) for r in rows]

    def with_status(self, *states: str) -> list[JobRecord]:
        """The jobs in these states, oldest first (the queue's order)."""
        marks = ", ".join("?" * len(states))
        with self.connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY created, id", states
            ).fetchall()
        return [as_record(r) for r in rows]

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        """Set these fields of one job; returns the job as it now is."""
        if "status" in changes and changes["status"] not in STATES:
            raise ValueError(f"unknown job state {changes['status']!r}")
        values = {k: (json.dumps(v, sort_keys=True) if k == "options" else v) for k, v in changes.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.connect() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), job_id])
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return as_record(row)

    def delete(self, job_id: str) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def take_next(self) -> JobRecord | None:
        """The oldest queued job, marked running in the same transaction (so two runners
        never take one job), or None."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT * FROM jobs WHERE status = 'queued' ORDER BY created, id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            job = as_record(row)
            db.execute(
                "UPDATE jobs SET status = 'running', started = COALESCE(started, ?), runs = runs + 1, "
                "error = NULL WHERE id = ?",
                (time.time(), job.id),
            )
        return self.get(job.id)


def as_record(row: sqlite3.Row) -> JobRecord:
    values = dict(row)
    values["options"] = json.loads(values["options"])
    values["resume"], values["cancel"] = bool(values["resume"]), bool(values["cancel"])
    return JobRecord(**values)
