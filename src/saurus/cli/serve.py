"""`saurus serve MODEL...`: the web page and HTTP API. Argument parsing and starting only;
the server is saurus.web.app, its limits saurus.web.limits. FastAPI and uvicorn are
imported when the command runs."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saurus.cli.args import add_command, float_value, int_value, say
from saurus.errors import OptionError, os_reason
from saurus.jobs.runner import NICE
from saurus.jobs.service import MAX_JOB_BUDGET, MAX_QUEUED, JobLimits, Jobs, default_data_dir
from saurus.jobs.uploads import (
    MAX_DISK_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_CHARS,
    MAX_UPLOAD_LINES,
    MiB,
    UploadLimits,
)
from saurus.web.access import is_loopback
from saurus.web.limits import (
    DEFAULT_TIMEOUT,
    KEEP_ALIVE,
    MAX_CONNECTIONS,
    MAX_PARALLEL,
    MAX_TIMEOUT,
    Limits,
    default_parallel,
)
from saurus.web.served import load_served

API_KEY_ENV = "SAURUS_API_KEY"
NEEDS_EXTRA = "needs the 'web' extra: pip install 'saurus[web]'"
MAX_PORT = 65535
MAX_JOB_SLOTS = 64
GRACEFUL_SHUTDOWN = 20  # seconds event streams get to end on Ctrl-C: past a job's STOP_WAIT


SERVE_USAGE = """\
the studio: train, watch and sample on a web page, and an OpenAI-style HTTP API (needs the 'web' extra)
saurus serve                                  # the studio: train from the page
saurus serve dinos.saurus sonnets.saurus --port 8080
saurus serve dinos --no-training              # sampling only
saurus serve --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"   # other machines, with a key
"""


def port_value(text: str) -> int:
    value = int_value(text)
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be from 0 (any free port) to {MAX_PORT}, got {value}")
    return value


def add_serve_command(sub: argparse._SubParsersAction) -> None:
    """Register `saurus serve`."""
    p = add_command(sub, "serve", SERVE_USAGE)
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="model files (or pretrained names such as dinos); the API knows each by its file "
        "name without the suffix (dinos.saurus: dinos). None: only the models trained here",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=port_value, default=8000, help="port (default: 8000; 0: any free port)")
    p.add_argument(
        "--timeout",
        type=timeout_value,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"the most time one request may run; past it the reply is 503, code timeout "
        f"(default: {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--parallel",
        type=parallel_value,
        default=None,
        metavar="N",
        help="requests that generate at once, at most half of them big; the rest wait their turn "
        "(default: the cores, from 2 to 8)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        metavar="KEY",
        help=f"every /v1 request must send Authorization: Bearer KEY (default: ${API_KEY_ENV}); "
        "needed to listen beyond this machine",
    )
    p.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. https://example.org) call the API; repeat for more (default: none)",
    )
    add_training_options(p)
    p.set_defaults(run=cmd_serve)


def add_training_options(p: argparse.ArgumentParser) -> None:
    """The options of the jobs that the page and /v1/jobs train."""
    g = p.add_argument_group("training from the page and /v1/jobs")
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where the jobs, their uploads and models live (default: {default_data_dir()})",
    )
    g.add_argument("--no-training", action="store_true", help="serve the models only: no jobs, no uploads")
    g.add_argument(
        "--jobs", type=jobs_value, default=1, metavar="N", help="jobs that train at once (default: 1)"
    )
    g.add_argument(
        "--nice",
        type=nice_value,
        default=NICE,
        metavar="N",
        help=f"the jobs' CPU priority, 0 to 19 (default: {NICE}: sampling requests come first)",
    )
    g.add_argument(
        "--resume-jobs",
        action="store_true",
        help="resume the jobs a stopped or killed server left interrupted (default: list them so)",
    )
    g.add_argument(
        "--max-upload-mb",
        type=mib_value,
        default=MAX_UPLOAD_BYTES // MiB,
        metavar="MB",
        help=f"the largest upload (default: {MAX_UPLOAD_BYTES // MiB})",
    )
    g.add_argument(
        "--max-upload-chars",
        type=count_value,
        default=MAX_UPLOAD_CHARS,
        metavar="N",
        help=f"the most characters an upload may hold (default: {MAX_UPLOAD_CHARS:,})",
    )
    g.add_argument(
        "--max-upload-lines",
        type=count_value,
        default=MAX_UPLOAD_LINES,
        metavar="N",
        help=f"the most lines an upload may hold (default: {MAX_UPLOAD_LINES:,})",
    )
    g.add_argument(
        "--max-budget",
        type=budget_value,
        default=MAX_JOB_BUDGET,
        metavar="SECONDS",
        help=f"the longest time budget a job may ask for (default: {MAX_JOB_BUDGET:g})",
    )
    g.add_argument(
        "--max-queued",
        type=queued_value,
        default=MAX_QUEUED,
        metavar="N",
        help=f"jobs that may wait for their turn (default: {MAX_QUEUED})",
    )
    g.add_argument(
        "--max-disk-mb",
        type=mib_value,
        default=MAX_DISK_BYTES // MiB,
        metavar="MB",
        help=f"the most the data folder's uploads and models may hold (default: {MAX_DISK_BYTES // MiB})",
    )


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A parser of whole numbers from `low` to `high`."""

    def value(text: str) -> int:
        found = int_value(text)
        if not low <= found <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {found}")
        return found

    return value


