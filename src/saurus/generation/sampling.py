"""Generation: many names at once, or stretches of text, with temperature and a prefix.

    p = softmax(logits / T)      (T < 1: safer, T > 1: wilder)
    top-k: keep the k likeliest characters; top-p: keep the fewest likeliest characters
    whose probabilities sum to at least p; greedy: always the likeliest (argmax).

A name has at least one character: with an empty prefix the end token is masked
(logit -inf) at the first drawn step, before T, top-k, top-p or greedy see the logits;
after a prefix the end token may come at once. A name ends at the end token or at
`max_len` characters, prefix included (at most MAX_NAME_LEN).

With `unique`, a name that was given already is dropped when drawn again; `novel` also
drops names of the training data, and implies unique. Either way at most NOVEL_TRIES * n
names are drawn (one, when greedy: it draws the same name every time), so fewer than n
may come back.

Output streams: iter_lines yields each batch of names (at most MAX_BATCH) as it is done,
iter_text yields the text `chunk` characters at a time, iter_texts each group of samples;
the list functions join them. Draws come from the numpy Generator passed in, so a seed
gives the same output again, streamed or not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from saurus.data.corpus import normalise
from saurus.data.vocab import EOS, Vocab
from saurus.errors import OptionError, VocabularyError
from saurus.generation.novelty import NewNames, recorded_names
from saurus.protocol import START, SequenceModel

DEFAULT_MAX_LEN = 50
MAX_NAME_LEN = 10_000  # characters per name, prefix included
MAX_BATCH = 4096  # names (or texts) generated at once
MAX_COUNT = 2**62  # the most samples or characters one call may ask for
NOVEL_TRIES = 50  # unique or novel names: at most this many draws per name asked for
TEXT_CHUNK = 256  # characters drawn between two pieces of streamed text


@dataclass(frozen=True)
class Decoding:
    """How each next character is chosen from the model's logits."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    greedy: bool = False

    def check(self) -> None:
        check_temperature(self.temperature)
        if not is_whole(self.top_k) or self.top_k < 0:
            raise OptionError(f"--top-k must be a whole number, 0 or more, got {self.top_k}")
        if not is_finite(self.top_p) or not 0 < self.top_p <= 1:
            raise OptionError(f"--top-p must be in (0, 1], got {self.top_p}")


def is_whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def is_finite(value: object) -> bool:
    """A real number that is neither NaN nor infinite, nor too large to be a float."""
    try:
        return is_real(value) and math.isfinite(float(value))
    except OverflowError:
        return False


def check_temperature(temperature: float) -> None:
    if not (is_finite(temperature) and temperature > 0):
        hint = "; for the likeliest character every time, use --greedy" if temperature == 0 else ""
        raise OptionError(f"the temperature must be a positive number, got {temperature}{hint}")


def check_count(value: int, what: str) -> int:
    """A whole number in 1..MAX_COUNT, or an OptionError naming `what`."""
    if not is_whole(value):
        raise OptionError(f"the {what} must be a whole number, got {value!r}")
    if value <= 0:
        raise OptionError(f"the {what} must be positive, got {value}")
    if value > MAX_COUNT:
        raise OptionError(f"the {what} {value} is above the limit of {MAX_COUNT:,}")
    return int(value)


def check_max_len(max_len: int, prefix_len: int) -> int:
    if not is_whole(max_len) or max_len <= 0:
        raise OptionError(f"--max-len must be a positive whole number, got {max_len!r}")
    if max_len > MAX_NAME_LEN:
        raise OptionError(f"--max-len {max_len} is above the limit of {MAX_NAME_LEN} characters per name")
    if max_len <= prefix_len:
        raise OptionError(f"--max-len ({max_len}) must exceed the prefix length ({prefix_len})")
    return int(max_len)


