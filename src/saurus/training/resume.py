"""Resuming a training run exactly: the state saved beside the model file, and its checks.

`MODEL.resume` (beside the model: `dinos.saurus.resume`) holds everything a run needs to go
on as if it had never stopped. It is written atomically at every evaluation and when an
interrupt stops the run between two steps, and it stays after the run ends, so a finished
run can be taken further too. It is an archive in the model-file format, read with the
same checks as a model file (see files/checkpoint.py), of kind "saurus-resume":

  metadata "resume":  the format version; the run's resolved options ("config"); the sha256
                      of the training text and of the validation text ("data"); the step;
                      the seconds spent; the position in the data (epochs done, batches taken
                      from the current one, the NumPy generator's state at that epoch's start
                      and now; that generator also draws the NumPy engine's dropout); the
                      optimizer's step count; the best validation loss, its step and the
                      evaluations since; the train-loss window; the evaluation history; the
                      log's path and length
  arrays:             current-* the weights now, best-* the best ones so far, opt-* the
                      optimizer's slots, carry-* the state carried between consecutive stream
                      batches; torch also avg-* (--ema) and torch_rng (cuda_rng-* on a GPU)

The model file stays what it always was, the best weights and the model's settings, so a
model that is shared or sampled carries no training state. The state is written first and
the model file after it (when the best changed), so a crash between the two leaves a model
one best behind its state, never the other way round; a resumed run rewrites the model from
the state before it goes on. A stop at a step limit, an interrupt between steps or a kill
all resume to the same run: on the NumPy engine bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from saurus.data.corpus import Corpus, LinesCorpus
from saurus.data.stream_file import MappedText
from saurus.data.vocab import Vocab
from saurus.errors import DataError, ModelFileError, OptionError
from saurus.files.model_file import load_model_file, save_model_file
from saurus.files.outputs import STATE, check_output
from saurus.training.config import TrainConfig
from saurus.training.monitor import Monitor
from saurus.training.world import world_size

STATE_SUFFIX = ".resume"
DIGEST_CHUNK = 1 << 20
END_OF_PIECE = np.array([-1], dtype="<i8").tobytes()
KIND = "saurus-resume"
VERSION = 2  # 2: lists hashed as text, the plan recorded

# What the run is: a resumed run keeps these and refuses another value for any of them.
FIXED = (
    "mode",
    "model",
    "hidden",
    "layers",
    "dropout",
    "dtype",
    "heads",
    "context",
    "tied",
    "positions",
    "engine",
    "optimizer",
    "batch_size",
    "seq_len",
    "batching",
    "seed",
    "lowercase",
    "val_fraction",
    "split_seed",
    "init_from",
    "ema",
)
# How long the whole run goes on, resumed part included: given on resuming, they replace
# the run's limits (all three together); not given, the run keeps its own.
LIMITS = ("iterations", "epochs", "time_budget")
# Everything else (--patience, --eval-every, --lr, --schedule, --warmup, --clip,
# --weight-decay, --device, --compile) may change; it acts from the resumed step on.


class Trainer(Protocol):
    """What a trainer offers for checkpoints (NumpyTrainer, TorchTrainer)."""

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...


def state_path_for(model: str | Path) -> Path:
    """Where the training state of the model file `model` is kept."""
    model = Path(model)
    return model.with_name(model.name + STATE_SUFFIX)


def fingerprint(corpus: Corpus, train: Corpus, val: Corpus | None) -> dict[str, str | None]:
    """The sha256 of the data as the model sees it: its characters, the training text's ids
    and the validation text's (whether it was read whole or mapped from a file)."""
    vocab = corpus.vocab()
    return {
        "vocab": hashlib.sha256(json.dumps(vocab.to_json()).encode()).hexdigest(),
        "data": corpus_digest(train, vocab),
        "val": None if val is None else corpus_digest(val, vocab),
    }


