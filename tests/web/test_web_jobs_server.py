"""A real `saurus serve` with jobs, stopped and killed: SIGTERM stops the jobs at a step
boundary and ends the event streams that follow them (the server does not wait for a job
to finish); kill -9 leaves the job to the next server, which lists it as interrupted and,
with --resume-jobs, resumes it to the end."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import require

require("fastapi")
require("python_multipart")
import httpx  # noqa: E402

WAIT = 240.0  # seconds: a loaded machine (the suite beside it) slows the job a lot


@contextmanager
def serve(data: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    command = [
        sys.executable,
        "-m",
        "saurus",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(data),
        "--nice",
        "0",
        *options,
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield found.group(0), proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(url: str, job_id: str, check: Any, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}v1/jobs/{job_id}", timeout=30).json()
        if check(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"waited {WAIT:g} s for {what}")


def status_in_db(data: Path, job_id: str) -> str:
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        return db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


@pytest.fixture
def names(dinos_path: Path) -> bytes:
    return "\n".join(dinos_path.read_text().split("\n")[:300]).encode() + b"\n"


def start_job(url: str, names: bytes, **form: str) -> str:
    reply = httpx.post(url + "v1/jobs", files={"file": ("d.txt", names)}, data=form, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def test_sigterm_interrupts_the_job_and_ends_its_event_stream(tmp_path: Path, data_dir: Path) -> None:
    with serve(tmp_path) as (url, proc):
        form = {"dataset": "tinyshakespeare", "time_budget": "120", "engine": "numpy"}
        reply = httpx.post(url + "v1/jobs", data=form, timeout=30)
        assert reply.status_code == 200, reply.text
        job_id = reply.json()["id"]
        wait_for(url, job_id, lambda j: j["progress"]["step"] > 0, "a first point")
        said: list[str] = []
        following = threading.Event()

        def follow() -> None:
            with httpx.stream("GET", f"{url}v1/jobs/{job_id}/events", timeout=WAIT) as reply:
                for line in reply.iter_lines():
                    said.append(line)
                    following.set()

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        assert following.wait(WAIT)  # the stream is open (its past points came) before the signal
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT)  # the job ends interrupted (below), not succeeded: it did not run out
        follower.join(timeout=WAIT)
        assert not follower.is_alive()
    assert status_in_db(tmp_path, job_id) == "interrupted"
    assert (tmp_path / "jobs" / job_id / "model.saurus.resume").exists()
    ends = [json.loads(line[6:]) for i, line in enumerate(said) if i and said[i - 1] == "event: end"]
    assert ends and ends[-1]["status"] == "interrupted"


def test_a_killed_server_leaves_its_job_interrupted_and_the_next_resumes_it(
    tmp_path: Path, names: bytes
) -> None:
    with serve(tmp_path) as (url, proc):
        job_id = start_job(url, names, iterations="800", engine="numpy", seed="2")
        state = tmp_path / "jobs" / job_id / "model.saurus.resume"
        wait_for(url, job_id, lambda _: state.exists(), "a checkpoint")
        proc.kill()
        proc.wait()
    with serve(tmp_path) as (url, _):
        job = httpx.get(f"{url}v1/jobs/{job_id}", timeout=30).json()
        assert job["status"] == "interrupted" and job["model"] == job_id
        assert job_id in [m["id"] for m in httpx.get(url + "v1/models", timeout=30).json()["data"]]
    with serve(tmp_path, "--resume-jobs") as (url, _):
        done = wait_for(url, job_id, lambda j: j["status"] not in ("queued", "running"), "the resumed job")
        assert done["status"] == "succeeded", done["error"]
        assert done["runs"] == 2
