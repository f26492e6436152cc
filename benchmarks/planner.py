"""The planner against a plain PyTorch LSTM (../shared/yardsticks), side by side, and
against a small grid search.

    python benchmarks/planner.py                                   # every row (about 2 hours)
    python benchmarks/planner.py --runs dinos:10,names:60          # some rows
    python benchmarks/planner.py --grid names,tinyshakespeare,wspanish --runs none
    python benchmarks/planner.py --quick                           # dinos for 5 s: a smoke test
    python benchmarks/planner.py --engine numpy --runs names:60     # the NumPy engine's rows

Every row trains `saurus train FILE -o M --time-budget S` with no other option (the
planner's defaults: the engine, --mode auto, the size, ...) and the yardstick script for the
same seconds, on the same split (saurus's own, written to files for the yardstick: a list
split with --split-seed 42, a text's last 10% up to 262,144 characters), with the same
threads, one after the other. Both losses are measured on the whole validation split in
nats per character (saurus's with `saurus eval` on the split's file, outside the timing).
The time column is the wall clock of the whole `saurus train` command against its budget.

The tuning corpora: names, dinos, sonnets, tinyshakespeare and jaychou from
$SAURUS_DATA_DIR; the Debian word lists wspanish, witalian, wdutch, wswedish and wpolish
(apt-get install them; lowercase, purely alphabetic words, one a line); and numpy's own
.py files, concatenated. A corpus that is not here is skipped, and said.

The grid trains --hidden x --layers x --dropout x --lr (12 points) at 60 s on each grid
corpus and prints how far the planner's own 60 s result is from the best point.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
from yardsticks import YARDSTICKS, run  # (this folder: one way to run and time a contender)

from saurus.data.corpus import LinesCorpus, StreamCorpus, read_text
from saurus.data.datasets import dataset_path, load_dataset_text
from saurus.data.mode_detect import detect_mode

DATASETS = ("names", "dinos", "sonnets", "tinyshakespeare", "jaychou")
WORD_LISTS = {"wspanish": "spanish", "witalian": "italian", "wdutch": "dutch", "wswedish": "swedish",
              "wpolish": "polish"}  # fmt: skip
DEFAULT_RUNS = ",".join(
    [f"{c}:{b}" for c in (*DATASETS, *WORD_LISTS, "numpycode") for b in (10, 60)]
    + ["names:300", "tinyshakespeare:300", "wpolish:300"]
)
GRID = [
    (hidden, layers, dropout, lr)
    for hidden, layers in ((256, 1), (512, 1), (256, 2))
    for dropout in (0.0, 0.3)
    for lr in (2e-3, 5e-3)
]
YARD_LINES = ["256", "0.1"]  # LSTM-256, dropout 0.1 (its README)
YARD_TEXT = ["512", "64", "32"]  # LSTM-512, seq 64, batch 32


def corpus_file(name: str, folder: Path) -> Path | None:
    """The corpus as a UTF-8 file (made in `folder` where it must be built), or None."""
    out = folder / f"{name}.txt"
    if out.exists():
        return out
    if name in DATASETS:
        try:
            if name == "jaychou":
                out.write_text(load_dataset_text(name), encoding="utf-8")
                return out
            return dataset_path(name, download=False)
        except Exception:
            return None
    if name in WORD_LISTS:
        source = Path("/usr/share/dict") / WORD_LISTS[name]
        if not source.exists():
            return None
        words = source.read_text(encoding="utf-8", errors="replace").split("\n")
        keep = [w.strip() for w in words if w.strip().isalpha() and w.strip() == w.strip().lower()]
        out.write_text("\n".join(keep) + "\n", encoding="utf-8")
        return out
    if name == "numpycode":
        files = sorted(Path(np.__file__).parent.rglob("*.py"))
        out.write_text(
            "".join(f.read_text(encoding="utf-8", errors="replace") for f in files), encoding="utf-8"
        )
        return out
    return None


def split_files(path: Path, folder: Path) -> tuple[str, Path, Path]:
    """saurus's own split of the file, written for the yardstick: (mode, train, val)."""
    text = read_text(path)
    mode, _ = detect_mode(text)
    train_path, val_path = folder / f"{path.stem}.train", folder / f"{path.stem}.val"
    if mode == "lines":
        train, val = LinesCorpus.from_text(text).split(0.1, 42)
        train_path.write_text("\n".join(train.examples) + "\n", encoding="utf-8")
        val_path.write_text("\n".join(val.examples) + "\n", encoding="utf-8")
    else:
        train_s, val_s = StreamCorpus.from_text(text).split(0.1)
        train_path.write_text(str(train_s.text), encoding="utf-8")
        val_path.write_text(str(val_s.text), encoding="utf-8")
    return mode, train_path, val_path


def saurus_train(
    path: Path, budget: float, folder: Path, env: dict[str, str], threads: int, options: list[str]
) -> tuple[Path, float]:
    """Train with the planner's defaults (and `options`); (model, wall seconds)."""
    out = folder / f"{path.stem}.{budget:g}.{len(options)}.saurus"
    command = [sys.executable, "-m", "saurus", "train", str(path), "-o", str(out), "--overwrite", "-q"]
    command += ["--time-budget", str(budget), "--threads", str(threads), *options]
    _, took = run(command, env)
    return out, took


