"""Load-test `saurus serve`: many requests at once, valid and invalid, from another process.

    python benchmarks/serve_load.py                              # 5,000 requests at concurrency 64
    python benchmarks/serve_load.py --requests 1000 --concurrency 32 --seed 1
    python benchmarks/serve_load.py --starvation                 # also: small requests beside a huge one
    python benchmarks/serve_load.py --url http://127.0.0.1:8000/ # a server already running

It starts `saurus serve dinos shakespeare --port 0` (the pretrained models) in a
subprocess, unless --url names a running server that serves both, and fires a fixed-seed
mix at it from this process with asyncio and httpx: completions of names and of text
(various n, max_tokens, temperatures, logprobs, stop strings, novel names), scores, model
listings, and invalid requests (bad JSON, an unknown model or field, values out of range
or of the wrong type, work above the limit, a body above 16 MiB). It prints a table: per
kind of request, the count, the replies by status, latency p50 / p99 / max, and in all the
requests per second, server errors (5xx), dropped connections (transport errors: reset,
refused, cut off, or no reply within --client-timeout) and wrong answers (a valid request
not 200, an invalid one not 4xx). The exit status is 1 when any of those three is not 0.

--starvation adds a second table: the latency of small requests alone, and while --huge
requests at the work limit (default 3) run on a server with --timeout 5 --parallel 2: one
big request runs at a time, so each ends with 503, code timeout (it ran 5 s) or
server_busy (it waited 5 s for its turn), and the small ones keep the other worker.
Figures are measured, never asserted (tests/web/test_web_load.py asserts a smaller run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

NAMES_MODEL, TEXT_MODEL = "dinos", "shakespeare"
PREFIXES = ["", "", "a", "tyr", "stego", "ve", "mega", "pachy"]
TEXT_PROMPTS = ["", "ROMEO:\n", "To be, or not", "First Citizen:\nBefore we proceed", "KING HENRY"]
NAMES = ["tyrannosaurus", "stegosaurus", "velociraptor", "xqzvw", "aaaa", "brachiosaurus", "iguanodon"]
LINES = ["Shall I compare thee to a summer's day?", "ROMEO:\nBut soft, what light", "zzzz qqq"]
HUGE_BODY = 17 * 1024**2  # above the server's 16 MiB


@dataclass(frozen=True)
class Call:
    """One request: its kind (for the table), what it sends, and whether it is valid."""

    kind: str
    method: str
    path: str
    body: bytes | None = None
    valid: bool = True


@dataclass
class Result:
    kind: str
    valid: bool
    status: int | None  # None: no reply (a transport error)
    seconds: float
    error: str = ""
    code: str | None = None  # the error's code in the reply, when there is one


def post(kind: str, path: str, body: Any, valid: bool = True) -> Call:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Call(kind, "POST", path, data, valid)


def names_call(rng: random.Random) -> Call:
    body: dict[str, Any] = {
        "model": NAMES_MODEL,
        "prompt": rng.choice(PREFIXES),
        "n": rng.choice([1, 1, 5, 5, 20, 50]),
        "temperature": rng.choice([0, 0.5, 0.8, 1.0, 1.0, 1.5]),
        "seed": rng.randrange(2**31),
    }
    if rng.random() < 0.2:
        body["top_k"] = rng.choice([3, 10])
    if rng.random() < 0.2:
        body["top_p"] = rng.choice([0.5, 0.9])
    if rng.random() < 0.1:
        body["logprobs"] = rng.choice([True, 3])
    if rng.random() < 0.1:
        body["novel"] = True
    if rng.random() < 0.1:
        body["max_tokens"] = rng.choice([5, 20])
    if rng.random() < 0.05:
        body["prompt"] = [rng.choice(PREFIXES) for _ in range(rng.randint(2, 4))]
    return post("names", "/v1/completions", body)


def text_call(rng: random.Random) -> Call:
    body: dict[str, Any] = {
        "model": TEXT_MODEL,
        "prompt": rng.choice(TEXT_PROMPTS),
        "n": rng.choice([1, 1, 2, 4]),
        "max_tokens": rng.choice([16, 64, 64, 200]),
        "temperature": rng.choice([0, 0.7, 1.0]),
        "seed": rng.randrange(2**31),
    }
    if rng.random() < 0.1:
        body["logprobs"] = rng.choice([True, 2])
    if rng.random() < 0.2:
        body["stop"] = ["\n\n"]
    return post("text", "/v1/completions", body)


def score_call(rng: random.Random) -> Call:
    if rng.random() < 0.6:
        texts: Any = [rng.choice(NAMES) for _ in range(rng.randint(1, 20))]
        return post("score", "/v1/score", {"model": NAMES_MODEL, "texts": texts})
    texts = rng.choice(LINES) if rng.random() < 0.5 else rng.sample(LINES, 2)
    return post("score", "/v1/score", {"model": TEXT_MODEL, "texts": texts})


def models_call(rng: random.Random) -> Call:
    path = rng.choice(["/v1/models", f"/v1/models/{NAMES_MODEL}", f"/v1/models/{TEXT_MODEL}"])
    return Call("models", "GET", path)


INVALID_COMPLETIONS: list[dict[str, Any]] = [
    {"model": "nope"},
    {"model": NAMES_MODEL, "n": 0},
    {"model": NAMES_MODEL, "n": 1001},
    {"model": NAMES_MODEL, "n": "3"},
    {"model": NAMES_MODEL, "n": 10**40},
    {"model": NAMES_MODEL, "temperature": 9},
    {"model": NAMES_MODEL, "temperature": "hot"},
    {"model": NAMES_MODEL, "top_p": 0},
    {"model": NAMES_MODEL, "max_tokens": 0},
    {"model": NAMES_MODEL, "logprobs": 6},
    {"model": NAMES_MODEL, "seed": -1},
    {"model": NAMES_MODEL, "prompt": 7},
    {"model": NAMES_MODEL, "prompt": "T-Rex!"},
    {"model": NAMES_MODEL, "prompt": "tyr", "max_tokens": 10_000},
    {"model": NAMES_MODEL, "echo": True},
    {"model": NAMES_MODEL, "stream": True, "logprobs": 1},
    {"model": TEXT_MODEL, "n": 1000, "max_tokens": 10_000},  # work above the limit
    {"model": TEXT_MODEL, "prompt": ["x" * 5000] * 100, "n": 10, "max_tokens": 1},
    {"model": TEXT_MODEL, "novel": True},
]
INVALID_SCORES: list[dict[str, Any]] = [
    {"model": NAMES_MODEL},
    {"model": NAMES_MODEL, "texts": []},
    {"model": NAMES_MODEL, "texts": [1]},
    {"model": NAMES_MODEL, "texts": ["a\nb"]},
    {"model": "../dinos", "texts": ["a"]},
    {"model": TEXT_MODEL, "texts": ["a" * 1_000_001]},
]
RAW_BODIES = [b"", b"{", b"[1, 2]", b"null", b'{"model": "dinos", "temperature": NaN}', b"\xff\xfe{"]


def invalid_call(rng: random.Random) -> Call:
    pick = rng.random()
    if pick < 0.55:
        return post("invalid", "/v1/completions", rng.choice(INVALID_COMPLETIONS), valid=False)
    if pick < 0.75:
        return post("invalid", "/v1/score", rng.choice(INVALID_SCORES), valid=False)
    if pick < 0.9:
        path = rng.choice(["/v1/completions", "/v1/score"])
        return post("invalid", path, rng.choice(RAW_BODIES), valid=False)
    if pick < 0.995:
        method, path = rng.choice(
            [("GET", "/v1/completions"), ("GET", "/v1/nope"), ("GET", "/v1/models/nope")]
        )
        return Call("invalid", method, path, None, valid=False)
    return post("invalid", "/v1/completions", b"{" + b" " * HUGE_BODY + b"}", valid=False)


MIX = [(names_call, 0.30), (text_call, 0.15), (score_call, 0.15), (models_call, 0.05), (invalid_call, 0.35)]


def make_calls(count: int, seed: int = 0) -> list[Call]:
    """`count` requests of the mix, the same for the same seed."""
    rng = random.Random(seed)
    makers, weights = zip(*MIX, strict=True)
    return [rng.choices(makers, weights)[0](rng) for _ in range(count)]


def error_code(reply: httpx.Response) -> str | None:
    try:
        error = reply.json().get("error")
    except (ValueError, AttributeError):
        return "not-json"
    return error.get("code") if isinstance(error, dict) else None


async def send(client: httpx.AsyncClient, call: Call) -> Result:
    headers = {"Content-Type": "application/json"} if call.body is not None else {}
    start = time.perf_counter()
    try:
        reply = await client.request(call.method, call.path, content=call.body, headers=headers)
    except httpx.TransportError as err:  # reset, refused, cut off, timed out
        why = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return Result(call.kind, call.valid, None, time.perf_counter() - start, why)
    took = time.perf_counter() - start
    code = error_code(reply) if reply.status_code != 200 else None
    return Result(call.kind, call.valid, reply.status_code, took, code=code)


async def fire(url: str, calls: Sequence[Call], concurrency: int, timeout: float = 120.0) -> list[Result]:
    """Send the calls, `concurrency` at a time (each of that many clients sends its next
    call when the last one is answered), over at most `concurrency` connections."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    results: list[Result] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            results.append(await send(client, queue.get_nowait()))

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return results


