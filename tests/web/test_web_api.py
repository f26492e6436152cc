"""The HTTP API of `saurus serve` (OpenAI's completions, /v1/score) and the command itself,
on a small names model and a small text model trained here."""

from __future__ import annotations

import math
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import require

import saurus
from saurus.cli.main import main

require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.web.app import create_app  # noqa: E402
from saurus.web.served import load_served  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("web")
    dinos = saurus.train_file(data_dir / "dinos.txt", saurus.TrainConfig(lowercase=True, iterations=300))
    saurus.save(dinos.model, folder / "dinos.saurus")
    text = saurus.TrainConfig(mode="stream", iterations=60, hidden=64)
    saurus.save(saurus.train_file(data_dir / "sonnets.txt", text).model, folder / "sonnets.saurus")
    return folder


@pytest.fixture(scope="module")
def client(model_dir: Path) -> TestClient:
    served = load_served([model_dir / "dinos.saurus", model_dir / "sonnets.saurus"])
    return TestClient(create_app(served))


def complete(client: TestClient, **body: Any) -> dict[str, Any]:
    reply = client.post("/v1/completions", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def texts(reply: dict[str, Any]) -> list[str]:
    return [c["text"] for c in reply["choices"]]


def scored(client: TestClient, model: str, strings: list[str]) -> list[dict[str, Any]]:
    reply = client.post("/v1/score", json={"model": model, "texts": strings})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def training_names(data_dir: Path) -> set[str]:
    return {line.strip().lower() for line in (data_dir / "dinos.txt").read_text().splitlines()}


# --- /v1/models ---


def test_models_lists_exactly_the_served_models(client: TestClient) -> None:
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    assert [(m["id"], m["object"], m["mode"]) for m in listed["data"]] == [
        ("dinos", "model", "lines"),
        ("sonnets", "model", "stream"),
    ]
    dinos = client.get("/v1/models/dinos").json()
    assert dinos["vocab"] == "\nabcdefghijklmnopqrstuvwxyz" and dinos["lowercase"] is True
    assert client.get("/v1/models/dinos.saurus").status_code == 404


# --- /v1/completions ---


def test_a_completion_has_openai_shape_and_usage(client: TestClient) -> None:
    reply = complete(client, model="dinos", prompt="tyr", n=4, seed=1)
    assert reply["object"] == "text_completion" and reply["model"] == "dinos"
    assert reply["id"].startswith("cmpl-") and isinstance(reply["created"], int)
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2, 3]
    assert all(c["finish_reason"] == "stop" and c["logprobs"] is None for c in reply["choices"])
    drawn = sum(len(t) for t in texts(reply))
    assert reply["usage"] == {"prompt_tokens": 3, "completion_tokens": drawn, "total_tokens": 3 + drawn}


def test_a_seed_repeats_the_choices(client: TestClient) -> None:
    first = texts(complete(client, model="dinos", n=20, seed=7, temperature=1.2, top_k=10, top_p=0.9))
    again = texts(complete(client, model="dinos", n=20, seed=7, temperature=1.2, top_k=10, top_p=0.9))
    other = texts(complete(client, model="dinos", n=20, seed=8, temperature=1.2, top_k=10, top_p=0.9))
    assert first == again and first != other
    assert len(set(first)) > 10  # different names, not one repeated
    text = [texts(complete(client, model="sonnets", max_tokens=50, seed=3)) for _ in range(2)]
    assert text[0] == text[1] and len(text[0][0]) == 50


def test_n_is_honoured_for_each_prompt(client: TestClient) -> None:
    assert len(complete(client, model="dinos", n=137, seed=0)["choices"]) == 137
    reply = complete(client, model="sonnets", prompt=["To be", "And"], n=3, max_tokens=12, seed=0)
    assert [c["index"] for c in reply["choices"]] == list(range(6))
    assert all(
        len(t) == 12 and c["finish_reason"] == "length"
        for t, c in zip(texts(reply), reply["choices"], strict=True)
    )
    assert reply["usage"]["prompt_tokens"] == len("To be") + len("And")
    assert reply["usage"]["completion_tokens"] == 6 * 12


