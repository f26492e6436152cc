"""The FastAPI application: the page at /, and the OpenAI-style API under /v1.

    app = create_app(load_served(["dinos.saurus", "sonnets.saurus"]))

Every refused request gets a 4xx reply in OpenAI's error shape (saurus.web.problems); a
request the server cannot take now, or that runs past the time limit, a 503 in that
shape. Generation and scoring run on worker threads, as many at once as the Limits allow
(saurus.web.limits), so a long generation does not hold up the other requests; the
event loop only parses, checks and answers (the other endpoints are async: they never
wait for a thread).

    app = create_app(load_served(["dinos.saurus"]), Limits(timeout=10, parallel=2))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from saurus import __version__
from saurus.errors import SaurusError
from saurus.export.page import page_html
from saurus.jobs.service import Jobs
from saurus.web.access import ApiKey
from saurus.web.classify import classify_work, run_classify
from saurus.web.completions import (
    completion_work,
    find_model,
    model_card,
    model_list,
    run_completion,
    run_score,
    score_work,
)
from saurus.web.jobs_routes import add_job_routes
from saurus.web.limits import HEAVY_WORK, MAX_BODY_BYTES, Deadline, Gate, Limits
from saurus.web.music import add_music_routes
from saurus.web.problems import ApiError, error_body, invalid
from saurus.web.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    CompletionRequest,
    CompletionResponse,
    ModelCard,
    ModelList,
    ScoreRequest,
    ScoreResponse,
    error_responses,
)
from saurus.web.served import ServedModel
from saurus.web.shelf import ModelShelf
from saurus.web.streaming import check_prompts, completion_events

STATIC = Path(__file__).resolve().parent / "static"
ERRORS = error_responses("a request out of the limits or malformed")
DESCRIPTION = (
    "Names and text from small character models, with OpenAI's completions API "
    "(a token is a character) and saurus's extras: `top_k`, `novel`, `/v1/score`, and for "
    "models trained on labelled names `category` and `/v1/classify`."
)


def error_response(err: ApiError) -> JSONResponse:
    """`err` as OpenAI's error reply: its status, its body, its headers."""
    body = error_body(err.status, err.message, err.param, err.code)
    return JSONResponse(body, status_code=err.status, headers=err.headers)


def field_of(err: dict[str, Any]) -> str | None:
    """The request field a pydantic error is about (its location after "body")."""
    loc = err.get("loc", ())
    return str(loc[1]) if len(loc) > 1 and isinstance(loc[1], str) else None


def field_message(param: str, errors: list[dict[str, Any]]) -> str:
    """One line for a field's errors: a union (str | list, bool | int) reports one per
    branch; a broken constraint says more than a branch of the wrong type."""
    mine = [e for e in errors if field_of(e) == param]
    constraints = [e for e in mine if not str(e.get("type", "")).endswith("_type")]
    messages = dict.fromkeys(str(e.get("msg", "invalid value")) for e in (constraints or mine))
    return f"{param}: {' or '.join(messages)}"


def validation_message(errors: list[dict[str, Any]], content_type: str) -> tuple[str, str | None]:
    """One line for what pydantic found wrong first, and the field it is about."""
    first = errors[0] if errors else {}
    param, kind = field_of(first), first.get("type", "")
    if kind == "json_invalid":
        return f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'cannot parse it')}", None
    if kind == "extra_forbidden":
        return f"unrecognized request argument: {param}", param
    if param is None:
        if "json" not in content_type:
            return "send the body as JSON, with the header Content-Type: application/json", None
        return "the body must be a JSON object", None
    return field_message(param, errors), param


async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    content_type = request.headers.get("content-type", "").lower()
    message, param = validation_message(list(exc.errors()), content_type)
    return error_response(ApiError(400, message, param=param))


async def on_api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc)


async def on_saurus_error(_: Request, exc: SaurusError) -> JSONResponse:
    return error_response(ApiError(400, str(exc)))


async def on_http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return error_response(ApiError(exc.status_code, str(exc.detail)))


async def on_memory_error(_: Request, exc: MemoryError) -> JSONResponse:
    return error_response(ApiError(400, "the request needs more memory than this server has; ask for less"))


