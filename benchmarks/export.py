"""`saurus export` pages: their size, and names per second drawn by their JavaScript in
Debian's chromium (headless, through playwright), for the pretrained dinos model, a
256-unit LSTM and a Transformer (3 blocks of 128, 4 heads, learned positions: the
planner's default, trained by the torch engine) on names.txt (each trained for a few
steps, enough to end names about as long as the data's: speed depends on the size, and on
how long the names are, not on their quality).

    python benchmarks/export.py            # a few minutes (the Transformer row needs torch)
"""

from __future__ import annotations

import importlib.util
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
  let chars = 0;
  for (let i = 0; i < n; i++) chars += [...sampler.draw(r, {})].length;
  return chars / n;
}"""


def models() -> dict[str, object]:
    names = dataset_path("names", download=False)
    config = saurus.TrainConfig(engine="numpy", hidden=256, iterations=20, val_fraction=0)
    found = {
        "dinos (pretrained, LSTM 1x128)": saurus.load(resolve("dinos")),
        "names.txt, LSTM 1x256": saurus.train_file(names, config).model,
    }
    if importlib.util.find_spec("torch") is not None:
        config = saurus.TrainConfig(
            model="transformer", engine="torch", hidden=128, layers=3, heads=4, iterations=150, val_fraction=0
        )
        found["names.txt, Transformer 3x128, 4 heads"] = saurus.train_file(names, config).model
    return found


def main() -> int:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"\nexported pages in chromium, {NAMES} names each\n")
    print("| model | page size | names/s in chromium | mean length | time (s) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        for label, model in models().items():
            path = Path(tmp) / "page.html"
            size = write_page(model, path, label)  # type: ignore[arg-type]
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            started = time.perf_counter()
            length = page.evaluate(DRAW, NAMES)
            seconds = time.perf_counter() - started
            rate = NAMES / seconds
            print(
                f"| {label} | {size / 1024:,.0f} KiB | {rate:,.0f} | {length:.1f} | {seconds:.2f} |",
                flush=True,
            )
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
