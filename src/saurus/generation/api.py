"""Generation and scoring with the names people know from Hugging Face's `generate`.

    model = saurus.load("dinos.saurus")          # or a pretrained name: saurus.load("dinos")
    model.generate(prompt="tyr", max_new_tokens=20, temperature=0.8, num_return_sequences=5, seed=0)
    model.score(["tyrannosaurus", "xqzvw"])      # nats, bits per character and perplexity each

A token is a character. `temperature=0` means greedy. Each returned text is the prompt
followed by what was drawn, as Hugging Face's text-generation pipeline returns it
(`return_full_text`). A lines model draws names: a text ends at the end token, or after
`max_new_tokens` characters. A stream model draws `max_new_tokens` characters. `stop`
strings end a text where the first of them begins (it is left out, as OpenAI's API does);
the command line, the web server and this API share these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saurus.errors import OptionError
from saurus.generation.categories import Spec, conditioned
from saurus.generation.constraints import Constraints
from saurus.generation.decoding import Decoding, decoding_kwargs
from saurus.generation.sampling import (
    DEFAULT_TEXT_LENGTH,
    DEFAULT_TIME_LIMIT,
    MAX_COUNT,
    generate_lines,
    generate_texts,
    is_whole,
)
from saurus.generation.scoring import LossReport, score_strings
from saurus.protocol import SequenceModel

MAX_STOP_STRINGS = 16
CONSTRAINT_FIELDS = {"ends_with", "contains", "excludes", "min_len", "max_len", "pattern"}


@dataclass(frozen=True)
class Completion:
    """One generated text: the prompt and what followed it, and why it ended."""

    text: str  # the continuation only
    finish_reason: str  # "stop" (the end token or a stop string) or "length"


@dataclass(frozen=True)
class Score:
    text: str
    nats: float  # mean -log p per character
    bits: float
    perplexity: float
    chars: int


def check_stop(stop: str | Sequence[str] | None) -> list[str]:
    """The stop strings as a list: each non-empty, at most MAX_STOP_STRINGS of them."""
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    if len(stops) > MAX_STOP_STRINGS or not all(isinstance(s, str) and s for s in stops):
        raise OptionError(f"stop must be at most {MAX_STOP_STRINGS} non-empty strings")
    return stops


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to where the first stop string begins, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def complete(
    model: SequenceModel,
    prompt: str = "",
    *,
    max_new_tokens: int = DEFAULT_TEXT_LENGTH,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    stop: str | Sequence[str] | None = None,
    seed: int | np.random.Generator | None = None,
    constraints: Constraints | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    category: Spec = None,
    **constraint_options: Any,
) -> list[Completion]:
    """The continuations of `prompt`, with their finish reasons (see the module docstring).
    `seed` may be a Generator, which is drawn from (a session that goes on drawing).

    A names model takes constraints on the whole name (prompt included), as `constraints`
    or as its fields: ends_with, contains, excludes, min_len, max_len, pattern
    (saurus.generation.constraints); the names are the model's own, only those that meet
    them (exact), found within `time_limit` seconds (else TooRareError). A model trained on
    labelled names takes a `category`: a label, a blend ("Irish=0.7,Italian=0.3" or a
    dict), or None for all of them (saurus.generation.categories)."""
    model = conditioned(model, category)
    if constraint_options:
        unknown = set(constraint_options) - CONSTRAINT_FIELDS
        if unknown:
            raise OptionError(f"unknown option {sorted(unknown)[0]!r}")
        constraints = Constraints(starts_with="", **constraint_options)
    if constraints is not None and not constraints.empty and model.mode != "lines":
        raise OptionError("constraints apply to names models; this one writes running text")
    decoding = Decoding.from_options(temperature, top_k, top_p)
    if not is_whole(max_new_tokens) or not 1 <= max_new_tokens <= MAX_COUNT:
        raise OptionError(f"max_new_tokens must be a whole number, 1 or more, got {max_new_tokens}")
    stops = check_stop(stop)
    how = decoding_kwargs(decoding)
    rng = np.random.default_rng(seed)
    if model.mode == "lines":
        names = generate_lines(
            model,
            num_return_sequences,
            rng,
            prefix=prompt,
            max_len=len(prompt) + max_new_tokens,
            constraints=constraints,
            time_limit=time_limit,
            **how,
        )
        tails = [name[len(prompt) :] for name in names]
        ended = [len(t) < max_new_tokens or constraints is not None for t in tails]
    else:
        texts = generate_texts(model, num_return_sequences, max_new_tokens, rng, prefix=prompt, **how)
        tails, ended = [t[len(prompt) :] for t in texts], [False] * len(texts)
    out = []
    for tail, natural_end in zip(tails, ended, strict=True):
        text, stopped = cut_at_stop(tail, stops)
        out.append(Completion(text, "stop" if stopped or natural_end else "length"))
    return out


def generate(model: SequenceModel, prompt: str = "", **options: object) -> list[str]:
    """`complete`'s texts, each with its prompt in front (`options` as for complete)."""
    return [prompt + c.text for c in complete(model, prompt, **options)]  # type: ignore[arg-type]


def score(model: SequenceModel, texts: str | Sequence[str], *, category: Spec = None) -> list[Score]:
    """How likely each text is: nats, bits per character and perplexity (see score_strings);
    a labelled model's given `category` (None: all of them, as the prior blend)."""
    model = conditioned(model, category)
    texts = [texts] if isinstance(texts, str) else list(texts)
    return [as_score(t, r) for t, r in zip(texts, score_strings(model, texts), strict=True)]


def as_score(text: str, report: LossReport) -> Score:
    return Score(text, report.nats, report.bits, report.perplexity, report.chars)
