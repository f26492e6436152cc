"""The web page in a real headless browser: Debian's chromium driven by playwright, against
a real `saurus serve` in a subprocess. Skipped without chromium or playwright, except
under CI=true, where that fails.

    SAURUS_SCREENSHOT=docs/web-page.png pytest tests/web/test_web_browser.py   # the README's picture
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

import saurus

REPO = REPO
CHROMIUM = "/usr/bin/chromium"


def missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing (needed under CI)")
    pytest.skip(f"{what} is missing", allow_module_level=True)


try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:
    missing("playwright (pip install playwright)")
try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError:
    missing("the 'web' extra (pip install 'saurus[web]')")
if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
    missing("chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("browser")
    dinos = saurus.train_file(data_dir / "dinos.txt", saurus.TrainConfig(lowercase=True, iterations=300))
    saurus.save(dinos.model, folder / "dinos.saurus")
    text = saurus.TrainConfig(mode="stream", iterations=60, hidden=64)
    saurus.save(saurus.train_file(data_dir / "sonnets.txt", text).model, folder / "sonnets.saurus")
    return [folder / "dinos.saurus", folder / "sonnets.saurus"]


def wait_for_url(server: subprocess.Popen[str]) -> str:
    """The address `saurus serve` prints, once its API answers."""
    assert server.stderr is not None
    line = server.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, f"saurus serve said: {line!r}"
    url = found.group(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "v1/models", timeout=2) as reply:
                if reply.status == 200:
                    return url
        except OSError:
            time.sleep(0.1)
    pytest.fail("saurus serve did not answer within 30 s")


@pytest.fixture(scope="module")
def server(models: list[Path]) -> Iterator[str]:
    command = [sys.executable, "-m", "saurus", "serve", *map(str, models), "--port", "0", "--threads", "1"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        yield wait_for_url(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser, server: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 960, "height": 760})
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    yield page
    page.close()


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def run(page: Page, button: str) -> None:
    """Click a button and wait until the page has its answer."""
    page.click(button)
    page.wait_for_selector("body[data-busy='0']", timeout=30_000)


def screenshot_path(tmp_path: Path) -> Path:
    wanted = os.environ.get("SAURUS_SCREENSHOT")
    return REPO / wanted if wanted else tmp_path / "web-page.png"


def test_the_page_shows_the_names_the_api_gives_for_the_seed(page: Page, server: str, tmp_path: Path) -> None:
    assert page.locator("#model option").all_inner_texts() == ["dinos (names)", "sonnets (text)"]
    assert page.is_visible("#names-panel") and not page.is_visible("#text-panel")
    page.fill("#count", "12")
    page.fill("#seed", "3")
    page.fill("#temperature", "0.9")
    run(page, "#generate")
    names = page.locator("#names td.name").all_inner_texts()
    assert len(names) == 12 and all(re.fullmatch(r"[a-z]+", n) for n in names)
    body = {"model": "dinos", "prompt": "", "n": 12, "seed": 3, "temperature": 0.9}
    assert names == [c["text"] for c in post(server + "v1/completions", body)["choices"]]
    shown = [float(s) for s in page.locator("#names td.score").all_inner_texts()]
    scores = post(server + "v1/score", {"model": "dinos", "texts": names})["data"]
    assert shown == [round(-s["nats"], 3) for s in scores] and all(s < 0 for s in shown)
    assert "12 names" in page.inner_text("#status") and not page.is_visible("#error")
    path = screenshot_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_new_names_only_and_a_prefix(page: Page, data_dir: Path) -> None:
    page.fill("#count", "15")
    page.fill("#prefix", "Tyr")
    page.check("#novel")
    run(page, "#generate")
    names = page.locator("#names td.name").all_inner_texts()
    training = {line.strip().lower() for line in (data_dir / "dinos.txt").read_text().splitlines()}
    assert len(names) == 15 == len(set(names))
    assert all(n.startswith("tyr") and n not in training for n in names)


def test_a_refused_request_shows_the_servers_message(page: Page) -> None:
    page.fill("#temperature", "9")
    run(page, "#generate")
    assert page.is_visible("#error") and "temperature" in page.inner_text("#error")
    assert page.locator("#names tr").count() == 0


def test_the_text_box_completes_with_a_text_model(page: Page, server: str) -> None:
    page.select_option("#model", "sonnets")
    assert page.is_visible("#text-panel") and not page.is_visible("#names-panel")
    page.fill("#text-prompt", "Shall I compare thee")
    page.fill("#length", "60")
    page.fill("#seed", "5")
    run(page, "#complete")
    body = {"model": "sonnets", "prompt": "Shall I compare thee", "max_tokens": 60, "seed": 5}
    drawn = post(server + "v1/completions", body)["choices"][0]["text"]
    assert len(drawn) == 60
    assert page.inner_text("#completion mark") == drawn
    assert page.inner_text("#completion") == "Shall I compare thee" + drawn
    page.click("#continue")
    assert page.input_value("#text-prompt") == "Shall I compare thee" + drawn