def draw(logits: np.ndarray, how: Decoding, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of logits (B, V) from softmax(logits / T), restricted to the
    top-k / top-p characters, by inverse CDF (or the argmax, when greedy)."""
    if how.greedy:
        return logits.argmax(axis=1)
    p = np.exp(scaled(logits, how.temperature))
    if 0 < how.top_k < p.shape[1]:
        kth = -np.partition(-p, how.top_k - 1, axis=1)[:, how.top_k - 1 : how.top_k]
        p = np.where(p >= kth, p, 0.0)
    if how.top_p < 1.0:
        desc = -np.sort(-p, axis=1)
        csum = np.cumsum(desc, axis=1)
        # the smallest probability still needed to reach top_p of the mass
        needed = (csum - desc) < how.top_p * csum[:, -1:]
        needed[:, 0] = True  # the likeliest is always kept, however small top_p is
        cutoff = np.where(needed, desc, np.inf).min(axis=1, keepdims=True)
        p = np.where(p >= cutoff, p, 0.0)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(logits))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), logits.shape[1] - 1)


def scaled(logits: np.ndarray, temperature: float) -> np.ndarray:
    """(logits - max) / T: shifted first, as logits / T alone overflows for tiny T. A T
    beyond float32's range (it would round to 0 or inf there, giving NaN) is divided in
    float64, where a step that overflows becomes -inf: a zero probability, as it should."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    if 1e-30 <= temperature <= 1e30:
        return shifted / temperature
    with np.errstate(over="ignore"):
        return shifted.astype(np.float64) / temperature


def forbid(logits: np.ndarray, token: int) -> np.ndarray:
    """A copy of logits (B, V) in which `token` can never be drawn (its logit is -inf)."""
    logits = logits.copy()
    logits[:, token] = -np.inf
    return logits


def check_request(model: SequenceModel, count: int, what: str, how: Decoding, prefix: str) -> np.ndarray:
    """Check a generation request; return the prefix, normalised as the model's data was and
    encoded (an unknown character is named in the error)."""
    check_count(count, what)
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


def decode_rows(vocab: Vocab, ids: np.ndarray) -> list[str]:
    """Each row of ids (B, L) as a string, leaving out the -1 padding that ends a row."""
    if ids.shape[1] == 0:
        return [""] * len(ids)
    if "\x00" in vocab:  # numpy strips trailing NULs from strings: decode one by one
        return [vocab.decode(row[row >= 0]) for row in ids]
    # id -1 picks the NUL after the characters; viewing each row as one string drops it
    table = np.array([*vocab.chars, "\x00"])
    return table[ids].view(f"<U{ids.shape[1]}")[:, 0].tolist()


# --- names (lines models) ---


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
    unique: bool = False,
) -> list[str]:
    """`n` names (fewer with `unique` or `novel`, see iter_lines), as one list."""
    batches = iter_lines(
        model,
        n,
        rng,
        temperature=temperature,
        prefix=prefix,
        max_len=max_len,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
        novel=novel,
        unique=unique,
    )
    return [name for batch in batches for name in batch]


def iter_lines(
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
    unique: bool = False,
) -> Iterator[list[str]]:
    """`n` names, yielded batch by batch (at most MAX_BATCH each) as they are made: each
    the prefix plus characters drawn until the end token or `max_len` characters in all
    (a name cut at max_len is kept as it is). The request is checked at once, before the
    first batch is asked for.

    With `unique`, no name comes twice; with `novel`, names that occur in the model's
    training data are dropped too (novel implies unique), and more are drawn. After
    NOVEL_TRIES * n draws (one, when greedy: it draws the same name every time) it stops
    with the names found so far, so the total can fall short of n for a model that only
    recites its data. The names given are remembered until the iterator is done."""
    if model.mode != "lines":
        raise OptionError("names come from a lines model; this is a stream model (use iter_text)")
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, n, "number of samples", how, prefix)
    max_len = check_max_len(max_len, len(prefix_ids))
    if novel:
        return unique_lines(model, n, rng, how, prefix_ids, max_len, NewNames(recorded_names(model)))
    if unique:
        return unique_lines(model, n, rng, how, prefix_ids, max_len, NewNames())
    return all_lines(model, n, rng, how, prefix_ids, max_len)


def all_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
) -> Iterator[list[str]]:
    for start in range(0, n, MAX_BATCH):
        yield draw_names(model, min(MAX_BATCH, n - start), rng, how, prefix_ids, max_len)


def unique_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
    new: NewNames,
) -> Iterator[list[str]]:
    """Batches of names `new` lets through, until n or NOVEL_TRIES * n draws."""
    found, drawn = 0, 0
    limit = 1 if how.greedy else NOVEL_TRIES * n
    while found < n and drawn < limit:
        # draw extra, since some of what is drawn is dropped
        batch = min(MAX_BATCH, max(2 * (n - found), 64), limit - drawn)
        fresh = new.take(draw_names(model, batch, rng, how, prefix_ids, max_len), n - found)
        drawn += batch
        found += len(fresh)
        if fresh:
            yield fresh


