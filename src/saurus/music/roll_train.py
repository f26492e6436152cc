"""Training the piano-roll model (saurus.models.roll) on pieces of (T, 88) frames, with
either engine, scored as the papers score it (saurus.music.frame_eval).

Training pieces longer than 128 frames are cut into chunks first (saurus.music.chunks;
validation pieces are scored whole). Each epoch shuffles the training pieces into
batches of `batch` pieces (padded, masked), optionally transposes every piece by k
semitones: k = 0 with probability keep_key, else drawn per piece per epoch uniformly from
the shifts in -max_shift..max_shift that keep all its notes on the 88 keys
(saurus.music.transposing):

    k in [max(-max_shift, -lo), min(max_shift, 87 - hi)]   (lo, hi: its lowest, highest key)

and takes one Adam step per batch on the mean NLL per frame (all frames, the first from an
empty frame), gradients clipped to a global norm.

With `opening` (the default) the first frame has its own 88 Bernoulli rates
(saurus.models.roll), fit once in closed form on the training pieces in their own keys,
shrunk toward r_j, key j's rate over all training frames:

    q_j = (c_j + a r_j) / (n + a)        c_j: pieces among n whose first frame sounds j

a = OPENING_PRIOR pseudo-pieces. Transposition would otherwise spread the first frame
over every key: on JSB's validation pieces the first frame costs 6.9 nats so, against
12.2 under the training first frames shifted by up to 6 semitones.

The weights judged and kept are a moving average of the steps' weights (`average` = beta,
saurus.music.roll_trainees); on JSB's valid split at 600 s (2 x 384, one thread) beta =
0.998 reached 7.965 and 0.99 7.976, against 7.990 with none.

After every epoch the validation split is scored; the weights with the lowest validation
NLL (under `select`) are kept. Training stops after `patience` epochs without a better
one, after `max_epochs`, or at the budget: the epoch under way is cut short (and
evaluated) once the seconds spent plus the longest evaluation so far reach `budget_s`
(training.eval_budget), so that the run ends near `budget_s` however long an epoch or an
evaluation. The learning
rate is multiplied by `decay` whenever `decay_after` epochs pass without a better one.
The test split is never seen here.

A Ctrl-C or SIGTERM waits for the end of the batch or evaluation under way
(training.interrupts), then ends the run at once with the best weights evaluated so far
(the current ones are evaluated when none were yet) and `interrupted` set; a second signal
acts at once, and one during that last evaluation is the caller's KeyboardInterrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from saurus.errors import DataError, OptionError
from saurus.models.roll import KEYS, RollModel, pad_rolls
from saurus.music.chunks import chunked
from saurus.music.frame_eval import CONVENTIONS, Convention, FrameNLL, padded_nll
from saurus.music.frame_plan import step_seconds
from saurus.music.length_batches import length_batches
from saurus.music.roll_trainees import NumpyRollTrainee, RollTrainee
from saurus.music.transposing import ROLL_KEEP, draw_shift
from saurus.training.eval_budget import EvalBudget
from saurus.training.interrupts import step_signals

ENGINES = ("numpy", "torch")
EVAL_BATCH = 64  # pieces per evaluation batch (sorted by length, so little padding)
OPENING_PRIOR = 4.0  # JSB valid first frames (nats) from n = 3/10/30/229 training pieces:
# a = 0.5: 9.24/8.17/7.43/6.98, a = 4: 8.78/7.59/7.10/6.93, a = 16: 9.31/8.08/7.33/6.91


@dataclass(frozen=True)
class RollConfig:
    engine: str = "numpy"
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.3
    lr: float = 3e-3
    clip: float = 1.0
    batch: int = 4  # small batches: JSB at 120 s, batch 4 reached 8.23 (valid), 2 8.27, 8 8.46
    max_shift: int = 6  # transposition augmentation (0: none); at batch 8, 120 s: 8.46 vs 8.62 without
    keep_key: float = ROLL_KEEP  # the share of pieces left in their own key each epoch
    opening: bool = True  # the first frame's rates fit apart, in the pieces' own keys
    average: float = 0.998  # beta of the moving average of the weights judged and kept (0: none)
    budget_s: float = 120.0
    max_epochs: int = 10_000
    patience: int = 20
    decay: float = 0.5  # the learning rate's factor after `decay_after` epochs without progress
    decay_after: int = 5  # 3 stopped 2 x 384 at epoch 53 of 600 s (valid noise halved lr 6 times)
    select: Convention = "all"
    seed: int = 0

    def check(self) -> None:
        if self.engine not in ENGINES:
            raise OptionError(f"unknown engine {self.engine!r}; choose numpy or torch")
        if self.select not in CONVENTIONS:
            raise OptionError(f"unknown convention {self.select!r}; choose {' or '.join(CONVENTIONS)}")
        if self.batch < 1 or self.max_epochs < 1 or self.patience < 1 or self.decay_after < 1:
            raise OptionError("the batch, epochs, patience and decay_after must be positive")
        if not (self.lr > 0 and self.budget_s > 0 and 0 < self.decay <= 1 and self.max_shift >= 0):
            raise OptionError("lr and budget_s must be positive, decay in (0, 1], max_shift 0 or more")
        if not 0 <= self.average < 1:
            raise OptionError(f"the average's beta must be in [0, 1), not {self.average}")
        if not 0 <= self.keep_key <= 1:
            raise OptionError(f"keep_key is a share of the pieces, 0 to 1, not {self.keep_key}")


@dataclass
class RollResult:
    model: RollModel  # the weights of the best validation epoch
    valid: dict[Convention, float]  # their validation NLL per frame under both conventions
    best_epoch: int  # a run interrupted before its first evaluation: the epoch under way
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    interrupted: bool = False  # a Ctrl-C or SIGTERM ended the run


def check_pieces(pieces: Sequence[np.ndarray], name: str) -> None:
    if not pieces:
        raise DataError(f"the {name} split holds no pieces")
    for i, p in enumerate(pieces, 1):
        if np.ndim(p) != 2 or np.shape(p)[1] != KEYS or len(p) == 0:
            raise DataError(f"{name} piece {i} is {np.shape(p)}, not (frames, {KEYS}) notes")


def shift_range(piece: np.ndarray, max_shift: int) -> tuple[int, int]:
    """The shifts k that keep every note of `piece` on the keys, within +-max_shift."""
    keys = np.flatnonzero(np.asarray(piece).any(axis=0))
    if len(keys) == 0:
        return 0, 0
    return max(-max_shift, -int(keys[0])), min(max_shift, KEYS - 1 - int(keys[-1]))


def transpose(piece: np.ndarray, k: int) -> np.ndarray:
    """The piece k semitones up (down for k < 0); k must keep every note on the keys."""
    lo, hi = shift_range(piece, abs(k))
    if not lo <= k <= hi:
        raise ValueError(f"a shift of {k} moves notes off the keyboard")
    return np.roll(piece, k, axis=1)


def augmented(
    pieces: Sequence[np.ndarray], max_shift: int, rng: np.random.Generator, keep: float = 0.0
) -> list[np.ndarray]:
    """Every piece shifted by its own k: 0 with probability `keep`, else uniform over its
    allowed shifts (saurus.music.transposing)."""
    if max_shift == 0:
        return list(pieces)
    return [np.roll(p, draw_shift(*shift_range(p, max_shift), keep, rng), axis=1) for p in pieces]


def score(
    log_likelihoods: Callable[[np.ndarray, np.ndarray], np.ndarray], pieces: Sequence[np.ndarray]
) -> dict[Convention, float]:
    """NLL per frame of `pieces` under both conventions, from a (W, B) log-likelihood function
    of padded batches; padding is masked by frame_eval."""
    totals = {c: FrameNLL() for c in CONVENTIONS}
    for chosen in length_batches(pieces, EVAL_BATCH):
        rolls, lengths = pad_rolls([pieces[i] for i in chosen])
        ll = log_likelihoods(rolls, lengths).T
        for c in CONVENTIONS:
            totals[c] = totals[c] + padded_nll(ll, lengths, c)
    return {c: t.per_frame for c, t in totals.items()}


def evaluate_roll(model: RollModel, pieces: Sequence[np.ndarray]) -> dict[Convention, float]:
    """A NumPy RollModel's NLL per frame on `pieces`: {"all": ..., "skip-first": ...}."""
    check_pieces(pieces, "evaluation")
    return score(lambda rolls, lengths: model.log_likelihoods(rolls.astype(model.dtype)), pieces)


