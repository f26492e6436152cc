"""A plain PyTorch character-RNN name classifier, trained for a wall-clock budget: a yardstick.

The model of the PyTorch tutorial "Classifying names with a character-level RNN", done the
ordinary way: characters embedded, a single-layer GRU (or LSTM) over each name, its hidden
state at the name's true length (packed sequences) -> linear -> log-softmax over the
categories, cross-entropy, Adam, minibatches of padded names. Training stops when the
budget (in seconds, evaluations included, data preparation not) is spent; held-out
accuracy is measured a few times along the way and at the end, and the best is kept.

    python benchmarks/plain_classifier.py ../shared/data/surnames --seconds 30
    python benchmarks/plain_classifier.py words.tsv --seconds 30 --threads 2 --val-fraction 0.1 --seed 0

The data is either a folder of .txt files, one per category (the file's stem is the label,
one name per line), or a .tsv/.csv file of `name<TAB or comma>label` lines. (name, label)
pairs are deduplicated, then split by distinct name string (a name is never in both
training and validation), seeded: see `split_pairs`, which other scripts import along with
`read_labelled`. Prints one line: accuracy, steps, seconds (and a few more figures).

The model is a GRU of 128 units over 64-wide character embeddings, batches of 64, Adam at
3e-3, gradients clipped at norm 1; --hidden, --cell, --batch-size and --lr change them.
On a machine busy with other work, two threads can be many times slower than one (each
step is many small parallel regions, and each waits for both threads to be scheduled):
compare `--threads 1`, or run with OMP_WAIT_POLICY=PASSIVE in the environment (read when
torch loads; this script leaves it as it finds it, as saurus does). The printed
cpu_seconds, this process's CPU time over the budget, shows how much of it the run got.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

Pair = tuple[str, str]  # (name, label)

PAD, UNK = 0, 1  # character ids: padding, and a character never seen in training


def read_labelled(path: str | Path) -> list[Pair]:
    """(name, label) pairs from a folder of <label>.txt files or from a .tsv/.csv file.

    Blank lines are skipped; names keep their case. In a file, a line splits at its last tab
    if it has one, otherwise at its last comma; a line with neither is an error.
    """
    path = Path(path)
    pairs: list[Pair] = []
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise ValueError(f"{path}: no .txt files")
        for file in files:
            for line in file.read_text(encoding="utf-8").splitlines():
                name = line.strip()
                if name:
                    pairs.append((name, file.stem))
        return pairs
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        separator = "\t" if "\t" in line else ","
        if separator not in line:
            raise ValueError(f"{path}:{number}: expected name<TAB or comma>label, got {line!r}")
        name, label = (part.strip() for part in line.rsplit(separator, 1))
        if name and label:
            pairs.append((name, label))
    return pairs


def split_pairs(pairs: Sequence[Pair], val_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Training and validation pairs: duplicates dropped, split by distinct name, seeded.

    The distinct (name, label) pairs are kept in first-seen order; the distinct names are
    sorted, shuffled with `random.Random(seed)`, and the first round(val_fraction * names)
    of them (at least one when val_fraction > 0) go to validation with all their labels.
    The same pairs, fraction and seed always give the same split.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    unique = list(dict.fromkeys(pairs))
    names = sorted({name for name, _ in unique})
    random.Random(seed).shuffle(names)
    count = round(val_fraction * len(names))
    if val_fraction > 0:
        count = min(max(count, 1), len(names) - 1)
    held_out = set(names[:count])
    train = [pair for pair in unique if pair[0] not in held_out]
    val = [pair for pair in unique if pair[0] in held_out]
    return train, val


class CharRNN(nn.Module):
    """Embedding -> single-layer GRU/LSTM -> last hidden state -> linear -> log-softmax."""

    def __init__(self, n_chars: int, n_classes: int, embed: int, hidden: int, cell: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_chars, embed, padding_idx=PAD)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [batch, classes] for padded ids [batch, time] of these lengths."""
        packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        return torch.log_softmax(self.out(hidden[-1]), dim=-1)


