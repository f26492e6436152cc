"""Who may use the API: an API key on every /v1 route (OpenAI's 401 without it), a server
that listens beyond this machine refuses to start without one, /health, and CORS only
for the origins given."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import assert_one_line_error, require, saurus

require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.web.access import is_loopback  # noqa: E402
from saurus.web.app import create_app  # noqa: E402
from saurus.web.served import load_served  # noqa: E402

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    return load_served(["dinos"])


def test_with_a_key_every_v1_route_needs_it(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served, api_key=KEY))
    body = {"model": "dinos", "n": 2, "seed": 0}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
    ):
        for reply in (
            client.get("/v1/models", headers=headers),
            client.post("/v1/completions", json=body, headers=headers),
            client.post("/v1/score", json={"model": "dinos", "texts": ["rex"]}, headers=headers),
        ):
            assert reply.status_code == 401, (headers, reply.text)
            error = reply.json()["error"]
            assert error["code"] == "invalid_api_key" and error["type"] == "authentication_error"
            assert reply.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/v1/models", headers=good).status_code == 200
    assert len(client.post("/v1/completions", json=body, headers=good).json()["choices"]) == 2
    assert client.get("/health").json() == {
        "status": "ok",
        "models": 1,
        "key_required": True,
        "training": False,
    }
    assert client.get("/").status_code == 200  # the page asks for the key itself


def test_without_a_key_the_api_is_open_and_health_says_so(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served))
    assert client.get("/v1/models").status_code == 200
    assert client.get("/health").json()["key_required"] is False


def test_the_openai_client_sends_its_key(served: dict[str, Any]) -> None:
    openai = pytest.importorskip("openai")
    client = TestClient(create_app(served, api_key=KEY))
    good = openai.OpenAI(base_url="http://testserver/v1", api_key=KEY, http_client=client)
    assert len(good.completions.create(model="dinos", prompt="", n=3, seed=1).choices) == 3
    bad = openai.OpenAI(base_url="http://testserver/v1", api_key="nope", http_client=client, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model="dinos", prompt="")


def test_cors_only_for_the_origins_given(served: dict[str, Any]) -> None:
    preflight = {
        "Origin": "https://example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    closed = TestClient(create_app(served)).options("/v1/completions", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = TestClient(create_app(served, api_key=KEY, cors=("https://example.org",)))
    reply = opened.options("/v1/completions", headers=preflight)
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "https://example.org"
    other = opened.options("/v1/completions", headers={**preflight, "Origin": "https://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


HOSTS = [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("::", False)]


@pytest.mark.parametrize(("host", "loopback"), [*HOSTS, ("no-such-host.invalid", False)])
def test_loopback_is_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serving_beyond_this_machine_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAURUS_API_KEY", raising=False)
    assert_one_line_error(saurus("serve", "dinos", "--host", "0.0.0.0", "--port", "0"), "--api-key")


def test_docs_work_offline(served: dict[str, Any]) -> None:
    client = TestClient(create_app(served))
    page = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/openapi.json").json()["info"]["title"] == "saurus"