def corpus_digest(corpus: Corpus, vocab: Vocab) -> str:
    """ids_digest of the corpus's ids; a file mapped in memory is read through its file, a
    chunk at a time, so hashing a gigabyte leaves no page of the map resident. A list is
    hashed as its lines' UTF-8, each closed by "\n" (the vocabulary is hashed apart), which
    takes a fraction of encoding millions of names."""
    if isinstance(corpus, LinesCorpus):
        digest = hashlib.sha256(b"lines\n")
        digest.update("".join(f"{name}\n" for name in corpus.examples).encode("utf-8", "surrogatepass"))
        if corpus.labels is not None:  # labelled names: their categories too
            digest.update(json.dumps([corpus.categories, corpus.labels]).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()
    text = getattr(corpus, "text", None)
    if isinstance(text, MappedText) and vocab == text.file_vocab:
        digest = hashlib.sha256()
        for ids in text.id_chunks(DIGEST_CHUNK):
            digest.update(np.asarray(ids, dtype="<i8").tobytes())
        digest.update(END_OF_PIECE)
        return digest.hexdigest()
    return ids_digest(corpus.encode(vocab))


def ids_digest(pieces: list[np.ndarray]) -> str:
    """sha256 of a list of id arrays, each as int64 and closed by -1."""
    digest = hashlib.sha256()
    for ids in pieces:
        for start in range(0, len(ids), DIGEST_CHUNK):
            digest.update(np.asarray(ids[start : start + DIGEST_CHUNK], dtype="<i8").tobytes())
        digest.update(END_OF_PIECE)
    return digest.hexdigest()


def resumable(cfg: TrainConfig) -> bool:
    """Whether a run of `cfg` saves its state: the recurrent models and the transformer, in one
    process (the classic model keeps its exercise's loop; torchrun's ranks are several)."""
    return cfg.family != "classic" and world_size() <= 1


def check_state_output(model: str | Path) -> None:
    """A run that will write `model` may replace the state beside it only if it is one."""
    check_output(state_path_for(model), STATE, overwrite=True)


@dataclass
class StateSaver:
    """Writes the training state at every checkpoint of the monitor (Monitor.saver)."""

    path: Path
    trainer: Trainer
    config: TrainConfig
    data: dict[str, str | None]
    plan: dict[str, Any] | None = None

    def __call__(self, monitor: Monitor) -> None:
        trainer_meta, trainer_arrays = self.trainer.snapshot()
        run_meta, run_arrays = monitor.state()
        record = {
            "version": VERSION,
            "config": asdict(self.config),
            "data": self.data,
            "plan": self.plan,
            **run_meta,
            "trainer": trainer_meta,
        }
        save_model_file(self.path, {"kind": KIND, "resume": record}, {**trainer_arrays, **run_arrays})


@dataclass(frozen=True)
class SavedRun:
    """A run's saved state, read back from MODEL.resume."""

    path: Path
    record: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def config(self) -> TrainConfig:
        """The run's resolved options."""
        saved = self.record.get("config")
        names = {f.name for f in fields(TrainConfig)}
        if not isinstance(saved, dict) or set(saved) != names:
            raise ModelFileError(f"{self.path} is damaged: its options are malformed")
        return TrainConfig(**saved)

    @property
    def plan(self) -> dict[str, Any] | None:
        """The run's plan (plan.py), as it was made when the run began."""
        plan = self.record.get("plan")
        return plan if isinstance(plan, dict) else None

    def check_data(self, data: dict[str, str | None]) -> None:
        """The data must be the run's own: the same characters, training and validation text."""
        saved = self.record.get("data")
        if saved != data:
            what = (
                "validation data" if isinstance(saved, dict) and saved.get("data") == data["data"] else "data"
            )
            raise DataError(
                f"--resume: this {what} differs from the run's (its sha256 does not match); give the "
                "same data and options, or train a new model with --overwrite"
            )

    def config_for(self, given: TrainConfig) -> TrainConfig:
        """The resumed run's options: the run's own, with the free ones and the limits that
        `given` sets; a different value for what the run is (FIXED) is refused."""
        saved, default = self.config, TrainConfig()

        def is_given(name: str) -> bool:
            value = getattr(given, name)
            return value != getattr(default, name) and not (name == "engine" and value == "auto")

        clash = [
            f"--{flag(name)} {getattr(given, name)} (the run has {getattr(saved, name)})"
            for name in FIXED
            if is_given(name) and getattr(given, name) != getattr(saved, name)
        ]
        if clash:
            raise OptionError(
                f"--resume: {', '.join(clash)}; a resumed run keeps its model and data, drop those"
            )
        free = {f.name for f in fields(TrainConfig)} - set(FIXED) - set(LIMITS)
        changes = {name: getattr(given, name) for name in free if is_given(name)}
        if any(is_given(name) for name in LIMITS):
            changes.update({name: getattr(given, name) for name in LIMITS})
        return replace(saved, **changes)

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays named `prefix`-NAME, by NAME."""
        start = prefix + "-"
        return {k[len(start) :]: a for k, a in self.arrays.items() if k.startswith(start)}

    def restore(self, trainer: Trainer, monitor: Monitor) -> None:
        """Put the trainer and the monitor back where the run was; a state that does not fit
        them (damaged, or of another shape) is a ModelFileError."""
        try:
            trainer.restore(self.record["trainer"], self.arrays)
            monitor.load_state(self.record, self.group("best"))
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
            raise ModelFileError(
                f"cannot resume from {self.path}: its state does not fit this run ({type(err).__name__}); "
                "train a new model with --overwrite"
            ) from None


def flag(name: str) -> str:
    return name.replace("_", "-")


def load_run(model: str | Path) -> SavedRun:
    """The saved state of the run that wrote `model`; one line when there is none."""
    path = state_path_for(model)
    if not Path(model).exists() and not path.exists():  # a crash may leave the state alone
        raise ModelFileError(f"--resume: there is no model at {model} to continue")
    if not path.exists():
        raise ModelFileError(
            f"--resume: {model} has no training state beside it ({path.name}), so its run cannot be "
            "continued; train it anew with --overwrite"
        )
    saved = load_model_file(path)
    record = saved.meta.get("resume")
    if saved.meta.get("kind") != KIND or not isinstance(record, dict):
        raise ModelFileError(f"{path} is not a saurus training state")
    if record.get("version") != VERSION:
        raise ModelFileError(f"{path} holds a training state of another saurus version; it cannot be resumed")
    return SavedRun(path, record, saved.arrays)
