"""How the server keeps one request from starving the others.

- Work: a completion may ask for n x (prompt + max_tokens) characters, summed over its
  prompts, up to MAX_REQUEST_CHARS; a score request MAX_SCORE_CHARS (saurus.web.schemas).
- Time: a request runs for at most `timeout` seconds. Generation and scoring look at a
  Deadline between steps (every draw from the random generator, every model step) and
  stop with TimeLimitError, which the API answers with 503 and code "timeout".
- Concurrency: at most `parallel` requests generate at once, and at most `heavy` of them
  are big (more than HEAVY_WORK characters of work), so small requests always have a
  worker. The rest wait in arrival order, at most `queue` of them, each for at most
  `wait` seconds; beyond that the reply is 503 with code "server_busy" and Retry-After.
- Bodies: at most MAX_BODY_BYTES, counted as they arrive (a declared Content-Length or a
  chunked body), and all of it within `body_timeout` seconds (else 413 or 408).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from saurus.web.problems import ApiError

T = TypeVar("T")

MAX_BODY_BYTES = 16 * 1024**2
HEAVY_WORK = 20_000  # characters of work above which a request is big
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0
MAX_PARALLEL = 32  # below anyio's 40 worker threads
DEFAULT_QUEUE = 256
RETRY_AFTER = 1  # seconds, in Retry-After of a busy reply
MAX_CONNECTIONS = 1000  # uvicorn's own cap (limit_concurrency): a bare 503 beyond it
# Seconds an idle connection is kept open: longer than clients keep one for reuse (httpx,
# and so OpenAI's client: 5 s), else a client may send a request on a connection just as
# the server closes it, and lose it to a reset.
KEEP_ALIVE = 20


def default_parallel() -> int:
    """The cores this process may use, from 2 to 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
    return max(2, min(8, cores))


