"""`stream: true` on /v1/completions: OpenAI's data-only server-sent events.

Each event is one line `data: {chunk}` and a blank line; a chunk is a completion whose
choices hold the text drawn since the last one (finish_reason null until the choice
ends). With `stream_options.include_usage` a last chunk has no choices and the usage.
The stream ends with `data: [DONE]`. An error once the stream has begun (the time limit,
a fault) comes as a chunk `{"error": {...}}` in OpenAI's error shape, then `[DONE]`: the
connection is never just dropped.

Text is drawn CHUNK characters at a time for all n choices of a prompt together, with the
same draws as without streaming, so the same seed gives the same texts either way. Text
that could be the start of a stop string is held back until it is known not to be. Names
come whole, one chunk each.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from saurus.data.corpus import normalise
from saurus.errors import SaurusError
from saurus.generation.decoding import Decoding
from saurus.generation.sampling import check_request, draw_texts
from saurus.web.completions import (
    as_api_error,
    category_model,
    cut,
    draw,
    find_model,
    prompts_of,
    stop_strings,
    token_budget,
)
from saurus.web.limits import Deadline, TimedGenerator, TimeLimitError, timed, timeout_error
from saurus.web.problems import ApiError, error_body
from saurus.web.schemas import CompletionRequest
from saurus.web.served import ServedModel

CHUNK = 16  # characters of each choice between two events
DONE = "data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class TextStops:
    """One choice's text as it is drawn, cut at its first stop string; `take()` gives what
    may be sent now (nothing that could still turn into a stop string)."""

    def __init__(self, stops: list[str]) -> None:
        self.stops, self.text, self.sent, self.stopped = stops, "", 0, False
        self.hold = max((len(s) for s in stops), default=1) - 1

    def add(self, piece: str) -> None:
        if self.stopped:
            return
        self.text += piece
        found = [i for i in (self.text.find(s) for s in self.stops) if i >= 0]
        if found:
            self.text, self.stopped = self.text[: min(found)], True

    def take(self, final: bool = False) -> str:
        end = len(self.text) if final or self.stopped else max(self.sent, len(self.text) - self.hold)
        piece, self.sent = self.text[self.sent : end], end
        return piece


def text_pieces(
    model: Any, req: CompletionRequest, prompt: str, tokens: int, deadline: Deadline
) -> Iterator[list[tuple[int, str, str | None]]]:
    """For a text model: (choice, piece, finish reason or None) for the n choices of one
    prompt, CHUNK characters of drawing at a time."""
    how = Decoding.from_options(req.temperature, req.top_k, req.top_p)
    rng = TimedGenerator(req.seed, deadline)
    prefix_ids = check_request(model, req.n, "number of samples", how, prompt)
    rows = [TextStops(stop_strings(req)) for _ in range(req.n)]
    for pieces in draw_texts(model, req.n, tokens, rng, how, prefix_ids, CHUNK):
        out = []
        for i, (row, piece) in enumerate(zip(rows, pieces, strict=True)):
            if row.stopped:
                continue
            row.add(piece)
            sent = row.take()
            if sent or row.stopped:
                out.append((i, sent, "stop" if row.stopped else None))
        if out:
            yield out
        if all(row.stopped for row in rows):
            return
    yield [(i, row.take(final=True), "length") for i, row in enumerate(rows) if not row.stopped]


def name_pieces(
    model: Any, req: CompletionRequest, prompt: str, tokens: int, deadline: Deadline
) -> Iterator[list[tuple[int, str, str | None]]]:
    """For a names model: each choice whole, as the request without streaming draws it."""
    for i, (text, reason, _) in enumerate(cut(draw(model, req, prompt, tokens, deadline), stop_strings(req))):
        yield [(i, text, reason)]


def check_prompts(served: Mapping[str, ServedModel], req: CompletionRequest) -> None:
    """Refuse, before the stream begins (as a 400), a prompt with a character the model
    lacks."""
    model = find_model(served, req.model).model
    try:
        for prompt in prompts_of(req):
            model.vocab.check(normalise(prompt, lowercase=model.lowercase), "the prompt")
    except SaurusError as err:
        raise as_api_error(err, None) from None


def completion_events(
    served: Mapping[str, ServedModel], req: CompletionRequest, deadline: Deadline
) -> Iterator[str]:
    """The server-sent events of a streamed completion (the request is checked already)."""
    found = find_model(served, req.model)
    prompts = prompts_of(req)
    tokens = token_budget(req, found.model.mode, prompts)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time())}
    base["model"] = found.id
    drawn = 0
    try:
        model = timed(category_model(found, req.category), deadline)  # checked before the stream
        pieces = text_pieces if found.model.mode == "stream" else name_pieces
        for k, prompt in enumerate(prompts):
            found.model.vocab.check(normalise(prompt, lowercase=found.model.lowercase), "the prompt")
            for group in pieces(model, req, prompt, tokens, deadline):
                choices = [
                    {"text": text, "index": k * req.n + i, "logprobs": None, "finish_reason": reason}
                    for i, text, reason in group
                ]
                drawn += sum(len(text) for _, text, _ in group)
                yield event({**base, "choices": choices})
        if req.stream_options is not None and req.stream_options.include_usage:
            used = sum(map(len, prompts))
            usage = {"prompt_tokens": used, "completion_tokens": drawn, "total_tokens": used + drawn}
            yield event({**base, "choices": [], "usage": usage})
    except Exception as err:  # the stream has begun: the error goes in it, as a chunk
        yield event(error_of(err, deadline))
    yield DONE


def error_of(err: Exception, deadline: Deadline) -> dict[str, Any]:
    """An error that came mid-stream, as OpenAI's error body."""
    if isinstance(err, TimeLimitError):
        err = timeout_error(deadline.seconds)
    elif isinstance(err, SaurusError):
        err = as_api_error(err, None)
    elif not isinstance(err, ApiError):
        err = ApiError(500, f"the server failed on this request ({type(err).__name__})")
    return error_body(err.status, err.message, err.param, err.code)
