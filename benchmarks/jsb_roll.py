"""The piano-roll model (88 Bernoulli notes per frame) on JSB Chorales: train for a time
budget with either engine, early-stopped on the validation NLL per frame, then score the
kept NumPy model on valid and test under both conventions of saurus.music.frame_eval
("all": the first frame predicted from an empty one; "skip-first": locuslab/TCN's).
Prints one JSON line; compare with /work/shared/yardsticks/jsb_lstm.py run right after.

    python benchmarks/jsb_roll.py --budget 60 --threads 2
"""

from __future__ import annotations

import argparse
import json

from saurus.files.roll import save_roll
from saurus.music.jsb import load_jsb_dataset
from saurus.music.roll_train import RollConfig, evaluate_roll, train_roll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", default="torch", choices=("numpy", "torch"))
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--transpose", type=int, default=0, help="largest shift in semitones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="save the model here")
    args = parser.parse_args()
    if args.engine == "torch":
        import torch

        torch.set_num_threads(args.threads)
    splits = load_jsb_dataset()
    config = RollConfig(
        engine=args.engine, cell=args.cell, hidden=args.hidden, layers=args.layers,
        dropout=args.dropout, lr=args.lr, batch=args.batch, max_shift=args.transpose,
        budget_s=args.budget, seed=args.seed,
    )  # fmt: skip
    result = train_roll(splits["train"], splits["valid"], config)
    valid, test = evaluate_roll(result.model, splits["valid"]), evaluate_roll(result.model, splits["test"])
    if args.output:
        save_roll(result.model, args.output, extra={"valid_nll": valid})
    row = {**{k: v for k, v in vars(args).items() if k != "output"}, "params": result.model.num_params()}
    row.update(epochs=result.epochs, best_epoch=result.best_epoch, train_s=round(result.seconds, 1))
    row.update({f"valid_{c}": round(v, 4) for c, v in valid.items()})
    row.update({f"test_{c}": round(v, 4) for c, v in test.items()})
    print(json.dumps(row))


if __name__ == "__main__":
    main()