async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    """A fault of the server's own (a bug): still one line in OpenAI's shape, no traceback."""
    return error_response(ApiError(500, f"the server failed on this request ({type(exc).__name__})"))


Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    """ASGI middleware that reads each request's body before the app sees it: at most
    `max_bytes`, counted as it comes (a chunked body too), and all of it within `seconds`
    (else 408), so that neither a huge body nor a slow client holds a handler. A body over
    the limit gets 413 once it has been read and dropped, up to as much again (a client
    that is still sending would otherwise lose the reply to a reset); a Content-Length
    above twice the limit is refused unread."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES, seconds: float = 30.0) -> None:
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > 2 * self.max_bytes:
            await self.refuse(send, 413, self.too_big)
            return
        body: list[bytes] = []
        try:
            with anyio.fail_after(self.seconds):
                size, more = 0, True
                while more and size <= 2 * self.max_bytes:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client has gone: nothing to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size <= self.max_bytes:
                        body.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            await self.refuse(send, 408, f"the body did not arrive within {self.seconds:g} s")
            return
        if size > self.max_bytes:
            await self.refuse(send, 413, self.too_big)
            return
        await self.app(scope, self.replay(b"".join(body), receive), send)

    @property
    def too_big(self) -> str:
        return f"the body must be at most {self.max_bytes // 1024**2} MiB"

    @staticmethod
    def replay(body: bytes, receive: Any) -> Any:
        """A receive() that gives the body read, then what the client sends next."""
        given = False

        async def again() -> Message:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        return again

    @staticmethod
    async def refuse(send: Any, status: int, message: str) -> None:
        reply = error_response(ApiError(status, message, headers={"Connection": "close"}))
        await send({"type": "http.response.start", "status": status, "headers": reply.raw_headers})
        await send({"type": "http.response.body", "body": reply.body})


def rendered(reply: BaseModel) -> Response:
    """The reply as JSON bytes, made on the worker thread (a big reply would otherwise be
    serialised on the event loop, holding up every other request)."""
    return Response(reply.model_dump_json(), media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(SaurusError, on_saurus_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(MemoryError, on_memory_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


def add_api_routes(app: FastAPI, served: Mapping[str, ServedModel], limits: Limits) -> None:
    gate = Gate(limits.parallel, limits.heavy, limits.queue, limits.wait_seconds)
    app.state.gate = gate

    async def gated(work: int, answer: Callable[..., Any], req: Any, request: Request) -> Response:
        """`answer(served, req, deadline)` run through the gate (its place in the queue is
        `work` characters), rendered, within the time limit."""

        def job(deadline: Deadline) -> Response:
            return rendered(answer(served, req, deadline))

        return await gate.run(work, job, limits.timeout, request.is_disconnected)

    async def streamed(work: int, events_for: Callable[[Deadline], Iterator[str]]) -> StreamingResponse:
        """The events `events_for(deadline)` makes, sent as they come (server-sent events),
        drawn on a worker thread that the gate holds until the stream ends."""
        heavy = work > HEAVY_WORK
        await gate.enter(heavy)
        events = events_for(Deadline(limits.timeout))

        async def body() -> AsyncIterator[str]:
            try:
                while (chunk := await anyio.to_thread.run_sync(next, events, None)) is not None:
                    yield chunk
            finally:
                gate.leave(heavy)

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/v1/models", response_model=ModelList, tags=["models"])
    async def list_models() -> ModelList:
        """The models this server was started with (their ids are the files' stems)."""
        return model_list(served)

    @app.get("/v1/models/{model_id}", response_model=ModelCard, responses=ERRORS, tags=["models"])
    async def get_model(model_id: str) -> ModelCard:
        """One model."""
        return model_card(find_model(served, model_id))

    @app.get("/v1/models/{model_id}/export", responses=ERRORS, tags=["models"])
    async def export_model(model_id: str) -> Response:
        """The names model as one HTML page that generates names in any browser, offline
        (what `saurus export` writes), as a download."""
        found = find_model(served, model_id)
        if found.kind == "music":  # a piano-roll model has no mode for page_html to check
            message = f"saurus export writes a page for names models; {model_id} is a music model"
            raise invalid(message, "model")
        page = await anyio.to_thread.run_sync(page_html, found.model, model_id)
        return Response(
            page,
            media_type="text/html",
            headers={"Content-Disposition": f'attachment; filename="{model_id}.html"'},
        )

    @app.post("/v1/completions", response_model=CompletionResponse, responses=ERRORS, tags=["generation"])
    async def completions(req: CompletionRequest, request: Request) -> Response:
        """Continue a prompt: new names from a names model, text from a text model."""
        work = completion_work(served, req)
        if req.stream:
            check_prompts(served, req)
            return await streamed(work, lambda deadline: completion_events(served, req, deadline))
        return await gated(work, run_completion, req, request)

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERRORS, tags=["generation"])
    async def score(req: ScoreRequest, request: Request) -> Response:
        """How likely each text is: nats and bits per character, and perplexity."""
        return await gated(score_work(served, req), run_score, req, request)

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=ERRORS, tags=["generation"])
    async def classify(req: ClassifyRequest, request: Request) -> Response:
        """The likeliest categories of each name, with their probabilities, under a names model
        trained on labelled names (Bayes' rule, the training shares as the prior)."""
        return await gated(classify_work(served, req), run_classify, req, request)


def add_offline_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle package (the web extra), so that it
    works without the network."""
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="saurus API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def create_app(
    served: Mapping[str, ServedModel],
    limits: Limits | None = None,
    *,
    api_key: str | None = None,
    cors: tuple[str, ...] = (),
    jobs: Jobs | None = None,
) -> FastAPI:
    """The web page and API serving `served` and the models `jobs` trains (none: a server
    that trains nothing, whose /v1/jobs answers 403), within `limits` (the defaults of
    saurus.web.limits.Limits when None). With `api_key`, every /v1 route needs it
    (saurus.web.access); `cors` names the origins whose pages may call the API (none by
    default)."""
    limits = Limits() if limits is None else limits
    app = FastAPI(title="saurus", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None)
    add_error_handlers(app)
    add_offline_docs(app)
    shelf = ModelShelf(served, jobs)
    add_api_routes(app, shelf, limits)
    add_music_routes(app, shelf, limits)
    add_job_routes(app, jobs)
    body_limit = MAX_BODY_BYTES if jobs is None else max(MAX_BODY_BYTES, jobs.limits.upload.max_bytes + 2**20)
    app.add_middleware(BodyLimit, max_bytes=body_limit, seconds=limits.body_timeout)
    if api_key:
        app.add_middleware(ApiKey, key=api_key)
    if cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        """Whether the server is up, how many models it serves, whether it trains (no key
        needed)."""
        return {
            "status": "ok",
            "models": len(shelf),
            "key_required": bool(api_key),
            "training": jobs is not None,
        }

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
