"""Teacher-forced scoring: how many nats a model spends per character of some text.

    loss = -(1/N) sum_t log p(c_t | c_<t)        bits/char = loss / ln 2
    perplexity = exp(loss)

Lines: every name is scored from the start token, end token included. Stream: the text
is cut into consecutive segments of at least SEGMENT_CHARS characters (at most
MAX_SEGMENTS of them), each scored from the start token, so a long text is scored as one
batch; a text shorter than 2 * SEGMENT_CHARS is one sequence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saurus.data.corpus import Corpus, LinesCorpus, normalise
from saurus.data.vocab import EOS
from saurus.errors import ModelFileError, VocabularyError
from saurus.protocol import START, SequenceModel


@dataclass(frozen=True)
class LossReport:
    total_nats: float
    chars: int

    @property
    def nats(self) -> float:
        """Mean loss in nats per character."""
        return self.total_nats / self.chars

    @property
    def bits(self) -> float:
        return self.nats / math.log(2)

    @property
    def perplexity(self) -> float:
        """exp(nats); infinite past what a float holds (a model that diverged)."""
        return math.exp(self.nats) if self.nats < 709.0 else math.inf

    def __str__(self) -> str:
        return self.described()

    def described(self, unit: str = "char", units: str = "characters") -> str:
        """'1.6440 nats/char, 2.3718 bits/char, perplexity 5.176 over 1948 characters'."""
        return (
            f"{self.nats:.4f} nats/{unit}, {self.bits:.4f} bits/{unit}, "
            f"perplexity {self.perplexity:.3f} over {self.chars} {units}"
        )


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p = z - max z - log sum exp(z - max z), over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sequence_log_probs(model: SequenceModel, sequences: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of log p(target) for each target sequence, all scored in one padded batch.
    Each row reads START, t_0, ..., t_{n-2} and predicts t_0, ..., t_{n-1}."""
    batch = len(sequences)
    length = max(len(s) for s in sequences)
    targets = np.full((batch, length), -1, dtype=np.int64)
    for row, seq in enumerate(sequences):
        targets[row, : len(seq)] = seq
    rows = np.arange(batch)
    totals = np.zeros(batch)
    state = model.start(batch)
    inputs = np.full(batch, START, dtype=np.int64)
    for t in range(length):
        logits, state = model.step(state, inputs)
        live = targets[:, t] >= 0
        logp = log_softmax(logits)[rows, np.maximum(targets[:, t], 0)]
        totals += np.where(live, logp, 0.0)
        inputs = np.maximum(targets[:, t], 0)
    if np.isnan(totals).any():
        raise ModelFileError("the model computes NaN from its weights (damaged, or too large to use)")
    return totals


def targets_of(model: SequenceModel, corpus: Corpus) -> list[np.ndarray]:
    """The target sequences the model is scored on: names + end token, or the whole text."""
    encoded = corpus.encode(model.vocab)
    if isinstance(corpus, LinesCorpus):
        eos = np.array([model.vocab.eos_id])
        return [np.concatenate([ids, eos]) for ids in encoded]
    return stream_segments(encoded[0])


SEGMENT_CHARS = 1024
MAX_SEGMENTS = 256


def stream_segments(ids: np.ndarray) -> list[np.ndarray]:
    count = max(1, min(MAX_SEGMENTS, len(ids) // SEGMENT_CHARS))
    return np.array_split(ids, count)


def estimate_seconds(model: SequenceModel, corpus: Corpus, probe_steps: int = 8) -> float:
    """How long `evaluate(model, corpus)` will take: the time of a few steps of the full
    batch, scaled to the longest sequence (every step costs about the same)."""
    sequences = targets_of(model, corpus)
    length = max(len(s) for s in sequences)
    steps = min(probe_steps, length)
    inputs = np.full(len(sequences), START, dtype=np.int64)
    start = time.perf_counter()
    state = model.start(len(sequences))
    for _ in range(steps):
        logits, state = model.step(state, inputs)
        log_softmax(logits)
    return (time.perf_counter() - start) * length / steps


def evaluate(model: SequenceModel, corpus: Corpus) -> LossReport:
    """Mean negative log-likelihood per character of `corpus` under `model`. Labelled names
    under a labelled model are each scored given their own category (one batch per
    category, the model conditioned on it: saurus.generation.categories)."""
    if isinstance(corpus, LinesCorpus) and corpus.labelled and getattr(model, "categories", ()):
        reports = [
            evaluate(model.conditioned(np.eye(len(corpus.categories))[k]), part)  # type: ignore[attr-defined]
            for k, part in corpus.by_category()
        ]
        return LossReport(sum(r.total_nats for r in reports), sum(r.chars for r in reports))
    sequences = targets_of(model, corpus)
    total = -float(sequence_log_probs(model, sequences).sum())
    return LossReport(total, sum(len(s) for s in sequences))


def check_texts(model: SequenceModel, texts: Sequence[str]) -> list[str]:
    """The strings normalised as the model's training data was, after checking that each
    can be scored (a VocabularyError names the first that cannot, by its place): a name is
    one line, a text is not empty, and every character is in the vocabulary."""
    checked = []
    for k, text in enumerate(texts, 1):
        text = normalise(text, lowercase=model.lowercase)
        if model.mode == "lines" and EOS in text:
            raise VocabularyError(f"string {k}: a name to score must be a single line: {text[:40]!r}")
        if model.mode == "stream" and not text:
            raise VocabularyError(f"string {k} is empty: there is no text to score")
        model.vocab.check(text, f"{text!r}")
        checked.append(text)
    return checked


def score_strings(model: SequenceModel, texts: Sequence[str]) -> list[LossReport]:
    """How likely each string is under the model, as -log p per character (a LossReport each).
    A lines model scores the string as a whole name (end token included, so "ann" and "anna"
    differ); a stream model scores it as text from the start token. The strings are
    normalised as the model's training data was; an unknown character is named in the error."""
    sequences = []
    for text in check_texts(model, texts):
        ids = model.vocab.encode(text)
        sequences.append(np.append(ids, model.vocab.eos_id) if model.mode == "lines" else ids)
    if not sequences:
        return []
    totals = sequence_log_probs(model, sequences)
    return [LossReport(-float(t), len(s)) for t, s in zip(totals, sequences, strict=False)]