@dataclass(frozen=True)
class Limits:
    """What one request may take of the server (see the module docstring)."""

    timeout: float = DEFAULT_TIMEOUT  # seconds a request may run
    parallel: int = field(default_factory=default_parallel)  # requests generating at once
    queue: int = DEFAULT_QUEUE  # requests waiting for a worker, at most
    wait: float | None = None  # seconds a request may wait for a worker (None: timeout)
    body_timeout: float = 30.0  # seconds for the whole body to arrive

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, int | float) and 0 < self.timeout <= MAX_TIMEOUT):
            raise ValueError(f"timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds")
        if not (isinstance(self.parallel, int) and 1 <= self.parallel <= MAX_PARALLEL):
            raise ValueError(f"parallel must be from 1 to {MAX_PARALLEL}")
        if not (isinstance(self.queue, int) and self.queue >= 0):
            raise ValueError("queue must be 0 or more")

    @property
    def heavy(self) -> int:
        """Big requests generating at once: half the workers, so that small ones always
        have one (with a single worker, big and small take turns)."""
        return max(1, self.parallel // 2)

    @property
    def wait_seconds(self) -> float:
        return self.timeout if self.wait is None else self.wait


# --- the time limit ---


class TimeLimitError(Exception):
    """A request ran past its deadline (deliberately not a SaurusError: it is no 400)."""


class Deadline:
    """A moment after which work on a request stops: check() raises TimeLimitError then."""

    def __init__(self, seconds: float = math.inf) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise TimeLimitError(f"the request ran for more than {self.seconds:g} s")

    def left(self) -> float:
        """Seconds until the deadline (0 once past it)."""
        return max(0.0, self.end - time.monotonic())


NO_DEADLINE = Deadline()


class TimedGenerator(np.random.Generator):
    """numpy's Generator that checks a deadline before each draw (generation draws from
    it once per step); it draws exactly what `np.random.default_rng(seed)` draws."""

    def __init__(self, seed: int | None, deadline: Deadline) -> None:
        super().__init__(np.random.PCG64(seed))
        self.deadline = deadline

    def random(self, *args: Any, **kwargs: Any) -> Any:
        self.deadline.check()
        return super().random(*args, **kwargs)


class TimedModel:
    """A model whose step() checks a deadline first; everything else is the model's."""

    def __init__(self, model: Any, deadline: Deadline) -> None:
        self._model = model
        self._deadline = deadline

    def step(self, state: Any, ids: np.ndarray) -> tuple[np.ndarray, Any]:
        self._deadline.check()
        return self._model.step(state, ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def timed(model: Any, deadline: Deadline) -> Any:
    return model if deadline is NO_DEADLINE else TimedModel(model, deadline)


def timeout_error(seconds: float) -> ApiError:
    return ApiError(
        503,
        f"the request ran past the time limit of {seconds:g} s per request and was stopped; "
        "ask for less (fewer prompts or texts, a smaller n or max_tokens)",
        code="timeout",
    )


def busy_error(why: str) -> ApiError:
    return ApiError(
        503,
        f"the server is busy ({why}); try again shortly",
        code="server_busy",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


# --- the gate: how many requests generate at once ---


class Waiter:
    def __init__(self, heavy: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.heavy = heavy
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Gate:
    """At most `parallel` requests at once, at most `heavy` of them big; the others wait
    in arrival order (a small one passes big ones held back by the heavy cap). Safe to
    use from several event loops and threads (a test client runs its own loop)."""

    def __init__(self, parallel: int, heavy: int, queue: int, wait: float) -> None:
        self.parallel, self.heavy, self.queue, self.wait = parallel, heavy, queue, wait
        self.lock = threading.Lock()
        self.running = 0
        self.running_heavy = 0
        self.waiting: deque[Waiter] = deque()

    def may_start(self, heavy: bool) -> bool:
        return self.running < self.parallel and (not heavy or self.running_heavy < self.heavy)

    def take(self, heavy: bool) -> None:
        self.running += 1
        self.running_heavy += heavy

    async def enter(self, heavy: bool) -> None:
        """Wait for a worker; ApiError 503 (server_busy) when the queue is full or the
        wait runs out."""
        with self.lock:
            if self.may_start(heavy):
                self.take(heavy)
                return
            if len(self.waiting) >= self.queue:
                raise busy_error(f"{self.queue} requests are waiting already")
            waiter = Waiter(heavy, asyncio.get_running_loop())
            self.waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter.future, self.wait)
        except BaseException as err:
            with self.lock:
                if waiter.granted:  # the worker came just as the wait ended: keep it
                    if isinstance(err, asyncio.TimeoutError):
                        return
                    self.release(heavy)
                else:
                    self.waiting.remove(waiter)
            if isinstance(err, asyncio.TimeoutError):
                raise busy_error(f"no worker came free within {self.wait:g} s") from None
            raise

    def leave(self, heavy: bool) -> None:
        with self.lock:
            self.release(heavy)

    def release(self, heavy: bool) -> None:
        """Give a worker back and start the waiters that may now start (lock held)."""
        self.running -= 1
        self.running_heavy -= heavy
        for waiter in list(self.waiting):
            if self.running >= self.parallel:
                break
            if self.may_start(waiter.heavy):
                self.waiting.remove(waiter)
                self.take(waiter.heavy)
                try:
                    waiter.loop.call_soon_threadsafe(wake, waiter.future)
                except RuntimeError:  # its event loop is closed: nobody is waiting there
                    self.running -= 1
                    self.running_heavy -= waiter.heavy
                    continue
                waiter.granted = True

    async def run(
        self,
        work: int,
        job: Callable[[Deadline], T],
        timeout: float,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """`job(deadline)` on a worker thread once the gate lets it in (the deadline starts
        then); TimeLimitError becomes ApiError 503 (timeout). A request whose client has
        `gone` while it waited is dropped (499, which nobody reads). The worker is held
        until the job has ended, even if the client goes meanwhile."""
        import anyio.to_thread  # the 'web' extra's (saurus serve's options need none of it)

        heavy = work > HEAVY_WORK
        await self.enter(heavy)
        try:
            if gone is not None and await gone():
                raise ApiError(499, "the client closed the connection before its turn", code="client_gone")
            return await anyio.to_thread.run_sync(job, Deadline(timeout))
        except TimeLimitError:
            raise timeout_error(timeout) from None
        finally:
            self.leave(heavy)
