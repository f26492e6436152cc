"""The job queue: each job is a `saurus train` process of its own, at most `slots` at once,
in the order they were asked for.

A separate process keeps the server answering while a job trains (and at a lower CPU
priority, nice 10, so that sampling requests come first), and it is the same command a
user runs, with the same guarantees: checkpoints written atomically, Ctrl-C (SIGINT) and
SIGTERM stopping at a step boundary with the best model and the training state saved.
So:
- stop (DELETE): SIGINT; the job ends "cancelled" and keeps its best model;
- the server stopping: SIGTERM to every running job, which ends "interrupted";
- the server killed: its jobs go on alone until it starts again, finds them still marked
  running, stops any that still runs (SIGTERM, then SIGKILL) and marks them interrupted;
- resume: the job is queued again and its next process runs `saurus train ... --resume`,
  which continues from the training state exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from saurus.errors import OptionError
from saurus.files.outputs import log_path_for
from saurus.jobs.store import JobRecord, JobStore

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # saurus train after SIGINT, after SIGTERM
NICE = 10
POLL = 0.25  # seconds between looks at the queue
STOP_WAIT = 15.0  # seconds a job has to stop at a step boundary before SIGKILL
# The options a job may set, as `saurus train` flags (None: a switch without a value).
FLAGS = {
    "mode": "--mode",
    "time_budget": "--time-budget",
    "iterations": "--iterations",
    "engine": "--engine",
    "model": "--model",
    "hidden": "--hidden",
    "layers": "--layers",
    "seed": "--seed",
    "lowercase": None,
    "labelled": None,
    "threads": "--threads",
}


def state_path(job: JobRecord) -> Path:
    return job.model_path.with_name(job.model_path.name + ".resume")


def train_command(job: JobRecord, python: str = sys.executable) -> list[str]:
    """The `saurus train` command line of the job's next process."""
    model = str(job.model_path)
    command = [python, "-m", "saurus", "train", job.data_path, "-o", model, "-q"]
    for option, value in sorted(job.options.items()):
        flag = FLAGS.get(option)
        if option in FLAGS and flag is None:  # a switch: --lowercase, --labelled
            command += [f"--{option}"] if value else []
        elif flag is not None and value is not None:
            command += [flag, str(value)]
    if job.resume:
        command += ["--resume", model]
    return command


def last_line(path: Path, limit: int = 400) -> str:
    """The last non-empty line a process wrote (its one-line error), shortened."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def alive_as(pid: int, marker: str) -> bool:
    """Whether process `pid` runs and its command line names `marker` (so a reused pid of
    another program is never signalled)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, 0)
            return sys.platform != "linux"  # no /proc to check: trust the pid
        return False
    return marker in cmdline


def stop_stray(pid: int, marker: str, wait: float = STOP_WAIT) -> None:
    """SIGTERM a job process left from an earlier server, then SIGKILL if it lingers."""
    if not alive_as(pid, marker):
        return
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and alive_as(pid, marker):
        time.sleep(0.1)
    if alive_as(pid, marker):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