def test_temperature_zero_gives_identical_greedy_choices(client: TestClient) -> None:
    greedy = texts(complete(client, model="dinos", n=6, temperature=0))
    assert len(greedy) == 6 and len(set(greedy)) == 1
    # top-k 1 keeps only the likeliest character: the same name, whatever the seed
    assert texts(complete(client, model="dinos", n=3, top_k=1, seed=5)) == greedy[:3]
    prose = texts(complete(client, model="sonnets", prompt="Thy", n=3, max_tokens=40, temperature=0))
    assert len(set(prose)) == 1 and len(prose[0]) == 40


def test_stop_strings_cut_the_text_where_they_begin(client: TestClient) -> None:
    body = {"model": "sonnets", "prompt": "When I", "n": 5, "max_tokens": 120, "seed": 2}
    whole = complete(client, **body)["choices"]
    cut = complete(client, **body, stop=["e", "\n"])["choices"]
    for w, c in zip(whole, cut, strict=True):
        ends = [i for i in (w["text"].find("e"), w["text"].find("\n")) if i >= 0]
        assert ends, "every 120 characters of English hold an 'e'"
        assert c["text"] == w["text"][: min(ends)] and c["finish_reason"] == "stop"
    names = complete(client, model="dinos", n=30, seed=4, stop="saurus")["choices"]
    full = complete(client, model="dinos", n=30, seed=4)["choices"]
    assert any("saurus" in f["text"] for f in full)
    for f, c in zip(full, names, strict=True):
        assert "saurus" not in c["text"] and c["text"] == f["text"].split("saurus")[0]


def test_novel_names_are_new_and_distinct(client: TestClient, data_dir: Path) -> None:
    names = texts(complete(client, model="dinos", n=60, seed=0, temperature=0.5, novel=True))
    assert len(names) == 60 == len(set(names))
    assert not set(names) & training_names(data_dir)
    # without novel, the same model at the same temperature recites some training names
    plain = texts(complete(client, model="dinos", n=400, seed=0, temperature=0.5))
    assert set(plain) & training_names(data_dir)


def test_logprobs_of_a_name_sum_to_its_score(client: TestClient) -> None:
    choices = complete(client, model="dinos", n=8, seed=3, logprobs=3)["choices"]
    scores = scored(client, "dinos", [c["text"] for c in choices])
    for choice, score in zip(choices, scores, strict=True):
        lp = choice["logprobs"]
        assert lp["tokens"] == [*choice["text"], "\n"]  # the end token closes the name
        assert lp["text_offset"] == list(range(len(choice["text"]) + 1))
        assert math.isclose(sum(lp["token_logprobs"]), score["logprob"], rel_tol=1e-5)
        for chosen, token, top in zip(lp["token_logprobs"], lp["tokens"], lp["top_logprobs"], strict=True):
            best = list(top.values())
            assert len(top) == 3 and best == sorted(best, reverse=True)
            assert chosen <= best[0] + 1e-9 and sum(math.exp(v) for v in best) <= 1 + 1e-9
            if token in top:
                assert math.isclose(top[token], chosen, rel_tol=1e-9)


def test_logprobs_of_text_are_the_score_after_the_prompt(client: TestClient) -> None:
    prompt = "Shall I"
    choices = complete(client, model="sonnets", prompt=prompt, n=3, max_tokens=30, seed=1, logprobs=True)
    for choice in choices["choices"]:
        lp = choice["logprobs"]
        assert lp["top_logprobs"] is None and "".join(lp["tokens"]) == choice["text"]
        assert lp["text_offset"][0] == len(prompt) and len(lp["token_logprobs"]) == 30
        whole, head = scored(client, "sonnets", [prompt + choice["text"], prompt])
        assert math.isclose(sum(lp["token_logprobs"]), whole["logprob"] - head["logprob"], rel_tol=1e-5)


# --- /v1/score ---