def saurus_loss(model: Path, val: Path, env: dict[str, str], threads: int) -> float:
    text, _ = run(
        [sys.executable, "-m", "saurus", "eval", str(model), str(val), "--threads", str(threads)], env
    )
    found = re.search(r"([\d.]+) nats/char", text)
    return float(found.group(1)) if found else float("nan")


def engine_of(model: Path) -> str:
    from saurus.files.models import load_with_meta

    meta = load_with_meta(model)[1]
    return str((meta.get("training") or {}).get("engine", "?"))


def yardstick_loss(mode: str, train: Path, val: Path, budget: float, env: dict[str, str]) -> float:
    script = YARDSTICKS / ("lstm_lines.py" if mode == "lines" else "lstm_text.py")
    extra = YARD_LINES if mode == "lines" else YARD_TEXT
    text, _ = run([sys.executable, str(script), str(train), str(val), *extra, str(budget)], env)
    found = re.search(r"best val ([\d.]+)", text)
    return float(found.group(1)) if found else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="corpus:seconds,... ('none': no rows)")
    parser.add_argument(
        "--grid", default="", help="corpora for the 60 s grid search, e.g. names,tinyshakespeare"
    )
    parser.add_argument("--grid-budget", type=float, default=60.0)
    parser.add_argument(
        "--points",
        type=grid_points,
        default=GRID,
        help="grid points hidden:layers:dropout:lr,... (default: the 12-point grid)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default: 2)")
    parser.add_argument("--no-yardstick", action="store_true", help="saurus only")
    parser.add_argument(
        "--engine", choices=("auto", "numpy", "torch"), default="auto", help="saurus's engine (default: auto)"
    )
    parser.add_argument("--quick", action="store_true", help="dinos for 5 s: a smoke test")
    parser.add_argument("--data", type=Path, help="where to build the corpora (default: a temporary folder)")
    args = parser.parse_args()
    runs = (
        []
        if args.runs == "none"
        else [(c, float(s)) for c, s in (r.split(":") for r in args.runs.split(","))]
    )
    if args.quick:
        runs, args.no_yardstick = [("dinos", 5.0)], False
    t = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = args.data or folder
        data.mkdir(parents=True, exist_ok=True)
        if runs:
            print("| corpus | budget (s) | engine | saurus | yardstick | difference | wall (s) / budget |")
            print("|---|---|---|---|---|---|---|")
        for corpus, budget in runs:
            path = corpus_file(corpus, data)
            if path is None:
                print(f"| {corpus} | {budget:g} | not here: skipped | | | | |", flush=True)
                continue
            mode, train, val = split_files(path, folder)
            model, took = saurus_train(path, budget, folder, env, args.threads, ["--engine", args.engine])
            ours = saurus_loss(model, val, env, args.threads)
            theirs = float("nan") if args.no_yardstick else yardstick_loss(mode, train, val, budget, env)
            print(
                f"| {corpus} | {budget:g} | {engine_of(model)} | {ours:.4f} | {theirs:.4f} | "
                f"{ours - theirs:+.4f} | {took:.1f} / {budget:g} ({took / budget:.2f}x) |",
                flush=True,
            )
        for corpus in [c for c in args.grid.split(",") if c]:
            grid_search(corpus, args.grid_budget, data, folder, env, args.threads, args.points)
    return 0


def grid_points(text: str) -> list[tuple[int, int, float, float]]:
    """'256:1:0:0.005,512:1:0.3:0.002' as grid points."""
    points = []
    for item in text.split(","):
        hidden, layers, dropout, lr = item.split(":")
        points.append((int(hidden), int(layers), float(dropout), float(lr)))
    return points


def grid_search(
    corpus: str,
    budget: float,
    data: Path,
    folder: Path,
    env: dict[str, str],
    threads: int,
    points: list[tuple[int, int, float, float]] = GRID,
) -> None:
    """Every grid point at `budget` beside the planner; prints a table and the gap."""
    path = corpus_file(corpus, data)
    if path is None:
        print(f"grid {corpus}: not here, skipped")
        return
    _, _, val = split_files(path, folder)
    print(f"\ngrid search, {corpus}, {budget:g} s\n")
    print("| hidden | layers | dropout | lr | val nats/char |")
    print("|---|---|---|---|---|")
    best = float("inf")
    for hidden, layers, dropout, lr in points:
        options = [
            "--hidden",
            str(hidden),
            "--layers",
            str(layers),
            "--dropout",
            str(dropout),
            "--lr",
            str(lr),
        ]
        model, _ = saurus_train(path, budget, folder, env, threads, options)
        loss = saurus_loss(model, val, env, threads)
        best = min(best, loss)
        print(f"| {hidden} | {layers} | {dropout:g} | {lr:g} | {loss:.4f} |", flush=True)
    model, _ = saurus_train(path, budget, folder, env, threads, [])
    planned = saurus_loss(model, val, env, threads)
    print(
        f"\nplanner {planned:.4f}, best grid point {best:.4f}: the planner is {planned - best:+.4f} from it"
    )


if __name__ == "__main__":
    sys.exit(main())
