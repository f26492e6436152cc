"""The planner: size a run to the data, this machine and the time it is given.

A run is planned from four things: the training data (characters N, examples, line lengths,
vocabulary V), the mode, the budget, and the throughput of this machine, measured at
start-up (calibrate.py: a few steps of two model sizes, about 3% of the budget, counted in
it). The cost of one training character is modelled as seconds/char = a + b * W(H), where
W is the weights a character passes through (the recurrent and output matrices); two
measured sizes give a and b, and so the characters C(H) = seconds * (a + b W(H))^-1 that
any size H can read in the time left. The rules (measured with benchmarks/planner.py and
benchmarks/defaults.py on a 2-core machine; none names a corpus):

  size      the largest H whose run reads at least R = 4 characters a parameter,
            C(H) >= R * P(H), and has at most Q = 10 parameters a training character,
            P(H) <= Q * N (the data bound). The sizes that won before on 2 cores sat at
            C/P between 1.5 and 5.6 (NumPy on tiny-shakespeare: 128 units at 10 s, 256 at
            60 s; torch: 384 at 60 s; names at 60 s: 384-512), and a size past the bound
            lost by 0.02 to 0.6.
  passes    E = C(H) / N, the expected passes over the training data; at most
            MAX_PASSES = 20 (dinos' best weights come at about 13 passes; later ones overfit
            whatever the dropout), so a small list may end before its budget.
  dropout   0.15 * log2(E / 3) between 0 and 0.5: none up to three passes, 0.28 at eleven
            (names at 60 s), 0.41 at twenty. The 60 s grids (benchmarks/planner.py --grid)
            put their best points at no dropout on data read two to four times
            (tiny-shakespeare, wspanish: dropout 0.3 cost 0.04) and names (eleven passes)
            between none and 0.3; R = 3 let 320 units in where 256 won by 0.02 to 0.05.
  decay     AdamW weight decay 0.01 past three passes (more passes, more regularising).
  lr        Adam's peak 4e-3 * sqrt(512 / H), within [1e-3, 1e-2] (1e-2 at 128 units on
            dinos, 4e-3 to 5e-3 at 384-512); the Transformer 3e-3 * sqrt(128 / d).
  batch     lines: 32 examples below 5,000 examples, else 64; text: 32 chunks of 64
            characters; on a GPU four times the rows (it is idle otherwise).
  schedule  2% warm-up, cosine decay following the clock.
  checks    EVALS = 12 evaluations a run, by time, each on a fixed seeded subsample of the
            validation split that costs at most EVAL_SHARE / EVALS of the budget (at most
            262,144 characters): together at most 8%. The final figure is on the whole split
            when that costs at most FINAL_SHARE (5%) of the budget, else on a subsample of
            that cost, and says so.
  data      a list longer than the run can read (E < 1) trains on a seeded sample of
            1.5 * C characters of its training examples, said in the plan.

A run bounded by --iterations or --epochs (and no --time-budget) knows C from its steps
and is planned without measuring; a run with no limit at all is planned for
DEFAULT_BUDGET seconds, and says so. Every option the user gives wins, and the rest is
planned around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from saurus.data.corpus import Corpus, LinesCorpus
from saurus.models.cells import CELLS
from saurus.training.config import TrainConfig

DEFAULT_BUDGET = 180.0  # seconds, when no limit is given: three minutes
R_CHARS_PER_PARAM = 4.0
Q_PARAMS_PER_CHAR = 10.0
EVALS = 12
EVAL_SHARE = 0.08
FINAL_SHARE = 0.05
CALIBRATION_SHARE = 0.03
MAX_VAL_CHARS = 1 << 18
MIN_VAL_CHARS = 2_000
TRAIN_CAP_MARGIN = 1.5
MIN_TRAIN_CHARS = 200_000  # a sampled list keeps at least this much
HIDDEN_SIZES = (64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1536, 2048)
MODEL_WIDTHS = (64, 96, 128, 192, 256, 384, 512, 768)  # the Transformer's d_model
TRANSFORMER_LAYERS = 3
TORCH_EMBED = 64  # the torch recurrent model's embedding width (modules.RecurrentLM)
STREAM_SEQ, STREAM_BATCH = 64, 32
SMALL_LIST = 5_000
REGULARISE_FROM = 3.0  # passes: fewer need neither dropout nor weight decay
MAX_PASSES = 20  # dinos at 10 s: the best weights come at about 13 passes, later ones overfit
SHORT_OF_TIME = 0.3  # under this share of the budget left to train, the plan says so


@dataclass(frozen=True)
class CorpusStats:
    """What the planner knows of the data."""

    mode: str
    chars: int  # training characters predicted in one pass (lines: end tokens included)
    examples: int  # training lines (stream: 1)
    mean_line: float
    longest_line: int
    vocab: int
    val_chars: int  # validation characters (0: no validation)

    @classmethod
    def of(cls, corpus: Corpus, train: Corpus, val: Corpus | None, vocab_size: int) -> CorpusStats:
        if isinstance(train, LinesCorpus):
            lengths = [len(s) for s in train.examples]
            examples, mean, longest = len(lengths), sum(lengths) / len(lengths), max(lengths)
        else:
            examples, mean, longest = 1, float(train.num_chars()), train.num_chars()
        return cls(
            corpus.mode,
            train.num_chars(),
            examples,
            mean,
            longest,
            vocab_size,
            0 if val is None else val.num_chars(),
        )


@dataclass(frozen=True)
class Throughput:
    """Measured speed of this machine: seconds per training character = a + b * W, and
    evaluation characters per second as a multiple of training ones."""

    a: float
    b: float
    eval_ratio: float
    seconds: float  # what measuring took
    points: tuple[tuple[int, float], ...] = ()  # (hidden, chars/s) measured

    def chars_per_second(self, work: float) -> float:
        return 1.0 / max(self.a + self.b * work, 1e-12)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "eval_ratio": self.eval_ratio,
            "seconds": round(self.seconds, 3),
            "points": [list(p) for p in self.points],
        }


@dataclass(frozen=True)
class Plan:
    """The planned run: the resolved config and what the run needs besides it."""

    config: TrainConfig
    eval_seconds: float | None  # evaluate this often by the clock (None: by steps)
    val_chars: int | None  # the evaluations' subsample of the validation split (None: whole)
    final_val_chars: int | None  # the final figure's subsample (None: the whole split)
    train_chars: int | None  # a sample of the training examples (None: all of them)
    budget: float | None
    default_budget: bool
    figures: dict[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "eval_seconds": self.eval_seconds,
            "val_chars": self.val_chars,
            "final_val_chars": self.final_val_chars,
            "train_chars": self.train_chars,
            "budget": self.budget,
            "default_budget": self.default_budget,
            "figures": self.figures,
            "reasons": list(self.reasons),
            "settings": {k: getattr(self.config, k) for k in PLANNED},
        }

    @classmethod
    def from_json(cls, config: TrainConfig, data: dict[str, Any]) -> Plan:
        """A resumed run's plan (its config is the run's own, with the limits given now)."""

        def count(name: str) -> int | None:
            value = data.get(name)
            return None if value is None else int(value)

        seconds = data.get("eval_seconds")
        return cls(
            config,
            None if seconds is None else float(seconds),
            count("val_chars"),
            count("final_val_chars"),
            count("train_chars"),
            config.time_budget,
            bool(data.get("default_budget", False)),
            dict(data.get("figures") or {}),
            tuple(str(r) for r in data.get("reasons") or ()),
        )

    def lines(self) -> list[str]:
        """The plan in words, one choice a line."""
        cfg = self.config
        size = f"{cfg.model} {cfg.layers} x {cfg.hidden}"
        out = [
            f"plan: {size}, engine {cfg.engine}, batch {cfg.batch_size}"
            + (f" x {cfg.seq_len or cfg.context}" if cfg.mode == "stream" else "")
            + f", lr {cfg.lr:g}, dropout {cfg.dropout:g}, weight decay {cfg.weight_decay:g}"
        ]
        out += [f"  {r}" for r in self.reasons]
        return out


PLANNED = (
    "model",
    "engine",
    "hidden",
    "layers",
    "dropout",
    "weight_decay",
    "lr",
    "optimizer",
    "batch_size",
    "seq_len",
    "batching",
    "warmup",
    "schedule",
    "clip",
    "patience",
    "epochs",
    "iterations",
    "time_budget",
    "context",
    "heads",
)


def gates(cell: str) -> int:
    return CELLS[cell].gates if cell in CELLS else 4


def work_per_char(cfg: TrainConfig, hidden: int, vocab: int) -> float:
    """W: the weights one character passes through (multiply-adds of one forward step)."""
    layers = cfg.layers or 1
    if cfg.family == "transformer":
        return 12 * layers * hidden * hidden + hidden * vocab
    g = gates(cfg.model)
    first_input = TORCH_EMBED if cfg.engine == "torch" else 0  # NumPy gathers its input rows
    return g * hidden * (hidden + first_input) + (layers - 1) * 2 * g * hidden * hidden + hidden * vocab


def params_of(cfg: TrainConfig, hidden: int, vocab: int) -> float:
    """P: the model's parameters."""
    layers = cfg.layers or 1
    if cfg.family == "transformer":
        return 12 * layers * hidden * hidden + 2 * vocab * hidden
    g = gates(cfg.model)
    embed = vocab * TORCH_EMBED + g * hidden * TORCH_EMBED if cfg.engine == "torch" else vocab * g * hidden
    return embed + g * hidden * hidden + (layers - 1) * 2 * g * hidden * hidden + hidden * (vocab + 1)


