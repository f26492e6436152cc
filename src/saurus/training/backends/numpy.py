"""The NumPy backend: the NumPy models trained by saurus's own backward passes and
optimizers (models/), and the trainee the monitor watches.

NumpyTrainer steps a recurrent model (forward, backward, clip, update) and saves and
restores exactly what it carries between steps (resume.py); the classic model keeps its
exercise's own loop (ClassicRNN.fit_lines / fit_stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from saurus.data.batches import Cursor, LineBatches, StreamBatches
from saurus.data.corpus import Corpus, LinesCorpus, StreamCorpus
from saurus.data.stream_file import MappedText
from saurus.data.vocab import Vocab
from saurus.errors import OptionError
from saurus.generation.novelty import name_hashes
from saurus.generation.scoring import LossReport, estimate_seconds, evaluate
from saurus.models.cells import State
from saurus.models.classic import ClassicRNN
from saurus.models.optim import Optimizer, clip_global_norm
from saurus.models.recurrent import CharModel
from saurus.training.config import TrainConfig
from saurus.training.trainee import Weights


class NumpyTrainee:
    """A NumPy model as the monitor sees it (training.trainee.Trainee)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def is_finite(self) -> bool:
        return bool(self.model.is_finite())

    def evaluate(self, corpus: Corpus) -> LossReport:
        return evaluate(self.model, corpus)

    def estimate_eval_seconds(self, corpus: Corpus) -> float:
        return estimate_seconds(self.model, corpus)

    def as_numpy(self) -> Any:
        return self.model

    def copy_weights(self) -> Weights:
        return {k: w.copy() for k, w in self.model.params.items()}

    def set_weights(self, weights: Weights) -> None:
        for k, w in weights.items():
            self.model.params[k][...] = w

    def weights_as_arrays(self, weights: Weights) -> dict[str, np.ndarray]:
        return {k: np.array(w, copy=True) for k, w in weights.items()}

    def weights_from_arrays(self, arrays: dict[str, np.ndarray]) -> Weights:
        return {k: np.array(arrays[k], dtype=w.dtype) for k, w in self.model.params.items()}


class NumpyTrainer:
    """The NumPy engine's steps, and what they carry from one to the next: the optimizer,
    the position in the data (whose generator also draws the dropout masks) and the state
    carried between consecutive stream batches; `snapshot` and `restore` save and put
    them back exactly (see resume.py)."""

    def __init__(
        self,
        model: CharModel,
        batches: LineBatches | StreamBatches,
        cfg: TrainConfig,
        rng: np.random.Generator,
    ) -> None:
        self.model, self.clip = model, cfg.clip
        self.optimizer = Optimizer(cfg.optimizer or "adam", weight_decay=cfg.weight_decay)
        self.cursor = Cursor(batches, rng)
        self.dropout_rng = rng if model.dropout > 0 else None
        self.carry: list[State] | None = None

    def steps(self, lr_box: list[float]) -> Iterator[tuple[float, int]]:
        """Endless epochs of (forward, backward, clip, update); yields (nats summed, chars)."""
        model = self.model
        for batch in self.cursor:
            if batch.fresh or self.carry is None:
                self.carry = model.zero_state(batch.inputs.shape[1])
            loss, count, self.carry, fwd = model.loss(
                batch.inputs, batch.targets, batch.mask, self.carry, self.dropout_rng, batch.cats
            )
            grads, _ = model.backward(fwd, batch.targets, batch.mask)
            if self.clip:
                clip_global_norm(grads, self.clip)
            self.optimizer.step(model.params, grads, lr_box[0])
            yield loss * count, count

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The state between two steps: JSON and named arrays."""
        arrays = {f"current-{k}": w.copy() for k, w in self.model.params.items()}
        arrays.update({f"opt-{k}": a for k, a in self.optimizer.state_arrays().items()})
        for layer, parts in enumerate(self.carry or []):
            arrays.update({f"carry-{layer}-{j}": part.copy() for j, part in enumerate(parts)})
        meta = {
            "position": self.cursor.position(),
            "optimizer_steps": self.optimizer.steps,
            "carry": None if self.carry is None else [len(parts) for parts in self.carry],
        }
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Continue from a `snapshot()`."""
        params = self.model.params
        for name, w in params.items():
            saved = arrays[f"current-{name}"]
            if saved.shape != w.shape:
                raise ValueError(f"the weight {name} has another shape")
            w[...] = saved
        slots = {k[len("opt-") :]: a for k, a in arrays.items() if k.startswith("opt-")}
        self.optimizer.load_state(int(meta["optimizer_steps"]), slots, params)
        self.cursor.restore(meta["position"])
        self.carry = None
        if meta["carry"] is not None:
            self.carry = [
                tuple(arrays[f"carry-{layer}-{j}"].astype(self.model.dtype) for j in range(count))
                for layer, count in enumerate(meta["carry"])
            ]


