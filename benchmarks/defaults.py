"""Try settings against the planner's at a time budget: train each candidate setting for the
budget and print its validation loss, one row per setting, all in one run.

    python benchmarks/defaults.py dinos:10 --engine torch \\
        --try "--hidden 128" "--hidden 256 --dropout 0.3" "--model gru"

Every row is `saurus train CORPUS --engine E --time-budget S` plus that row's options (the
first row, "defaults", adds none: the planner's choice), on saurus's own split, with the same
thread count. Figures are measured, never asserted; the planner's rules (saurus/training/plan.py)
record what they taught.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def yardsticks_module():
    spec = importlib.util.spec_from_file_location("yardsticks", HERE / "yardsticks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="corpus:seconds, e.g. dinos:10")
    parser.add_argument("--engine", default="torch", choices=["numpy", "torch"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--try", dest="tries", nargs="*", default=[], help="option sets to compare")
    parser.add_argument("--no-defaults", action="store_true", help="skip the defaults row")
    args = parser.parse_args()
    corpus, seconds = args.run.split(":")
    ys = yardsticks_module()
    t = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t}
    options = ([] if args.no_defaults else [()]) + [tuple(shlex.split(o)) for o in args.tries]
    print("| what | data | figure | time (s) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for extra in options:
            row = ys.saurus_row(corpus, args.engine, float(seconds), Path(tmp), env, args.threads, extra)
            print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
