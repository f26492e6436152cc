"""What the API's endpoints compute, from a checked request to a reply (no HTTP here).

`completion_work` and `score_work` check a request and say how many characters of work it
asks for; `run_completion` and `run_score` do it, looking at a Deadline between steps
(saurus.web.limits). A model trained on labelled names runs conditioned on the request's
`category` (saurus.generation.categories), on all of its categories by default."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from saurus.data.corpus import normalise
from saurus.errors import SaurusError, VocabularyError
from saurus.generation.api import Score, check_stop, complete, cut_at_stop, score
from saurus.generation.categories import categories_of, conditioned
from saurus.generation.constraints import Constraints
from saurus.generation.decoding import Decoding, decoding_kwargs
from saurus.generation.novelty import seen_mask
from saurus.generation.sampling import (
    DEFAULT_TIME_LIMIT,
    MAX_NAME_LEN,
    TooRareError,
    generate_lines,
    iter_lines,
)
from saurus.generation.scoring import check_texts
from saurus.web.limits import NO_DEADLINE, Deadline, TimedGenerator, timed
from saurus.web.logprobs import completion_logprobs
from saurus.web.problems import ApiError, invalid
from saurus.web.schemas import (
    DEFAULT_NAME_TOKENS,
    DEFAULT_TEXT_TOKENS,
    MAX_REQUEST_CHARS,
    MAX_SCORE_CHARS,
    Choice,
    CompletionRequest,
    CompletionResponse,
    Logprobs,
    ModelCard,
    ModelList,
    ScoreItem,
    ScoreRequest,
    ScoreResponse,
    Usage,
)
from saurus.web.served import ServedModel

Drawn = list[tuple[str, bool]]  # each continuation, and whether it ended by itself
SCORE_GROUP_CHARS = 65_536  # texts scored in one padded batch: rows x longest, at most


def model_card(served: ServedModel) -> ModelCard:
    model, frames = served.model, served.frames
    categories = list(categories_of(model)) or None
    counts = None if categories is None else [int(c) for c in model.category_counts]  # type: ignore[attr-defined]
    vocab = getattr(model, "vocab", None)  # a piano-roll model has none
    return ModelCard(
        id=served.id,
        created=served.created,
        mode=served.mode,
        kind=served.kind,
        lowercase=bool(getattr(model, "lowercase", False)),
        vocab="" if vocab is None else "".join(vocab.chars),
        categories=categories,
        category_counts=counts,
        frames=None if frames is None else frames.kind,
        step=None if frames is None else frames.step,
    )


def model_list(served: Mapping[str, ServedModel]) -> ModelList:
    return ModelList(data=[model_card(s) for s in served.values()])


def find_model(served: Mapping[str, ServedModel], model_id: str) -> ServedModel:
    if model_id not in served:
        known = ", ".join(served)
        raise ApiError(
            404,
            f"the model {model_id!r} does not exist; this server has: {known}",
            param="model",
            code="model_not_found",
        )
    return served[model_id]


def text_model(served: Mapping[str, ServedModel], model_id: str) -> ServedModel:
    """A names or text model; a music model is refused (it answers /v1/music)."""
    found = find_model(served, model_id)
    if found.kind == "music":
        raise invalid(f"{model_id} is a music model: use POST /v1/music", "model")
    return found


def category_model(served: ServedModel, category: Any) -> Any:
    """The served model conditioned on the request's category or blend (None: a labelled
    model on all of its categories by their training shares, another model as it is); an
    unknown category, or one asked of a model without categories, is a 400."""
    try:
        return conditioned(served.model, category)
    except SaurusError as err:
        raise invalid(str(err).replace("--category", "category"), "category") from None


def as_api_error(err: SaurusError, param: str | None) -> ApiError:
    """A saurus error about a request, pinned on the field it came from where known."""
    return invalid(str(err), "prompt" if isinstance(err, VocabularyError) else param)


def prompts_of(req: CompletionRequest) -> list[str]:
    return [req.prompt] if isinstance(req.prompt, str) else req.prompt


def characters(req: CompletionRequest, prompts: list[str], tokens: int) -> int:
    """What the n choices of every prompt read and draw, in characters."""
    return req.n * (sum(map(len, prompts)) + len(prompts) * tokens)


def token_budget(req: CompletionRequest, mode: str, prompts: list[str]) -> int:
    """The characters each choice may draw, checked against the limits: each of the n
    choices of a prompt reads the prompt and draws max_tokens characters, and all of that,
    over all prompts, is the request's work."""
    default = DEFAULT_NAME_TOKENS if mode == "lines" else DEFAULT_TEXT_TOKENS
    tokens = req.max_tokens or default
    if mode == "lines" and max(map(len, prompts)) + tokens > MAX_NAME_LEN:
        raise invalid(f"a name has at most {MAX_NAME_LEN} characters, prompt included", "max_tokens")
    work = characters(req, prompts, tokens)
    if work > MAX_REQUEST_CHARS:
        raise invalid(
            f"n x (prompt + max_tokens) over the prompts = {work:,} characters is above the "
            f"limit of {MAX_REQUEST_CHARS:,} per request; ask for fewer",
            "n",
        )
    return tokens


