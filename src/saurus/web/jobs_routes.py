"""Training jobs over HTTP: /v1/jobs (saurus.jobs.service does the work).

    POST   /v1/jobs                 multipart form (file or dataset, options) or JSON
    GET    /v1/jobs                 every job, newest first
    GET    /v1/jobs/{id}            one job
    GET    /v1/jobs/{id}/events     server-sent events: progress, status, end
    DELETE /v1/jobs/{id}            stop it (its best model is kept)
    POST   /v1/jobs/{id}/resume     continue an interrupted or stopped job
    DELETE /v1/models/{id}          delete a job's model, files and upload (once it has ended)

A server started with --no-training answers 403 on every one of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from saurus.jobs.progress import LogReader, point_of
from saurus.jobs.service import JobError, JobRequest, Jobs, job_view
from saurus.jobs.store import FINISHED
from saurus.web.problems import ApiError

FIELDS = {
    "file", "dataset", "name", "mode", "time_budget", "iterations", "engine", "model", "hidden",
    "layers", "seed", "lowercase", "labelled", "text", "filename",
}  # fmt: skip
NUMBERS = {"time_budget": float, "iterations": int, "hidden": int, "layers": int, "seed": int}
EVENT_POLL = 0.25  # seconds between looks at a job's log and record
PING = 15.0  # seconds between comments that keep an idle event stream open
MAX_FORM_FIELDS = 20
SWITCHES = ("lowercase", "labelled")


def refused(err: JobError) -> ApiError:
    return ApiError(err.status, str(err), param=err.param)


def form_value(name: str, value: str) -> Any:
    """A form field as the type its option takes ("" is left out)."""
    value = value.strip()
    if value == "":
        return None
    if name in SWITCHES:
        if value.lower() not in ("1", "0", "true", "false", "on", "off", "yes", "no"):
            raise ApiError(400, f"{name} must be true or false", param=name)
        return value.lower() in ("1", "true", "on", "yes")
    kind = NUMBERS.get(name)
    if kind is None:
        return value
    try:
        return kind(value)
    except ValueError:
        wanted = "a number" if kind is float else "a whole number"
        raise ApiError(400, f"{name} must be {wanted}, got {value[:40]!r}", param=name) from None


async def read_request(request: Request) -> JobRequest:
    """The job asked for: a multipart form (an upload) or a JSON object."""
    kind = request.headers.get("content-type", "").lower()
    fields: dict[str, Any] = {}
    if kind.startswith("multipart/form-data") or kind.startswith("application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
        except Exception as err:  # starlette's parser: a malformed or oversized form
            raise ApiError(400, f"the form cannot be read: {str(err)[:200] or type(err).__name__}") from None
        for name, value in form.multi_items():
            if name not in FIELDS:
                raise ApiError(400, f"unrecognized request argument: {name[:40]}", param=name[:40])
            if name in fields:
                raise ApiError(400, f"{name} is given twice", param=name)
            if isinstance(value, UploadFile):
                if name != "file":
                    raise ApiError(400, f"{name} must be a value, not a file", param=name)
                fields["upload"] = await value.read()
                fields["filename"] = value.filename
            elif name == "file":
                raise ApiError(400, "file must be a file", param="file")
            else:
                fields[name] = form_value(name, value)
    elif "json" in kind:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        for name, value in body.items():
            if name not in FIELDS or name == "file":
                raise ApiError(400, f"unrecognized request argument: {str(name)[:40]}", param=str(name)[:40])
            fields[name] = value
    else:
        raise ApiError(400, "send a multipart form (a file and options) or a JSON object")
    if "text" in fields:  # the data as a field, in a form or in JSON
        if not isinstance(fields["text"], str):
            raise ApiError(400, "text must be a string: the training data", param="text")
        if "upload" in fields:
            raise ApiError(400, "give the data as a file or as text, not both", param="text")
        fields["upload"] = fields.pop("text").encode("utf-8", "surrogatepass")
    for name in ("dataset", "name", "filename", "mode", "engine", "model"):
        if name in fields and fields[name] is not None and not isinstance(fields[name], str):
            raise ApiError(400, f"{name} must be a string", param=name)
    return JobRequest(**{k: v for k, v in fields.items() if v is not None})


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def job_events(jobs: Jobs, job_id: str) -> AsyncIterator[str]:
    """Every point so far, then each new one as its evaluation is logged, a status event at
    each change of state, and an end event when the job is done."""
    job = jobs.get(job_id)
    reader, status, quiet = LogReader(job.model_path), None, time.monotonic()
    while True:
        job = jobs.get(job_id)
        ran = time.time() - job.started if job.started else 0.0
        for record in await anyio.to_thread.run_sync(reader.new_records):
            point = point_of(record, job.options, ran)
            if job.status != "running":
                point["eta"] = None
            yield sse("progress", point)
            quiet = time.monotonic()
        if job.status != status:
            status = job.status
            view = await anyio.to_thread.run_sync(job_view, job, jobs)
            yield sse("status", view)
            quiet = time.monotonic()
            if status in FINISHED or status == "interrupted":
                yield sse("end", view)
                return
        if jobs.runner.stopping and status == "queued":  # the server is shutting down
            return
        if time.monotonic() - quiet > PING:
            yield ": ping\n\n"
            quiet = time.monotonic()
        await anyio.sleep(EVENT_POLL)


def add_job_routes(app: FastAPI, jobs: Jobs | None) -> None:
    """Register /v1/jobs; `jobs` None: this server trains nothing (403)."""

    def the_jobs() -> Jobs:
        if jobs is None:
            raise ApiError(403, "this server serves models only (started with --no-training)")
        return jobs

    async def run(call: Any, *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(call, *args)
        except JobError as err:
            raise refused(err) from None

    async def view(job: Any) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(job_view, job, the_jobs())

    @app.post("/v1/jobs", tags=["training"])
    async def create_job(request: Request) -> dict[str, Any]:
        """Train a model: a multipart form with `file` (a UTF-8 list or text) or `dataset`,
        and the options `time_budget` (seconds; default 60), `mode` (auto, lines, stream),
        `name`, `iterations`, `engine`, `model`, `hidden`, `layers`, `seed`, `lowercase`,
        `labelled`. A `.tsv` or `.csv` file of name and label (or `labelled` true, for
        name<TAB>label lines) trains one model conditioned on the label: its names come by
        `category`, and /v1/classify answers for it. JSON works too, with `text` for the
        data. Returns the job, queued."""
        found = the_jobs()
        req = await read_request(request)
        owner = request.client.host if request.client else "unknown"
        return await view(await run(found.create, req, owner))

    @app.get("/v1/jobs", tags=["training"])
    async def list_jobs() -> dict[str, Any]:
        """Every job of this server, newest first."""
        found = the_jobs()
        records = await run(found.all)
        return {"object": "list", "data": [await view(job) for job in records]}

    @app.get("/v1/jobs/{job_id}", tags=["training"])
    async def get_job(job_id: str) -> dict[str, Any]:
        """One job: its state, data, options, progress and model."""
        return await view(await run(the_jobs().get, job_id))

    @app.delete("/v1/jobs/{job_id}", tags=["training"])
    async def cancel_job(job_id: str) -> dict[str, Any]:
        """Stop a job; a running one stops at its next step and keeps its best model."""
        return await view(await run(the_jobs().cancel, job_id))

    @app.post("/v1/jobs/{job_id}/resume", tags=["training"])
    async def resume_job(job_id: str) -> dict[str, Any]:
        """Queue an interrupted or stopped job again, to go on from its training state."""
        return await view(await run(the_jobs().resume, job_id))

    @app.delete("/v1/models/{model_id}", tags=["models"])
    async def delete_model(model_id: str) -> dict[str, Any]:
        """Delete a model trained here, with its job, its files and its upload (the models
        named on the command line are never deleted)."""
        found = the_jobs()
        job = await run(found.delete, model_id)
        return {"id": job.id, "object": "model", "deleted": True}

    @app.get("/v1/jobs/{job_id}/events", tags=["training"])
    async def follow_job(job_id: str) -> StreamingResponse:
        """Server-sent events: `progress` (step, seconds, eta, train_loss, val_loss, best)
        for every evaluation so far and each new one, `status` (the job) at each change,
        and `end` (the job) when it is done."""
        found = the_jobs()
        await run(found.get, job_id)
        return StreamingResponse(
            job_events(found, job_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
