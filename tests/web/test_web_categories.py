"""Names by category over HTTP: `category` on /v1/completions (streamed too) and /v1/score,
the categories in /v1/models, and /v1/classify, on a small model trained on labelled names
(Ka's names of k and a, Zo's of z and o) beside a names model without categories."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import labelled_names_model, require

import saurus
from saurus.generation.api import complete, score
from saurus.generation.categories import classify

require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.web.app import create_app  # noqa: E402
from saurus.web.classify import run_classify  # noqa: E402
from saurus.web.limits import Deadline, TimeLimitError  # noqa: E402
from saurus.web.schemas import ClassifyRequest  # noqa: E402
from saurus.web.served import load_served  # noqa: E402

PLAIN = "anna\nbob\ncleo\ndora\nemil\nfrida\ngus\nhana\nivo\njana\nkarl\nlena\nkaz\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("categories")
    saurus.save(labelled_names_model(), folder / "kazo.saurus")
    plain = saurus.TrainConfig(engine="numpy", hidden=8, iterations=10, val_fraction=0)
    saurus.save(saurus.train_text(PLAIN, plain).model, folder / "plain.saurus")
    return folder


@pytest.fixture(scope="module")
def served(model_dir: Path) -> dict[str, Any]:
    return load_served([model_dir / "kazo.saurus", model_dir / "plain.saurus"])


@pytest.fixture(scope="module")
def client(served: dict[str, Any]) -> TestClient:
    return TestClient(create_app(served))


def post(client: TestClient, path: str, **body: Any) -> dict[str, Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(client: TestClient, path: str, **body: Any) -> dict[str, Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and "\n" not in error["message"]
    return error


def texts(reply: dict[str, Any]) -> list[str]:
    return [c["text"] for c in reply["choices"]]


def share(names: list[str], letters: str) -> float:
    """The share of the names' characters that are among `letters`."""
    drawn = "".join(names)
    return sum(c in letters for c in drawn) / max(len(drawn), 1)


def test_models_list_the_categories_and_their_counts(client: TestClient, served: dict[str, Any]) -> None:
    cards = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    model = served["kazo"].model
    assert cards["kazo"]["categories"] == ["Ka", "Zo"] == list(model.categories)
    assert cards["kazo"]["category_counts"] == [int(c) for c in model.category_counts]
    assert all(c > 0 for c in cards["kazo"]["category_counts"])
    assert cards["plain"]["categories"] is None and cards["plain"]["category_counts"] is None
    assert client.get("/v1/models/kazo").json()["categories"] == ["Ka", "Zo"]


def test_a_category_draws_its_names_as_the_library_does(client: TestClient, served: dict[str, Any]) -> None:
    model = served["kazo"].model

    def drawn(**body: Any) -> list[str]:
        return texts(post(client, "/v1/completions", model="kazo", n=20, seed=3, max_tokens=30, **body))

    def library(category: Any = None) -> list[str]:
        found = complete(model, "", max_new_tokens=30, num_return_sequences=20, seed=3, category=category)
        return [c.text for c in found]

    for category, letters in (("Ka", "ka"), ("Zo", "zo")):
        names = drawn(category=category)
        assert names == library(category) and share(names, letters) > 0.8, names
    blend = drawn(category="Ka=0.5,Zo=0.5")
    assert blend == drawn(category={"Ka": 1, "Zo": 1}) == library("Ka=1,Zo=1")
    assert drawn() == library() == drawn(category=None)


def test_a_category_with_a_prompt_novel_names_and_constraints(client: TestClient) -> None:
    body = {"model": "kazo", "prompt": "k", "n": 10, "seed": 1, "category": "Ka", "novel": True}
    drawn = texts(post(client, "/v1/completions", **body))
    assert len(drawn) == 10 and share(drawn, "ka") > 0.8
    constrained = texts(
        post(client, "/v1/completions", model="kazo", n=5, seed=1, category="Zo", ends_with="o")
    )
    assert len(constrained) == 5 and all(t.endswith("o") for t in constrained)
    logprobs = post(client, "/v1/completions", model="kazo", n=2, seed=1, category="Zo", logprobs=1)
    assert all(c["logprobs"]["tokens"] for c in logprobs["choices"])


def test_the_openai_client_passes_a_category_in_extra_body(client: TestClient) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    got = api.completions.create(model="kazo", prompt="", n=8, seed=2, extra_body={"category": "Zo"})
    assert [c.text for c in got.choices] == texts(
        post(client, "/v1/completions", model="kazo", n=8, seed=2, category="Zo")
    )
    blended = api.completions.create(model="kazo", prompt="", n=8, seed=2, extra_body={"category": {"Ka": 1}})
    assert [c.text for c in blended.choices] == texts(
        post(client, "/v1/completions", model="kazo", n=8, seed=2, category="Ka")
    )
    with pytest.raises(openai.BadRequestError, match="unknown category"):
        api.completions.create(model="kazo", prompt="", extra_body={"category": "Xy"})