def trainee_for(model: RollModel, config: RollConfig) -> RollTrainee:
    if config.engine == "torch":
        from saurus.training.backends.torch.roll_trainee import TorchRollTrainee

        return TorchRollTrainee(model, config.lr, config.clip, config.seed, config.average)
    return NumpyRollTrainee(model, config.lr, config.clip, config.average)


def opening_rates(
    train: Sequence[np.ndarray], note_rates: np.ndarray, prior: float = OPENING_PRIOR
) -> np.ndarray:
    """q_j = (c_j + a r_j) / (n + a): the first frames' rates, shrunk toward `note_rates`."""
    firsts = np.stack([np.asarray(p[0], dtype=bool) for p in train])
    return (firsts.sum(axis=0) + prior * np.asarray(note_rates)) / (len(firsts) + prior)


def new_roll_model(config: RollConfig, train: Sequence[np.ndarray]) -> RollModel:
    """A freshly seeded model of `config`, its output biases at the training notes' rates
    (and its opening fit, see the module)."""
    frames = np.concatenate(train).astype(bool)
    rates = (frames.sum(axis=0) + 0.5) / (len(frames) + 1.0)
    return RollModel.create(
        cell=config.cell,
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
        seed=config.seed,
        convention="torch" if config.engine == "torch" and config.cell == "gru" else "cho",
        note_rates=rates,
        first_rates=opening_rates(train, rates) if config.opening else None,
    )


