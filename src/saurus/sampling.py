"""Generation: many names at once, or a stretch of text, with temperature and a prefix.

    p = softmax(logits / T)      (T < 1: safer, T > 1: wilder)
    top-k: keep the k likeliest characters; top-p: keep the fewest likeliest characters
    whose probabilities sum to at least p; greedy: always the likeliest (argmax).

Draws come from the numpy Generator passed in, so a seed gives the same output again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saurus.corpus import normalise
from saurus.errors import OptionError, VocabularyError
from saurus.novelty import seen_mask
from saurus.protocol import START, SequenceModel
from saurus.vocab import EOS

DEFAULT_MAX_LEN = 50
MAX_BATCH = 4096  # names generated at once
NOVEL_TRIES = 50  # --novel draws at most this many names per name asked for


@dataclass(frozen=True)
class Decoding:
    """How each next character is chosen from the model's logits."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    greedy: bool = False

    def check(self) -> None:
        check_temperature(self.temperature)
        if self.top_k < 0:
            raise OptionError(f"--top-k must not be negative, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise OptionError(f"--top-p must be in (0, 1], got {self.top_p}")


def check_temperature(temperature: float) -> None:
    if not temperature > 0 or not np.isfinite(temperature):
        raise OptionError(f"the temperature must be a positive number, got {temperature}")


def draw(logits: np.ndarray, how: Decoding, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of logits (B, V) from softmax(logits / T), restricted to the
    top-k / top-p characters, by inverse CDF (or the argmax, when greedy)."""
    if how.greedy:
        return logits.argmax(axis=1)
    # shift before scaling: logits / T alone overflows for tiny T
    p = np.exp((logits - logits.max(axis=1, keepdims=True)) / how.temperature)
    if 0 < how.top_k < p.shape[1]:
        kth = -np.partition(-p, how.top_k - 1, axis=1)[:, how.top_k - 1 : how.top_k]
        p = np.where(p >= kth, p, 0.0)
    if how.top_p < 1.0:
        desc = -np.sort(-p, axis=1)
        csum = np.cumsum(desc, axis=1)
        # the smallest probability still needed to reach top_p of the mass
        needed = (csum - desc) < how.top_p * csum[:, -1:]
        cutoff = np.where(needed, desc, np.inf).min(axis=1, keepdims=True)
        p = np.where(p >= cutoff, p, 0.0)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(logits))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), logits.shape[1] - 1)


def check_request(model: SequenceModel, count: int, what: str, how: Decoding, prefix: str) -> np.ndarray:
    """Check a generation request; return the prefix, normalised as the model's data was and
    encoded (an unknown character is named in the error)."""
    if count <= 0:
        raise OptionError(f"the {what} must be positive, got {count}")
    how.check()
    prefix = normalise(prefix, lowercase=model.lowercase)
    if model.mode == "lines" and EOS in prefix:
        raise VocabularyError("a name prefix must be a single line (it holds a newline)")
    model.vocab.check(prefix, "the prefix")
    return model.vocab.encode(prefix)


def warm_up(model: SequenceModel, batch: int, prefix_ids: np.ndarray) -> tuple[np.ndarray, object]:
    """Feed START and the prefix to `batch` copies; return the logits for what follows."""
    state = model.start(batch)
    logits, state = model.step(state, np.full(batch, START, dtype=np.int64))
    for i in prefix_ids:
        logits, state = model.step(state, np.full(batch, i, dtype=np.int64))
    return logits, state


def generate_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    max_len: int = DEFAULT_MAX_LEN,
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
    novel: bool = False,
) -> list[str]:
    """`n` names, each the prefix plus characters drawn until the end token or `max_len`
    characters in all (a name cut at max_len is kept as it is). Generated in batches of
    at most MAX_BATCH, so memory stays bounded however large `n` is.

    With `novel`, names that occur in the model's training data are dropped and more are
    drawn; after NOVEL_TRIES * n draws the novel names found so far are returned, so the
    list can be shorter than n for a model that only recites its data."""
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, n, "number of samples", how, prefix)
    if max_len <= len(prefix_ids):
        raise OptionError(f"--max-len ({max_len}) must exceed the prefix length ({len(prefix_ids)})")
    seen = getattr(model, "seen", None)
    if novel and (seen is None or len(seen) == 0):
        raise OptionError(
            "this model file does not record its training names, so --novel cannot work; "
            "train it again with this version of saurus"
        )
    names: list[str] = []
    drawn, limit = 0, NOVEL_TRIES * n if novel else n
    while len(names) < n and drawn < limit:
        # --novel draws extra, since some of what it draws is dropped
        wanted = n - len(names)
        batch = min(MAX_BATCH, max(2 * wanted, 64) if novel else wanted)
        fresh = draw_names(model, batch, rng, how, prefix_ids, max_len)
        drawn += batch
        if novel:
            fresh = [name for name, old in zip(fresh, seen_mask(seen, fresh), strict=False) if not old]
        names += fresh[: n - len(names)]
    return names


def draw_names(
    model: SequenceModel,
    batch: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
) -> list[str]:
    """One batch of names, all advanced together until every one has drawn the end token."""
    eos = model.vocab.eos_id
    logits, state = warm_up(model, batch, prefix_ids)
    out = np.full((batch, max_len - len(prefix_ids)), -1, dtype=np.int64)
    done = np.zeros(batch, dtype=bool)
    for t in range(out.shape[1]):
        ids = draw(logits, how, rng)
        done |= ids == eos
        if done.all():
            break
        out[:, t] = np.where(done, -1, ids)
        logits, state = model.step(state, ids)
    head = model.vocab.decode(prefix_ids)
    return [head + model.vocab.decode(row[row >= 0]) for row in out]


def generate_text(
    model: SequenceModel,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> str:
    """The prefix followed by `length` drawn characters."""
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, length, "length", how, prefix)
    logits, state = warm_up(model, 1, prefix_ids)
    drawn = []
    for _ in range(length):
        ids = draw(logits, how, rng)
        drawn.append(int(ids[0]))
        logits, state = model.step(state, ids)
    return model.vocab.decode(prefix_ids) + model.vocab.decode(drawn)