def dropout_for(passes: float) -> float:
    """0.15 log2(E / 3) within [0, 0.5]: none up to three passes."""
    if passes <= REGULARISE_FROM:
        return 0.0
    return round(min(0.5, 0.15 * math.log2(passes / REGULARISE_FROM)), 2)


def lr_for(cfg: TrainConfig, hidden: int) -> float:
    if cfg.family == "transformer":
        return float(f"{min(1e-2, max(1e-3, 3e-3 * math.sqrt(128 / hidden))):.2g}")
    return float(f"{min(1e-2, max(1e-3, 4e-3 * math.sqrt(512 / hidden))):.2g}")


def batch_for(stats: CorpusStats, gpu: bool) -> int:
    rows = STREAM_BATCH if stats.mode == "stream" else (32 if stats.examples < SMALL_LIST else 64)
    return rows * (4 if gpu else 1)


def chars_per_step(stats: CorpusStats, batch: int, window: int) -> float:
    """Characters one step predicts: a batch of names (with their ends) or of chunks."""
    if stats.mode == "stream":
        return batch * window
    return min(batch, stats.examples) * (stats.mean_line + 1)


def needs_measuring(config: TrainConfig) -> bool:
    """Whether the plan needs this machine's speed: a run bounded by time (or by nothing);
    one bounded by --iterations or --epochs alone knows what it reads from its steps."""
    timed = config.time_budget is not None or (config.iterations is None and config.epochs is None)
    return timed and config.family != "classic"


