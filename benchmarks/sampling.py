"""Benchmark `saurus sample`: names per second of the whole command, start-up included.

    python benchmarks/sampling.py                         # about 2 minutes on 2 cores
    python benchmarks/sampling.py --baseline HEAD         # and the same commands on older code
    python benchmarks/sampling.py --quick                 # a smoke test (about 30 s)
    python benchmarks/sampling.py --constraints --threads 2    # constrained names (3 minutes)

Models: the default dinosaur model (`saurus train dinos --lowercase`, an LSTM 1x128) and a
names.txt model of the default names size (LSTM 1x384, trained for --iterations 50 only:
speed does not depend on quality). Each row times `python -m saurus sample MODEL -n N
--seed 0 [--novel] > /dev/null` in a subprocess (the best of --repeat runs) and reports
N / wall time, the wall time and the CPU time (user + system: less disturbed by other jobs
on a shared machine; above the wall time when several threads work). `--most-likely` rows
list the N most probable names.

--constraints times names that meet constraints instead, on the pretrained dinos model:
for each of CONSTRAINTS, the share of the model's names that meet it (of SHARE_DRAWS names
drawn without constraints, run through the constraints' automaton) and `python -m saurus
sample dinos -n N --seed 0 CONSTRAINTS` (N names that meet them, start-up and the
automaton's compilation included); the first row is plain sampling, for comparison.

--baseline REV runs the same commands on a copy of this tree whose sampling code
(OLD_FILES: the generation package and the fused LSTM) is taken from git revision REV
(read with `git show`), so the before and after figures come from one run on one machine
and can be compared as ratios. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "src"
OLD_FILES = (  # what the sampling speed depends on; the rest of the tree stays as it is
    "saurus/generation/constraints.py",
    "saurus/generation/decoding.py",
    "saurus/generation/names.py",
    "saurus/generation/novelty.py",
    "saurus/generation/sampling.py",
    "saurus/generation/steppers.py",
    "saurus/models/fused_lstm.py",
)
SHARE_DRAWS = 200_000  # names drawn without constraints to measure each one's share
CONSTRAINTS = [  # (the options, what they mean); about 1 in 20 names has an x, or no a nor e
    ([], {}),
    (["--ends-with", "raptor"], {"ends_with": "raptor"}),
    (["--contains", "x"], {"contains": ("x",)}),
    (["--min-len", "4", "--max-len", "6"], {"min_len": 4, "max_len": 6}),
    (["--excludes", "a", "--excludes", "e"], {"excludes": ("a", "e")}),
    (["--pattern", "[aeiou][a-z]{2,5}(don|rex|tops)"], {"pattern": "[aeiou][a-z]{2,5}(don|rex|tops)"}),
]


def saurus(args: list[str], *, path: Path, threads: int) -> tuple[float, float]:
    """Run `python -m saurus ARGS` with `path` first on sys.path, output to /dev/null; its
    wall time and CPU time (user + system) in seconds."""
    env = {**os.environ, "PYTHONPATH": str(path), "OPENBLAS_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "saurus", *args, "--threads", str(threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} (PYTHONPATH={path}) failed:\n{done.stderr}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def train_models(folder: Path, quick: bool, threads: int) -> dict[str, Path]:
    """The two models, trained into `folder` unless already there."""
    size = ["--hidden", "32", "--iterations", "30"] if quick else []
    recipes = {
        "dinos (LSTM 1x128)": ["dinos", "--lowercase", *size],
        "names.txt (LSTM 1x384)": ["names", "--lowercase", "--iterations", "50", "--hidden", "384"],
    }
    if quick:
        recipes = {"dinos (tiny)": recipes["dinos (LSTM 1x128)"]}
    paths = {}
    for i, (label, recipe) in enumerate(recipes.items()):
        path = folder / f"model{i}{'-quick' if quick else ''}.saurus"
        if not path.exists():
            saurus(["train", *recipe, "-o", str(path), "-q"], path=SOURCES, threads=threads)
        paths[label] = path
    return paths


def baseline_tree(rev: str, folder: Path) -> Path:
    """A copy of src/ whose sampling code (OLD_FILES) comes from git revision `rev`."""
    tree = folder / f"baseline-{rev.replace('/', '_')}"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(SOURCES / "saurus", tree / "saurus", ignore=shutil.ignore_patterns("__pycache__"))
    for name in OLD_FILES:
        show = ["git", "-C", str(REPO), "show", f"{rev}:src/{name}"]
        (tree / name).write_bytes(subprocess.run(show, capture_output=True, check=True).stdout)
    return tree


def measure(
    args: list[str], trees: dict[str, Path], threads: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """The best (wall, CPU) times of each tree's run of `saurus ARGS`, the trees taking
    turns (so a busy moment of the machine hits both alike)."""
    best = dict.fromkeys(trees, (float("inf"), float("inf")))
    for _ in range(repeat):
        for code, tree in trees.items():
            best[code] = min(best[code], saurus(args, path=tree, threads=threads))
    return best


def row(what: str, label: str, code: str, count: int, times: tuple[float, float]) -> str:
    wall, cpu = times
    return f"| {what} | {label} | {code} | {count / wall:,.0f} | {wall:.2f} | {cpu:.2f} |"


def table(args: argparse.Namespace) -> Iterator[str]:
    """The table's lines, each as soon as it is measured."""
    folder = Path(args.work or tempfile.mkdtemp(prefix="saurus-sampling-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = 2000 if args.quick else args.n
    repeat = 1 if args.quick else args.repeat
    models = train_models(folder, args.quick, args.threads)
    trees = {"now": SOURCES}
    if args.baseline:
        trees = {args.baseline: baseline_tree(args.baseline, folder), **trees}
    yield "| what | model | code | names/s | time (s) | CPU (s) |"
    yield "|---|---|---|---|---|---|"
    cases = [("start-up (-n 1)", ["-n", "1"], 1), (f"-n {n}", ["-n", str(n)], n)]
    cases.append((f"-n {n} --novel", ["-n", str(n), "--novel"], n))
    for label, model in models.items():
        for what, extra, count in cases:
            times = measure(["sample", str(model), "--seed", "0", *extra], trees, args.threads, repeat)
            yield from (row(what, label, code, count, t) for code, t in times.items())
        top = 100 if args.quick else 1000
        for extra in ([], ["--novel"]):
            what = f"--most-likely {top}" + (" --novel" if extra else "")
            command = ["sample", str(model), "--most-likely", str(top), *extra]
            yield row(
                what, label, "now", top, measure(command, {"now": SOURCES}, args.threads, repeat)["now"]
            )


def shares(draws: int) -> list[float]:
    """The share of the dinos model's names (of `draws` drawn without constraints) that
    meet each of CONSTRAINTS: the automaton run over all names at once, a column at a time."""
    import numpy as np

    from saurus.files.models import load
    from saurus.files.pretrained import resolve
    from saurus.generation.constraints import Constraints
    from saurus.generation.sampling import generate_lines

    model = load(resolve("dinos"))
    names = generate_lines(model, draws, np.random.default_rng(1), max_len=51)
    lengths = np.array([len(name) for name in names])
    ids = np.zeros((len(names), lengths.max()), dtype=np.int64)
    for i, name in enumerate(names):
        ids[i, : len(name)] = model.vocab.encode(name)
    found = []
    for _, fields in CONSTRAINTS:
        if not fields:
            found.append(1.0)
            continue
        auto = Constraints(**fields).compile(model.vocab)
        state = np.full(len(names), auto.start)
        for t in range(ids.shape[1]):
            going = lengths > t
            state[going] = auto.delta[state[going], ids[going, t]]
        found.append(float(auto.accepting[state].mean()))
    return found


def constraint_table(args: argparse.Namespace) -> Iterator[str]:
    """The constraints table's lines, each as soon as it is measured."""
    folder = Path(args.work or tempfile.mkdtemp(prefix="saurus-sampling-"))
    folder.mkdir(parents=True, exist_ok=True)
    trees = {"now": SOURCES}
    if args.baseline:
        trees = {args.baseline: baseline_tree(args.baseline, folder), **trees}
    quick = args.quick
    found = shares(2000 if quick else SHARE_DRAWS)
    yield "| constraints | share of the model's names | code | names | names/s | time (s) | CPU (s) |"
    yield "|---|---|---|---|---|---|---|"
    for (flags, _), share in zip(CONSTRAINTS, found, strict=True):
        n = (200 if flags else 2000) if quick else (args.n_constrained if flags else args.n)
        limit = ["--time-limit", "600"] if flags else []
        command = ["sample", "dinos", "-n", str(n), "--seed", "0", *flags, *limit]
        times = measure(command, trees, args.threads, 1 if quick else args.repeat)
        said = " ".join(f"'{f}'" if "|" in f or "[" in f else f for f in flags) or "none (plain sampling)"
        said = said.replace("|", "\\|")
        for code, (wall, cpu) in times.items():
            yield f"| {said} | {share:.2%} | {code} | {n:,} | {n / wall:,.0f} | {wall:.2f} | {cpu:.2f} |"


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("-n", type=int, default=100_000, help="names per command (default: 100000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per command; the best counts")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per command (default: 1)")
    parser.add_argument("--baseline", metavar="REV", help="also time the sampling code of git revision REV")
    parser.add_argument("--work", help="folder for the models, reused by the next run (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: a tiny model, 2000 names")
    parser.add_argument(
        "--constraints", action="store_true", help="time names that meet constraints (pretrained dinos)"
    )
    parser.add_argument(
        "--n-constrained",
        type=int,
        default=20_000,
        metavar="N",
        help="names that meet the constraints per command (default: 20000)",
    )
    args = parser.parse_args()
    for line in (constraint_table if args.constraints else table)(args):
        print(line, flush=True)


if __name__ == "__main__":
    main()