jobs_value = int_range(1, MAX_JOB_SLOTS)
nice_value = int_range(0, 19)
queued_value = int_range(0, 10_000)


def count_value(text: str) -> int:
    value = int_value(text)
    if not 1 <= value <= 1 << 40:
        raise argparse.ArgumentTypeError(f"must be from 1 to {1 << 40}, got {value}")
    return value


def mib_value(text: str) -> int:
    value = int_value(text)
    if not 1 <= value <= 1 << 20:
        raise argparse.ArgumentTypeError(f"must be from 1 to {1 << 20} (MiB), got {value}")
    return value


def budget_value(text: str) -> float:
    return float_value(text, lambda v: 0 < v <= 7 * 24 * 3600, "above 0 and at most a week, in seconds")


def open_jobs(args: argparse.Namespace) -> Jobs | None:
    """The jobs of --data-dir, their queue started (None with --no-training)."""
    if args.no_training:
        return None
    limits = JobLimits(
        max_budget=args.max_budget,
        max_queued=args.max_queued,
        upload=UploadLimits(
            max_bytes=args.max_upload_mb * MiB,
            max_chars=args.max_upload_chars,
            max_lines=args.max_upload_lines,
            max_disk=args.max_disk_mb * MiB,
        ),
    )
    folder = args.data_dir if args.data_dir is not None else default_data_dir()
    return Jobs(folder.expanduser(), slots=args.jobs, limits=limits, resume=args.resume_jobs, nice=args.nice)


def timeout_value(text: str) -> float:
    wanted = f"above 0 and at most {MAX_TIMEOUT:g} seconds"
    return float_value(text, lambda v: 0 < v <= MAX_TIMEOUT, wanted)


def parallel_value(text: str) -> int:
    value = int_value(text)
    if not 1 <= value <= MAX_PARALLEL:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_PARALLEL}, got {value}")
    return value


def check_extra() -> None:
    """The 'web' extra's packages, or an OptionError saying how to install them."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise OptionError(NEEDS_EXTRA) from None


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (a port in use is one line, not a traceback). It
    listens before the jobs are recovered and the app is built, so a client that comes
    as soon as the address is printed waits for its answer instead of being refused."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise OptionError(f"cannot listen on {host}:{port}: {os_reason(err)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)  # from now on a client waits in the backlog, never refused
    except OSError as err:
        sock.close()
        raise OptionError(f"cannot listen on {host}:{port}: {os_reason(err)}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def studio_server_class() -> type:
    """uvicorn's Server that, on Ctrl-C or SIGTERM, first halts the jobs: each stops at a
    step boundary and ends interrupted, and the event streams that follow them end, so
    that the server's graceful shutdown does not wait for a job to finish."""
    import uvicorn

    class StudioServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, jobs: Jobs | None) -> None:
            super().__init__(config)
            self.jobs = jobs

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.jobs is not None:
                self.jobs.runner.halt()
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            """Wait for the halted jobs to save and be marked interrupted before the
            process ends (uvicorn raises SIGTERM again once it has shut down)."""
            await super().shutdown(sockets)
            if self.jobs is not None:
                await asyncio.to_thread(self.jobs.close)

    return StudioServer


def cmd_serve(args: argparse.Namespace) -> int:
    check_extra()
    import uvicorn

    from saurus.web.app import create_app

    if not args.api_key and not is_loopback(args.host):
        raise OptionError(
            f"--host {args.host} listens beyond this machine; give --api-key KEY (or set "
            f"{API_KEY_ENV}) so that only those with the key can use the API"
        )
    if not args.models and args.no_training:
        raise OptionError("nothing to serve: name a model, or leave out --no-training to train from the page")
    served = load_served(args.models) if args.models else {}
    limits = Limits(timeout=args.timeout, parallel=args.parallel or default_parallel())
    sock = listen(args.host, args.port)
    jobs = open_jobs(args)
    try:
        config = uvicorn.Config(
            create_app(served, limits, api_key=args.api_key, cors=tuple(args.cors), jobs=jobs),
            log_level="warning",
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        )
        server = studio_server_class()(config, jobs)
        what = ", ".join(served) or "no models yet"
        trains = "" if jobs is None else f"; training jobs in {jobs.folder}"
        say(f"serving {what} at {url_of(sock)} (API docs at {url_of(sock)}docs){trains}; Ctrl-C stops")
        with sock:
            server.run(sockets=[sock])
    finally:
        if jobs is not None:
            jobs.close()
    return 0
