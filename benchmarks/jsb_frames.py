"""The notes-as-tokens frame model on JSB Chorales: train with torch for a time budget,
early-stopped on the validation NLL per frame, then score valid and test (both
conventions of saurus.music.frame_eval) with the exported NumPy model. Prints one JSON line.

    python benchmarks/jsb_frames.py --budget 120 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from saurus.music.frame_model import save_frame_model
from saurus.music.frame_score import frame_nll
from saurus.music.frame_train import FrameTrainConfig, train_frames
from saurus.music.jsb import load_jsb_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--family", default="lstm")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--transpose", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="save the model here")
    args = parser.parse_args()
    splits = load_jsb_dataset()
    config = FrameTrainConfig(
        family=args.family, hidden=args.hidden, layers=args.layers, dropout=args.dropout,
        lr=args.lr, batch=args.batch, transpose=args.transpose, seed=args.seed,
        threads=args.threads, budget_s=args.budget,
    )  # fmt: skip

    def progress(fit: Any) -> None:
        n, score = len(fit.scores), fit.scores[-1]
        line = f"pass {n}: valid {score:.3f} after {fit.steps} steps, {fit.seconds:.0f} s"
        print(line, flush=True)

    result = train_frames(splits["train"], splits["valid"], config, on_progress=progress)
    begin = time.perf_counter()
    test = frame_nll(result.model, splits["test"])
    valid = frame_nll(result.model, splits["valid"])
    if args.output:
        save_frame_model(result.model, args.output, extra={"valid_nll": valid, "test_nll": test})
    print(json.dumps({
        "config": config.__dict__, "steps": result.steps, "train_seconds": round(result.seconds, 1),
        "stopped": result.stopped, "valid": valid, "test": test,
        "numpy_scoring_seconds": round(time.perf_counter() - begin, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
