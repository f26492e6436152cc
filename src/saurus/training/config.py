"""What to train: TrainConfig, with measured defaults per model family and corpus kind.

Every field left as None takes the default for its model and mode (see DEFAULTS and the
README's benchmark table, which is where these numbers come from).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from saurus.data.batches import BATCHINGS
from saurus.data.corpus import MODES, Mode
from saurus.engine.layers import CELLS
from saurus.engine.model import DTYPES, MAX_LAYERS
from saurus.engine.optim import OPTIMIZERS, SCHEDULES
from saurus.errors import OptionError

MODELS = (*CELLS, "transformer", "classic")
ENGINES = ("numpy", "torch", "auto")
INSTALL_HINT = 'pip install torch==2.13.0, then pip install -e ".[torch]"'


def torch_available() -> bool:
    """Whether PyTorch is installed (without importing it: that takes a second)."""
    return importlib.util.find_spec("torch") is not None


DEVICES = ("cpu", "cuda", "auto")

# Measured with benchmarks/engine.py on this project's 2-core machine; the engine's
# defaults also depend on how much data there is (SMALL_DATA characters or fewer is small).
ENGINE_COMMON: dict[str, Any] = {
    "layers": 1,
    "optimizer": "adam",
    "clip": 1.0,
    "warmup": 0.02,
    "eval_every": 0,
    "schedule": "cosine",
    "dtype": "float32",
}
# the exercise's recipe: one example per step, clipped to [-5, 5], no early stopping
CLASSIC_COMMON: dict[str, Any] = {
    "optimizer": "sgd",
    "clip": 5.0,
    "layers": 1,
    "dropout": 0.0,
    "batch_size": 1,
    "patience": 0,
    "warmup": 0.0,
    "eval_every": 0,
}
SMALL_DATA = {"lines": 60_000, "stream": 300_000}
TRANSFORMER_TEXT: dict[str, Any] = {  # what both text sizes share
    **ENGINE_COMMON,
    "hidden": 128,
    "layers": 3,
    "batch_size": 16,
    "lr": 3e-3,
    "patience": 5,
    "context": 64,
    "batching": "random",
}
DEFAULTS: dict[tuple[str, str, str], dict[str, Any]] = {
    # dinos.txt (18k characters): 1.63 val nats/char in 10 s
    ("engine", "lines", "small"): {
        **ENGINE_COMMON,
        "hidden": 128,
        "dropout": 0.4,
        "batch_size": 32,
        "lr": 1e-2,
        "epochs": 30.0,
        "patience": 20,
        "seq_len": None,
    },
    # names.txt (205k characters): 1.93 in 300 s
    ("engine", "lines", "large"): {
        **ENGINE_COMMON,
        "hidden": 384,
        "dropout": 0.3,
        "batch_size": 64,
        "lr": 4e-3,
        "epochs": 30.0,
        "patience": 8,
        "seq_len": None,
    },
    ("engine", "stream", "small"): {
        **ENGINE_COMMON,
        "hidden": 256,
        "dropout": 0.3,
        "batch_size": 32,
        "lr": 3e-3,
        "epochs": 50.0,
        "patience": 5,
        "seq_len": 64,
        "batching": "consecutive",
    },
    # tiny-shakespeare (1M characters): 1.55 in 200 s
    ("engine", "stream", "large"): {
        **ENGINE_COMMON,
        "hidden": 512,
        "dropout": 0.0,
        "batch_size": 32,
        "lr": 5e-3,
        "epochs": 10.0,
        "patience": 5,
        "seq_len": 64,
        "batching": "consecutive",
    },
    # the Transformer (torch engine only); names: dinos 20 s 1.707 (1x64: 1.721, 4x192: 1.768)
    ("transformer", "lines", "small"): {
        **ENGINE_COMMON,
        "hidden": 128,
        "layers": 3,
        "dropout": 0.2,
        "batch_size": 32,
        "lr": 1e-3,
        "epochs": 30.0,
        "patience": 20,
        "seq_len": None,
    },
    ("transformer", "lines", "large"): {
        **ENGINE_COMMON,
        "hidden": 192,
        "layers": 4,
        "dropout": 0.1,
        "batch_size": 64,
        "lr": 1e-3,
        "epochs": 30.0,
        "patience": 8,
        "seq_len": None,
    },
    # text: 16 windows of 64 per step, so that 2 cores take ~20 steps a second
    ("transformer", "stream", "small"): {**TRANSFORMER_TEXT, "dropout": 0.2, "epochs": 50.0},
    # tiny-shakespeare 60 s: 3x128, 16 x 64, lr 3e-3, no dropout 1.898 (4x256, 32 x 128,
    # lr 1e-3: 2.532; with 16 x 64 and 2 layers: 2.040)
    ("transformer", "stream", "large"): {**TRANSFORMER_TEXT, "dropout": 0.0, "epochs": 10.0},
    ("classic", "lines", "any"): {
        **CLASSIC_COMMON,
        "hidden": 50,
        "iterations": 35000,
        "lr": 0.01,
        "seq_len": None,
    },
    ("classic", "stream", "any"): {
        **CLASSIC_COMMON,
        "hidden": 100,
        "iterations": 20000,
        "lr": 0.1,
        "optimizer": "adagrad",
        "seq_len": 25,
    },
}
# Per engine and --time-budget, what replaces DEFAULTS: the first tier whose bound is at
# least the budget applies, and a run without a budget takes the last one. Chosen with
# benchmarks/defaults.py on this project's 2-core machine (validation nats/char, one run).
LONG = math.inf
BUDGET_TIERS: dict[tuple[str, str, str, str], tuple[tuple[float, dict[str, Any]], ...]] = {
    # names 60 s: 256 hidden 1.934 (384: 1.956); 300 s: 384 1.931
    ("numpy", "engine", "lines", "large"): ((120.0, {"hidden": 256}), (LONG, {})),
    # tiny-shakespeare 10 s: 128 hidden 1.920 (256: 2.143, 512: 2.549); 60 s: 256 1.634
    # (384: 1.663, 512: 1.840); 200 s: 512 1.563
    ("numpy", "engine", "stream", "large"): ((30.0, {"hidden": 128}), (120.0, {"hidden": 256}), (LONG, {})),
    # dinos 10 s: 2 layers, dropout 0.5: 1.592 (one layer, the NumPy default: 1.611)
    ("torch", "engine", "lines", "small"): ((LONG, {"layers": 2, "dropout": 0.5}),),
    # names 60 s: 512 hidden 1.898 (384: 1.906, 256: 1.919), about 11 epochs; longer runs
    # overfit whatever the budget (300 s: 1.921, with dropout 0.5 1.915, capped at 10 epochs
    # 1.902): 6 epochs at most, which a 60 s run about reaches
    ("torch", "engine", "lines", "large"): ((LONG, {"hidden": 512, "epochs": 6.0}),),
    # tiny-shakespeare 10 s: 256 hidden 1.808 (512: 2.071); 60 s: 384 1.498 (512: 1.537)
    ("torch", "engine", "stream", "large"): ((30.0, {"hidden": 256}), (120.0, {"hidden": 384}), (LONG, {})),
}
EVALS_PER_EPOCH_MAX_STEPS = 200  # the engine evaluates every epoch, or every 200 steps if sooner
MAX_SEED = 2**32 - 1  # the classic model's RandomState takes seeds below 2**32

# options that mean nothing for a family or a mode, and why
CLASSIC_FIXED = {
    "layers": "it has one layer",
    "dropout": "it has no dropout",
    "batch_size": "it takes one example (or chunk) per step",
    "optimizer": "it uses the exercise's optimizer (SGD for names, Adagrad for text)",
    "clip": "it clips every gradient to [-5, 5], as the exercise does",
    "warmup": "its learning rate is constant",
    "schedule": "its learning rate is constant",
    "dtype": "it computes in float64",
    "batching": "it reads the text in order",
}
STREAM_ONLY = {"seq_len": "--seq-len", "batching": "--batching"}


def budget_tier(engine: str, family: str, mode: str, size: str, budget: float | None) -> dict[str, Any]:
    """The settings BUDGET_TIERS gives this engine, model, mode, data size and budget."""
    tiers = BUDGET_TIERS.get((engine, family, mode, size), ())
    for bound, settings in tiers:
        if budget is not None and budget <= bound:
            return settings
    return tiers[-1][1] if tiers else {}


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Stopping: after `iterations` steps, `epochs` passes or `time_budget`
    seconds, whichever comes first, or when the validation loss has not improved for
    `patience` evaluations (0: never stop early). The best weights seen are kept."""

    mode: Mode = "lines"
    model: str = "lstm"
    hidden: int | None = None
    layers: int | None = None
    dropout: float | None = None
    iterations: int | None = None
    epochs: float | None = None
    time_budget: float | None = None
    lr: float | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    batching: str | None = None
    clip: float | None = None
    weight_decay: float = 0.0
    warmup: float | None = None
    schedule: str | None = None
    eval_every: int | None = None  # steps between evaluations; 0: automatic
    patience: int | None = None
    dtype: str | None = None
    seed: int = 0
    lowercase: bool = False
    val_fraction: float = 0.1
    split_seed: int = 42
    engine: str = "numpy"  # numpy, torch, or auto (torch where it is installed)
    device: str | None = None  # torch: cpu, cuda or auto (default)
    heads: int | None = None  # transformer: attention heads (default 4)
    context: int | None = None  # transformer: positions (lines: the longest name + 1)
    tied: bool = False  # transformer: one matrix for input and output embeddings
    positions: str | None = None  # transformer: learned (default) or rotary
    compile: bool = False  # torch: torch.compile the module before training
    ema: float | None = None  # torch: evaluate and keep an exponential moving average of the weights
    init_from: str | None = None  # a model file whose weights start the run

    @property
    def family(self) -> str:
        if self.model in ("classic", "transformer"):
            return self.model
        return "engine"

    @property
    def uses_torch(self) -> bool:
        """Whether this run trains with torch (after `resolved`, engine is numpy or torch)."""
        return self.engine == "torch"

    def size(self, data_chars: int | None) -> str:
        """Which defaults apply: classic has one set; the engine has small and large data."""
        if self.family == "classic":
            return "any"
        return "small" if data_chars is not None and data_chars <= SMALL_DATA[self.mode] else "large"

    def resolved(self, data_chars: int | None = None) -> TrainConfig:
        """Fill the defaults for this model, mode and amount of training data (None: the
        defaults for large data) and check every value."""
        if self.mode not in MODES:
            raise OptionError(f"unknown mode {self.mode!r}; choose lines or stream")
        if self.model not in MODELS:
            raise OptionError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        self.check_applicable()
        engine = self.resolved_engine()
        size = self.size(data_chars)
        tier = budget_tier(engine, self.family, self.mode, size, self.time_budget)
        defaults = {**DEFAULTS[(self.family, self.mode, size)], **tier, "engine": engine}
        if defaults["engine"] == "torch":
            defaults.update(device="auto", heads=4 if self.family == "transformer" else None)
            defaults.update(positions="learned" if self.family == "transformer" else None)
        explicit_stop = any(v is not None for v in (self.iterations, self.epochs, self.time_budget))
        filled = {
            f.name: defaults[f.name]
            for f in fields(self)
            if (getattr(self, f.name) is None or f.name == "engine")
            and f.name in defaults
            and not (explicit_stop and f.name in ("iterations", "epochs"))
        }
        if "epochs" in tier and self.epochs is None and self.iterations is None:
            filled["epochs"] = tier["epochs"]  # a cap measured to beat longer runs, budget or not
        if self.optimizer is None and self.weight_decay > 0 and self.family == "engine":
            filled["optimizer"] = "adamw"  # decay asked for: the optimizer that applies it
        cfg = replace(self, **filled)
        cfg.check()
        return cfg

    def resolved_engine(self) -> str:
        """numpy or torch: auto is torch where it is installed; the Transformer needs torch."""
        if self.engine not in ENGINES:
            raise OptionError(f"unknown --engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        engine = self.engine
        if engine == "auto":
            engine = "torch" if self.family != "classic" and torch_available() else "numpy"
        if engine == "torch" and self.family == "classic":
            raise OptionError("--model classic is the exercise's NumPy model; drop --engine torch")
        if self.family == "transformer" and engine != "torch":
            how = "add --engine torch" if torch_available() else INSTALL_HINT
            raise OptionError(f"--model transformer trains with --engine torch; {how}")
        if engine == "torch" and not torch_available():
            raise OptionError(f"--engine torch needs PyTorch, which is not installed; {INSTALL_HINT}")
        if engine == "numpy" and self.device is not None:
            raise OptionError("--device applies to --engine torch (the NumPy engine runs on the CPU)")
        if engine == "numpy" and self.compile:
            raise OptionError("--compile applies to --engine torch (torch.compile)")
        if engine == "numpy" and self.ema is not None:
            raise OptionError("--ema applies to --engine torch")
        return engine

    def check_applicable(self) -> None:
        """Refuse options that would be silently ignored for this model and mode."""
        if self.family != "transformer":
            named = ("heads", "context", "tied", "positions")
            for name, value in ((n, getattr(self, n)) for n in named):
                if value:
                    raise OptionError(f"--{name} applies to --model transformer")
        elif self.seq_len is not None:
            raise OptionError(
                "--seq-len does not apply to --model transformer; its windows are --context long"
            )
        elif self.batching == "consecutive":
            raise OptionError(
                "--batching consecutive needs a recurrent model; a transformer reads random windows"
            )
        if self.mode == "lines":
            for name, flag in STREAM_ONLY.items():
                if getattr(self, name) is not None:
                    raise OptionError(
                        f"{flag} applies to --mode stream (running text); lines mode trains on "
                        "whole lines (names)"
                    )
        if self.family == "classic" and self.init_from is not None:
            raise OptionError("--init-from does not apply to --model classic")
        if self.family == "classic":
            for name, why in CLASSIC_FIXED.items():
                if getattr(self, name) is not None:
                    raise OptionError(
                        f"--{name.replace('_', '-')} does not apply to --model classic ({why}); "
                        "drop it, or train an engine model (--model lstm, gru or rnn)"
                    )
            if self.weight_decay:
                raise OptionError("--weight-decay does not apply to --model classic (it has no decay)")
        elif self.weight_decay and self.optimizer not in (None, "adamw"):  # engine or transformer
            raise OptionError(
                f"--weight-decay needs --optimizer adamw (it is {self.optimizer}, which has no decay)"
            )

    def check(self) -> None:
        positive = ("hidden", "layers", "batch_size", "iterations", "epochs", "time_budget")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise OptionError(f"--{name.replace('_', '-')} must be positive, got {value}")
        for name in ("heads", "context"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise OptionError(f"--{name} must be positive, got {value}")
        if self.heads and self.hidden and self.hidden % self.heads:
            raise OptionError(f"--hidden ({self.hidden}) must be a multiple of --heads ({self.heads})")
        if self.ema is not None and not (math.isfinite(self.ema) and 0.0 < self.ema < 1.0):
            raise OptionError(f"--ema must be between 0 and 1 (exclusive), got {self.ema}")
        if self.positions not in (None, "learned", "rotary"):
            raise OptionError(f"unknown --positions {self.positions!r}; choose learned or rotary")
        if self.positions == "rotary" and self.heads and self.hidden and (self.hidden // self.heads) % 2:
            raise OptionError(
                f"--positions rotary needs an even width per head; --hidden {self.hidden} / "
                f"--heads {self.heads} is odd"
            )
        if self.device is not None and self.device not in DEVICES:
            raise OptionError(f"unknown --device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if self.layers is not None and self.layers > MAX_LAYERS:
            raise OptionError(f"--layers {self.layers} is above the limit of {MAX_LAYERS}")
        if self.seq_len is not None and self.seq_len <= 0:
            raise OptionError(f"--seq-len must be positive, got {self.seq_len}")
        for name in ("eval_every", "patience"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise OptionError(f"--{name.replace('_', '-')} must not be negative, got {value}")
        if self.lr is None or not (math.isfinite(self.lr) and self.lr > 0):
            raise OptionError(f"--lr must be a positive number, got {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.clip is not None and not self.clip >= 0:
            raise OptionError(f"--clip must not be negative, got {self.clip}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise OptionError(f"--weight-decay must not be negative, got {self.weight_decay}")
        for name in ("seed", "split_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
                raise OptionError(
                    f"--{name.replace('_', '-')} must be a whole number from 0 to {MAX_SEED}, got {value}"
                )
        if not 0 <= self.val_fraction < 1:
            raise OptionError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        choices = (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("batching", BATCHINGS),
            ("dtype", tuple(DTYPES)),
        )
        for name, allowed in choices:
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise OptionError(f"unknown --{name} {value!r}; choose one of: {', '.join(allowed)}")