def check_options(req: CompletionRequest, mode: str) -> None:
    if req.stream_options is not None and not req.stream:
        raise invalid("stream_options applies to streamed completions; set stream true", "stream_options")
    if req.stream and req.logprobs not in (None, False):
        raise invalid("logprobs are not streamed; ask for them without stream", "logprobs")
    if req.novel and mode != "lines":
        raise invalid("novel applies to names models; this one writes running text", "novel")
    found = constraints_of(req)
    if found is not None and mode != "lines":
        raise invalid("constraints apply to names models; this one writes running text", "pattern")
    if found is not None and req.stream:
        raise invalid("names that meet constraints are not streamed; ask without stream", "stream")


def constraints_of(req: CompletionRequest) -> Constraints | None:
    """The request's constraints on whole names (None: none), checked (400 when wrong)."""
    try:
        found = Constraints.from_fields(req)
    except SaurusError as err:
        raise invalid(str(err), "pattern" if req.pattern else None) from None
    return None if found.empty else found


def draw(model: object, req: CompletionRequest, prompt: str, tokens: int, deadline: Deadline) -> Drawn:
    """The continuations of one prompt: `complete`, or new names only with `novel`. The
    draws come from the seed (as np.random.default_rng(seed) gives them), through a
    generator that looks at the deadline before each step."""
    rng = TimedGenerator(req.seed, deadline)
    constraints = constraints_of(req)
    if constraints is not None:
        return constrained(model, req, prompt, tokens, rng, constraints, deadline)
    if not req.novel:
        done = complete(
            model,  # type: ignore[arg-type]
            prompt,
            max_new_tokens=tokens,
            num_return_sequences=req.n,
            seed=rng,
            temperature=req.temperature,
            top_k=req.top_k,
            top_p=req.top_p,
        )
        return [(c.text, c.finish_reason == "stop") for c in done]
    how = decoding_kwargs(Decoding.from_options(req.temperature, req.top_k, req.top_p))
    names = generate_lines(
        model,  # type: ignore[arg-type]
        req.n,
        rng,
        prefix=prompt,
        max_len=len(prompt) + tokens,
        novel=True,
        **how,
    )
    tails = [name[len(prompt) :] for name in names]
    return [(t, len(t) < tokens) for t in tails]


def constrained(
    model: object,
    req: CompletionRequest,
    prompt: str,
    tokens: int,
    rng: np.random.Generator,
    constraints: Constraints,
    deadline: Deadline,
) -> Drawn:
    """Names that meet the constraints, drawn exactly (saurus.generation.constraints), for
    at most the time the request has left: fewer than n when they are rare, none is a 400
    that says how rare."""
    how = decoding_kwargs(Decoding.from_options(req.temperature, req.top_k, req.top_p))
    names: list[str] = []
    try:
        for batch in iter_lines(
            model,  # type: ignore[arg-type]
            req.n,
            rng,
            prefix=prompt,
            max_len=len(prompt) + tokens,
            novel=req.novel,
            constraints=constraints,
            time_limit=max(0.1, min(DEFAULT_TIME_LIMIT, deadline.left())),
            **how,
        ):
            names += batch
    except TooRareError as err:
        if not names:
            raise invalid(str(err).replace("--time-limit", "a longer timeout"), "pattern") from None
    tails = [name[len(prompt) :] for name in names]
    return [(t, True) for t in tails]


def cut(drawn: Drawn, stops: list[str]) -> list[tuple[str, str, bool]]:
    """Each text cut at its first stop string, its finish reason, and whether it ended
    at the end token (which its logprobs then include)."""
    out = []
    for text, ended in drawn:
        kept, stopped = cut_at_stop(text, stops)
        out.append((kept, "stop" if stopped or ended else "length", ended and not stopped))
    return out


def logprobs_of(
    model: object, req: CompletionRequest, prompt: str, texts: list[str], ends: list[bool]
) -> list[Logprobs | None]:
    """Each text's logprobs when the request asks for them."""
    if req.logprobs is None or req.logprobs is False:
        return [None] * len(texts)
    top = 0 if req.logprobs is True else int(req.logprobs)
    found = completion_logprobs(model, prompt, texts, ends, top)  # type: ignore[arg-type]
    return [Logprobs(**vars(f)) for f in found]


def stop_strings(req: CompletionRequest) -> list[str]:
    try:
        return check_stop(req.stop)
    except SaurusError as err:
        raise invalid(str(err), "stop") from None


