"""The studio's training jobs, measured against a real `saurus serve` (a subprocess):

1. latency: p50 and p90 of `/v1/completions` for 10 names (the dinos model), on an idle
   server, then while a job trains (tiny-shakespeare's first 200,000 characters, uploaded,
   torch or NumPy as the planner picks, with every core the machine has);
2. the first point: how long after its evaluation is logged the first loss point reaches
   a client of the job's event stream (what the page draws);
3. kill and restart: a job (NumPy, a fixed number of steps) whose server is killed
   (SIGKILL) KILLS times at random moments and restarted each time with --resume-jobs,
   against the same job trained straight through: whether it ends, and whether its
   weights are the same, bit for bit.

    python benchmarks/studio.py                      # all three (about 3 minutes)
    python benchmarks/studio.py --only latency --requests 100
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from serve_load import serving_process

from saurus.data.datasets import dataset_path
from saurus.files.models import load as load_model

NAMES_BODY = {"model": "dinos", "n": 10, "max_tokens": 20}


def server(
    data_dir: Path, *options: str
) -> contextlib.AbstractContextManager[tuple[str, subprocess.Popen[str]]]:
    """`saurus serve dinos --port 0 --data-dir DIR OPTIONS` (every core for the jobs);
    yields its address and process."""
    return serving_process("--data-dir", str(data_dir), *options, models=("dinos",))


def latencies(url: str, count: int) -> list[float]:
    seconds = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(count):
            started = time.perf_counter()
            reply = client.post("v1/completions", json={**NAMES_BODY, "seed": i})
            reply.raise_for_status()
            seconds.append(time.perf_counter() - started)
    return seconds


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def wait_status(url: str, job_id: str, wanted: tuple[str, ...], seconds: float = 600) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            job = httpx.get(f"{url}v1/jobs/{job_id}", timeout=10).json()
            if job["status"] in wanted:
                return job
        time.sleep(0.1)
    raise RuntimeError(f"{job_id} did not reach {wanted} in {seconds:g} s")


def text_upload(chars: int) -> bytes:
    return dataset_path("tinyshakespeare", download=False).read_text()[:chars].encode()


def measure_latency(requests: int, budget: float) -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder, server(Path(folder)) as (url, _):
        latencies(url, 5)  # warm
        idle = latencies(url, requests)
        files = {"file": ("shakespeare.txt", text_upload(200_000))}
        job = httpx.post(url + "v1/jobs", files=files, data={"time_budget": str(budget)}, timeout=30).json()
        wait_status(url, job["id"], ("running",))
        time.sleep(3)  # past the planner's calibration, into the training
        busy = latencies(url, requests)
        still = httpx.get(f"{url}v1/jobs/{job['id']}", timeout=10).json()["status"]
        httpx.delete(f"{url}v1/jobs/{job['id']}", timeout=10)
        wait_status(url, job["id"], ("cancelled", "succeeded", "failed"))
    p50, p50_busy = percentile(idle, 50), percentile(busy, 50)
    rows.append(
        (
            "latency: /v1/completions, 10 names, idle server",
            "dinos",
            f"p50 {p50 * 1000:.1f} ms, p90 {percentile(idle, 90) * 1000:.1f} ms",
            f"{sum(idle):.1f}",
        )
    )
    rows.append(
        (
            f"latency: the same while a job trains ({still} throughout)",
            "dinos; job: tiny-shakespeare 200k chars",
            f"p50 {p50_busy * 1000:.1f} ms, p90 {percentile(busy, 90) * 1000:.1f} ms "
            f"= {p50_busy / p50:.2f}x idle p50",
            f"{sum(busy):.1f}",
        )
    )
    return rows


def measure_first_point(names: bytes) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as folder, server(Path(folder)) as (url, _):
        files = {"file": ("dinos.txt", names)}
        job = httpx.post(
            url + "v1/jobs", files=files, data={"time_budget": "10", "engine": "numpy"}, timeout=30
        ).json()
        log = Path(folder) / "jobs" / job["id"] / "model.saurus.log.jsonl"
        logged: list[float] = []

        def watch_log() -> None:
            while not (log.exists() and log.stat().st_size > 0):
                time.sleep(0.005)
            logged.append(time.monotonic())

        watcher = threading.Thread(target=watch_log, daemon=True)
        watcher.start()
        with httpx.stream("GET", f"{url}v1/jobs/{job['id']}/events", timeout=60) as reply:
            for line in reply.iter_lines():
                if line == "event: progress":
                    arrived = time.monotonic()
                    break
        watcher.join(timeout=30)
        wait_status(url, job["id"], ("succeeded", "cancelled", "failed"))
    delay = arrived - logged[0]
    return [
        (
            "first loss point: event after its log record",
            "dinos, 10 s job",
            f"{delay * 1000:.0f} ms",
            f"{delay:.2f}",
        )
    ]


def weights(path: Path) -> dict[str, np.ndarray]:
    model = load_model(path)
    return {k: np.asarray(v) for k, v in model.params.items()}  # type: ignore[attr-defined]


def measure_kills(names: bytes, kills: int, steps: int, seed: int) -> list[tuple[str, str, str, str]]:
    rng = random.Random(seed)
    form = {"iterations": str(steps), "engine": "numpy", "seed": "5"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        with server(data) as (url, _):
            straight = httpx.post(
                url + "v1/jobs", files={"file": ("d.txt", names)}, data=form, timeout=30
            ).json()
            done = wait_status(url, straight["id"], ("succeeded", "failed"))
            took = (done["finished"] - done["started"]) or 1
            job = httpx.post(url + "v1/jobs", files={"file": ("d.txt", names)}, data=form, timeout=30).json()
        killed = 0
        status = "queued"
        while killed < kills:
            with server(data, "--resume-jobs") as (url, proc):
                found = wait_status(url, job["id"], ("running", "succeeded", "failed"))
                status = found["status"]
                if status != "running":
                    break
                time.sleep(rng.uniform(0.5, max(0.6, took / kills)))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
        with server(data, "--resume-jobs") as (url, _):
            final = wait_status(url, job["id"], ("succeeded", "failed", "cancelled"))
        model = data / "jobs" / job["id"] / "model.saurus"
        a, b = weights(data / "jobs" / straight["id"] / "model.saurus"), weights(model)
        same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        log = (data / "jobs" / job["id"] / "model.saurus.log.jsonl").read_text().splitlines()
        last = json.loads(log[-1])["iteration"]
    figure = (
        f"{killed} kills, {final['runs']} runs; ended {final['status']} at step {last}/{steps}; "
        f"weights {'identical' if same else 'DIFFERENT'} to the straight job's"
    )
    return [
        (
            "kill -9 and restart with --resume-jobs",
            "dinos, NumPy",
            figure,
            f"{time.perf_counter() - started:.1f}",
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("latency", "first", "kills"))
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument(
        "--budget", type=float, default=120.0, help="the training job's budget in the latency part"
    )
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = dataset_path("dinos", download=False).read_bytes()
    rows = []
    if args.only in (None, "latency"):
        rows += measure_latency(args.requests, args.budget)
    if args.only in (None, "first"):
        rows += measure_first_point(names)
    if args.only in (None, "kills"):
        rows += measure_kills(names, args.kills, args.steps, args.seed)
    print(f"\nstudio, {os.cpu_count()} cores\n")
    print("| what | data | figure | time (s) |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
