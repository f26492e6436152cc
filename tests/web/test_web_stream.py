"""Streaming completions (`stream: true`): OpenAI's data-only server-sent events, read raw
and through the official openai client; the same seed gives the same text as without."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import require

import saurus

require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.web.app import create_app  # noqa: E402
from saurus.web.limits import Limits  # noqa: E402
from saurus.web.served import load_served  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("stream")
    names = saurus.TrainConfig(lowercase=True, iterations=100, hidden=32, engine="numpy")
    saurus.save(saurus.train_file(data_dir / "dinos.txt", names).model, folder / "dinos.saurus")
    text = saurus.TrainConfig(mode="stream", iterations=40, hidden=32, engine="numpy")
    saurus.save(saurus.train_file(data_dir / "sonnets.txt", text).model, folder / "sonnets.saurus")
    return folder


@pytest.fixture(scope="module")
def client(model_dir: Path) -> TestClient:
    return TestClient(create_app(load_served([model_dir / "dinos.saurus", model_dir / "sonnets.saurus"])))


def events(client: TestClient, **body: Any) -> list[Any]:
    """The stream's events, parsed from the raw bytes: each `data: ...` line and a blank
    line; the last is the string [DONE]."""
    reply = client.post("/v1/completions", json={**body, "stream": True})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    blocks = reply.text.split("\n\n")
    assert blocks[-1] == "", "the stream ends with a blank line"
    parsed = []
    for block in blocks[:-1]:
        assert block.startswith("data: ") and "\n" not in block, block
        data = block[len("data: ") :]
        parsed.append(data if data == "[DONE]" else json.loads(data))
    assert parsed[-1] == "[DONE]" and "[DONE]" not in parsed[:-1]
    return parsed[:-1]


def joined(chunks: list[dict[str, Any]], n: int) -> tuple[list[str], list[str | None]]:
    """Each choice's text, its pieces put together, and its finish reason."""
    text, reason = [""] * n, [None] * n
    for chunk in chunks:
        assert chunk["object"] == "text_completion" and chunk["id"].startswith("cmpl-")
        for choice in chunk["choices"]:
            assert reason[choice["index"]] is None, "nothing comes after a choice has finished"
            text[choice["index"]] += choice["text"]
            reason[choice["index"]] = choice["finish_reason"]
    return text, reason


def plain(client: TestClient, **body: Any) -> dict[str, Any]:
    reply = client.post("/v1/completions", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize(
    "body",
    [
        {"model": "sonnets", "prompt": "Thy", "max_tokens": 120, "n": 3, "seed": 4},
        {
            "model": "sonnets",
            "prompt": ["Thy", "My love"],
            "max_tokens": 50,
            "n": 2,
            "seed": 1,
            "stop": ["e"],
        },
        {"model": "sonnets", "max_tokens": 80, "seed": 2, "temperature": 0},
        {"model": "dinos", "prompt": "tyr", "n": 5, "seed": 3},
        {"model": "dinos", "n": 8, "seed": 0, "novel": True, "stop": "a"},
    ],
)
def test_streamed_text_is_the_text_without_streaming(client: TestClient, body: dict[str, Any]) -> None:
    whole = plain(client, **body)
    chunks = events(client, **body)
    text, reason = joined(chunks, len(whole["choices"]))
    assert text == [c["text"] for c in whole["choices"]]
    assert reason == [c["finish_reason"] for c in whole["choices"]]


def test_long_text_comes_in_many_pieces_and_usage_comes_last(client: TestClient) -> None:
    body = {"model": "sonnets", "prompt": "Thy", "max_tokens": 200, "seed": 0}
    chunks = events(client, **body, stream_options={"include_usage": True})
    pieces = [c for c in chunks if c["choices"]]
    assert len(pieces) >= 200 // 16, "the text is sent as it is drawn"
    *_, last = chunks
    assert last["choices"] == [] and last["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 200,
        "total_tokens": 203,
    }
    assert "usage" not in pieces[0]


def test_an_error_after_the_stream_began_is_a_chunk_then_done(model_dir: Path) -> None:
    slow = TestClient(create_app(load_served([model_dir / "sonnets.saurus"]), Limits(timeout=0.05)))
    chunks = events(slow, model="sonnets", max_tokens=10_000, n=16, seed=0)
    error = chunks[-1]["error"]
    assert error["code"] == "timeout" and "time limit" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sonnets", "logprobs": 2}, "logprobs"),
        ({"model": "dinos", "prompt": "ty7"}, "prompt"),
        ({"model": "nope"}, "model"),
    ],
)
def test_a_refused_stream_is_a_plain_error_before_any_event(
    client: TestClient, body: dict[str, Any], param: str
) -> None:
    reply = client.post("/v1/completions", json={**body, "stream": True})
    assert reply.status_code in (400, 404) and reply.json()["error"]["param"] == param


def test_stream_options_need_stream(client: TestClient) -> None:
    reply = client.post("/v1/completions", json={"model": "dinos", "stream_options": {"include_usage": True}})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "stream_options"


def test_the_openai_client_streams(client: TestClient) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    body = {"model": "sonnets", "prompt": "Thy", "max_tokens": 60, "n": 2, "seed": 5}
    whole = api.completions.create(**body)
    text = ["", ""]
    for chunk in api.completions.create(**body, stream=True, stream_options={"include_usage": True}):
        for choice in chunk.choices:
            text[choice.index] += choice.text
        if not chunk.choices:
            assert chunk.usage is not None and chunk.usage.completion_tokens == 120
    assert text == [c.text for c in whole.choices]
