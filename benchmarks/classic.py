"""Benchmark the classic model: the reproduction run, and `saurus train` on real corpora.

    python benchmarks/classic.py            # all rows (about 1.5 minutes on 2 cores)
    python benchmarks/classic.py --quick    # fewer iterations, for a smoke test

Prints one table: what, data, figure, time. Corpora come from $SAURUS_DATA_DIR
(default ../shared/data). Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from saurus.data.corpus import read_text
from saurus.data.datasets import dataset_path
from saurus.data.vocab import Vocab
from saurus.reference.name_model import classic_training_run
from saurus.training.loop import TrainConfig, train_file

Row = tuple[str, str, str, float]


def reproduce_row(iterations: int) -> Row:
    text = read_text(dataset_path("dinos", download=False)).lower()
    examples = [line.strip() for line in text.split("\n")]
    start = time.perf_counter()
    blocks = list(
        classic_training_run(
            examples, Vocab.from_text(text, with_eos=True).char_to_ix(), num_iterations=iterations
        )
    )
    seconds = time.perf_counter() - start
    chars = sum(len(examples[j % len(examples)]) + 1 for j in range(iterations))
    figure = f"final smoothed loss {blocks[-1].loss:.6f}; {chars / seconds:,.0f} chars/s"
    return f"saurus reproduce dinos ({iterations} it.)", "dinos.txt", figure, seconds


def train_row(name: str, config: TrainConfig) -> Row:
    result = train_file(dataset_path(name, download=False), config)
    assert result.val is not None
    cfg = result.config
    what = f"classic {cfg.mode} H={cfg.hidden}, {cfg.iterations} it."
    figure = f"val {result.val.nats:.4f} nats/char ({result.val.bits:.3f} bits)"
    held_out = "a random 10% held out (seed 42)" if cfg.mode == "lines" else "last 10% held out"
    return what, f"{name}, {held_out}", figure, result.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    jobs: list[Callable[[], Row]] = [
        lambda: reproduce_row(35000 // scale),
        lambda: train_row("dinos", TrainConfig(model="classic", lowercase=True, iterations=35000 // scale)),
        lambda: train_row("sonnets", TrainConfig(model="classic", mode="stream", iterations=20000 // scale)),
    ]
    header = ("what", "data", "figure", "time (s)")
    print("| " + " | ".join(header) + " |\n|---|---|---|---|")
    for job in jobs:
        what, data, figure, seconds = job()
        print(f"| {what} | {data} | {figure} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