def test_score_gives_nats_bits_and_perplexity(client: TestClient, model_dir: Path) -> None:
    got = scored(client, "dinos", ["tyrannosaurus", "xqzvw"])
    expected = saurus.score_strings(saurus.load(model_dir / "dinos.saurus"), ["tyrannosaurus", "xqzvw"])
    for item, report in zip(got, expected, strict=True):
        assert math.isclose(item["nats"], report.nats, rel_tol=1e-9)
        assert math.isclose(item["bits"], item["nats"] / math.log(2), rel_tol=1e-9)
        assert math.isclose(item["perplexity"], math.exp(item["nats"]), rel_tol=1e-9)
        assert item["chars"] == len(item["text"]) + 1  # the end token
        assert math.isclose(item["logprob"], -item["nats"] * item["chars"], rel_tol=1e-9)
    assert got[0]["nats"] < got[1]["nats"] < math.log(27) * 2
    single = client.post("/v1/score", json={"model": "sonnets", "texts": "Shall I compare thee"}).json()
    assert single["model"] == "sonnets" and single["data"][0]["chars"] == 20


# --- refusals ---

BAD_COMPLETIONS: list[dict[str, Any]] = [
    {},
    {"prompt": "a"},
    {"model": "nope"},
    {"model": 3},
    {"model": "dinos", "n": 0},
    {"model": "dinos", "n": 1001},
    {"model": "dinos", "n": "3"},
    {"model": "dinos", "n": 2.5},
    {"model": "dinos", "n": True},
    {"model": "dinos", "n": 10**40},
    {"model": "dinos", "max_tokens": 0},
    {"model": "dinos", "max_tokens": 10_001},
    {"model": "dinos", "prompt": "tyr", "max_tokens": 10_000},
    {"model": "sonnets", "n": 1000, "max_tokens": 10_000},
    {"model": "dinos", "temperature": -0.1},
    {"model": "dinos", "temperature": 5.5},
    {"model": "dinos", "temperature": "hot"},
    {"model": "dinos", "top_p": 0},
    {"model": "dinos", "top_p": 1.5},
    {"model": "dinos", "top_k": -1},
    {"model": "dinos", "seed": -1},
    {"model": "dinos", "seed": 2**32},
    {"model": "dinos", "seed": "x"},
    {"model": "dinos", "prompt": 7},
    {"model": "dinos", "prompt": []},
    {"model": "dinos", "prompt": ["a", None]},
    {"model": "dinos", "prompt": "T-Rex!"},
    {"model": "dinos", "prompt": "two\nlines"},
    {"model": "sonnets", "prompt": "ünknown"},
    {"model": "dinos", "stop": [""]},
    {"model": "dinos", "stop": ["a"] * 17},
    {"model": "dinos", "stop": 5},
    {"model": "dinos", "logprobs": 6},
    {"model": "dinos", "logprobs": -1},
    {"model": "dinos", "logprobs": "yes"},
    {"model": "dinos", "novel": "yes"},
    {"model": "sonnets", "novel": True},
    {"model": "dinos", "stream": True, "logprobs": 1},
    {"model": "dinos", "stream_options": {"include_usage": True}},
    {"model": "dinos", "echo": True},
    {"model": "dinos", "path": "/etc/passwd"},
]
BAD_SCORES: list[dict[str, Any]] = [
    {"model": "dinos"},
    {"model": "dinos", "texts": []},
    {"model": "dinos", "texts": [1]},
    {"model": "dinos", "texts": ["a\nb"]},
    {"model": "dinos", "texts": ["Ω"]},
    {"model": "sonnets", "texts": [""]},
    {"model": "dinos", "texts": ["a"] * 1001},
    {"model": "sonnets", "texts": ["a" * 1_000_001]},
    {"model": "../dinos", "texts": ["a"]},
]
RAW_BODIES = [
    b"",
    b"{",
    b"[1, 2]",
    b'"text"',
    b"null",
    b'{"model": "dinos", "temperature": NaN}',
    b"\xff\xfe{",
]


