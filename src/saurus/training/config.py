"""What to train: TrainConfig. Every field left as None is planned for the data, the machine
and the budget (plan.py); the classic model keeps its exercise's recipe (CLASSIC_DEFAULTS).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, replace
from typing import Any

from saurus.data.batches import BATCHINGS
from saurus.data.corpus import MODES, Mode
from saurus.errors import OptionError
from saurus.models.cells import CELLS
from saurus.models.optim import OPTIMIZERS, SCHEDULES
from saurus.models.recurrent import DTYPES, MAX_LAYERS

MODELS = (*CELLS, "transformer", "classic")
ENGINES = ("numpy", "torch", "auto")
INSTALL_HINT = 'pip install torch==2.13.0, then pip install -e ".[torch]"'


def torch_available() -> bool:
    """Whether PyTorch is installed (without importing it: that takes a second)."""
    return importlib.util.find_spec("torch") is not None


DEVICES = ("cpu", "cuda", "auto")

# the exercise's recipe (the classic model only; every other run is planned: plan.py)
CLASSIC_COMMON: dict[str, Any] = {
    "optimizer": "sgd",
    "clip": 5.0,
    "layers": 1,
    "dropout": 0.0,
    "batch_size": 1,
    "patience": 0,
    "warmup": 0.0,
    "eval_every": 0,
    "weight_decay": 0.0,
}
CLASSIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "lines": {**CLASSIC_COMMON, "hidden": 50, "iterations": 35000, "lr": 0.01, "seq_len": None},
    "stream": {
        **CLASSIC_COMMON,
        "hidden": 100,
        "iterations": 20000,
        "lr": 0.1,
        "optimizer": "adagrad",
        "seq_len": 25,
    },
}
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
    weight_decay: float | None = None  # None: planned (AdamW decay from the expected passes)
    warmup: float | None = None
    schedule: str | None = None
    eval_every: int | None = None  # steps between evaluations; 0: automatic
    patience: int | None = None
    dtype: str | None = None
    seed: int = 0
    lowercase: bool = False
    labelled: bool = False  # names with a category each (saurus.data.labelled): a conditioned model
    val_fraction: float = 0.1
    split_seed: int = 42
    engine: str = "auto"  # numpy, torch, or auto (torch where it is installed)
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
        return "recurrent"

    @property
    def uses_torch(self) -> bool:
        """Whether this run trains with torch (after `resolved`, engine is numpy or torch)."""
        return self.engine == "torch"

    def checked(self) -> TrainConfig:
        """The options checked, before any file is read or written: a bad or pointless one is
        an OptionError; nothing is resolved (train_text resolves the config once)."""
        if self.mode not in MODES:
            raise OptionError(f"unknown mode {self.mode!r}; choose lines or stream")
        if self.model not in MODELS:
            raise OptionError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        self.check_applicable()
        self.resolved_engine()
        self.check(planned=False)
        return self

    def resolved(self) -> TrainConfig:
        """The options checked, the engine resolved (auto: torch where installed) and, for the
        classic model, its exercise's recipe filled in; every other None is left to the
        planner (plan.py). A run resolves its config once (train_text)."""
        engine = self.checked().resolved_engine()
        filled: dict[str, Any] = {"engine": engine}
        if self.family == "classic":
            defaults = CLASSIC_DEFAULTS[self.mode]
            explicit_stop = any(v is not None for v in (self.iterations, self.epochs, self.time_budget))
            filled.update(
                {
                    name: value
                    for name, value in defaults.items()
                    if getattr(self, name) is None and not (explicit_stop and name == "iterations")
                }
            )
        cfg = replace(self, **filled)
        cfg.check(planned=self.family == "classic")
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
        if self.labelled and self.mode != "lines":
            raise OptionError("labelled names train in lines mode (one name per line); drop --mode stream")
        if self.labelled and self.family == "classic":
            raise OptionError(
                "--model classic has no categories; train labelled names with lstm, gru, rnn or transformer"
            )
        if self.family == "classic" and self.init_from is not None:
            raise OptionError("--init-from does not apply to --model classic")
        if self.family == "classic":
            recipe = CLASSIC_DEFAULTS.get(self.mode, {})
            for name, why in CLASSIC_FIXED.items():
                if getattr(self, name) not in (None, recipe.get(name)):  # (the recipe's own: harmless)
                    raise OptionError(
                        f"--{name.replace('_', '-')} does not apply to --model classic ({why}); "
                        "drop it, or train a recurrent model (--model lstm, gru or rnn)"
                    )
            if self.weight_decay:
                raise OptionError("--weight-decay does not apply to --model classic (it has no decay)")
        elif self.weight_decay and self.optimizer not in (None, "adamw"):  # recurrent or transformer
            raise OptionError(
                f"--weight-decay needs --optimizer adamw (it is {self.optimizer}, which has no decay)"
            )

    def check(self, planned: bool = True) -> None:
        """Every value in range; `planned=False` allows the fields the planner fills (None)."""
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
        if (planned or self.lr is not None) and (
            self.lr is None or not (math.isfinite(self.lr) and self.lr > 0)
        ):
            raise OptionError(f"--lr must be a positive number, got {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.clip is not None and not self.clip >= 0:
            raise OptionError(f"--clip must not be negative, got {self.clip}")
        decay = self.weight_decay
        if decay is not None and not (math.isfinite(decay) and decay >= 0):
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
