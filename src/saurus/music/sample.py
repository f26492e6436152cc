"""Improvise: draw tokens from a music model, a given number of tokens or bars long.

The model starts as at the beginning of a piece (START reads the piece separator), or
after a primer's tokens. The separator is never drawn, so one piece comes out, as long
as was asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from saurus.errors import OptionError
from saurus.files.models import load_for
from saurus.generation.sampling import Decoding, draw, forbid, warm_up
from saurus.music.token_text import SEPARATOR, TokenTable
from saurus.protocol import SequenceModel

MAX_TOKENS = 1_000_000
MAX_BARS = 10_000
TOKENS_PER_BAR_CAP = 2_000  # a --bars request stops here if the model never draws a bar line


@dataclass(frozen=True)
class MusicModel:
    model: SequenceModel
    table: TokenTable


def load_music_model(path: str) -> MusicModel:
    """A model written by `saurus music train`, with the token behind each character."""
    model, meta = load_for(path, "music", "train one with 'saurus music train'")
    table = TokenTable.from_meta(meta, str(path))
    if model.mode != "stream" or len(table.tokens) + 1 < model.vocab.size:
        raise OptionError(f"{path} is not a music model (train one with 'saurus music train')")
    return MusicModel(model, table)


def draw_tokens(
    music: MusicModel, rng: np.random.Generator, how: Decoding, prime: Sequence[str] = ()
) -> Iterator[str]:
    """Endless tokens after `prime`, drawn one at a time."""
    how.check()
    model, vocab = music.model, music.model.vocab
    chars = music.table.text(prime)
    logits, state = warm_up(model, 1, vocab.encode(chars))
    separator = vocab.eos_id
    while True:
        if separator is not None:
            logits = forbid(logits, separator)
        ids = draw(logits, how, rng)
        (char,) = vocab.decode(ids)
        yield music.table.tokens_of(char)[0] if char != SEPARATOR else SEPARATOR
        logits, state = model.step(state, ids)


def improvise(
    music: MusicModel,
    rng: np.random.Generator,
    how: Decoding,
    *,
    length: int | None = None,
    bars: int | None = None,
    prime: Sequence[str] = (),
) -> list[str]:
    """The prime followed by `length` drawn tokens, or by `bars` bars (the drawing stops
    before the bar line that would start one more)."""
    if (length is None) == (bars is None):
        raise OptionError("give either a length in tokens or a number of bars")
    if length is not None and not 1 <= length <= MAX_TOKENS:
        raise OptionError(f"--length must be 1 to {MAX_TOKENS} tokens, got {length}")
    if bars is not None and not 1 <= bars <= MAX_BARS:
        raise OptionError(f"--bars must be 1 to {MAX_BARS}, got {bars}")
    drawn: list[str] = []
    seen_bars = 0
    cap = length if length is not None else min(MAX_TOKENS, bars * TOKENS_PER_BAR_CAP)  # type: ignore[operator]
    for token in draw_tokens(music, rng, how, prime):
        if bars is not None and token.startswith("Bar"):
            seen_bars += 1
            if seen_bars > bars:
                break
        drawn.append(token)
        if len(drawn) >= cap:
            break
    return [*prime, *drawn]
