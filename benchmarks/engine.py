"""Benchmark the engine against the classic loop: training speed, and quality at a time budget.

    python benchmarks/engine.py                       # the full table (about 25 minutes on 2 cores)
    python benchmarks/engine.py --quick               # a smoke test (about 30 s)
    python benchmarks/engine.py --only quality --corpora dinos --budgets 10

Throughput: training characters per second (forward, backward and update) of the classic
per-example loop and of the engine at equal hidden size, on dinos.txt names.
Quality: validation nats/char of `saurus train` with its defaults, stopped by --time-budget,
on dinos.txt and names.txt (10% validation, split seed 42) and tiny-shakespeare (first 90% /
last 10%). Prints one table: what, data, figure, time. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import numpy as np

from saurus.data.batches import LineBatches
from saurus.data.corpus import LinesCorpus, read_text
from saurus.data.datasets import dataset_path
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel
from saurus.training.backends.numpy import numpy_steps
from saurus.training.loop import TrainConfig, train_file

Row = tuple[str, str, str, float]
QUALITY = {  # corpus -> (mode, lowercase, what is held out)
    "dinos": ("lines", True, "10% val (seed 42)"),
    "names": ("lines", True, "10% val (seed 42)"),
    "tinyshakespeare": ("stream", False, "last 10% val"),
}


def dinos_names() -> LinesCorpus:
    return LinesCorpus.from_text(read_text(dataset_path("dinos", download=False)), lowercase=True)


def chars_per_second(steps: Iterator[tuple[float, int]], seconds: float) -> tuple[float, float]:
    """Run steps for about `seconds` after a short warm-up; return (chars/s, seconds measured)."""
    for _ in range(3):
        next(steps)
    chars, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        chars += next(steps)[1]
    return chars / elapsed, elapsed


def throughput_rows(seconds: float) -> Iterator[Row]:
    corpus = dinos_names()
    vocab = corpus.vocab()
    encoded = corpus.encode(vocab)
    base: dict[int, float] = {}
    for hidden in (50, 256):
        model = ClassicRNN.create(vocab, "lines", hidden=hidden, seed=0, lowercase=True)
        speed, took = chars_per_second(
            model.fit_lines(encoded, 10**9, 0.01, np.random.default_rng(0)), seconds
        )
        base[hidden] = speed
        yield f"throughput: classic loop, RNN H={hidden}, float64", "dinos.txt", f"{speed:,.0f} chars/s", took
    engine = [("rnn", 50, 256), ("rnn", 256, 256), ("lstm", 50, 64), ("lstm", 256, 64)]
    for cell, hidden, batch in engine:
        for dtype in ("float32", "float64"):
            model = CharModel.create(vocab, "lines", cell=cell, hidden=hidden, dtype=dtype, seed=0)
            cfg = TrainConfig(model=cell, optimizer="adam", clip=1.0).resolved()
            steps = numpy_steps(
                model, LineBatches(encoded, vocab.eos_id, batch), cfg, np.random.default_rng(0), [1e-3]
            )
            speed, took = chars_per_second(steps, seconds)
            ratio = f" = {speed / base[hidden]:.0f}x classic" if cell == "rnn" else ""
            what = f"throughput: engine {cell.upper()} H={hidden}, batch {batch}, {dtype}"
            yield what, "dinos.txt", f"{speed:,.0f} chars/s{ratio}", took


def quality_rows(corpora: list[str], budgets: list[float]) -> Iterator[Row]:
    for name in corpora:
        mode, lowercase, held_out = QUALITY[name]
        path = dataset_path(name, download=False)
        for budget in budgets:
            cfg = TrainConfig(mode=mode, lowercase=lowercase, time_budget=budget)  # type: ignore[arg-type]
            result = train_file(path, cfg)
            assert result.val is not None
            c = result.config
            what = f"quality at {budget:g} s: {c.model.upper()} {c.layers}x{c.hidden}, batch {c.batch_size}"
            figure = (
                f"val {result.val.nats:.4f} nats/char ({result.val.bits:.3f} bits), "
                f"{result.iterations_done} steps, stopped by {result.stopped_by}"
            )
            yield what, f"{name}, {held_out}", figure, result.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for a smoke test")
    parser.add_argument("--only", choices=["throughput", "quality"], help="one half of the table")
    parser.add_argument("--corpora", default=",".join(QUALITY), help="comma-separated quality corpora")
    parser.add_argument("--budgets", default="10,60,300", help="comma-separated seconds of training")
    args = parser.parse_args()
    corpora = args.corpora.split(",")
    budgets = [float(b) for b in args.budgets.split(",")]
    seconds = 5.0
    if args.quick:
        corpora, budgets, seconds = ["dinos"], [2.0], 0.5
    print("| what | data | figure | time (s) |\n|---|---|---|---|")
    rows: list[Iterator[Row]] = []
    if args.only in (None, "throughput"):
        rows.append(throughput_rows(seconds))
    if args.only in (None, "quality"):
        rows.append(quality_rows(corpora, budgets))
    for block in rows:
        for what, data, figure, took in block:
            print(f"| {what} | {data} | {figure} | {took:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