class JobRunner:
    """Runs the store's queued jobs, `slots` at once, each in its own process group."""

    def __init__(
        self,
        store: JobStore,
        slots: int = 1,
        *,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        on_change: Callable[[JobRecord], None] | None = None,
        nice: int = NICE,
    ) -> None:
        self.store, self.slots, self.python, self.nice = store, slots, python, nice
        self.env = dict(os.environ if env is None else env)
        self.on_change = on_change
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None

    # -- the queue -------------------------------------------------------------------
    def recover(self, resume: bool = False) -> list[JobRecord]:
        """After a start: jobs still marked running belong to a server that died; stop any
        process of theirs that still runs and mark them interrupted (and queue them to
        resume when `resume`). Returns the jobs it marked."""
        marked = []
        for job in self.store.with_status("running"):
            if job.pid:
                stop_stray(job.pid, str(job.model_path))
            if last_line(job.output_path).startswith("saved "):  # it ended alone, and well
                marked.append(self.store.update(job.id, status="succeeded", finished=time.time(), pid=None))
                continue
            marked.append(self.store.update(job.id, status="interrupted", pid=None))
        if resume:
            for job in self.store.with_status("interrupted"):
                self.resume(job.id)
        return marked

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop, name="saurus-jobs", daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stopping:
            with self.lock:  # (taken with cancel's lock: a job cancelled while queued never starts)
                free = len(self.procs) < self.slots
                job = self.store.take_next() if free and not self.stopping else None
            if job is not None:
                self.launch(job)
                continue
            self.wake.wait(POLL)
            self.wake.clear()

    def launch(self, job: JobRecord) -> None:
        Path(job.folder).mkdir(parents=True, exist_ok=True)
        try:
            with job.output_path.open("ab") as out:
                proc = subprocess.Popen(
                    train_command(job, self.python),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,
                )
        except OSError as err:
            self.finish(job.id, "failed", f"cannot start the training process: {err}")
            return
        if self.nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, proc.pid, self.nice)
        with self.lock:
            self.procs[job.id] = proc
            cancelled = bool(getattr(self.store.get(job.id), "cancel", False))
        if cancelled:  # asked to stop between being taken and starting: stop it now
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGINT)
        self.changed(self.store.update(job.id, pid=proc.pid))
        threading.Thread(target=self.watch, args=(job.id, proc), daemon=True).start()

    def watch(self, job_id: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self.lock:
            self.procs.pop(job_id, None)
        job = self.store.get(job_id)
        if job is None:
            return
        has_model = job.model_path.exists()
        if code == 0:
            self.finish(job_id, "succeeded")
        elif job.cancel:  # asked to stop: however the process ended (a SIGINT still in its
            # start-up kills it before saurus handles the signal), the job is cancelled
            self.finish(job_id, "cancelled", None if has_model else "stopped before the first checkpoint")
        elif self.stopping or code == EXIT_TERMINATED:
            self.changed(self.store.update(job_id, status="interrupted", pid=None))
        else:
            said = last_line(job.output_path) or f"the training process ended with status {code}"
            self.finish(job_id, "failed", said)
        self.wake.set()

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        self.changed(
            self.store.update(
                job_id, status=status, finished=time.time(), error=error, pid=None, resume=False
            )
        )

    def changed(self, job: JobRecord) -> None:
        if self.on_change is not None:
            self.on_change(job)

    # -- what a request asks ---------------------------------------------------------------
    def submit(self, job: JobRecord) -> JobRecord:
        added = self.store.add(job)
        self.wake.set()
        return added

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a job: a queued or interrupted one at once, a running one at its next step
        boundary (SIGINT: it saves its best model and its training state)."""
        proc = None
        with self.lock:  # (the loop takes the next job under it: no job starts half-cancelled)
            job = self.store.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.status in ("queued", "interrupted"):
                self.finish(job_id, "cancelled")
            elif job.status == "running":
                job = self.store.update(job_id, cancel=True)
                proc = self.procs.get(job_id)
            if proc is not None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGINT)
        return self.store.get(job_id) or job

    def resume(self, job_id: str) -> JobRecord:
        """Queue an interrupted (or stopped) job again: from its training state where it has
        one, from the start where it stopped before its first checkpoint."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.status not in ("interrupted", "cancelled", "failed"):
            raise OptionError(f"{job_id} is {job.status}: only an interrupted or stopped job resumes")
        has_state = state_path(job).exists()
        if not has_state and job.model_path.exists():
            raise OptionError(f"{job_id} left no training state to resume from; start a new job")
        if not has_state:
            log_path_for(job.model_path).unlink(missing_ok=True)
        job = self.store.update(
            job_id, status="queued", resume=has_state, cancel=False, finished=None, error=None
        )
        self.changed(job)
        self.wake.set()
        return job

    def halt(self) -> dict[str, subprocess.Popen[bytes]]:
        """Start no more jobs and SIGTERM the running ones (each saves its state and ends
        interrupted); returns them, without waiting. Safe in a signal handler."""
        self.stopping = True
        self.wake.set()
        with self.lock:
            procs = dict(self.procs)
        for proc in procs.values():
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGTERM)
        return procs

    def stop(self, wait: float = STOP_WAIT) -> None:
        """The server is stopping: halt(), then SIGKILL what has not stopped after `wait`
        seconds."""
        procs = self.halt()
        deadline = time.monotonic() + wait
        for proc in procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=5)
        for job_id in procs:  # the watchers may not have run yet
            job = self.store.get(job_id)
            if job is not None and job.status == "running":
                self.store.update(job_id, status="interrupted", pid=None)
