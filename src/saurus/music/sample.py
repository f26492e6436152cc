"""Improvise: draw tokens from a music model, a given number of tokens or bars long.

The model starts as at the beginning of a piece (START reads the piece separator), or
after a primer's tokens. The separator is never drawn, so one piece comes out, as long
as was asked. `improvise_piece` is what `saurus music sample` and the web server's
/v1/music both call: the tokens, the piece they make (cut to the bars asked for), its MIDI.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saurus.errors import OptionError
from saurus.files.models import load_for
from saurus.generation.sampling import Decoding, draw, forbid, warm_up
from saurus.music.token_text import SEPARATOR, TokenTable
from saurus.music.tokens import ScoredPiece, bars_in, clip_to_bars, tokens_to_score
from saurus.protocol import SequenceModel

MAX_TOKENS = 1_000_000
MAX_BARS = 10_000
TOKENS_PER_BAR_CAP = 2_000  # a --bars request stops here if the model never draws a bar line
MIN_TEMPO, MAX_TEMPO = 20.0, 400.0  # BPM a piece may be set to


@dataclass(frozen=True)
class MusicModel:
    model: SequenceModel
    table: TokenTable


def load_music_model(path: str) -> MusicModel:
    """A model written by `saurus music train`, with the token behind each character."""
    model, meta = load_for(path, "music", "train one with 'saurus music train'")
    return music_model_of(model, meta, str(path))


def music_model_of(model: SequenceModel, meta: dict[str, Any], where: str) -> MusicModel:
    """A loaded model and its file's metadata as a music model (`where`: the file, for
    the error a model without a usable token table raises)."""
    table = TokenTable.from_meta(meta, where)
    if model.mode != "stream" or len(table.tokens) + 1 < model.vocab.size:
        raise OptionError(f"{where} is not a music model (train one with 'saurus music train')")
    return MusicModel(model, table)


def split_known(music: MusicModel, tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """The tokens the model knows (in order), and those it never saw in training."""
    known = set(music.table.tokens)
    return [t for t in tokens if t in known], [t for t in tokens if t not in known]


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
    before the bar line that would start one more); with both, the bars, but at most
    `length` tokens."""
    if length is None and bars is None:
        raise OptionError("give a length in tokens or a number of bars")
    if length is not None and not 1 <= length <= MAX_TOKENS:
        raise OptionError(f"--length must be 1 to {MAX_TOKENS} tokens, got {length}")
    if bars is not None and not 1 <= bars <= MAX_BARS:
        raise OptionError(f"--bars must be 1 to {MAX_BARS}, got {bars}")
    drawn: list[str] = []
    seen_bars = 0
    by_bars = MAX_TOKENS if bars is None else bars * TOKENS_PER_BAR_CAP
    cap = min(MAX_TOKENS if length is None else length, by_bars)
    for token in draw_tokens(music, rng, how, prime):
        if bars is not None and token.startswith("Bar"):
            seen_bars += 1
            if seen_bars > bars:
                break
        drawn.append(token)
        if len(drawn) >= cap:
            break
    return [*prime, *drawn]


@dataclass(frozen=True)
class Improvisation(ScoredPiece):
    """A drawn piece: its tokens (the prime's first), how many were drawn, and the piece
    they make as a symusic Score (cut to the bars asked for)."""

    tokens: tuple[str, ...]
    drawn: int
    score: Any


def improvise_piece(
    music: MusicModel,
    rng: np.random.Generator,
    how: Decoding,
    *,
    length: int | None = None,
    bars: int | None = None,
    prime: Sequence[str] = (),
    tempo: float | None = None,
) -> Improvisation:
    """`improvise`, as a piece: with `bars`, cut at the end of the last bar asked for (a
    model may misplace bar lines: the piece holds exactly what was asked); `tempo` (BPM)
    replaces the tempos the model drew."""
    if tempo is not None and not MIN_TEMPO <= tempo <= MAX_TEMPO:
        raise OptionError(f"the tempo must be {MIN_TEMPO:g} to {MAX_TEMPO:g} BPM, got {tempo:g}")
    tokens = improvise(music, rng, how, length=length, bars=bars, prime=prime)
    score = tokens_to_score(tokens, tempo)
    if bars is not None:
        opening = bars_in(tokens_to_score(prime)) if prime else 0
        score = clip_to_bars(score, opening + bars)
    return Improvisation(tuple(tokens), len(tokens) - len(prime), score)
