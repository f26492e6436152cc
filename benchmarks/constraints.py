"""Names that meet constraints: how many of the model's names meet each, and names per
second of the whole `saurus sample` command (start-up included), for the pretrained
dinosaur model.

    python benchmarks/constraints.py                 # about a minute on 2 cores
    python benchmarks/constraints.py -n 20000 --threads 2

The share is measured by drawing SHARE_DRAWS names without constraints and counting those
the constraints' automaton accepts; names per second is -n names that meet the constraints
over the wall time of `python -m saurus sample dinos -n N --seed 0 CONSTRAINTS > /dev/null`
(the best of --repeat runs). The first row is plain sampling, for comparison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from saurus.files.models import load
from saurus.files.pretrained import resolve
from saurus.generation.constraints import Constraints
from saurus.generation.sampling import generate_lines

SHARE_DRAWS = 200_000
CASES = [
    ("none (plain sampling)", [], None),
    ("--ends-with raptor", ["--ends-with", "raptor"], Constraints(ends_with="raptor")),
    ("--contains x", ["--contains", "x"], Constraints(contains=("x",))),
    ("--min-len 4 --max-len 6", ["--min-len", "4", "--max-len", "6"], Constraints(min_len=4, max_len=6)),
    ("--excludes a --excludes e", ["--excludes", "a", "--excludes", "e"], Constraints(excludes=("a", "e"))),
    (
        "--pattern '[aeiou][a-z]{2,5}(don|rex|tops)'",
        ["--pattern", "[aeiou][a-z]{2,5}(don|rex|tops)"],
        Constraints(pattern="[aeiou][a-z]{2,5}(don|rex|tops)"),
    ),
]


def share(constraints: Constraints | None) -> float:
    if constraints is None:
        return 1.0
    model = load(resolve("dinos"))
    auto = constraints.compile(model.vocab)
    names = generate_lines(model, SHARE_DRAWS, np.random.default_rng(1), max_len=51)
    return sum(auto.accepts(model.vocab.encode(n)) for n in names) / len(names)


def timed(args: list[str], n: int, threads: int, repeat: int) -> float:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    best = float("inf")
    limit = ["--time-limit", "600"] if args else []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "saurus", "sample", "dinos", "-n", str(n), "--seed", "0", *args, *limit],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000, help="names per command (default: 20000)")
    parser.add_argument(
        "--plain", type=int, default=500_000, help="names for the plain row (default: 500000)"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"\nconstraints, pretrained dinos model, {args.threads} threads\n")
    print("| constraints | share of the model's names | names | names/s (whole command) | time (s) |")
    print("|---|---|---|---|---|")
    for label, flags, constraints in CASES:
        n = args.plain if constraints is None else args.n
        seconds = timed(flags, n, args.threads, args.repeat)
        print(
            f"| {label} | {share(constraints):.2%} | {n:,} | {n / seconds:,.0f} | {seconds:.2f} |", flush=True
        )


if __name__ == "__main__":
    main()
