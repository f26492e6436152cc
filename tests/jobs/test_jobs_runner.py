"""Jobs end to end: real `saurus train` processes run by the queue, stopped, interrupted
and resumed. The names are the first 300 dinosaurs; NumPy, a handful of steps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from saurus.files.models import load as load_model
from saurus.files.outputs import log_path_for
from saurus.jobs.progress import LogReader
from saurus.jobs.runner import NICE, state_path
from saurus.jobs.service import JobRequest, Jobs, job_view
from saurus.models.base import WeightsModel

WAIT = 90.0  # seconds a job may take on a loaded 2-core machine before the test gives up


def wait_for(check: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.1)


@pytest.fixture
def names(dinos_path: Path) -> bytes:
    return "\n".join(dinos_path.read_text().split("\n")[:300]).encode() + b"\n"


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[Jobs]:
    found = Jobs(tmp_path / "data", nice=0)  # niced, a job would starve beside the suite's other workers
    yield found
    found.close(wait=5)


def steps_job(names: bytes, iterations: int, **options: object) -> JobRequest:
    return JobRequest(
        upload=names, filename="dinos.txt", iterations=iterations, engine="numpy", seed=3, **options
    )  # type: ignore[arg-type]


def status_of(jobs: Jobs, job_id: str) -> str:
    return jobs.get(job_id).status


def weights(path: Path) -> dict[str, np.ndarray]:
    model = load_model(path)
    assert isinstance(model, WeightsModel)
    return {k: np.asarray(v) for k, v in model.params.items()}


def test_a_job_trains_in_its_own_process_and_its_model_is_offered(jobs: Jobs, names: bytes) -> None:
    job = jobs.create(steps_job(names, 40), owner="tester")
    assert job.status == "queued" and job.data_lines == 300 and job.data_name == "dinos.txt"
    wait_for(lambda: status_of(jobs, job.id) in ("succeeded", "failed"), "the job to end")
    done = jobs.get(job.id)
    assert done.status == "succeeded", done.error
    assert done.pid is None and done.finished is not None and done.runs == 1
    view = job_view(done, jobs)
    assert view["model"] == job.id
    assert view["progress"]["step"] == 40
    assert view["progress"]["best_val_loss"] is not None
    assert 0 < view["progress"]["best_val_loss"] < np.log(30)
    assert weights(done.model_path)  # a whole model file


def test_jobs_run_one_at_a_time_in_the_order_asked(jobs: Jobs, names: bytes) -> None:
    first = jobs.create(steps_job(names, 30))
    second = jobs.create(steps_job(names, 30))
    wait_for(lambda: status_of(jobs, first.id) == "running", "the first job to start")
    assert status_of(jobs, second.id) == "queued"
    wait_for(lambda: status_of(jobs, second.id) == "succeeded", "the second job to end")
    a, b = jobs.get(first.id), jobs.get(second.id)
    assert a.finished is not None and b.started is not None and a.finished <= b.started + 0.5


def test_a_stopped_job_keeps_its_best_model_and_resumes_to_the_same_weights(
    jobs: Jobs, names: bytes, tmp_path: Path
) -> None:
    straight = jobs.create(steps_job(names, 400))
    wait_for(lambda: status_of(jobs, straight.id) in ("succeeded", "failed"), "the straight job")
    assert jobs.get(straight.id).status == "succeeded"

    stopped = jobs.create(steps_job(names, 400))
    log = log_path_for(stopped.model_path)
    wait_for(lambda: state_path(stopped).exists() and log.exists() and log.stat().st_size > 0, "a checkpoint")
    jobs.cancel(stopped.id)
    wait_for(lambda: status_of(jobs, stopped.id) != "running", "the stop")
    said = jobs.get(stopped.id)
    assert said.status == "cancelled", said.error
    assert said.model_path.exists() and job_view(said, jobs)["progress"]["step"] < 400

    jobs.resume(stopped.id)
    wait_for(lambda: status_of(jobs, stopped.id) in ("succeeded", "failed"), "the resumed job")
    resumed = jobs.get(stopped.id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.runs == 2
    a, b = weights(jobs.get(straight.id).model_path), weights(resumed.model_path)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_server_that_died_finds_its_job_interrupted_and_resumes_it(names: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    first = Jobs(folder, nice=0)
    job = first.create(steps_job(names, 600))
    wait_for(lambda: state_path(job).exists(), "a checkpoint")
    pid = first.get(job.id).pid
    assert pid is not None
    first.runner.stopping = True  # the server is gone: nothing takes new jobs; the process goes on

    again = Jobs(folder, resume=True, nice=0)  # a new server on the same folder, with --resume-jobs
    try:
        assert not Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else True
        wait_for(lambda: status_of(again, job.id) in ("succeeded", "failed"), "the resumed job")
        done = again.get(job.id)
        assert done.status == "succeeded", done.error
        assert done.runs == 2
        steps = [r["iteration"] for r in LogReader(done.model_path).new_records()]
        assert steps == sorted(set(steps)) and steps  # one run: cut back to the checkpoint, continued
    finally:
        again.close(wait=5)


def test_cancelling_a_queued_job_never_starts_it(jobs: Jobs, names: bytes) -> None:
    running = jobs.create(steps_job(names, 3000))
    queued = jobs.create(steps_job(names, 30))
    cancelled = jobs.cancel(queued.id)
    assert cancelled.status == "cancelled"
    jobs.cancel(running.id)
    wait_for(lambda: status_of(jobs, running.id) != "running", "the stop")
    time.sleep(0.6)
    assert jobs.get(queued.id).runs == 0 and not Path(queued.folder).exists()


def test_a_job_runs_at_a_lower_cpu_priority_than_the_server(names: bytes, tmp_path: Path) -> None:
    jobs = Jobs(tmp_path / "data")  # the default: nice 10
    try:
        job = jobs.create(steps_job(names, 100_000))
        wait_for(lambda: jobs.get(job.id).pid is not None, "the job to start")
        pid = jobs.get(job.id).pid
        assert pid is not None
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + NICE
        jobs.cancel(job.id)
    finally:
        jobs.close(wait=5)


@pytest.mark.parametrize("code", [130, 143, -2, -9, 1])
def test_a_stopped_job_is_cancelled_however_its_process_ended(jobs: Jobs, names: bytes, code: int) -> None:
    """A SIGINT that reaches the process while the interpreter still starts kills it (-2) or
    ends it with a traceback (1) before saurus handles it: the job was still asked to stop."""
    jobs.runner.stopping = True  # the queue takes nothing: the test plays the process
    job = jobs.create(steps_job(names, 30))
    jobs.store.update(job.id, status="running", cancel=True)

    class Ended:
        def wait(self) -> int:
            return code

    jobs.runner.watch(job.id, Ended())  # type: ignore[arg-type]
    assert jobs.get(job.id).status == "cancelled"
