"""The web page in a real headless browser: Debian's chromium driven by playwright, against
a real `saurus serve` in a subprocess. Skipped without chromium or playwright, except
under CI=true, where that fails.

The studio end to end: upload a list, train it for 5 s while its curve grows, sample from
the new model; a streamed completion that grows and is stopped; music with its audio;
names by category and classify, with a model trained on labelled names.

    SAURUS_SCREENSHOT=page.png pytest tests/web/test_web_browser.py   # keep a picture of the page
    python docs/studio_picture.py                                      # the README's picture
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from helpers import labelled_names_model

import saurus
from saurus.models.roll import RollModel
from saurus.music.frame_files import ROLL, save_frame_file

REPO = REPO
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 90_000  # what the page must do eventually; under a loaded machine it may take long


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


MUSIC = all(importlib.util.find_spec(m) is not None for m in ("symusic", "miditok"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[Path]:
    """dinos (names) and sonnets (text), and tune (music) where the music extra is here:
    a tiny model of the Metheny piece, as `saurus music train` writes it."""
    folder = tmp_path_factory.mktemp("browser")
    music = None
    if MUSIC and (data_dir / "original_metheny.mid").is_file():
        command = [sys.executable, "-m", "saurus", "music", "train", str(data_dir / "original_metheny.mid")]
        command += ["-o", str(folder / "tune.saurus"), "--iterations", "40", "--hidden", "32", "-q"]
        music = subprocess.Popen([*command, "--threads", "1"], stderr=subprocess.PIPE, text=True)
    dinos = saurus.train_file(data_dir / "dinos.txt", saurus.TrainConfig(lowercase=True, iterations=300))
    saurus.save(dinos.model, folder / "dinos.saurus")
    text = saurus.TrainConfig(mode="stream", iterations=60, hidden=64)
    saurus.save(saurus.train_file(data_dir / "sonnets.txt", text).model, folder / "sonnets.saurus")
    found = [folder / "dinos.saurus", folder / "sonnets.saurus"]
    if music is not None:
        _, said = music.communicate(timeout=120)
        assert music.returncode == 0, said
        found.append(folder / "tune.saurus")
    return found


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


@contextmanager
def serving(arguments: Sequence[str | Path]) -> Iterator[str]:
    """`saurus serve ARGUMENTS --port 0` in a subprocess, stopped at the end; yields its URL."""
    command = [sys.executable, "-m", "saurus", "serve", *map(str, arguments), "--port", "0", "--threads", "1"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        yield wait_for_url(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(models: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving([*models, "--data-dir", tmp_path_factory.mktemp("jobs"), "--nice", "0"]) as url:
        yield url


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
    page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
    yield page
    page.close()


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.load(reply)


def run(page: Page, button: str) -> None:
    """Click a button and wait until the page has its answer."""
    page.click(button)
    page.wait_for_selector("body[data-busy='0']", timeout=WAIT_MS)


def screenshot_path(tmp_path: Path) -> Path:
    wanted = os.environ.get("SAURUS_SCREENSHOT")
    return REPO / wanted if wanted else tmp_path / "web-page.png"


def test_the_page_shows_the_names_the_api_gives_for_the_seed(page: Page, server: str, tmp_path: Path) -> None:
    music = ["tune (music)"] if len(get(server + "v1/models")["data"]) == 3 else []
    assert page.locator("#model option").all_inner_texts() == ["dinos (names)", "sonnets (text)", *music]
    assert page.is_visible("#names-panel") and not page.is_visible("#text-panel")
    page.fill("#count", "12")
    page.fill("#seed", "3")
    page.fill("#temperature", "0.9")
    run(page, "#generate")
    names = page.locator("#names td.name").all_inner_texts()
    assert len(names) == 12 and all(re.fullmatch(r"[a-z]+", n) for n in names)
    body = {"model": "dinos", "prompt": "", "n": 12, "seed": 3, "temperature": 0.9}
    choices = post(server + "v1/completions", body)["choices"]
    assert names == [c["text"] for c in choices]
    marks = page.locator("#names td.mark").all_inner_texts()
    assert marks == ["in the data" if c["in_training_data"] else "new" for c in choices]
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


def test_constraints_from_the_page(page: Page) -> None:
    page.fill("#count", "10")
    page.click("#constraints summary")
    page.fill("#ends-with", "S")  # the model is lowercase: the page says it the model's way
    page.fill("#excludes", "q, x")
    page.fill("#max-len", "10")
    run(page, "#generate")
    names = page.locator("#names td.name").all_inner_texts()
    assert len(names) == 10
    assert all(n.endswith("s") and len(n) <= 10 and not set("qx") & set(n) for n in names)
    page.fill("#ends-with", "")
    page.fill("#excludes", "")
    page.fill("#max-len", "")
    page.fill("#pattern", "(")
    run(page, "#generate")
    assert page.is_visible("#error") and "not a regular expression" in page.inner_text("#error")
    page.fill("#pattern", "")


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


def text_of(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => e.textContent"))


def test_a_streamed_completion_grows_as_it_comes_and_stops(page: Page, server: str) -> None:
    # The network slowed to 16 kB/s: the stream's events come over seconds, not at once.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": 16_000, "uploadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", slow)
    page.select_option("#model", "sonnets")
    page.fill("#text-prompt", "Thy")
    page.fill("#length", "10000")
    page.fill("#seed", "7")
    assert page.is_disabled("#stop-text")
    page.click("#complete")
    grown = "n => document.querySelector('#completion mark').textContent.length > n"
    page.wait_for_function(grown, arg=0, timeout=WAIT_MS)
    first = len(text_of(page, "#completion mark"))
    page.wait_for_function(grown, arg=first, timeout=WAIT_MS)
    assert page.get_attribute("body", "data-busy") == "1" and page.is_enabled("#stop-text")
    page.click("#stop-text")
    page.wait_for_selector("body[data-busy='0']", timeout=WAIT_MS)
    shown = text_of(page, "#completion mark")
    assert first < len(shown) < 10_000
    body = {"model": "sonnets", "prompt": "Thy", "max_tokens": 10_000, "seed": 7}
    assert post(server + "v1/completions", body)["choices"][0]["text"].startswith(shown)
    status = page.inner_text("#status")
    assert re.search(rf"stopped after {len(shown)} characters, \d+ characters/s", status), status
    assert page.is_disabled("#stop-text") and not page.is_visible("#error")
    page.click("#continue")
    assert page.input_value("#text-prompt") == "Thy" + shown


def test_upload_a_list_train_it_watch_the_curve_and_sample_from_it(
    page: Page, server: str, data_dir: Path, tmp_path: Path
) -> None:
    names = [n.strip().lower() for n in (data_dir / "dinos.txt").read_text().splitlines() if n.strip()][:300]
    upload = tmp_path / "mydinos.txt"
    upload.write_text("\n".join(names) + "\n")
    assert page.is_visible("#train-panel") and page.is_visible("#curve")
    page.set_input_files("#train-file", str(upload))
    page.fill("#train-budget", "5")
    page.fill("#train-name", "mydinos")
    page.click("#train")
    page.wait_for_selector("#jobs tr.job", timeout=WAIT_MS)
    job_id = page.get_attribute("#jobs tr.job", "data-id")
    assert job_id and job_id.startswith("job-") and not page.is_visible("#train-error")
    assert "mydinos" in page.inner_text("#jobs tr.job")
    # each progress event adds a point at once, while the job runs
    page.wait_for_function("Number(document.querySelector('#curve').dataset.points) >= 1", timeout=WAIT_MS)
    assert page.locator("#curve > g.series > circle").count() >= 1
    page.wait_for_selector(f"#jobs tr.job[data-id='{job_id}'][data-status='succeeded']", timeout=WAIT_MS)
    job = get(server + f"v1/jobs/{job_id}")
    assert job["status"] == "succeeded" and job["model"]
    assert job["data"]["source"] == "upload" and job["data"]["lines"] == 300
    # the curve has a dot for each loss of each point, and says where the run ended
    points = int(page.get_attribute("#curve", "data-points") or 0)
    assert points >= 1 and page.locator("#curve > g.series > circle").count() >= points
    assert page.inner_text("#curve-status") == "succeeded" and page.inner_text("#curve-step") != "—"
    # the new model is in the picker, selected, and samples at once
    model = job["model"]
    page.wait_for_function(f"document.querySelector('#model').value === {json.dumps(model)}", timeout=WAIT_MS)
    assert model in page.locator("#model option").all_inner_texts()[-1]
    assert page.is_visible("#names-panel") and not page.is_visible("#text-panel")
    page.fill("#count", "6")
    page.fill("#seed", "2")
    run(page, "#generate")
    shown = page.locator("#names td.name").all_inner_texts()
    body = {"model": model, "prompt": "", "n": 6, "seed": 2, "temperature": 1.0}
    assert shown == [c["text"] for c in post(server + "v1/completions", body)["choices"]]
    assert len(shown) == 6 and not page.is_visible("#error")
    assert page.locator(f"#jobs tr.job[data-id='{job_id}'] button.stop").count() == 0


def test_stop_a_running_job_and_resume_it(page: Page, server: str) -> None:
    page.select_option("#train-dataset", "sonnets")
    page.fill("#train-budget", "60")
    page.click("#train")
    page.wait_for_selector("#jobs tr.job[data-status='running']", timeout=WAIT_MS)
    job_id = page.get_attribute("#jobs tr.job[data-status='running']", "data-id")
    row = f"#jobs tr.job[data-id='{job_id}']"
    page.wait_for_function("Number(document.querySelector('#curve').dataset.points) >= 1", timeout=WAIT_MS)
    page.click(f"{row} button.stop")
    page.wait_for_selector(f"{row}[data-status='cancelled']", timeout=WAIT_MS)
    job = get(server + f"v1/jobs/{job_id}")
    assert job["status"] == "cancelled" and job["model"], job  # stopped, its best model kept
    page.wait_for_function(  # the end event reloads the picker (slow when the suite loads the machine)
        f"document.querySelector('#model').value === {json.dumps(job['model'])}", timeout=WAIT_MS
    )
    assert page.is_visible("#text-panel")
    page.click(f"{row} button.resume")
    page.wait_for_selector(f"{row}[data-status='running']", timeout=WAIT_MS)
    assert page.locator(f"{row} button.stop").count() == 1 and not page.is_visible("#train-error")
    page.click(f"{row} button.stop")
    page.wait_for_selector(f"{row}[data-status='cancelled']", timeout=WAIT_MS)


def test_a_music_model_plays_its_tune(page: Page, server: str) -> None:
    if "tune" not in {m["id"] for m in get(server + "v1/models")["data"]}:
        pytest.skip("the 'music' extra is missing (pip install 'saurus[music]')")
    page.select_option("#model", "tune")
    assert page.is_visible("#music-panel") and not page.is_visible("#names-panel")
    assert not page.is_visible("#text-panel") and "music" in page.inner_text("#model-info")
    page.fill("#bars", "2")
    page.fill("#seed", "1")
    run(page, "#music-generate")
    assert not page.is_visible("#error"), page.inner_text("#error")
    assert (page.get_attribute("#music-audio", "src") or "").startswith("blob:")
    page.wait_for_function("document.querySelector('#music-audio').duration > 0", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#piano-roll').naturalWidth > 0", timeout=WAIT_MS)
    renderer = page.inner_text("#music-renderer")
    assert "sine" in renderer.lower() or "fluidsynth" in renderer.lower()
    head = page.evaluate(
        "async () => Array.from(new Uint8Array("
        "await (await fetch(document.querySelector('#midi-download').href)).arrayBuffer()).slice(0, 4))"
    )
    assert bytes(head) == b"MThd"
    assert "notes" in page.inner_text("#status")


def test_a_frame_model_plays_its_chorale(browser: Browser, tmp_path: Path) -> None:
    """A piano-roll frame model (issue 21), untrained and small: the music panel, bars as
    frames on its grid, top-k and top-p off, and the piece the API gives for the seed."""
    if not MUSIC:
        pytest.skip("the 'music' extra is missing (pip install 'saurus[music]')")
    path = tmp_path / "chorale.saurus"
    save_frame_file(ROLL, RollModel.create(hidden=8, seed=0), path, {"source": "test", "step": 1.0})
    with serving([path, "--no-training"]) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        assert page.is_visible("#music-panel") and not page.is_visible("#names-panel")
        assert "piano-roll frame model" in page.inner_text("#model-info")
        assert page.is_disabled("#top-k") and page.is_disabled("#top-p")
        page.fill("#bars", "2")
        page.fill("#seed", "4")
        run(page, "#music-generate")
        assert not page.is_visible("#error"), page.inner_text("#error")
        assert "8 frames" in page.inner_text("#status")  # 2 bars of 4 quarters
        page.wait_for_function("document.querySelector('#music-audio').duration > 0", timeout=WAIT_MS)
        page.wait_for_function("document.querySelector('#piano-roll').naturalWidth > 0", timeout=WAIT_MS)
        shown = page.evaluate(
            "async () => Array.from(new Uint8Array("
            "await (await fetch(document.querySelector('#midi-download').href)).arrayBuffer()))"
        )
        reply = post(url + "v1/music", {"model": "chorale", "bars": 2, "seed": 4})
        assert bytes(shown) == base64.b64decode(reply["midi"]) and reply["frames"] == 8
        page.close()


def test_without_training_the_train_panel_is_hidden(browser: Browser, models: list[Path]) -> None:
    with serving([models[0], "--no-training"]) as url:
        assert get(url + "health")["training"] is False
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        assert not page.is_visible("#train-panel") and not page.is_visible("#curve")
        assert page.is_visible("#names-panel")
        page.close()


def test_names_by_category_a_blend_and_classify(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "kazo.saurus"
    saurus.save(labelled_names_model(), path)
    with serving([path, "--no-training"]) as url:
        page = browser.new_page(viewport={"width": 960, "height": 900})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        card = get(url + "v1/models/kazo")
        counts = card["category_counts"]
        assert page.locator("#category option").all_inner_texts() == [
            "all",
            f"Ka ({counts[0]})",
            f"Zo ({counts[1]})",
        ]
        assert page.is_visible("#classify-panel") and "2 categories" in page.inner_text("#model-info")

        def shown_names(**body: Any) -> list[str]:
            run(page, "#generate")
            assert not page.is_visible("#error"), page.inner_text("#error")
            names = page.locator("#names td.name").all_inner_texts()
            asked = {"model": "kazo", "prompt": "", "n": 8, "seed": 4, "temperature": 1.0, **body}
            assert names == [c["text"] for c in post(url + "v1/completions", asked)["choices"]]
            return names

        page.fill("#count", "8")
        page.fill("#seed", "4")
        page.select_option("#category", "Zo")
        names = shown_names(category="Zo")
        drawn = "".join(names)
        assert sum(c in "zo" for c in drawn) > 0.8 * len(drawn), names
        scores = post(url + "v1/score", {"model": "kazo", "texts": names, "category": "Zo"})["data"]
        shown = [float(s) for s in page.locator("#names td.score").all_inner_texts()]
        assert shown == [round(-s["nats"], 3) for s in scores]
        page.fill("#blend", "Ka=0.9,Zo=0.1")  # a blend wins over the picker
        shown_names(category="Ka=0.9,Zo=0.1")
        page.fill("#blend", "")
        page.select_option("#category", "")
        shown_names()
        page.fill("#blend", "Xy")
        run(page, "#generate")
        assert "unknown category 'Xy'" in page.inner_text("#error")
        page.fill("#classify-names", "kakak\n  zozo \n\n")
        run(page, "#classify")
        assert not page.is_visible("#error") and "2 names classified" in page.inner_text("#status")
        reply = post(url + "v1/classify", {"model": "kazo", "names": ["kakak", "zozo"], "top": 2})["data"]
        assert page.locator("#classified td.name").all_inner_texts() == ["kakak", "zozo"]
        assert page.locator("#classified td.category").all_inner_texts() == ["Ka", "Zo"]
        best = [item["categories"][0]["probability"] for item in reply]
        assert page.locator("#classified td.probability").all_inner_texts() == [
            f"{100 * p:.1f}%" for p in best
        ]
        assert [item["categories"][0]["category"] for item in reply] == ["Ka", "Zo"]
        page.close()


def test_the_labelled_box_is_sent_with_the_training_request(page: Page) -> None:
    assert page.is_hidden("#category-row") and page.is_hidden("#classify-panel")  # dinos has none
    page.select_option("#train-dataset", "dinos")
    page.check("#train-labelled")
    page.click("#train")
    page.wait_for_selector("#train-error:not([hidden])", timeout=WAIT_MS)
    assert "datasets are not labelled" in page.inner_text("#train-error")
