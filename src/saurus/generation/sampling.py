"""Generation: many names at once, or stretches of text, with temperature and a prefix.

    p = softmax(logits / T)      (T < 1: safer, T > 1: wilder)
    top-k: keep the k likeliest characters; top-p: keep the fewest likeliest characters
    whose probabilities sum to at least p; greedy: always the likeliest (argmax).

(saurus.generation.decoding). Names are drawn a batch at a time over a tree of shared
prefixes (saurus.generation.names): a name has at least one character (with an empty
prefix the end token is masked at the first step, before T, top-k, top-p or greedy see
the logits; after a prefix the end token may come at once), and ends at the end token or
at `max_len` characters, prefix included (at most MAX_NAME_LEN).

`novel` names are new by construction: the choices that would complete a training name
or a name already given are masked before each draw, so exactly n come back unless the
model has no new name left. `unique` (alone) drops a name drawn again and draws more, at
most NOVEL_TRIES * n names (one, when greedy: it draws the same name every time), so
fewer than n may come back.

Output streams: iter_lines yields each batch of names (at most MAX_BATCH; for a stepper
that cannot share prefixes, its batch_cap) as it is done,
iter_text yields the text `chunk` characters at a time, iter_texts each group of samples;
the list functions join them. Draws come from the numpy Generator passed in, so a seed
gives the same output again, streamed or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from saurus.data.corpus import normalise
from saurus.data.vocab import EOS, Vocab
from saurus.errors import OptionError, VocabularyError
from saurus.generation.constraints import Automaton, Constraints
from saurus.generation.decoding import (  # noqa: F401 (re-exported: the decoding rules live there)
    Decoding,
    check_temperature,
    draw,
    is_finite,
    is_real,
    is_whole,
    scaled,
)
from saurus.generation.names import code_points, draw_names
from saurus.generation.novelty import Fence, NewNames, chain_of, read_record, recorded_names
from saurus.generation.steppers import Stepper, stepper_for
from saurus.protocol import START, SequenceModel

DEFAULT_MAX_LEN = 50  # names: characters at most, prefix included
DEFAULT_TEXT_LENGTH = 200  # text: characters drawn after the prefix
MAX_NAME_LEN = 10_000  # characters per name, prefix included
MAX_BATCH = 2**19  # names generated at once, at most (a step's nodes: Stepper.batch_cap)
TEXT_BATCH = 4096  # texts generated side by side, at most (and at most MAX_BATCH)
MAX_COUNT = 2**62  # the most samples or characters one call may ask for
NOVEL_TRIES = 50  # unique or novel names: at most this many draws per name asked for
TEXT_CHUNK = 256  # characters drawn between two pieces of streamed text
DEFAULT_TIME_LIMIT = 10.0  # seconds to find names that meet constraints
MAX_TIME_LIMIT = 3600.0


def check_count(value: int, what: str) -> int:
    """A whole number in 1..MAX_COUNT, or an OptionError naming `what`."""
    if not is_whole(value):
        raise OptionError(f"the {what} must be a whole number, got {value!r}")
    if value <= 0:
        raise OptionError(f"the {what} must be positive, got {value}")
    if value > MAX_COUNT:
        raise OptionError(f"the {what} {value} is above the limit of {MAX_COUNT:,}")
    return int(value)


def batch_rows(stepper: Stepper) -> int:
    """Names one batch may draw: MAX_BATCH when the stepper shares prefixes (a step's nodes
    are then cut into groups of batch_cap, see saurus.generation.names, and the more rows
    a batch has, the more of their prefixes they share), else a node per row."""
    return MAX_BATCH if stepper.branching else min(MAX_BATCH, stepper.batch_cap)


def check_max_len(max_len: int, prefix_len: int) -> int:
    if not is_whole(max_len) or max_len <= 0:
        raise OptionError(f"--max-len must be a positive whole number, got {max_len!r}")
    if max_len > MAX_NAME_LEN:
        raise OptionError(f"--max-len {max_len} is above the limit of {MAX_NAME_LEN} characters per name")
    if max_len <= prefix_len:
        raise OptionError(f"--max-len ({max_len}) must exceed the prefix length ({prefix_len})")
    return int(max_len)


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


def generate_lines(model: SequenceModel, n: int, rng: np.random.Generator, **options: Any) -> list[str]:
    """`n` names (fewer with `unique` or `novel`), as one list; `options` are iter_lines's
    (temperature, prefix, max_len, top_k, top_p, greedy, novel, unique)."""
    return [name for batch in iter_lines(model, n, rng, **options) for name in batch]


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
    constraints: Constraints | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> Iterator[list[str]]:
    """`n` names, yielded batch by batch (at most MAX_BATCH each) as they are made: each
    the prefix plus characters drawn until the end token or `max_len` characters in all
    (a name cut at max_len is kept as it is). The request is checked at once, before the
    first batch is asked for.

    With `novel`, no name comes twice and none is a line of the training data, by
    construction (see saurus.generation.names): exactly n names, unless the model has no
    new name left within max_len. A model file from before chain hashes can only have
    training names dropped after they are drawn: more are drawn then.

    With `unique` (alone), a name drawn again is dropped and more are drawn. After
    NOVEL_TRIES * n draws (one, when greedy: it draws the same name every time) it stops
    with the names found so far. The names given are remembered until the iterator is done.

    With `constraints` (saurus.generation.constraints), only whole names that meet them
    come, drawn from the model's own distribution restricted to those names (rejection
    sampling, exact; a row is given up once its prefix cannot match). Batches are drawn
    until n names are found, for at most `time_limit` seconds: past it, after the names
    found, TooRareError says how many were found and the estimated share of the model's
    names that meet the constraints."""
    if model.mode != "lines":
        raise OptionError("names come from a lines model; this is a stream model (use iter_text)")
    how = Decoding(temperature, top_k, top_p, greedy)
    prefix_ids = check_request(model, n, "number of samples", how, prefix)
    if constraints is not None and constraints.max_len is not None:
        max_len = constraints.max_len + 1  # a longer name is refused, not cut: draw one past it
    max_len = check_max_len(max_len, len(prefix_ids))
    stepper = stepper_for(model)
    if constraints is not None and not constraints.empty:
        check_time_limit(time_limit)
        automaton = constraints.compile(model.vocab)
        fence = Fence(read_record(recorded_names(model))) if novel else None
        new = NewNames() if unique and not novel else None
        one = Draw(model, rng, how, prefix_ids, max_len, stepper, automaton, fence, new)
        return constrained_lines(one, n, time_limit, constraints.describe())
    if novel:
        fence = Fence(read_record(recorded_names(model)))
        return novel_lines(model, n, rng, how, prefix_ids, max_len, fence, stepper)
    if unique:
        return unique_lines(model, n, rng, how, prefix_ids, max_len, NewNames(), stepper)
    return all_lines(model, n, rng, how, prefix_ids, max_len, stepper)


def all_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
    stepper: Stepper,
) -> Iterator[list[str]]:
    rows = batch_rows(stepper)
    for start in range(0, n, rows):
        yield draw_names(model, min(rows, n - start), rng, how, prefix_ids, max_len, None, stepper)


def unique_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
    new: NewNames,
    stepper: Stepper,
) -> Iterator[list[str]]:
    """Batches of names `new` lets through, until n or NOVEL_TRIES * n draws."""
    found, drawn = 0, 0
    limit = 1 if how.greedy else NOVEL_TRIES * n
    while found < n and drawn < limit:
        # draw extra, since some of what is drawn is dropped
        batch = min(batch_rows(stepper), max(2 * (n - found), 64), limit - drawn)
        names = draw_names(model, batch, rng, how, prefix_ids, max_len, None, stepper)
        fresh = new.take(names, n - found)
        drawn += batch
        found += len(fresh)
        if fresh:
            yield fresh


def novel_lines(
    model: SequenceModel,
    n: int,
    rng: np.random.Generator,
    how: Decoding,
    prefix_ids: np.ndarray,
    max_len: int,
    fence: Fence,
    stepper: Stepper,
) -> Iterator[list[str]]:
    """Batches of new names made by construction, until n, until the root is dead (the
    model has no new name left within max_len), or NOVEL_TRIES * n rows."""
    root = np.array([chain_of(code_points(model.vocab)[prefix_ids])])
    found, drawn = 0, 0
    limit = NOVEL_TRIES * n
    while found < n and drawn < limit and not fence.is_dead(root)[0]:
        want = n - found
        # files before chain hashes drop training names after the draw: draw extra then
        wanted = want if fence.late is None else max(2 * want, 64)
        batch = min(batch_rows(stepper), wanted, limit - drawn)
        made = draw_names(model, batch, rng, how, prefix_ids, max_len, fence, stepper)
        fence.settle()
        drawn += batch
        fresh = fence.keep(made)[:want]
        found += len(fresh)
        if fresh:
            yield fresh


class TooRareError(OptionError):
    """Constraints that too few of the model's names meet to find the names asked for in
    the time given."""

    def __init__(self, found: int, asked: int, drawn: int, seconds: float, said: str) -> None:
        share = f"about {found / drawn:.2%}" if found else f"fewer than 1 in {drawn:,}"
        super().__init__(
            f"found {found} of {asked} names that meet the constraints ({said}) in {seconds:g} s: "
            f"{share} of the model's names meet them (of {drawn:,} drawn); give more time "
            "(--time-limit), loosen the constraints or raise the temperature"
        )
        self.found, self.asked, self.drawn = found, asked, drawn


def check_time_limit(seconds: float) -> None:
    if not is_real(seconds) or not 0 < seconds <= MAX_TIME_LIMIT:
        raise OptionError(f"the time limit must be above 0 and at most {MAX_TIME_LIMIT:g} seconds")


@dataclass
class Draw:
    """One batch of names under an automaton: plain, new-only (a fence) or unique."""

    model: SequenceModel
    rng: np.random.Generator
    how: Decoding
    prefix_ids: np.ndarray
    max_len: int
    stepper: Stepper
    automaton: Automaton
    fence: Fence | None = None
    new: NewNames | None = None

    @property
    def cap(self) -> int:
        return batch_rows(self.stepper)

    @cached_property
    def root(self) -> np.ndarray:
        """The chain hash of the prefix, where every row starts."""
        return np.array([chain_of(code_points(self.model.vocab)[self.prefix_ids])])

    def exhausted(self) -> bool:
        """Whether no new name is left (a fence whose root is dead)."""
        return self.fence is not None and bool(self.fence.is_dead(self.root)[0])

    def __call__(self, rows: int, room: int) -> list[str]:
        args = (self.model, rows, self.rng, self.how, self.prefix_ids, self.max_len)
        names = draw_names(*args, self.fence, self.stepper, self.automaton)
        if self.fence is not None:
            self.fence.settle()
            names = self.fence.keep(names)
        if self.new is not None:
            names = self.new.take(names, room)
        return names[:room]


def constrained_lines(draw_batch: Draw, n: int, time_limit: float, said: str) -> Iterator[list[str]]:
    """Batches of names that meet the constraints, until n; the batch size follows the
    share met so far, q = (found + 1) / (drawn + 1): (n - found) / q rows, times a margin
    of min(1.2, 1 + 2 / sqrt(found + 1)), and no more than the rows drawn per second so
    far fit in the time left. Past `time_limit` seconds, TooRareError (after the
    names found)."""
    started = time.monotonic()
    found, drawn = 0, 0
    while found < n:
        if draw_batch.exhausted():  # no new name is left within max_len
            return
        spent = time.monotonic() - started
        if spent > time_limit or (draw_batch.how.greedy and drawn):
            raise TooRareError(found, n, max(drawn, 1), time_limit, said)
        share = (found + 1) / (drawn + 1)
        margin = min(1.2, 1 + 2 / math.sqrt(found + 1))
        rows = margin * (n - found) / share
        if drawn:
            rows = min(rows, drawn / max(spent, 1e-3) * (time_limit - spent))
        rows = int(min(draw_batch.cap, max(64, math.ceil(rows))))
        names = draw_batch(rows, n - found)
        drawn += rows
        found += len(names)
        if names:
            yield names


# --- text (stream models) ---


def generate_text(model: SequenceModel, length: int, rng: np.random.Generator, **options: Any) -> str:
    """The prefix followed by `length` drawn characters, as one string; `options` are
    iter_text's (temperature, prefix, top_k, top_p, greedy)."""
    return "".join(iter_text(model, length, rng, **options))


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
    model: SequenceModel, n: int, length: int, rng: np.random.Generator, **options: Any
) -> list[str]:
    """`n` independent samples, each the prefix followed by `length` drawn characters
    (all held in memory: stream one long text with iter_text instead); `options` are
    iter_texts's (temperature, prefix, top_k, top_p, greedy)."""
    return [text for group in iter_texts(model, n, length, rng, **options) for text in group]


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
    """`n` samples drawn side by side in groups of at most TEXT_BATCH rows (one group of
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
    group = min(MAX_BATCH, TEXT_BATCH)
    for start in range(0, n, group):
        rows: list[list[str]] = [[head] for _ in range(min(group, n - start))]
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