def encode(
    names: Sequence[str], char_ids: dict[str, int], max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids [n, longest] (names cut at max_len) and lengths [n] (int64, on the CPU)."""
    cut = [name[:max_len] if max_len else name for name in names]
    lengths = torch.tensor([len(name) for name in cut], dtype=torch.long)
    ids = torch.full((len(cut), int(lengths.max())), PAD, dtype=torch.long)
    for row, name in enumerate(cut):
        ids[row, : len(name)] = torch.tensor([char_ids.get(c, UNK) for c in name], dtype=torch.long)
    return ids, lengths


@torch.no_grad()
def evaluate(
    model: CharRNN, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, batch: int = 1024
) -> tuple[float, float]:
    """Accuracy over a whole encoded set, and mean negative log-likelihood (nats) over its
    known labels; a label of -1 (a category unseen in training) counts as wrong."""
    model.eval()
    correct, nll = 0, 0.0
    for start in range(0, len(labels), batch):
        chunk = slice(start, start + batch)
        size = int(lengths[chunk].max())
        logp = model(ids[chunk, :size], lengths[chunk])
        correct += int((logp.argmax(-1) == labels[chunk]).sum())
        nll += float(nn.functional.nll_loss(logp, labels[chunk], ignore_index=-1, reduction="sum"))
    model.train()
    known = int((labels >= 0).sum())
    return correct / len(labels), nll / known if known else math.nan


def train_classifier(
    train: list[Pair],
    val: list[Pair],
    seconds: float,
    threads: int = 2,
    seed: int = 0,
    *,
    hidden: int = 128,
    embed: int = 64,
    cell: str = "gru",
    batch_size: int = 64,
    lr: float = 3e-3,
    evals: int = 8,
    max_len: int = 40,
    clip: float = 1.0,
) -> dict:
    """Train on (name, label) pairs for `seconds` of wall clock; the best held-out accuracy.

    Characters and categories are taken from the training pairs (a character unseen in
    training reads as one shared unknown id; a validation label unseen in training counts
    as wrong). The budget covers training and the `evals` evaluations spread over it (the
    last at the end); building the vocabulary and encoding come before the clock starts.
    Returns accuracy (best held-out), val_nll (at that evaluation), steps, seconds (the
    budget's clock at the end), epochs, and the sizes and settings used.
    """
    if not train or not val:
        raise ValueError("train and val must both be non-empty")
    if any(not name for name, _ in [*train, *val]):
        raise ValueError("every name must have at least one character")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    labels = sorted({label for _, label in train})
    label_ids = {label: i for i, label in enumerate(labels)}
    chars = sorted({c for name, _ in train for c in name[:max_len]})
    char_ids = {c: i + 2 for i, c in enumerate(chars)}  # after PAD and UNK

    train_ids, train_lengths = encode([name for name, _ in train], char_ids, max_len)
    train_labels = torch.tensor([label_ids[label] for _, label in train], dtype=torch.long)
    order = torch.argsort(torch.tensor([len(name[:max_len]) for name, _ in val]), stable=True)
    val_sorted = [val[i] for i in order.tolist()]  # by length: less padding per eval batch
    val_ids, val_lengths = encode([name for name, _ in val_sorted], char_ids, max_len)
    val_labels = torch.tensor([label_ids.get(label, -1) for _, label in val_sorted], dtype=torch.long)

    model = CharRNN(len(chars) + 2, len(labels), embed, hidden, cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def batches() -> Iterator[torch.Tensor]:
        """Indices of training minibatches, a fresh shuffle each epoch, for ever."""
        while True:
            yield from torch.randperm(len(train), generator=generator).split(batch_size)

    steps, seen, history = 0, 0, []
    best_accuracy, best_nll = -1.0, math.inf
    interval = seconds / evals
    next_eval = interval
    start, cpu_start = time.perf_counter(), time.process_time()
    for batch in batches():
        lengths = train_lengths[batch]
        logp = model(train_ids[batch, : int(lengths.max())], lengths)
        loss = nn.functional.nll_loss(logp, train_labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        steps, seen = steps + 1, seen + len(batch)
        elapsed = time.perf_counter() - start
        if elapsed < next_eval and elapsed < seconds:
            continue
        accuracy, nll = evaluate(model, val_ids, val_lengths, val_labels)
        elapsed = time.perf_counter() - start
        history.append((round(elapsed, 2), steps, accuracy, nll))
        if accuracy > best_accuracy:
            best_accuracy, best_nll = accuracy, nll
        if elapsed >= seconds:
            break
        next_eval = (math.floor(elapsed / interval) + 1) * interval  # none queued up after a stall
    took, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "accuracy": best_accuracy,
        "val_nll": best_nll,
        "steps": steps,
        "seconds": took,
        "cpu_seconds": cpu,  # this process's CPU time over the budget
        "epochs": seen / len(train),
        "final_accuracy": history[-1][2],
        "history": history,  # (seconds, steps, accuracy, val_nll) per evaluation
        "train_pairs": len(train),
        "val_pairs": len(val),
        "categories": len(labels),
        "chars": len(chars),
        "settings": {"cell": cell, "hidden": hidden, "embed": embed, "batch_size": batch_size, "lr": lr},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a folder of <label>.txt files, or a .tsv/.csv of name,label lines")
    parser.add_argument("--seconds", type=float, default=30.0, help="wall-clock training budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the model and the order")
    parser.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--verbose", "-v", action="store_true", help="print each evaluation too")
    args = parser.parse_args(argv)

    pairs = read_labelled(args.data)
    train, val = split_pairs(pairs, args.val_fraction, args.seed)
    result = train_classifier(
        train,
        val,
        args.seconds,
        threads=args.threads,
        seed=args.seed,
        cell=args.cell,
        hidden=args.hidden,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    if args.verbose:
        for at, steps, accuracy, nll in result["history"]:
            print(
                f"  {at:7.2f} s  step {steps:6d}  accuracy {accuracy:.4f}  val_nll {nll:.4f}", file=sys.stderr
            )
    print(
        f"accuracy {result['accuracy']:.4f}  steps {result['steps']}  seconds {result['seconds']:.1f}  "
        f"cpu_seconds {result['cpu_seconds']:.1f}  "
        f"val_nll {result['val_nll']:.4f}  epochs {result['epochs']:.1f}  "
        f"train {result['train_pairs']}  val {result['val_pairs']}  categories {result['categories']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
