"""Training jobs over HTTP: every /v1/jobs route, the event stream's format, the key, the
limits and hostile uploads (each a 4xx with one line, and no file left behind)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_line_error, labelled_names_text, require, saurus

require("fastapi")
require("httpx")
require("python_multipart")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.jobs.runner import train_command  # noqa: E402
from saurus.jobs.service import JobLimits, Jobs  # noqa: E402
from saurus.jobs.uploads import UploadLimits  # noqa: E402
from saurus.web.app import create_app  # noqa: E402

KEY = "k3y"
WAIT = 90.0


@pytest.fixture
def names(dinos_path: Path) -> bytes:
    return "\n".join(dinos_path.read_text().split("\n")[:300]).encode() + b"\n"


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[Jobs]:
    limits = JobLimits(max_budget=120, max_queued=2, upload=UploadLimits(max_bytes=64 * 1024, max_lines=5000))
    found = Jobs(tmp_path / "data", limits=limits, nice=0)  # niced, it would starve beside other tests
    yield found
    found.close(wait=5)


@pytest.fixture
def client(jobs: Jobs) -> TestClient:
    return TestClient(create_app({}, jobs=jobs))


def upload(client: TestClient, data: bytes, **fields: Any) -> Any:
    form = {k: str(v) for k, v in fields.items()}
    return client.post("/v1/jobs", files={"file": ("dinos.txt", data, "text/plain")}, data=form)


def long_job(client: TestClient, raw: bool = False) -> Any:
    """A job that runs until stopped: a megabyte of text, which a minute reads less than
    the 20 times after which a run ends by itself."""
    reply = client.post(
        "/v1/jobs", data={"dataset": "tinyshakespeare", "time_budget": "60", "engine": "numpy"}
    )
    return reply if raw else reply.json()


def wait_until_done(client: TestClient, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers or {}).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} did not end within {WAIT:g} s")


def events(client: TestClient, job_id: str, query: str = "") -> list[tuple[str, Any]]:
    """The whole event stream of a job, as (event, data) pairs."""
    found = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events{query}") as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        text = "".join(reply.iter_text())
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ") and len(lines) == 2, block
        found.append((lines[0][7:], json.loads(lines[1][6:])))
    return found


def test_an_upload_trains_and_its_model_samples_at_once(client: TestClient, names: bytes) -> None:
    reply = upload(client, names, iterations=60, engine="numpy", seed=1, name="my dinos")
    assert reply.status_code == 200, reply.text
    job = reply.json()
    assert job["object"] == "training.job" and job["status"] == "queued" and job["name"] == "my dinos"
    assert job["data"] == {
        "source": "upload",
        "name": "dinos.txt",
        "chars": len(names.decode()),
        "lines": 300,
    }
    assert client.get("/v1/jobs").json()["data"][0]["id"] == job["id"]
    stream = events(client, job["id"])
    kinds = [kind for kind, _ in stream]
    assert kinds[-1] == "end" and "progress" in kinds and "status" in kinds
    points = [data for kind, data in stream if kind == "progress"]
    assert [p["step"] for p in points] == sorted(p["step"] for p in points)
    assert points[-1]["step"] == 60 and all(p["val_loss"] > 0 for p in points)
    assert set(points[0]) == {"step", "seconds", "eta", "train_loss", "val_loss", "best"}
    done = stream[-1][1]
    assert done["status"] == "succeeded" and done["model"] == job["id"]
    assert done["progress"]["best_val_loss"] == min(p["val_loss"] for p in points)
    assert job["id"] in [m["id"] for m in client.get("/v1/models").json()["data"]]
    names_out = client.post("/v1/completions", json={"model": job["id"], "n": 5, "seed": 0})
    assert names_out.status_code == 200 and len(names_out.json()["choices"]) == 5

    # a stream opened after the end replays every point, then ends at once
    def without_eta(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in p.items() if k != "eta"} for p in found]

    replayed = [d for k, d in events(client, job["id"]) if k == "progress"]
    assert without_eta(replayed) == without_eta(points)
    assert all(p["eta"] is None for p in replayed)  # nothing is left to wait for


def test_a_running_job_stops_and_keeps_its_best_model(client: TestClient, data_dir: Path) -> None:
    job = long_job(client)
    deadline = time.monotonic() + WAIT
    while client.get(f"/v1/jobs/{job['id']}").json()["progress"]["step"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stopped = client.delete(f"/v1/jobs/{job['id']}")
    assert stopped.status_code == 200
    done = wait_until_done(client, job["id"])
    assert done["status"] == "cancelled" and done["model"] == job["id"]  # stopped, not run out


def test_json_with_the_text_works_like_an_upload(client: TestClient, names: bytes) -> None:
    reply = client.post("/v1/jobs", json={"text": names.decode(), "iterations": 5, "engine": "numpy"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["lines"] == 300
    assert wait_until_done(client, reply.json()["id"])["status"] == "succeeded"


def test_an_uploaded_table_of_names_and_labels_trains_a_model_with_categories(
    client: TestClient, jobs: Jobs
) -> None:
    table = ("name\tlabel\n" + labelled_names_text()).encode()
    reply = client.post(
        "/v1/jobs",
        files={"file": ("../my names.tsv", table, "text/tab-separated-values")},
        data={"iterations": "30", "engine": "numpy", "seed": "1"},
    )
    assert reply.status_code == 200, reply.text
    job = reply.json()
    assert job["options"]["labelled"] is True and job["data"]["name"] == "my names.tsv"
    kept = list((jobs.folder / "uploads").iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".tsv" and kept[0].name != "my names.tsv"
    record = jobs.store.get(job["id"])
    assert record is not None and "--labelled" in train_command(record)
    done = wait_until_done(client, job["id"])
    assert done["status"] == "succeeded", done
    card = client.get(f"/v1/models/{job['id']}").json()
    assert card["categories"] == ["Ka", "Zo"] and len(card["category_counts"]) == 2
    drawn = client.post("/v1/completions", json={"model": job["id"], "n": 3, "seed": 0, "category": "Zo"})
    assert drawn.status_code == 200 and len(drawn.json()["choices"]) == 3
    classified = client.post("/v1/classify", json={"model": job["id"], "names": ["kaka"]})
    assert classified.status_code == 200 and classified.json()["data"][0]["categories"][0]["category"]


def test_labelled_true_reads_json_text_as_name_tab_label_lines(client: TestClient, jobs: Jobs) -> None:
    body = {"text": labelled_names_text(), "labelled": True, "iterations": 5, "engine": "numpy"}
    reply = client.post("/v1/jobs", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["options"]["labelled"] is True
    assert [p.suffix for p in (jobs.folder / "uploads").iterdir()] == [".tsv"]
    done = wait_until_done(client, reply.json()["id"])
    assert done["status"] == "succeeded", done
    assert client.get(f"/v1/models/{done['id']}").json()["categories"] == ["Ka", "Zo"]


def table(name: str, data: bytes, **fields: Any) -> Any:
    return lambda c: c.post(
        "/v1/jobs", files={"file": (name, data, "text/plain")}, data={k: str(v) for k, v in fields.items()}
    )


@pytest.mark.parametrize(
    ("send", "said"),
    [
        (
            table("n.csv", b"rossi,Italian\nkelly\n"),
            "n.csv, line 2: expected a name and a label separated by a comma",
        ),
        (
            table("n.tsv", b"rossi\tItalian\tmore\n"),
            "n.tsv, line 1: expected a name and a label separated by a tab",
        ),
        (table("n.txt", b"rossi\n", labelled="true"), "separated by a tab"),
        (table("n.tsv", b"name\tlabel\n"), "holds no names"),
        (table("n.tsv", b"rossi\tItalian\n", mode="stream"), "train in lines mode"),
        (
            lambda c: c.post("/v1/jobs", data={"dataset": "dinos", "labelled": "true"}),
            "datasets are not labelled",
        ),
        (lambda c: c.post("/v1/jobs", data={"dataset": "dinos", "labelled": "perhaps"}), "true or false"),
        (lambda c: c.post("/v1/jobs", json={"text": "a\tb\n", "labelled": "yes"}), "true or false"),
    ],
)
def test_a_broken_table_is_refused_at_upload_and_leaves_no_file(
    client: TestClient, jobs: Jobs, send: Any, said: str
) -> None:
    reply = send(client)
    assert reply.status_code == 400, reply.text
    message = reply.json()["error"]["message"]
    assert said in message and "\n" not in message
    assert not (jobs.folder / "uploads").exists() or not list((jobs.folder / "uploads").iterdir())
    assert client.get("/v1/jobs").json()["data"] == []


@pytest.mark.parametrize(
    ("send", "status", "said"),
    [
        (lambda c: upload(c, b"\x00\x01binary"), 415, "NUL"),
        (lambda c: upload(c, b"PK\x03\x04" + bytes(range(256)) * 10), 415, "not UTF-8"),
        (lambda c: upload(c, b"a" * (64 * 1024 + 1)), 413, "at most 64.0 KiB"),
        (lambda c: upload(c, b"rex\n" * 5001), 413, "lines"),
        (lambda c: upload(c, b"rex\n", time_budget=1e9), 400, "time_budget"),
        (lambda c: upload(c, b"rex\n", time_budget="soon"), 400, "time_budget must be a number"),
        (lambda c: upload(c, b"rex\n", hidden="-3"), 400, "hidden"),
        (lambda c: upload(c, b"rex\n", mode="../../etc"), 400, "mode must be one of"),
        (lambda c: upload(c, b"rex\n", path="/etc/passwd"), 400, "unrecognized request argument: path"),
        (lambda c: upload(c, b"rex\n", dataset="dinos"), 400, "not both"),
        (lambda c: c.post("/v1/jobs", data={"dataset": "../../etc/passwd"}), 400, "no text dataset"),
        (lambda c: c.post("/v1/jobs", data={"time_budget": "5"}), 400, "give either"),
        (
            lambda c: c.post("/v1/jobs", content=b"rex", headers={"content-type": "text/plain"}),
            400,
            "multipart",
        ),
        (lambda c: c.post("/v1/jobs", json=["rex"]), 400, "JSON object"),
        (lambda c: c.post("/v1/jobs", json={"text": 5}), 400, "text must be a string"),
        (lambda c: c.post("/v1/jobs", files=[("file", ("a", b"x")), ("file", ("b", b"y"))]), 400, ""),
        (lambda c: c.get("/v1/jobs/job-nope"), 404, "no job"),
        (lambda c: c.delete("/v1/jobs/" + "x" * 300), 404, "no job"),
        (lambda c: c.post("/v1/jobs/job-nope/resume"), 404, "no job"),
        (lambda c: c.get("/v1/jobs/job-nope/events"), 404, "no job"),
    ],
)
def test_hostile_and_wrong_requests_get_one_clear_4xx_and_leave_no_file(
    client: TestClient, jobs: Jobs, send: Any, status: int, said: str
) -> None:
    reply = send(client)
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]["message"]
    assert said in message and "\n" not in message
    assert not (jobs.folder / "uploads").exists() or not list((jobs.folder / "uploads").iterdir())
    assert client.get("/v1/jobs").json()["data"] == []


def test_the_queue_has_a_limit(client: TestClient, names: bytes) -> None:
    replies = [long_job(client, raw=True) for _ in range(4)]
    assert [r.status_code for r in replies[:3]] == [200, 200, 200]  # one runs, two wait
    assert replies[3].status_code == 429 and "waiting already" in replies[3].json()["error"]["message"]
    for reply in replies[:3]:
        client.delete(f"/v1/jobs/{reply.json()['id']}")


def test_resume_is_refused_for_a_job_that_is_not_stopped(client: TestClient, names: bytes) -> None:
    job = upload(client, names, iterations=5, engine="numpy").json()
    wait_until_done(client, job["id"])
    reply = client.post(f"/v1/jobs/{job['id']}/resume")
    assert (
        reply.status_code == 409
        and "only an interrupted or stopped job resumes" in reply.json()["error"]["message"]
    )


def test_a_server_without_training_answers_403(names: bytes) -> None:
    client = TestClient(create_app({}))
    for reply in (client.get("/v1/jobs"), upload(client, names), client.get("/v1/jobs/job-a/events")):
        assert reply.status_code == 403 and "--no-training" in reply.json()["error"]["message"]
    assert client.get("/health").json()["training"] is False


def test_with_a_key_the_job_routes_need_it_and_the_events_take_it_as_a_query(
    jobs: Jobs, names: bytes
) -> None:
    client = TestClient(create_app({}, jobs=jobs, api_key=KEY))
    assert upload(client, names, iterations=5).status_code == 401
    assert client.get("/v1/jobs").status_code == 401
    good = {"Authorization": f"Bearer {KEY}"}
    reply = client.post(
        "/v1/jobs",
        files={"file": ("d.txt", names)},
        data={"iterations": "5", "engine": "numpy"},
        headers=good,
    )
    assert reply.status_code == 200
    job_id = reply.json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/events?key=wrong").status_code == 401
    assert client.get(f"/v1/jobs/{job_id}?key={KEY}").status_code == 401  # the query works for events only
    assert events(client, job_id, f"?key={KEY}")[-1][0] == "end"
    assert wait_until_done(client, job_id, good)["status"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--no-training",), "nothing to serve"),
        (("--jobs", "0"), "--jobs"),
        (("--max-upload-mb", "-5"), "--max-upload-mb"),
        (("--max-budget", "nan"), "--max-budget"),
        (("--data-dir", "/proc/version/saurus"), "cannot keep the job records"),
    ],
)
def test_serve_refuses_wrong_training_options_in_one_line(args: tuple[str, ...], said: str) -> None:
    assert_one_line_error(saurus("serve", "--port", "0", *args), said)


def test_deleting_a_trained_model_removes_its_job_files_and_upload(
    client: TestClient, jobs: Jobs, names: bytes
) -> None:
    running = long_job(client)
    refused = client.delete(f"/v1/models/{running['id']}")
    assert refused.status_code == 409 and "stop it first" in refused.json()["error"]["message"]
    client.delete(f"/v1/jobs/{running['id']}")
    done = upload(client, names, iterations=5, engine="numpy").json()
    for job in (running, done):
        wait_until_done(client, job["id"])
        reply = client.delete(f"/v1/models/{job['id']}")
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"id": job["id"], "object": "model", "deleted": True}
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert job["id"] not in [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert list((jobs.folder / "uploads").iterdir()) == [] and list((jobs.folder / "jobs").iterdir()) == []
    assert client.delete("/v1/models/dinos").status_code == 404