def prompt_choices(
    model: Any, req: CompletionRequest, prompt: str, tokens: int, first: int, deadline: Deadline
) -> list[Choice]:
    """The choices for one prompt from `model` (conditioned on the category), numbered
    from `first`."""
    model.vocab.check(normalise(prompt, lowercase=model.lowercase), "the prompt")
    deadline.check()
    stepped = timed(model, deadline)  # its steps look at the deadline
    with_reasons = cut(draw(stepped, req, prompt, tokens, deadline), stop_strings(req))
    texts = [t for t, _, _ in with_reasons]
    logprobs = logprobs_of(stepped, req, prompt, texts, [e for _, _, e in with_reasons])
    known = in_training_data(model, normalise(prompt, lowercase=model.lowercase), with_reasons)
    return [
        Choice(text=text, index=first + i, logprobs=lp, finish_reason=reason, in_training_data=seen)
        for i, ((text, reason, _), lp, seen) in enumerate(zip(with_reasons, logprobs, known, strict=True))
    ]


def in_training_data(model: object, prompt: str, drawn: list[tuple[str, str, bool]]) -> list[bool | None]:
    """For a names model that records its training names: whether each finished name
    (prompt + text, ended at the end token) is one of them; None where that is unknown."""
    seen = getattr(model, "seen", None)
    if getattr(model, "mode", None) != "lines" or seen is None or len(seen) == 0:
        return [None] * len(drawn)
    marks = seen_mask(seen, [prompt + text for text, _, _ in drawn]).tolist()
    return [bool(m) if ended else None for m, (_, _, ended) in zip(marks, drawn, strict=True)]


def completion_work(served: Mapping[str, ServedModel], req: CompletionRequest) -> int:
    """Check a completion request (ApiError when refused); the characters of work it asks
    for: n x (prompt + max_tokens), summed over its prompts, doubled for logprobs."""
    model = text_model(served, req.model)
    prompts = prompts_of(req)
    check_options(req, model.mode)
    tokens = token_budget(req, model.mode, prompts)
    stop_strings(req)
    category_model(model, req.category)
    work = characters(req, prompts, tokens)
    return work if req.logprobs is None or req.logprobs is False else 2 * work


def run_completion(
    served: Mapping[str, ServedModel], req: CompletionRequest, deadline: Deadline = NO_DEADLINE
) -> CompletionResponse:
    """POST /v1/completions: n choices for each prompt, indexed prompt by prompt. Past the
    deadline it stops with TimeLimitError (saurus.web.limits)."""
    model = text_model(served, req.model)
    prompts = prompts_of(req)
    check_options(req, model.mode)
    tokens = token_budget(req, model.mode, prompts)
    stop_strings(req)
    drawing = category_model(model, req.category)
    choices: list[Choice] = []
    try:
        for k, prompt in enumerate(prompts):
            choices += prompt_choices(drawing, req, prompt, tokens, k * req.n, deadline)
    except SaurusError as err:
        raise as_api_error(err, None) from None
    used = sum(map(len, prompts))
    drawn = sum(len(c.text) for c in choices)
    return CompletionResponse(
        id=f"cmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model.id,
        choices=choices,
        usage=Usage(prompt_tokens=used, completion_tokens=drawn, total_tokens=used + drawn),
    )


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def texts_of(req: ScoreRequest) -> list[str]:
    return [req.texts] if isinstance(req.texts, str) else req.texts


def score_work(served: Mapping[str, ServedModel], req: ScoreRequest) -> int:
    """Check a score request (ApiError when refused); the characters it asks to score."""
    category_model(text_model(served, req.model), req.category)
    chars = sum(map(len, texts_of(req)))
    if chars > MAX_SCORE_CHARS:
        raise invalid(f"at most {MAX_SCORE_CHARS:,} characters may be scored per request", "texts")
    return chars


def score_groups(texts: list[str]) -> list[list[int]]:
    """The texts' places in groups of similar length, each scored as one padded batch of
    at most SCORE_GROUP_CHARS (rows x the longest; a longer text alone), so that one long
    text does not make every row of the batch as long."""
    groups: list[list[int]] = []
    for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        if groups and (len(groups[-1]) + 1) * max(len(texts[i]), 1) <= SCORE_GROUP_CHARS:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def run_score(
    served: Mapping[str, ServedModel], req: ScoreRequest, deadline: Deadline = NO_DEADLINE
) -> ScoreResponse:
    """POST /v1/score: how likely each text is under the model. Past the deadline it stops
    with TimeLimitError."""
    score_work(served, req)
    model = text_model(served, req.model)
    texts = texts_of(req)
    stepped = timed(category_model(model, req.category), deadline)
    scores: list[Score | None] = [None] * len(texts)
    try:
        check_texts(model.model, texts)
        for group in score_groups(texts):
            for i, found in zip(group, score(stepped, [texts[i] for i in group]), strict=True):
                scores[i] = found
    except SaurusError as err:
        raise invalid(str(err), "texts") from None
    items = [
        ScoreItem(
            index=i,
            text=s.text,
            logprob=-s.nats * s.chars,
            nats=s.nats,
            bits=s.bits,
            perplexity=finite(s.perplexity),
            chars=s.chars,
        )
        for i, s in enumerate(scores)
        if s is not None
    ]
    return ScoreResponse(model=model.id, data=items)
