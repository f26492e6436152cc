"""Retake the README's picture of the studio (docs/studio.png): a real `saurus serve dinos`
with a fresh data folder, driven by Debian's chromium through playwright: upload names.txt,
train it for 20 s, then draw ten new names from the new model.

    SAURUS_DATA_DIR=../shared/data python docs/studio_picture.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
NAMES = Path(os.environ.get("SAURUS_DATA_DIR", HERE.parents[1] / "shared" / "data")) / "names.txt"


def main() -> int:
    with tempfile.TemporaryDirectory() as data:
        command = [sys.executable, "-m", "saurus", "serve", "dinos", "--port", "0", "--data-dir", data]
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            found = re.search(r"http://127\.0\.0\.1:\d+/", proc.stderr.readline())
            assert found, "saurus serve did not start"
            url = found.group(0)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(url)
                page.set_input_files("#train-file", str(NAMES))
                page.fill("#train-budget", "20")
                page.fill("#train-name", "baby names")
                page.click("#train")
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    jobs = httpx.get(url + "v1/jobs").json()["data"]
                    if jobs and jobs[0]["status"] not in ("queued", "running"):
                        break
                    time.sleep(0.5)
                time.sleep(2)  # the page picks the new model
                page.fill("#seed", "7")
                page.click("#generate")
                page.wait_for_selector("#names td.name")
                page.screenshot(path=str(HERE / "studio.png"), full_page=True)
                browser.close()
        finally:
            proc.terminate()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
