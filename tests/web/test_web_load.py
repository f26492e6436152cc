"""`saurus serve` under load, and the limits that keep one request from starving the others
(saurus.web.limits): a bounded run of benchmarks/serve_load.py's mix against a real server
in a subprocess, small requests beside requests at the work limit, the time limit, the
gate that bounds concurrent generations, and the body limits.

    pytest tests/web/test_web_load.py                                   # 1,000 requests at 32, < 60 s
    SAURUS_LOAD_REQUESTS=5000 SAURUS_LOAD_CONCURRENCY=64 pytest tests/web/test_web_load.py -s

The pretrained models (dinos, shakespeare) are served: no training, no corpus needed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import os
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import require

require("fastapi")
require("httpx")

from conftest import REPO  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import saurus  # noqa: E402
from saurus.web.app import BodyLimit, create_app  # noqa: E402
from saurus.web.completions import run_completion, run_score, score_groups  # noqa: E402
from saurus.web.limits import (  # noqa: E402
    Deadline,
    Gate,
    Limits,
    TimedGenerator,
    TimeLimitError,
)
from saurus.web.problems import ApiError  # noqa: E402
from saurus.web.schemas import CompletionRequest, ScoreRequest  # noqa: E402
from saurus.web.served import load_served  # noqa: E402

REPO = REPO
REQUESTS = int(os.environ.get("SAURUS_LOAD_REQUESTS", "1000"))
CONCURRENCY = int(os.environ.get("SAURUS_LOAD_CONCURRENCY", "32"))
TIME_LIMIT = 3  # seconds, for the server that runs requests at the work limit


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_load", REPO / "benchmarks" / "serve_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["serve_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


SERVER_LOG: list[str] = []  # what the servers wrote after their address


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with bench.serving("--threads", "1", log=SERVER_LOG) as url:
        yield url


@pytest.fixture(scope="module")
def strict_server() -> Iterator[str]:
    """Two workers (so at most one big request at a time) and a short time limit."""
    options = ["--threads", "1", "--parallel", "2", "--timeout", str(TIME_LIMIT)]
    with bench.serving(*options, log=SERVER_LOG) as url:
        yield url


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    return load_served(["dinos", "shakespeare"])


# --- a real server, loaded from this process ---


@pytest.mark.slow
def test_a_mix_of_valid_and_invalid_requests_gets_no_server_error_and_drops_nothing(server: str) -> None:
    summary = bench.load_test(server, REQUESTS, CONCURRENCY, seed=0)
    print("\n" + bench.table(summary, CONCURRENCY))
    assert summary.server_errors == 0, summary.statuses
    assert summary.dropped == 0, summary.transport_errors
    assert summary.wrong == 0, summary.kinds
    assert set(summary.kinds) == {"names", "text", "score", "models", "invalid"}
    invalid = summary.kinds["invalid"]["statuses"]
    assert all(400 <= status < 500 for status in invalid) and len(invalid) >= 3, invalid
    for kind in ("names", "text", "score", "models"):
        assert set(summary.kinds[kind]["statuses"]) == {200}, (kind, summary.kinds[kind])
    assert not SERVER_LOG, SERVER_LOG  # no warning, no error, no traceback


@pytest.mark.slow
def test_small_requests_are_not_starved_by_requests_at_the_work_limit(strict_server: str) -> None:
    found = asyncio.run(bench.starve(strict_server, count=100, concurrency=4, huge=3))
    print("\n" + bench.starvation_table(found))
    assert found.small_failed == 0
    # the small ones went on while the big ones ran (how fast is the benchmark's figure,
    # benchmarks/serve_load.py: this machine's speed is not asserted)
    assert len(found.beside) >= 20
    codes = [(r.status, r.code) for r in found.huge]
    assert all(status == 503 for status, _ in codes), codes
    assert "timeout" in {code for _, code in codes} <= {"timeout", "server_busy"}, codes
    first = min(r.seconds for r in found.huge if r.code == "timeout")
    assert first > TIME_LIMIT - 0.5, first  # the time limit fired, not before its time


@pytest.mark.slow
def test_a_timed_out_request_is_answered_in_openai_shape_and_the_server_goes_on(strict_server: str) -> None:
    import httpx

    with httpx.Client(base_url=strict_server, timeout=60) as client:
        reply = client.post("/v1/score", json={"model": "shakespeare", "texts": "a" * 1_000_000})
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert error["code"] == "timeout" and f"{TIME_LIMIT:g} s" in error["message"]
        after = client.post("/v1/completions", json={"model": "dinos", "n": 3, "seed": 0})
        assert after.status_code == 200 and len(after.json()["choices"]) == 3
    assert not SERVER_LOG, SERVER_LOG


# --- the time limit, in process ---


def test_the_timed_generator_draws_what_the_seed_gives() -> None:
    timed = TimedGenerator(7, Deadline(60))
    assert np.array_equal(timed.random(5), np.random.default_rng(7).random(5))
    assert np.random.default_rng(timed) is timed  # complete() draws from it as it is


def test_a_deadline_stops_generation_and_scoring(served: dict[str, Any]) -> None:
    gone = Deadline(0)
    time.sleep(0.01)
    with pytest.raises(TimeLimitError):
        run_completion(served, CompletionRequest(model="shakespeare", n=2, max_tokens=500), gone)
    with pytest.raises(TimeLimitError):
        run_completion(served, CompletionRequest(model="dinos", n=5), gone)
    with pytest.raises(TimeLimitError):
        run_score(served, ScoreRequest(model="shakespeare", texts="to be or not"), gone)
    # with time to spare: the same choices as without a deadline
    req = CompletionRequest(model="shakespeare", n=2, max_tokens=50, seed=3, logprobs=2)
    with_time = run_completion(served, req, Deadline(60)).model_dump()
    without = run_completion(served, req).model_dump()
    assert with_time["choices"] == without["choices"]


def test_the_time_limit_is_a_503_in_openai_shape(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served, Limits(timeout=0.2)))
    reply = client.post("/v1/completions", json={"model": "shakespeare", "n": 100, "max_tokens": 10_000})
    assert reply.status_code == 503  # stopped by its time limit (the message below), not finished
    assert reply.json() == {
        "error": {
            "message": "the request ran past the time limit of 0.2 s per request and was stopped; "
            "ask for less (fewer prompts or texts, a smaller n or max_tokens)",
            "type": "server_error",
            "param": None,
            "code": "timeout",
        }
    }
    assert client.post("/v1/completions", json={"model": "dinos", "n": 2}).status_code == 200


def test_the_work_limit_counts_the_prompt_too(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served))
    body = {"model": "shakespeare", "prompt": "x" * 20_000, "n": 100, "max_tokens": 1}
    reply = client.post("/v1/completions", json=body)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "n"
    assert "2,000,100" in reply.json()["error"]["message"]


# --- scoring in groups ---


def test_scores_in_groups_match_one_batch_and_errors_name_the_text(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("saurus.web.completions.SCORE_GROUP_CHARS", 1000)  # small groups, short texts
    model = served["shakespeare"].model
    texts = ["to be", "a" * 300, "or not", "b" * 500, "to be, that is the question"] * 3
    assert len(score_groups(texts)) > 1  # the long ones are scored apart
    got = run_score(served, ScoreRequest(model="shakespeare", texts=texts)).data
    alone = {text: saurus.score_strings(model, [text])[0] for text in set(texts)}
    for item, report in zip(got, [alone[text] for text in texts], strict=True):
        # float32 steps of another batch size: the same up to rounding
        assert item.chars == report.chars and math.isclose(item.nats, report.nats, rel_tol=1e-6)
    client = TestClient(create_app(served))
    bad = client.post("/v1/score", json={"model": "dinos", "texts": ["ann", "b" * 900, "t-rex"]})
    assert bad.status_code == 400 and "'-'" in bad.json()["error"]["message"]
    empty = client.post("/v1/score", json={"model": "shakespeare", "texts": ["x" * 900, "ok", ""]})
    assert empty.status_code == 400 and "string 3 is empty" in empty.json()["error"]["message"]


def test_score_groups_keep_every_text_once_within_the_batch_size() -> None:
    lengths = [1, 5, 70_000, 3, 65_536, 0, 200, 20_000, 20_000, 30_000]
    texts = ["x" * n for n in lengths]
    groups = score_groups(texts)
    assert sorted(i for g in groups for i in g) == list(range(len(texts)))
    for group in groups:
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= 65_536


# --- the gate: how many generate at once ---


def test_the_gate_queues_refuses_when_full_and_lets_small_requests_pass_big_ones() -> None:
    async def scenario() -> None:
        gate = Gate(parallel=2, heavy=1, queue=2, wait=0.3)
        await gate.enter(heavy=True)  # the one big request allowed
        big = asyncio.create_task(gate.enter(heavy=True))  # waits for the heavy slot
        await asyncio.sleep(0.01)
        await asyncio.wait_for(gate.enter(heavy=False), 0.1)  # a small one passes it
        small = asyncio.create_task(gate.enter(heavy=False))  # no worker left: waits
        await asyncio.sleep(0.01)
        with pytest.raises(ApiError) as full:
            await gate.enter(heavy=False)  # two wait already
        assert full.value.status == 503 and full.value.code == "server_busy"
        assert full.value.headers == {"Retry-After": "1"}
        gate.leave(heavy=False)  # the small one gets that worker, the big one still waits
        await asyncio.wait_for(small, 0.1)
        with pytest.raises(ApiError) as waited:
            await big  # the heavy slot never came free within 0.3 s
        assert waited.value.code == "server_busy" and "0.3 s" in waited.value.message
        assert (gate.running, gate.running_heavy, len(gate.waiting)) == (2, 1, 0)
        gate.leave(heavy=True)
        gate.leave(heavy=False)
        assert (gate.running, gate.running_heavy) == (0, 0)

    asyncio.run(scenario())


def test_a_busy_server_answers_503_with_retry_after(served: dict[str, Any]) -> None:
    app = create_app(served, Limits(parallel=1, queue=0))
    gate: Gate = app.state.gate
    gate.running = 1  # as if a request were generating
    reply = TestClient(app).post("/v1/completions", json={"model": "dinos"})
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
    assert reply.json()["error"]["code"] == "server_busy"


# --- bodies ---


def test_a_chunked_body_over_the_limit_is_refused(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served))

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "dinos", "prompt": "'
        for _ in range(17):
            yield b"a" * 1024**2
        yield b'"}'

    reply = client.post("/v1/completions", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "16 MiB" in reply.json()["error"]["message"]


def test_a_body_that_does_not_come_in_time_gets_408() -> None:
    sent: list[dict[str, Any]] = []
    called: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"10")]}
    asyncio.run(asyncio.wait_for(BodyLimit(app, 100, seconds=0.05)(scope, receive, send), 5))
    assert not called and sent[0]["status"] == 408 and b"0.05 s" in sent[1]["body"]


def test_a_body_is_handed_on_whole(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served))

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "dinos", '
        yield b'"n": 2, "seed": 1}'

    reply = client.post("/v1/completions", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 200 and len(reply.json()["choices"]) == 2


def test_a_request_whose_client_has_gone_is_not_run() -> None:
    ran: list[bool] = []

    async def gone() -> bool:
        return True

    async def scenario() -> None:
        gate = Gate(parallel=1, heavy=1, queue=1, wait=1)
        with pytest.raises(ApiError) as dropped:
            await gate.run(10, lambda deadline: ran.append(True), 5, gone)
        assert dropped.value.status == 499 and gate.running == 0

    asyncio.run(scenario())
    assert not ran
