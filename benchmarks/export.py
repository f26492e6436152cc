"""`saurus export` pages: their size, and names per second drawn by their JavaScript in
Debian's chromium (headless, through playwright), for the pretrained dinos model and for a
256-unit LSTM on names.txt (trained for a few steps: speed does not depend on quality).

    python benchmarks/export.py            # about a minute
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

import saurus
from saurus.data.datasets import dataset_path
from saurus.export.page import write_page
from saurus.files.pretrained import resolve

NAMES = 2000
DRAW = """(n) => {
  const r = seeded(1);
  let k = 0;
  for (let i = 0; i < n; i++) k += sampler.draw(r, {}).length > 0;
  return k;
}"""


def models(folder: Path) -> dict[str, object]:
    config = saurus.TrainConfig(engine="numpy", hidden=256, iterations=20, val_fraction=0)
    lstm = saurus.train_file(dataset_path("names", download=False), config).model
    return {"dinos (pretrained, LSTM 1x128)": saurus.load(resolve("dinos")), "names.txt, LSTM 1x256": lstm}


def main() -> int:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"\nexported pages in chromium, {NAMES} names each\n")
    print("| model | page size | names/s in chromium | time (s) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        for label, model in models(Path(tmp)).items():
            path = Path(tmp) / "page.html"
            size = write_page(model, path, label)  # type: ignore[arg-type]
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            started = time.perf_counter()
            drawn = page.evaluate(DRAW, NAMES)
            seconds = time.perf_counter() - started
            print(
                f"| {label} | {size / 1024:,.0f} KiB | {drawn / seconds:,.0f} | {seconds:.2f} |", flush=True
            )
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