def numpy_steps(
    model: CharModel,
    batches: LineBatches | StreamBatches,
    cfg: TrainConfig,
    rng: np.random.Generator,
    lr_box: list[float],
) -> Iterator[tuple[float, int]]:
    """Endless epochs of (forward, backward, clip, update); yields (nats summed, chars)."""
    return NumpyTrainer(model, batches, cfg, rng).steps(lr_box)


def build_recurrent(
    cfg: TrainConfig,
    corpus: Corpus,
    train: Corpus,
    start: Any | None = None,
    seen: np.ndarray | None = None,
) -> tuple[CharModel, LineBatches | StreamBatches]:
    vocab = corpus.vocab()
    encoded = train.encode(vocab)
    counts = unigram_counts(train, encoded, vocab)
    if isinstance(corpus, LinesCorpus):
        counts[vocab.eos_id] += len(encoded)  # every name ends with the end token
    assert cfg.hidden and cfg.layers and cfg.batch_size
    model = CharModel.create(
        vocab,
        cfg.mode,
        cell=cfg.model,
        hidden=cfg.hidden,
        layers=cfg.layers,
        dropout=cfg.dropout or 0.0,
        seed=cfg.seed,
        dtype=cfg.dtype,
        lowercase=cfg.lowercase,
        unigram=counts,
        **category_options(corpus, train),
    )
    model.seen = name_hashes(corpus.lines()) if seen is None else seen
    if start is not None:
        adopt_weights(model, start)
    if isinstance(corpus, LinesCorpus):
        return model, LineBatches(encoded, vocab.eos_id, cfg.batch_size, train.labels)  # type: ignore[union-attr]
    assert cfg.seq_len
    return model, StreamBatches(encoded[0], cfg.batch_size, cfg.seq_len, cfg.batching)


def category_options(corpus: Corpus, train: Corpus) -> dict[str, Any]:
    """A labelled corpus's categories and each one's training names, for the model."""
    if not isinstance(corpus, LinesCorpus) or not corpus.labelled:
        return {}
    assert isinstance(train, LinesCorpus)
    return {"categories": corpus.categories, "category_counts": train.category_counts()}


def adopt_weights(model: CharModel, start: Any) -> None:
    """Start `model` from the weights of the saved model `start` (--init-from)."""
    same = (
        isinstance(start, CharModel)
        and start.vocab == model.vocab
        and (start.cell, start.hidden, start.layers) == (model.cell, model.hidden, model.layers)
        and getattr(start, "convention", "cho") == getattr(model, "convention", "cho")
        and start.categories == model.categories
    )
    if not same:
        raise OptionError(
            "--init-from: that model differs from this run's (its kind, cell, size, layers, "
            "characters or categories); give the same --model, --hidden and --layers, and the same data"
        )
    for name, w in start.params.items():
        model.params[name][...] = w


def build_classic(
    cfg: TrainConfig, corpus: Corpus, train: Corpus
) -> tuple[ClassicRNN, Iterator[tuple[float, int]], int]:
    """The classic model, its endless steps (the exercise's recipe) and steps per epoch."""
    assert cfg.hidden and cfg.lr
    model = ClassicRNN.create(
        corpus.vocab(), cfg.mode, hidden=cfg.hidden, seed=cfg.seed, lowercase=cfg.lowercase
    )
    model.seen = name_hashes(corpus.lines())
    limit = cfg.iterations or 2**62
    if isinstance(train, LinesCorpus):
        steps = model.fit_lines(train.encode(model.vocab), limit, cfg.lr, np.random.default_rng(cfg.seed))
        return model, steps, len(train.examples)
    seq_len = cfg.seq_len or 25
    steps = model.fit_stream(train.encode(model.vocab)[0], limit, cfg.lr, seq_len)
    return model, steps, max(1, train.num_chars() // seq_len)


def unigram_counts(train: Corpus, encoded: list[np.ndarray], vocab: Vocab) -> np.ndarray:
    """How often each character of `vocab` occurs in `encoded`, the ids of `train`; a
    MappedText knows its counts from the pass that read it (counting its ids again would
    make every page of its map resident)."""
    text = train.text if isinstance(train, StreamCorpus) else None
    if isinstance(text, MappedText) and vocab == text.file_vocab:
        return text.counts()
    return np.bincount(np.concatenate(encoded), minlength=vocab.size)