def test_a_streamed_completion_takes_the_category(client: TestClient) -> None:
    body = {"model": "kazo", "n": 6, "seed": 4, "category": "Zo"}
    reply = client.post("/v1/completions", json={**body, "stream": True})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    blocks = [b[len("data: ") :] for b in reply.text.split("\n\n") if b]
    assert blocks[-1] == "[DONE]"
    streamed = [""] * 6
    for chunk in map(json.loads, blocks[:-1]):
        for choice in chunk["choices"]:
            streamed[choice["index"]] += choice["text"]
    assert streamed == texts(post(client, "/v1/completions", **body))
    unknown = client.post("/v1/completions", json={**body, "category": "Xy", "stream": True})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "category"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"model": "kazo", "category": "Xy"}, "unknown category 'Xy'; the model's categories are: Ka, Zo"),
        ({"model": "kazo", "category": {"Ka": 0.5, "Xy": 0.5}}, "unknown category 'Xy'"),
        ({"model": "kazo", "category": "Ka=lots"}, "'Ka=lots' is not LABEL=WEIGHT"),
        ({"model": "kazo", "category": ""}, "category is empty"),
        ({"model": "kazo", "category": {"Ka": 0}}, "sum to 0"),
        ({"model": "kazo", "category": {"Ka": -1}}, "category: Input should be greater than or equal to 0"),
        ({"model": "kazo", "category": 3}, "category: Input should be a valid string"),
        ({"model": "plain", "category": "Ka"}, "not trained on labelled names; it takes no category"),
    ],
)
def test_a_wrong_category_is_a_400_that_says_why(client: TestClient, body: dict[str, Any], said: str) -> None:
    for path in ("/v1/completions", "/v1/score"):
        extra = {"texts": ["kaka"]} if path == "/v1/score" else {}
        error = refused(client, path, **body, **extra)
        assert said in error["message"] and error["param"] == "category", error
        assert "--category" not in error["message"]


def test_score_takes_the_category(client: TestClient, served: dict[str, Any]) -> None:
    model = served["kazo"].model
    names = ["kaka", "zozo"]
    by = {c: post(client, "/v1/score", model="kazo", texts=names, category=c)["data"] for c in ("Ka", "Zo")}
    for category, data in by.items():
        expected = score(model, names, category=category)
        assert [d["nats"] for d in data] == pytest.approx([s.nats for s in expected], rel=1e-6)
    assert by["Ka"][0]["nats"] < by["Zo"][0]["nats"] and by["Zo"][1]["nats"] < by["Ka"][1]["nats"]
    default = post(client, "/v1/score", model="kazo", texts=names)["data"]
    assert [d["nats"] for d in default] == pytest.approx([s.nats for s in score(model, names)], rel=1e-6)


def test_classify_gives_each_names_likeliest_categories(client: TestClient, served: dict[str, Any]) -> None:
    names = ["kakak", "zozoo", "kz", "aaaa"]
    reply = post(client, "/v1/classify", model="kazo", names=names, top=2)
    assert reply["object"] == "list" and reply["model"] == "kazo"
    expected = classify(served["kazo"].model, names, 2)
    for item, name, pairs in zip(reply["data"], names, expected, strict=True):
        assert item["name"] == name and [c["category"] for c in item["categories"]] == [c for c, _ in pairs]
        assert [c["probability"] for c in item["categories"]] == pytest.approx(
            [p for _, p in pairs], abs=1e-9
        )
        assert sum(c["probability"] for c in item["categories"]) == pytest.approx(1.0)
    assert [item["categories"][0]["category"] for item in reply["data"][:2]] == ["Ka", "Zo"]
    assert reply["data"][0]["categories"][0]["probability"] > 0.9
    one = post(client, "/v1/classify", model="kazo", names="zoz")["data"]
    assert len(one) == 1 and len(one[0]["categories"]) == 1 and one[0]["categories"][0]["category"] == "Zo"
    many = post(client, "/v1/classify", model="kazo", names=["kaka"], top=50)["data"][0]["categories"]
    assert len(many) == 2  # at most the model's categories


@pytest.mark.parametrize(
    ("body", "param", "said"),
    [
        ({"model": "plain", "names": ["kaka"]}, "model", "not trained on labelled names"),
        ({"model": "kazo", "names": ["kax"]}, "names", "'x'"),
        ({"model": "kazo", "names": []}, "names", "names:"),
        ({"model": "kazo", "names": ["kaka"], "top": 0}, "top", "top:"),
        ({"model": "kazo", "names": ["k" * 600_000]}, "names", "above the limit of 1,000,000"),
        ({"model": "kazo", "names": ["kaka"], "category": "Ka"}, "category", "unrecognized request argument"),
    ],
)
def test_a_wrong_classify_request_is_a_400(
    client: TestClient, body: dict[str, Any], param: str, said: str
) -> None:
    error = refused(client, "/v1/classify", **body)
    assert error["param"] == param and said in error["message"], error


def test_classify_stops_at_the_deadline_and_is_documented(client: TestClient, served: dict[str, Any]) -> None:
    gone = Deadline(0)
    time.sleep(0.01)
    with pytest.raises(TimeLimitError):
        run_classify(served, ClassifyRequest(model="kazo", names=["kaka"]), gone)
    spec = client.get("/openapi.json").json()
    assert "/v1/classify" in spec["paths"]
    completion = spec["components"]["schemas"]["CompletionRequest"]["properties"]
    assert "category" in completion and "Irish=0.7,Italian=0.3" in completion["category"]["description"]
    assert "category" in spec["components"]["schemas"]["ScoreRequest"]["properties"]
    assert "categories" in spec["components"]["schemas"]["ModelCard"]["properties"]
