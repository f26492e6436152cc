"""`saurus serve MODEL...`: the web page and HTTP API. Argument parsing and starting only;
the server is saurus.web.app, its limits saurus.web.limits. FastAPI and uvicorn are
imported when the command runs."""

from __future__ import annotations

import argparse
import os
import socket

from saurus.cli.args import add_command, float_value, int_value, say
from saurus.errors import OptionError, os_reason
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


SERVE_USAGE = """\
serve models on a web page and an OpenAI-style HTTP API (needs the 'web' extra)
saurus serve dinos.saurus
saurus serve dinos.saurus sonnets.saurus --port 8080
saurus serve dinos --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"   # other machines, with a key
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
        nargs="+",
        metavar="MODEL",
        help="model files (or pretrained names such as dinos); the API knows each by its file "
        "name without the suffix (dinos.saurus: dinos)",
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
    p.set_defaults(run=cmd_serve)


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
    """A socket bound to host:port, so that a port in use is one line, not a traceback."""
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
    except OSError as err:
        sock.close()
        raise OptionError(f"cannot listen on {host}:{port}: {os_reason(err)}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def cmd_serve(args: argparse.Namespace) -> int:
    check_extra()
    import uvicorn

    from saurus.web.app import create_app

    if not args.api_key and not is_loopback(args.host):
        raise OptionError(
            f"--host {args.host} listens beyond this machine; give --api-key KEY (or set "
            f"{API_KEY_ENV}) so that only those with the key can use the API"
        )
    served = load_served(args.models)
    limits = Limits(timeout=args.timeout, parallel=args.parallel or default_parallel())
    sock = listen(args.host, args.port)
    config = uvicorn.Config(
        create_app(served, limits, api_key=args.api_key, cors=tuple(args.cors)),
        log_level="warning",
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    say(f"serving {', '.join(served)} at {url_of(sock)} (API docs at {url_of(sock)}docs); Ctrl-C stops")
    with sock:
        server.run(sockets=[sock])
    return 0