def assert_refused(reply: Any, *statuses: int) -> dict[str, Any]:
    assert reply.status_code in (statuses or (400, 404, 422)), (reply.status_code, reply.text)
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "\n" not in error["message"] and "Traceback" not in error["message"]
    return error


def test_bad_requests_get_4xx_errors_in_openai_shape_never_500(client: TestClient) -> None:
    for body in BAD_COMPLETIONS:
        assert_refused(client.post("/v1/completions", json=body))
    for body in BAD_SCORES:
        assert_refused(client.post("/v1/score", json=body))
    for raw in RAW_BODIES:
        for path in ("/v1/completions", "/v1/score"):
            headers = {"content-type": "application/json"}
            assert_refused(client.post(path, content=raw, headers=headers))
    form = client.post("/v1/completions", data={"model": "dinos"})
    assert "application/json" in assert_refused(form, 400)["message"]
    assert_refused(client.get("/v1/completions"), 405)
    assert_refused(client.get("/v1/no-such-thing"), 404)


def test_refusals_name_the_field_and_the_limit(client: TestClient) -> None:
    def refused(body: dict[str, Any], status: int = 400) -> dict[str, Any]:
        return assert_refused(client.post("/v1/completions", json={"model": "dinos", **body}), status)

    unknown = assert_refused(client.post("/v1/completions", json={"model": "nope"}), 404)
    assert unknown["code"] == "model_not_found" and "dinos, sonnets" in unknown["message"]
    assert refused({"n": 1001})["param"] == "n"
    assert refused({"temperature": 9})["param"] == "temperature"
    too_much = assert_refused(
        client.post("/v1/completions", json={"model": "sonnets", "n": 1000, "max_tokens": 10_000}), 400
    )
    assert too_much["param"] == "n" and "1,000,000" in too_much["message"]
    assert "'-'" in refused({"prompt": "t-rex"})["message"]
    assert refused({"prompt": "t-rex"})["param"] == "prompt"
    assert refused({"echo": True})["message"] == "unrecognized request argument: echo"
    assert refused({"logprobs": 6})["message"] == "logprobs: Input should be less than or equal to 5"


def test_a_declared_huge_body_is_refused_unread(client: TestClient) -> None:
    reply = client.post(
        "/v1/score", content=b"{}", headers={"content-type": "application/json", "content-length": str(2**40)}
    )
    assert_refused(reply, 413)


# --- the page and the docs ---


def test_the_page_and_the_openapi_docs_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for anchor in ('id="model"', 'id="count"', 'id="novel"', 'id="generate"', 'id="text-prompt"'):
        assert anchor in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    assert "/v1/completions" in client.get("/static/app.js").text
    assert client.get("/static/style.css").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/completions", "/v1/models", "/v1/score"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


# --- the command ---


def test_serve_without_the_web_extra_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", str(model_dir / "dinos.saurus")]) == 2
    err = capsys.readouterr().err
    assert err == "saurus serve: error: needs the 'web' extra: pip install 'saurus[web]'\n"


