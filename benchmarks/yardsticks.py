"""saurus's two engines against a plain PyTorch LSTM (../shared/yardsticks), side by side.

    python benchmarks/yardsticks.py                            # dinos 10 s, names 60 s, shakespeare 60 s
    python benchmarks/yardsticks.py --runs dinos:10,tinyshakespeare:200 --threads 2
    python benchmarks/yardsticks.py --quick                    # a smoke test (about 20 s)

For each corpus and budget, in the same run and with the same thread count: `saurus train`
with the NumPy engine and with the torch engine (their defaults, --time-budget), and the
yardstick script on the same split (saurus's own: names lowercased, 10% held out with
split seed 42; text: first 90% / last 10%). Prints one table: what, data, figure (best
validation nats/char), time. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from saurus.data.corpus import LinesCorpus, StreamCorpus, read_text
from saurus.data.datasets import dataset_path

YARDSTICKS = Path(__file__).resolve().parents[2] / "shared" / "yardsticks"
SETTINGS = {  # corpus -> mode, lowercase, yardstick arguments after TRAIN VAL (budget appended)
    "dinos": ("lines", True, ["256", "0.3"]),
    "names": ("lines", True, ["256", "0.1"]),
    "tinyshakespeare": ("stream", False, ["512", "64", "32"]),
    "sonnets": ("stream", False, ["512", "64", "32"]),  # untuned: the defaults were not chosen on it
}


def split_files(corpus: str, folder: Path) -> tuple[Path, Path]:
    """The training and validation splits saurus uses, written for the yardstick."""
    mode, lowercase, _ = SETTINGS[corpus]
    text = read_text(dataset_path(corpus, download=False))
    train_path, val_path = folder / f"{corpus}.train.txt", folder / f"{corpus}.val.txt"
    if mode == "lines":
        train, val = LinesCorpus.from_text(text, lowercase=lowercase).split(0.1, 42)
        train_path.write_text("\n".join(train.examples) + "\n")
        val_path.write_text("\n".join(val.examples) + "\n")
    else:
        train_s, val_s = StreamCorpus.from_text(text).split(0.1)
        train_path.write_text(train_s.text)
        val_path.write_text(val_s.text)
    return train_path, val_path


def run(command: list[str], env: dict[str, str]) -> tuple[str, float]:
    """stdout + stderr of a command and its wall-clock seconds; a failure ends the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{(done.stdout + done.stderr)[-2000:]}")
    return done.stdout + done.stderr, time.perf_counter() - start


def saurus_row(
    corpus: str,
    engine: str,
    budget: float,
    folder: Path,
    env: dict[str, str],
    threads: int,
    options: tuple[str, ...] = (),
) -> tuple:
    """Train with saurus's defaults (or these extra options) for the budget; one table row."""
    lowercase = SETTINGS[corpus][1] if corpus in SETTINGS else False
    out = folder / f"{corpus}.{engine}.{budget:g}.saurus"
    command = [sys.executable, "-m", "saurus", "train", corpus, "-o", str(out), "--overwrite", "-q"]
    command += ["--engine", engine, "--time-budget", str(budget), "--threads", str(threads)]
    command += ["--lowercase"] if lowercase else []
    command += list(options)
    text, took = run(command, env)
    val = re.search(r"validation ([\d.]+) nats/char", text)
    steps = re.search(r"for (\d+) steps", text)
    why = re.search(r"s \(([^;]+);", text)
    figure = (
        f"val {val.group(1) if val else '?'} nats/char, {steps.group(1) if steps else '?'} steps, "
        f"{why.group(1) if why else ''}"
    )
    label = f"saurus {engine} engine{' ' + ' '.join(options) if options else ''}, {budget:g} s"
    return (label, corpus, figure, took)


def yardstick_row(corpus: str, budget: float, folder: Path, env: dict[str, str]) -> tuple:
    mode, _, extra = SETTINGS[corpus]
    train, val = split_files(corpus, folder)
    script = YARDSTICKS / ("lstm_lines.py" if mode == "lines" else "lstm_text.py")
    text, took = run([sys.executable, str(script), str(train), str(val), *extra, str(budget)], env)
    best = re.search(r"best val ([\d.]+)", text)
    return (
        f"plain torch LSTM-{extra[0]}, {budget:g} s",
        corpus,
        f"val {best.group(1) if best else '?'} nats/char",
        took,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="dinos:10,names:60,tinyshakespeare:60", help="corpus:seconds,...")
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default: 2)")
    parser.add_argument("--quick", action="store_true", help="dinos for 2 s: a smoke test")
    parser.add_argument(
        "--contenders", default="numpy,torch,yardstick", help="which of numpy, torch, yardstick to run"
    )
    args = parser.parse_args()
    runs = (
        [("dinos", 2.0)]
        if args.quick
        else [(c, float(s)) for c, s in (r.split(":") for r in args.runs.split(","))]
    )
    t = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t}
    print("| what | data | figure | time (s) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        contenders = args.contenders.split(",")
        for corpus, budget in runs:
            for who in contenders:
                if who == "yardstick":
                    row = yardstick_row(corpus, budget, folder, env)
                else:
                    row = saurus_row(corpus, who, budget, folder, env, args.threads)
                print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