def draw_names(
    model: SequenceModel,
    batch: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
) -> list[str]:
    """One batch of names, all advanced together until every one has drawn the end token
    (never as the first character of an empty prefix) or reached max_len characters."""
    eos = model.vocab.eos_id
    logits, state = warm_up(model, batch, prefix_ids)
    if len(prefix_ids) == 0 and eos is not None:
        logits = forbid(logits, eos)
    steps: list[np.ndarray] = []  # one column of ids per step, -1 once a name has ended
    done = np.zeros(batch, dtype=bool)
    room = max_len - len(prefix_ids)
    while True:
        ids = draw(logits, how, rng)
        done |= ids == eos
        if done.all():
            break
        steps.append(np.where(done, -1, ids))
        if len(steps) == room:
            break
        logits, state = model.step(state, ids)
    head = model.vocab.decode(prefix_ids)
    tails = decode_rows(model.vocab, np.stack(steps, axis=1) if steps else np.zeros((batch, 0), int))
    return [head + tail for tail in tails]


# --- text (stream models) ---


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
    """The prefix followed by `length` drawn characters, as one string."""
    return "".join(
        iter_text(
            model,
            length,
            rng,
            temperature=temperature,
            prefix=prefix,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
        )
    )


def iter_text(
    model: SequenceModel,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
    chunk: int = TEXT_CHUNK,
) -> Iterator[str]:
    """The prefix (unless empty), then `length` drawn characters in pieces of `chunk`
    (the last may be shorter), each yielded as soon as it is drawn, so memory stays
    bounded however long the text. The request is checked at once."""
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, length, "length", how, prefix)
    chunk = check_count(chunk, "chunk size")
    return text_pieces(model, length, rng, how, prefix_ids, chunk)


def text_pieces(
    model: SequenceModel,
    length: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    chunk: int,
) -> Iterator[str]:
    if len(prefix_ids):
        yield model.vocab.decode(prefix_ids)
    for (piece,) in draw_texts(model, 1, length, rng, how, prefix_ids, chunk):
        yield piece


def generate_texts(
    model: SequenceModel,
    n: int,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> list[str]:
    """`n` independent samples, each the prefix followed by `length` drawn characters
    (all held in memory: stream one long text with iter_text instead)."""
    groups = iter_texts(
        model, n, length, rng, temperature=temperature, prefix=prefix, top_k=top_k, top_p=top_p, greedy=greedy
    )
    return [text for group in groups for text in group]


def iter_texts(
    model: SequenceModel,
    n: int,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> Iterator[list[str]]:
    """`n` samples drawn side by side in groups of at most MAX_BATCH rows (one group of
    one row draws as iter_text does); each group's list is yielded when it is finished.
    The request is checked at once."""
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, n, "number of samples", how, prefix)
    check_count(length, "length")
    return text_groups(model, n, length, rng, how, prefix_ids)


def text_groups(
    model: SequenceModel,
    n: int,
    length: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
) -> Iterator[list[str]]:
    head = model.vocab.decode(prefix_ids)
    for start in range(0, n, MAX_BATCH):
        rows: list[list[str]] = [[head] for _ in range(min(MAX_BATCH, n - start))]
        for pieces in draw_texts(model, len(rows), length, rng, how, prefix_ids, TEXT_CHUNK):
            for row, piece in zip(rows, pieces, strict=True):
                row.append(piece)
        yield ["".join(row) for row in rows]


def draw_texts(
    model: SequenceModel,
    batch: int,
    length: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    chunk: int,
) -> Iterator[list[str]]:
    """`length` characters for each of `batch` rows drawn together after the prefix,
    yielded `chunk` steps at a time as one piece per row."""
    logits, state = warm_up(model, batch, prefix_ids)
    left = length
    while left:
        steps = []
        for _ in range(min(chunk, left)):
            ids = draw(logits, how, rng)
            steps.append(ids)
            left -= 1
            if left:
                logits, state = model.step(state, ids)
        yield decode_rows(model.vocab, np.stack(steps, axis=1))