def test_serve_refuses_two_models_with_one_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    (tmp_path / "other").mkdir()
    shutil.copy(model_dir / "dinos.saurus", tmp_path / "other" / "dinos.saurus")
    assert main(["serve", str(model_dir / "dinos.saurus"), str(tmp_path / "other" / "dinos.saurus")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "two models would be served as 'dinos'" in err
    assert main(["serve", str(tmp_path / "missing.saurus")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(model_dir / "dinos.saurus"), "--port", "70000"])
    assert exit_.value.code == 2 and "--port: must be from 0" in capsys.readouterr().err


def test_serve_listens_on_localhost_and_reports_a_busy_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    uvicorn = require("uvicorn")
    bound: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: bound.append(sockets[0].getsockname()))
    assert (
        main(["serve", str(model_dir / "dinos.saurus"), str(model_dir / "sonnets.saurus"), "--port", "0"])
        == 0
    )
    host, port = bound[0]
    assert host == "127.0.0.1" and port > 0
    assert f"serving dinos, sonnets at http://127.0.0.1:{port}/" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert main(["serve", str(model_dir / "dinos.saurus"), "--port", str(taken)]) == 2
    assert f"cannot listen on 127.0.0.1:{taken}: address already in use" in capsys.readouterr().err


def test_each_name_says_whether_it_is_in_the_training_data(client: TestClient, data_dir: Path) -> None:
    pretrained = TestClient(create_app(load_served(["dinos"])))  # it draws names of its data often
    trained = {line.strip().lower() for line in (data_dir / "dinos.txt").read_text().splitlines()}
    body = {"model": "dinos", "n": 60, "seed": 1, "temperature": 0.6}
    choices = pretrained.post("/v1/completions", json=body).json()["choices"]
    ended = [c for c in choices if c["finish_reason"] == "stop"]
    assert ended and all(c["in_training_data"] == (c["text"] in trained) for c in ended)
    assert any(c["in_training_data"] for c in ended) and not all(c["in_training_data"] for c in ended)
    prompted = pretrained.post("/v1/completions", json={**body, "prompt": "tyr", "n": 20}).json()["choices"]
    assert all(
        c["in_training_data"] == ("tyr" + c["text"] in trained)
        for c in prompted
        if c["finish_reason"] == "stop"
    )
    text = client.post("/v1/completions", json={"model": "sonnets", "max_tokens": 20, "seed": 0}).json()
    assert text["choices"][0]["in_training_data"] is None


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"ends_with": "rex"}, lambda n: n.endswith("rex")),
        ({"contains": ["ra", "o"], "max_len": 10}, lambda n: "ra" in n and "o" in n and len(n) <= 10),
        ({"excludes": ["a", "e"], "min_len": 4}, lambda n: not set("ae") & set(n) and len(n) >= 4),
        (
            {"pattern": "[bcd][a-z]*(don|rex)", "novel": True},
            lambda n: re.fullmatch("[bcd][a-z]*(don|rex)", n),
        ),
    ],
)
def test_constraints_over_http(fields: dict[str, Any], check: Any) -> None:
    client = TestClient(create_app(load_served(["dinos"])))
    reply = client.post("/v1/completions", json={"model": "dinos", "n": 12, "seed": 2, **fields})
    assert reply.status_code == 200, reply.text
    names = [c["text"] for c in reply.json()["choices"]]
    assert len(names) == 12 and all(check(n) for n in names)
    with_prompt = client.post(
        "/v1/completions", json={"model": "dinos", "n": 3, "prompt": "ty", "ends_with": "us"}
    )
    assert all(("ty" + c["text"]).endswith("us") for c in with_prompt.json()["choices"])


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"pattern": "(a|b)*a(a|b){14}"}, "too complex"),
        ({"pattern": "("}, "not a regular expression"),
        ({"pattern": "x" * 301}, "pattern"),
        ({"pattern": "[0-9]"}, "no name can meet"),
        ({"contains": ["a"] * 9}, "contains"),
        ({"ends_with": "a", "stream": True}, "not streamed"),
    ],
)
def test_hostile_constraints_over_http_are_a_400(fields: dict[str, Any], said: str) -> None:
    client = TestClient(create_app(load_served(["dinos", "shakespeare"])))
    reply = client.post("/v1/completions", json={"model": "dinos", **fields})
    assert reply.status_code == 400 and said in reply.json()["error"]["message"], reply.text
    text = client.post("/v1/completions", json={"model": "shakespeare", "ends_with": "a"})
    assert text.status_code == 400 and "names models" in text.json()["error"]["message"]


def test_a_names_model_exports_as_a_page_and_a_text_model_is_refused() -> None:
    client = TestClient(create_app(load_served(["dinos", "shakespeare"])))
    reply = client.get("/v1/models/dinos/export")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert 'filename="dinos.html"' in reply.headers["content-disposition"]
    assert '<meta name="generator" content="saurus export">' in reply.text
    refused = client.get("/v1/models/shakespeare/export")
    assert refused.status_code == 400 and "names models" in refused.json()["error"]["message"]
    assert client.get("/v1/models/nope/export").status_code == 404
