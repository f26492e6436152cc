"""Music tokens as text, so that the core's stream models learn them unchanged.

Each distinct token of the training music becomes one character of Unicode's private use
plane (U+F0000 on), in sorted token order; "\\n" separates pieces. The model file records
the token behind every character, so sampling turns characters back into tokens without
any tokenizer state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saurus.errors import DataError, ModelFileError
from saurus.files.models import MUSIC_KEY
from saurus.music.pieces import Piece
from saurus.music.tokens import TOKENIZER, TOKENIZER_PARAMS

SEPARATOR = "\n"  # between pieces: the model learns where a piece ends and the next begins
FIRST_CHAR = 0xF0000  # Supplementary Private Use Area-A
MAX_TOKENS = 65534
META_KEY = MUSIC_KEY


@dataclass(frozen=True)
class TokenTable:
    """The tokens a model knows; token i is the character chr(FIRST_CHAR + i)."""

    tokens: tuple[str, ...]

    @classmethod
    def of(cls, pieces: Iterable[Piece]) -> TokenTable:
        tokens = tuple(sorted({t for p in pieces for t in p.tokens}))
        if len(tokens) > MAX_TOKENS:
            raise DataError(f"the music holds {len(tokens)} distinct tokens; at most {MAX_TOKENS} fit")
        return cls(tokens)

    def text(self, tokens: Sequence[str]) -> str:
        """The characters of `tokens`; a token the table lacks is a DataError."""
        index = {t: i for i, t in enumerate(self.tokens)}
        missing = [t for t in tokens if t not in index]
        if missing:
            raise DataError(
                f"{len(missing)} tokens were never seen in training (e.g. {missing[0]!r}); "
                "the model cannot read them"
            )
        return "".join(chr(FIRST_CHAR + index[t]) for t in tokens)

    def tokens_of(self, text: str) -> list[str]:
        """The tokens of `text`, piece separators left out."""
        return [self.tokens[ord(c) - FIRST_CHAR] for c in text if c != SEPARATOR]

    def meta(self) -> dict[str, Any]:
        params = {k: repr(v) for k, v in sorted(TOKENIZER_PARAMS.items())}
        return {META_KEY: {"tokenizer": TOKENIZER, "params": params, "tokens": list(self.tokens)}}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], where: str) -> TokenTable:
        music = meta.get(META_KEY)
        if not isinstance(music, dict):
            raise ModelFileError(f"{where} is not a music model (train one with 'saurus music train')")
        tokens = music.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ModelFileError(f"{where} is damaged: its music token table is not a list of strings")
        if music.get("tokenizer") != TOKENIZER:
            raise ModelFileError(f"{where} uses the tokenizer {music.get('tokenizer')!r}, not {TOKENIZER}")
        return cls(tuple(tokens))


def pieces_text(table: TokenTable, pieces: Sequence[Piece]) -> str:
    """The pieces as one text, each followed by the separator."""
    return "".join(table.text(p.tokens) + SEPARATOR for p in pieces)


def hold_out(pieces: Sequence[Piece], val_fraction: float, seed: int) -> tuple[list[Piece], list[Piece]]:
    """Whole pieces for validation (a seeded choice of ceil(fraction * n), leaving at least
    one to train on); a single piece gives up its last bars instead."""
    if val_fraction == 0:
        return list(pieces), []
    if len(pieces) == 1:
        return last_bars(pieces[0], val_fraction)
    k = min(len(pieces) - 1, max(1, math.ceil(val_fraction * len(pieces))))
    order = np.random.default_rng(seed).permutation(len(pieces))
    held = set(order[:k].tolist())
    return (
        [p for i, p in enumerate(pieces) if i not in held],
        [p for i, p in enumerate(pieces) if i in held],
    )


def last_bars(piece: Piece, val_fraction: float) -> tuple[list[Piece], list[Piece]]:
    """Split one piece at the first bar line after (1 - fraction) of its tokens."""
    tokens = piece.tokens
    cut = round(len(tokens) * (1 - val_fraction))
    bars = [i for i, t in enumerate(tokens) if t.startswith("Bar") and i >= cut]
    if bars:
        cut = bars[0]
    if not 2 <= cut <= len(tokens) - 2:
        raise DataError(
            f"{piece.name} is too short to hold out its last bars ({len(tokens)} tokens); "
            "use --val-fraction 0 or give more music"
        )
    head = Piece(piece.name, tokens[:cut], piece.path)
    tail = Piece(f"{piece.name} (last bars)", tokens[cut:], piece.path)
    return [head], [tail]
