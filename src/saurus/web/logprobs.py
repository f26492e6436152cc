"""The log-probability of every character a completion drew, as OpenAI's `logprobs` reports.

    token_logprobs[i] = log p(c_i | prompt, c_<i)       (the model itself: temperature 1,
                                                        no top-k or top-p, as /v1/score)

A name that ended at the end token gets that token ("\\n") as its last entry, so the
sum of token_logprobs after an empty prompt is the name's log-probability as /v1/score
counts it. `top` > 0 adds the `top` likeliest characters at every position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saurus.data.corpus import normalise
from saurus.generation.sampling import warm_up
from saurus.generation.scoring import log_softmax
from saurus.protocol import SequenceModel


@dataclass(frozen=True)
class TokenLogprobs:
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


def continuation_ids(model: SequenceModel, text: str, ended: bool) -> np.ndarray:
    """The ids of a drawn continuation, with the end token when the name ended there."""
    ids = model.vocab.encode(normalise(text, lowercase=model.lowercase))
    eos = model.vocab.eos_id
    return np.append(ids, eos) if ended and eos is not None else ids


def padded(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of ids (B, L), padded with -1."""
    out = np.full((len(rows), max(map(len, rows))), -1, dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, : len(row)] = row
    return out


def score_positions(
    model: SequenceModel, prompt: str, targets: np.ndarray, top: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-probabilities (B, L) of the targets after the prompt, and the `top` likeliest
    ids (B, L, top) with their log-probabilities; one batch, one step per position."""
    batch, length = targets.shape
    prompt_ids = model.vocab.encode(normalise(prompt, lowercase=model.lowercase))
    chosen = np.zeros((batch, length))
    best = np.zeros((batch, length, top), dtype=np.int64)
    best_lp = np.zeros((batch, length, top))
    logits, state = warm_up(model, batch, prompt_ids)
    rows = np.arange(batch)
    for t in range(length):
        lp = log_softmax(logits.astype(np.float64))
        ids = np.maximum(targets[:, t], 0)
        chosen[:, t] = lp[rows, ids]
        if top:
            best[:, t] = np.argsort(-lp, axis=1, kind="stable")[:, :top]
            best_lp[:, t] = np.take_along_axis(lp, best[:, t], axis=1)
        if t + 1 < length:
            logits, state = model.step(state, ids)
    return chosen, best, best_lp


def completion_logprobs(
    model: SequenceModel, prompt: str, texts: Sequence[str], ended: Sequence[bool], top: int = 0
) -> list[TokenLogprobs]:
    """Each completion's characters with their log-probabilities after `prompt`."""
    rows = [continuation_ids(model, t, e) for t, e in zip(texts, ended, strict=True)]
    if not rows or max(map(len, rows)) == 0:
        return [TokenLogprobs([], [], [] if top else None, []) for _ in rows]
    top = min(top, model.vocab.size)
    chosen, best, best_lp = score_positions(model, prompt, padded(rows), top)
    chars = model.vocab.chars
    out = []
    for r, row in enumerate(rows):
        n = len(row)
        tops = [
            dict(zip([chars[i] for i in best[r, t]], best_lp[r, t].tolist(), strict=True)) for t in range(n)
        ]
        out.append(
            TokenLogprobs(
                tokens=[chars[i] for i in row],
                token_logprobs=chosen[r, :n].tolist(),
                top_logprobs=tops if top else None,
                text_offset=list(range(len(prompt), len(prompt) + n)),
            )
        )
    return out
