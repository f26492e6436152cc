"""Who may use the API: an API key on every /v1 route, when the server has one.

A server that listens beyond this machine must have a key (cli/serve.py refuses to start
without one); on 127.0.0.1 none is needed. With a key, a /v1 request needs the header
`Authorization: Bearer KEY` (compared in constant time); a missing or wrong key gets 401
in OpenAI's error shape, code invalid_api_key. The page, /health and /docs stay open:
the page asks for the key and sends it with its requests. A job's event stream may take the
key as `?key=KEY` instead (a browser's EventSource cannot send headers), and no other route.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import socket
from typing import Any
from urllib.parse import parse_qs

from saurus.web.problems import error_body

PROTECTED = "/v1"
KEY_IN_QUERY = re.compile(r"^/v1/jobs/[^/]+/events$")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine only: every address it
    resolves to is a loopback one."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


class ApiKey:
    """ASGI middleware: /v1 requests need `Authorization: Bearer KEY`."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS":  # a CORS preflight carries no key
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if not given and KEY_IN_QUERY.match(scope["path"]):
            keys = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [])
            given = keys[0].encode() if keys else b""
            scheme, token = b"bearer", given
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            await self.app(scope, receive, send)
            return
        message = "a valid API key is needed: send the header Authorization: Bearer KEY"
        if given:
            message = "the API key is wrong; send the header Authorization: Bearer KEY with the server's key"
        body = json.dumps(error_body(401, message, None, "invalid_api_key")).encode()
        headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