def measure_roll(
    config: RollConfig, train: Sequence[np.ndarray], rungs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], float]:
    """Seconds a training frame costs at each (layers, hidden) rung: one step of a batch of
    median-length pieces after a warm-up step on two of them (saurus.music.frame_plan)."""
    config.check()
    check_pieces(train, "training")
    ordered = sorted(chunked(train), key=len)
    middle = len(ordered) // 2
    pieces = ordered[max(0, middle - config.batch // 2) :][: config.batch]
    rolls, lengths = pad_rolls(pieces)
    rng = np.random.default_rng(config.seed)
    out: dict[tuple[int, int], float] = {}
    for layers, hidden in rungs:
        sized = replace(config, layers=layers, hidden=hidden)
        trainee = trainee_for(new_roll_model(sized, train), sized)
        trainee.train_batch(*pad_rolls(pieces[:2]), rng)
        seconds = step_seconds(lambda t=trainee: t.train_batch(rolls, lengths, rng))
        out[(layers, hidden)] = seconds / float(lengths.sum())
    return out


def train_roll(
    train: Sequence[np.ndarray],
    valid: Sequence[np.ndarray],
    config: RollConfig,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RollResult:
    """Train a piano-roll model on `train`, choosing its weights on `valid` (see the module)."""
    config.check()
    check_pieces(train, "training")
    check_pieces(valid, "validation")
    rng = np.random.default_rng(config.seed)
    trainee = trainee_for(new_roll_model(config, train), config)  # the opening: whole pieces
    train = chunked(train)
    budget, lr = EvalBudget(config.budget_s, clock), config.lr
    best: tuple[float, int, RollModel, dict[Convention, float]] | None = None
    history: list[dict[str, float]] = []
    epoch = since_best = 0
    interrupted = out_of_time = False
    with step_signals() as signals:
        try:
            while epoch < config.max_epochs:
                epoch += 1
                pieces = augmented(
                    [train[i] for i in rng.permutation(len(train))], config.max_shift, rng, config.keep_key
                )
                nats = count = 0.0
                for b in range(0, len(pieces), config.batch):
                    rolls, lengths = pad_rolls(pieces[b : b + config.batch])
                    loss = trainee.train_batch(rolls, lengths, rng)
                    nats, count = nats + loss * lengths.sum(), count + lengths.sum()
                    signals.deliver()
                    if budget.exhausted():
                        out_of_time = True
                        break
                scores = budget.evaluate(lambda: score(trainee.log_likelihoods, valid))
                row = {"epoch": epoch, "seconds": budget.spent(), "train": nats / count, "lr": lr}
                row.update({f"valid_{c}": v for c, v in scores.items()})
                history.append(row)
                if on_epoch is not None:
                    on_epoch(row)
                if best is None or scores[config.select] < best[0]:
                    best, since_best = (scores[config.select], epoch, trainee.snapshot(), scores), 0
                else:
                    since_best += 1
                    if since_best % config.decay_after == 0 and config.decay < 1:
                        lr *= config.decay
                        trainee.set_lr(lr)
                signals.deliver()
                if (
                    not np.isfinite(nats)
                    or since_best >= config.patience
                    or out_of_time
                    or row["seconds"] >= config.budget_s
                ):
                    break
        except KeyboardInterrupt:
            interrupted = True
    if best is None:  # interrupted before the first evaluation: outside the block, a second Ctrl-C ends it
        scores = score(trainee.log_likelihoods, valid)
        best = (scores[config.select], epoch, trainee.snapshot(), scores)
    return RollResult(best[2], best[3], best[1], epoch, budget.spent(), history, interrupted)