# --- the table ---


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the values, 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Summary:
    requests: int
    seconds: float
    statuses: Counter[int | None] = field(default_factory=Counter)
    server_errors: int = 0
    dropped: int = 0
    wrong: int = 0
    transport_errors: Counter[str] = field(default_factory=Counter)
    dropped_results: list[Result] = field(default_factory=list)
    p50: float = 0.0
    p99: float = 0.0
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.server_errors == 0 and self.dropped == 0 and self.wrong == 0


def is_wrong(r: Result) -> bool:
    """A valid request not answered 200, or an invalid one not answered 4xx."""
    if r.status is None:
        return False  # counted as dropped
    return r.status != 200 if r.valid else not 400 <= r.status < 500


def summarize(results: Sequence[Result], seconds: float) -> Summary:
    times = [r.seconds for r in results]
    summary = Summary(len(results), seconds, Counter(r.status for r in results))
    summary.server_errors = sum(r.status is not None and r.status >= 500 for r in results)
    summary.dropped = sum(r.status is None for r in results)
    summary.transport_errors = Counter(r.error for r in results if r.status is None)
    summary.dropped_results = [r for r in results if r.status is None]
    summary.wrong = sum(is_wrong(r) for r in results)
    summary.p50, summary.p99 = percentile(times, 50), percentile(times, 99)
    for kind in sorted({r.kind for r in results}):
        mine = [r for r in results if r.kind == kind]
        took = [r.seconds for r in mine]
        summary.kinds[kind] = {
            "count": len(mine),
            "statuses": Counter(r.status for r in mine),
            "p50": percentile(took, 50),
            "p99": percentile(took, 99),
            "max": max(took),
        }
    return summary


