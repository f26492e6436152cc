"""Names by category, measured: a conditioned saurus model against an unconditioned one and
against a plain PyTorch classifier, each trained for the same time on the same split.

    python benchmarks/categories.py ../shared/data/surnames --seconds 60
    python benchmarks/categories.py words.tsv --seconds 60 --threads 2

The split is saurus's own (saurus.data.labelled: each (name, label) pair once, 10% of the
distinct names held out, every category keeping a training name). Three runs, one after
the other, each for --seconds:

- conditioned: `saurus train DATA --time-budget S` as the command line trains labelled
  names (the planner sizes it; the category embedding feeds every step);
- unconditioned: the same names without their labels, `saurus train` likewise;
- plain classifier: benchmarks/plain_classifier.py (a GRU over characters, the PyTorch
  tutorial's kind, done well), on the same pairs.

Printed: the validation loss (nats per character) of each held-out category's names under
the conditioned model given that category and under the unconditioned model, and the
held-out accuracy of `saurus classify` (Bayes' rule, priors from the training names)
against the plain classifier's best. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from plain_classifier import train_classifier

from saurus.data.corpus import LinesCorpus
from saurus.data.labelled import labelled_corpus, read_labelled
from saurus.generation.categories import one_hot, posteriors
from saurus.generation.scoring import evaluate
from saurus.training.loop import TrainConfig, train_text


def labelled_text(part: LinesCorpus) -> str:
    assert part.labels is not None
    return "".join(f"{n}\t{part.categories[k]}\n" for n, k in zip(part.examples, part.labels, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="a folder of <label>.txt files, or a .tsv / .csv")
    parser.add_argument("--seconds", type=float, default=60.0, help="each run's budget (default: 60)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--engine", default="auto", help="saurus's engine (default: auto)")
    args = parser.parse_args()
    os.environ["SAURUS_THREADS"] = str(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    corpus = labelled_corpus(read_labelled(args.data))
    train, val = corpus.split(args.val_fraction, 42)
    assert isinstance(train, LinesCorpus) and isinstance(val, LinesCorpus) and val.labels is not None
    print(
        f"# {args.data.name}: {len(corpus.categories)} categories, {len(train.examples):,} training and "
        f"{len(val.examples):,} held-out names (each pair once, split by name), {args.seconds:g} s each, "
        f"{args.threads} threads",
        flush=True,
    )
    started = time.perf_counter()
    cond = train_text(
        labelled_text(train),
        TrainConfig(labelled=True, time_budget=args.seconds, engine=args.engine, val_fraction=0.0),
        val_text=labelled_text(val),
    )
    cond_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = train_text(
        "\n".join(train.examples) + "\n",
        TrainConfig(time_budget=args.seconds, engine=args.engine, val_fraction=0.0),
        val_text="\n".join(val.examples) + "\n",
    )
    plain_seconds = time.perf_counter() - started
    pairs = [(n, corpus.categories[k]) for n, k in zip(train.examples, train.labels or (), strict=True)]
    held = [(n, corpus.categories[k]) for n, k in zip(val.examples, val.labels, strict=True)]
    yardstick = train_classifier(pairs, held, args.seconds, threads=args.threads)

    model, K = cond.model, len(corpus.categories)
    print("\n| category | held-out names | conditioned (nats/char) | unconditioned | difference |")
    print("|---|---|---|---|---|")
    wins = 0
    totals = np.zeros(3)
    for k, part in val.by_category():
        mine = evaluate(model.conditioned(one_hot(k, K)), LinesCorpus(part.examples))
        theirs = evaluate(plain.model, LinesCorpus(part.examples))
        wins += mine.nats < theirs.nats
        totals += (mine.total_nats, theirs.total_nats, mine.chars)
        print(
            f"| {corpus.categories[k]} | {len(part.examples)} | {mine.nats:.4f} | {theirs.nats:.4f} | "
            f"{mine.nats - theirs.nats:+.4f} |"
        )
    print(
        f"| all | {len(val.examples)} | {totals[0] / totals[2]:.4f} | {totals[1] / totals[2]:.4f} | "
        f"{(totals[0] - totals[1]) / totals[2]:+.4f} |"
    )
    post = posteriors(model, list(val.examples))
    accuracy = float(np.mean(post.argmax(axis=1) == np.array(val.labels)))
    print("\n| what | data | figure | time (s) |")
    print("|---|---|---|---|")
    assert cond.val is not None and plain.val is not None
    name = args.data.name
    print(f"| conditioned saurus, validation | {name} | {cond.val.nats:.4f} nats/char | {cond_seconds:.1f} |")
    unconditioned = f"{plain.val.nats:.4f} nats/char | {plain_seconds:.1f}"
    print(f"| unconditioned saurus, validation | {name} | {unconditioned} |")
    print(
        f"| categories where conditioned is lower | {args.data.name} | {wins} of {len(val.by_category())} | |"
    )
    print(f"| saurus classify, held-out accuracy | {args.data.name} | {accuracy:.4f} | {cond_seconds:.1f} |")
    print(
        f"| plain PyTorch GRU classifier, held-out accuracy | {args.data.name} | {yardstick['accuracy']:.4f} "
        f"({yardstick['steps']} steps) | {yardstick['seconds']:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