def plan_run(
    config: TrainConfig,
    stats: CorpusStats,
    speed: Throughput | None,
    spent: float = 0.0,
    gpu: bool = False,
) -> Plan:
    """The plan for `config` (its engine resolved; its None fields are planned) on data
    `stats`, with `spent` seconds of the budget gone (start-up, reading, measuring) and the
    machine's `speed` (None: a run bounded by steps or epochs, or a size the user gave)."""
    if config.family == "classic":  # the exercise's recipe, filled in by config.resolved()
        return Plan(config, None, None, None, None, config.time_budget, False)
    default_budget = config.time_budget is None and config.iterations is None and config.epochs is None
    budget = DEFAULT_BUDGET if default_budget else config.time_budget
    reasons: list[str] = []
    figures: dict[str, Any] = {"train_chars": stats.chars, "examples": stats.examples, "vocab": stats.vocab}
    if default_budget:
        reasons.append(
            f"no --time-budget, --iterations or --epochs: planned for {DEFAULT_BUDGET:g} s, "
            "stopping early when validation stops improving"
        )
    layers = config.layers or (TRANSFORMER_LAYERS if config.family == "transformer" else 1)
    base = replace(config, layers=layers, time_budget=budget)
    batch = config.batch_size or batch_for(stats, gpu)
    window = (config.context or 64) if config.family == "transformer" else (config.seq_len or STREAM_SEQ)
    train_seconds = None
    if budget is not None:
        # the final evaluation and the save, and the evaluations on the way, come out of it
        train_seconds = max(0.0, budget * (1 - EVAL_SHARE - FINAL_SHARE) - spent)
        figures["train_seconds"] = round(train_seconds, 2)
        figures["spent_before_training"] = round(spent, 2)
        if train_seconds < SHORT_OF_TIME * budget:
            reasons.append(
                f"starting and reading the data took {spent:.1f} s of the {budget:g} s budget, leaving "
                f"{train_seconds:.1f} s to train: a larger --time-budget gives a better model"
            )

    def chars_read(hidden: int) -> float:
        """C(H): the characters a run of this size reads."""
        by_steps = math.inf
        if config.iterations is not None:
            by_steps = config.iterations * chars_per_step(stats, batch, window)
        if config.epochs is not None:
            by_steps = min(by_steps, config.epochs * stats.chars)
        if config.iterations is None and config.epochs is None:
            by_steps = MAX_PASSES * stats.chars
        if train_seconds is None or speed is None:
            return by_steps if math.isfinite(by_steps) else stats.chars
        by_time = train_seconds * speed.chars_per_second(work_per_char(base, hidden, stats.vocab))
        return min(by_time, by_steps)

    sizes = MODEL_WIDTHS if config.family == "transformer" else HIDDEN_SIZES
    if config.hidden is not None:
        hidden = config.hidden
        reasons.append(f"size {layers} x {hidden}: given")
    else:
        fits = [
            h
            for h in sizes
            if chars_read(h) >= R_CHARS_PER_PARAM * params_of(base, h, stats.vocab)
            and params_of(base, h, stats.vocab) <= Q_PARAMS_PER_CHAR * stats.chars
        ]
        hidden = fits[-1] if fits else sizes[0]
        if config.family == "transformer" and config.heads:
            hidden = max(config.heads, hidden - hidden % config.heads)
        p = params_of(base, hidden, stats.vocab)
        bound = "the data" if p * 1.5 > Q_PARAMS_PER_CHAR * stats.chars else "the characters read"
        reasons.append(
            f"size {layers} x {hidden} ({p:,.0f} parameters): the largest that reads >= "
            f"{R_CHARS_PER_PARAM:g} characters a parameter and has <= {Q_PARAMS_PER_CHAR:g} parameters "
            f"a training character (bound by {bound})"
        )
    chars = chars_read(hidden)
    passes = chars / max(stats.chars, 1)
    figures.update(
        params=round(params_of(base, hidden, stats.vocab)), chars=round(chars), passes=round(passes, 3)
    )
    if speed is not None and train_seconds is not None:
        cps = speed.chars_per_second(work_per_char(base, hidden, stats.vocab))
        figures["chars_per_second"] = round(cps)
        reasons.append(
            f"throughput {cps:,.0f} characters/s at this size (measured in {speed.seconds:.1f} s), "
            f"{train_seconds:.1f} s to train: {chars:,.0f} characters, {passes:.2f} passes over the data"
        )
    else:
        reasons.append(f"{chars:,.0f} characters to read: {passes:.2f} passes over the data")
    own_decay = config.optimizer not in (None, "adamw")  # the user's optimizer has no decay
    planned: dict[str, Any] = {
        "hidden": hidden,
        "layers": layers,
        "dropout": dropout_for(passes),
        "weight_decay": 0.0 if passes <= REGULARISE_FROM or own_decay else 0.01,
        "lr": lr_for(base, hidden),
        "batch_size": batch,
        "warmup": 0.02,
        "schedule": "cosine",
        "clip": 1.0,
        "patience": 4,
        "dtype": "float32",
        "eval_every": 0,
        "time_budget": budget,
    }
    if config.iterations is None and config.epochs is None and passes >= MAX_PASSES * 0.999:
        planned["epochs"] = float(MAX_PASSES)
        reasons.append(
            f"at most {MAX_PASSES} passes: more overfit whatever the dropout, so the run may end "
            "before its budget"
        )
    if stats.mode == "stream" and config.family != "transformer":
        planned.update(seq_len=window, batching="consecutive")
    if config.family == "transformer":
        planned.update(heads=4, positions="learned")
        if stats.mode == "stream":
            planned.update(context=window, batching="random")
    if config.engine == "torch":
        planned["device"] = "auto"
    cfg = replace(config, **{k: v for k, v in planned.items() if getattr(config, k) is None})
    if cfg.optimizer is None:
        cfg = replace(cfg, optimizer="adamw" if cfg.weight_decay else "adam")
    if config.dropout is None or config.weight_decay is None:
        reasons.append(
            f"dropout {cfg.dropout:g}, weight decay {cfg.weight_decay:g}: from {passes:.1f} passes"
        )
    cfg.check()
    expected = train_seconds
    if speed is not None and train_seconds is not None:
        per_second = speed.chars_per_second(work_per_char(base, hidden, stats.vocab))
        expected = min(train_seconds, chars / per_second)
    eval_seconds, val_chars, final_chars = validation_plan(cfg, stats, speed, budget, hidden, expected)
    if val_chars is not None:
        reasons.append(
            f"evaluations on a seeded sample of {val_chars:,} of the {stats.val_chars:,} "
            "validation characters" + (f", every {eval_seconds:.1f} s" if eval_seconds else "")
        )
    if final_chars is not None:
        reasons.append(
            f"the final figure on a sample of {final_chars:,} characters (the whole split would not fit)"
        )
    train_cap = None
    if stats.mode == "lines" and passes < 1 and config.iterations is None:
        cap = max(MIN_TRAIN_CHARS, int(TRAIN_CAP_MARGIN * chars))
        if cap < stats.chars:
            train_cap = cap
            reasons.append(
                f"the run can read {passes:.0%} of the training names once: it trains on a seeded sample "
                f"of {cap:,} of their {stats.chars:,} characters"
            )
    return Plan(
        cfg, eval_seconds, val_chars, final_chars, train_cap, budget, default_budget, figures, tuple(reasons)
    )


def validation_plan(
    cfg: TrainConfig,
    stats: CorpusStats,
    speed: Throughput | None,
    budget: float | None,
    hidden: int,
    train_seconds: float | None,
) -> tuple[float | None, int | None, int | None]:
    """(evaluate every so many seconds, the evaluations' sample, the final figure's sample);
    None for the whole split (or evaluations by steps)."""
    if stats.val_chars == 0:
        return None, None, None
    cap = MAX_VAL_CHARS
    final = None
    eval_seconds = None
    if budget is not None and speed is not None:
        per_second = speed.eval_ratio * speed.chars_per_second(work_per_char(cfg, hidden, stats.vocab))
        cap = min(cap, max(MIN_VAL_CHARS, int(per_second * budget * EVAL_SHARE / EVALS)))
        whole = int(per_second * budget * FINAL_SHARE)
        if whole < stats.val_chars:
            final = max(MIN_VAL_CHARS, min(whole, stats.val_chars))
        if train_seconds is not None and cfg.eval_every == 0:
            eval_seconds = max(0.2, train_seconds / EVALS)
    val = cap if cap < stats.val_chars else None
    if final is not None and final >= stats.val_chars:
        final = None
    return eval_seconds, val, final
