"""Generation: many names at once, or a stretch of text, with temperature and a prefix.

    p = softmax(logits / T)      (T < 1: safer, T > 1: wilder)

Draws come from the numpy Generator passed in, so a seed gives the same output again.
"""

from __future__ import annotations

import numpy as np

from saurus.corpus import normalise
from saurus.errors import OptionError, VocabularyError
from saurus.protocol import START, SequenceModel
from saurus.vocab import EOS

DEFAULT_MAX_LEN = 50
MAX_BATCH = 4096  # names generated at once


def check_temperature(temperature: float) -> None:
    if not temperature > 0 or not np.isfinite(temperature):
        raise OptionError(f"the temperature must be a positive number, got {temperature}")


def draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of logits (B, V) from softmax(logits / T), by inverse CDF."""
    # shift before scaling: logits / T alone overflows for tiny T
    p = np.exp((logits - logits.max(axis=1, keepdims=True)) / temperature)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(logits))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), logits.shape[1] - 1)


def check_request(model: SequenceModel, count: int, what: str, temperature: float, prefix: str) -> np.ndarray:
    """Check a generation request; return the prefix, normalised as the model's data was and
    encoded (an unknown character is named in the error)."""
    if count <= 0:
        raise OptionError(f"the {what} must be positive, got {count}")
    check_temperature(temperature)
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
) -> list[str]:
    """`n` names, each the prefix plus characters drawn until the end token or `max_len`
    characters in all (a name cut at max_len is kept as it is). Generated in batches of
    at most MAX_BATCH, so memory stays bounded however large `n` is."""
    prefix_ids = check_request(model, n, "number of samples", temperature, prefix)
    if max_len <= len(prefix_ids):
        raise OptionError(f"--max-len ({max_len}) must exceed the prefix length ({len(prefix_ids)})")
    names: list[str] = []
    for first in range(0, n, MAX_BATCH):
        batch = min(MAX_BATCH, n - first)
        names += draw_names(model, batch, rng, temperature, prefix_ids, max_len)
    return names


def draw_names(
    model: SequenceModel,
    batch: int,
    rng: np.random.Generator,
    temperature: float,
    prefix_ids: np.ndarray,
    max_len: int,
) -> list[str]:
    """One batch of names, all advanced together until every one has drawn the end token."""
    eos = model.vocab.eos_id
    logits, state = warm_up(model, batch, prefix_ids)
    out = np.full((batch, max_len - len(prefix_ids)), -1, dtype=np.int64)
    done = np.zeros(batch, dtype=bool)
    for t in range(out.shape[1]):
        ids = draw(logits, temperature, rng)
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
) -> str:
    """The prefix followed by `length` drawn characters."""
    prefix_ids = check_request(model, length, "length", temperature, prefix)
    logits, state = warm_up(model, 1, prefix_ids)
    drawn = []
    for _ in range(length):
        ids = draw(logits, temperature, rng)
        drawn.append(int(ids[0]))
        logits, state = model.step(state, ids)
    return model.vocab.decode(prefix_ids) + model.vocab.decode(drawn)