def status_text(statuses: Counter[int | None]) -> str:
    return ", ".join(f"{'none' if s is None else s}: {c}" for s, c in sorted(statuses.items(), key=str))


def table(summary: Summary, concurrency: int) -> str:
    ms = 1000
    lines = [
        "| kind | requests | replies by status | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for kind, k in summary.kinds.items():
        lines.append(
            f"| {kind} | {k['count']} | {status_text(k['statuses'])} | {k['p50'] * ms:.0f} "
            f"| {k['p99'] * ms:.0f} | {k['max'] * ms:.0f} |"
        )
    lines.append(
        f"| all | {summary.requests} | {status_text(summary.statuses)} | {summary.p50 * ms:.0f} "
        f"| {summary.p99 * ms:.0f} | {max((k['max'] for k in summary.kinds.values()), default=0) * ms:.0f} |"
    )
    lines += [
        "",
        f"{summary.requests} requests at concurrency {concurrency} in {summary.seconds:.1f} s: "
        f"{summary.per_second:.0f} requests/s; server errors (5xx): {summary.server_errors}; "
        f"dropped connections: {summary.dropped}; wrong answers: {summary.wrong}",
    ]
    if summary.transport_errors:
        lines.append("dropped: " + ", ".join(f"{e}: {c}" for e, c in summary.transport_errors.items()))
        lines += [f"  {r.kind} after {r.seconds:.3f} s: {r.error}" for r in summary.dropped_results]
    return "\n".join(lines)


# --- the server ---


@contextlib.contextmanager
def serving(
    *options: str, models: Sequence[str] = (NAMES_MODEL, TEXT_MODEL), log: list[str] | None = None
) -> Iterator[str]:
    """`saurus serve MODELS --port 0 OPTIONS` in a subprocess (one BLAS thread); yields its
    address once its API answers, and stops it afterwards (see serving_process)."""
    one_thread = {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    with serving_process(*options, models=models, log=log, env=one_thread) as (url, _):
        yield url


@contextlib.contextmanager
def serving_process(
    *options: str,
    models: Sequence[str] = (NAMES_MODEL, TEXT_MODEL),
    log: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`saurus serve MODELS --port 0 OPTIONS` in a subprocess, `env` added to this one's;
    yields its address (once its API answers) and the process, and stops it afterwards
    unless it has ended. What the server writes after its address (a warning, an error) is
    read all along, so that it never blocks on a full pipe, and goes to `log`."""
    command = [sys.executable, "-m", "saurus", "serve", *models, "--port", "0", *options]
    env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines = [] if log is None else log
    reader = None
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not found:
            raise RuntimeError(f"saurus serve said: {line!r}")
        reader = threading.Thread(target=lines.extend, args=(proc.stderr,), daemon=True)
        reader.start()
        url = found.group(0)
        wait_until_up(url)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if reader is not None:
            reader.join(timeout=5)


def wait_until_up(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "v1/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"saurus serve did not answer within {seconds:g} s")


def load_test(url: str, requests: int, concurrency: int, seed: int, timeout: float = 120.0) -> Summary:
    calls = make_calls(requests, seed)
    start = time.perf_counter()
    results = asyncio.run(fire(url, calls, concurrency, timeout))
    return summarize(results, time.perf_counter() - start)


# --- starvation: small requests beside a huge one ---

SMALL = {"model": NAMES_MODEL, "prompt": "a", "n": 5, "temperature": 0.8}
HUGE = {"model": TEXT_MODEL, "n": 100, "max_tokens": 10_000}  # at the work limit: 1,000,000


@dataclass
class Starvation:
    alone: list[Result]  # small requests, nothing else running
    beside: list[Result]  # small requests while the huge ones ran
    huge: list[Result]

    @property
    def small_failed(self) -> int:
        return sum(r.status != 200 for r in self.alone + self.beside)

    def p(self, results: list[Result], q: float) -> float:
        return percentile([r.seconds for r in results], q)


async def small_requests(client: httpx.AsyncClient, count: int, concurrency: int) -> list[Result]:
    calls = [post("small", "/v1/completions", {**SMALL, "seed": i}) for i in range(count)]
    results: list[Result] = []

    async def worker() -> None:
        while calls:
            results.append(await send(client, calls.pop()))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def starve(url: str, count: int = 200, concurrency: int = 4, huge: int = 1) -> Starvation:
    """Small requests alone, then the same while `huge` requests at the work limit run
    (sent first, all at once), until the last of those has its answer."""
    limits = httpx.Limits(max_connections=concurrency + huge)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        alone = await small_requests(client, count, concurrency)
        tasks = [
            asyncio.create_task(send(client, post("huge", "/v1/completions", HUGE))) for _ in range(huge)
        ]
        await asyncio.sleep(0.3)  # the huge ones are generating or waiting by now
        beside: list[Result] = []
        while not all(t.done() for t in tasks):
            beside += await small_requests(client, concurrency, concurrency)
        return Starvation(alone, beside, [await t for t in tasks])


def starvation_table(s: Starvation) -> str:
    ms = 1000
    huge = "; ".join(f"{r.status} ({r.code}) after {r.seconds:.1f} s" for r in s.huge)
    return "\n".join(
        [
            "| small requests (names, n=5) | requests | p50 (ms) | p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|---:|",
            f"| alone | {len(s.alone)} | {s.p(s.alone, 50) * ms:.0f} | {s.p(s.alone, 99) * ms:.0f} "
            f"| {s.p(s.alone, 100) * ms:.0f} |",
            f"| beside {len(s.huge)} at the work limit | {len(s.beside)} | {s.p(s.beside, 50) * ms:.0f} "
            f"| {s.p(s.beside, 99) * ms:.0f} | {s.p(s.beside, 100) * ms:.0f} |",
            "",
            f"the requests at the work limit: {huge}; small requests not 200: {s.small_failed}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests to send (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="the mix's seed (default 0)")
    parser.add_argument("--url", help="a running server (serving dinos and shakespeare) instead of a new one")
    parser.add_argument("--client-timeout", type=float, default=120.0, help="seconds to wait for a reply")
    parser.add_argument(
        "--starvation", action="store_true", help="also time small requests beside a huge one"
    )
    parser.add_argument("--huge", type=int, default=3, help="requests at the work limit in --starvation")
    parser.add_argument("--serve-options", default="--threads 1", help="options for saurus serve")
    args = parser.parse_args(argv)

    log: list[str] = []
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(serving(*args.serve_options.split(), log=log))
        summary = load_test(url, args.requests, args.concurrency, args.seed, args.client_timeout)
    print(table(summary, args.concurrency), flush=True)
    if log:
        print("\nthe server said:\n" + "".join(log).rstrip())
    if args.starvation:
        with serving(*args.serve_options.split(), "--timeout", "5", "--parallel", "2") as url:
            print()
            print(starvation_table(asyncio.run(starve(url, huge=args.huge))))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
