"""Small models for the tests (no shared data needed)."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.models.classic import ClassicRNN

NAMES = "anna\nbob\ncleo\ndora\nemil\nfrida\ngus\nhana\nivo\njana\nkarl\nlena\n"


def tiny_lines_model(hidden: int = 8, seed: int = 0) -> ClassicRNN:
    vocab = LinesCorpus.from_text(NAMES).vocab()
    return ClassicRNN.create(vocab, "lines", hidden=hidden, seed=seed, lowercase=True)


def tiny_stream_model(text: str = "the cat sat on the mat. ", hidden: int = 8) -> ClassicRNN:
    return ClassicRNN.create(StreamCorpus(text).vocab(), "stream", hidden=hidden, seed=1, lowercase=False)


def require(module: str) -> Any:
    """The module, or a skip (a failure under CI=true, where the 'web' extra is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"needs {module}: pip install 'saurus[web]'", allow_module_level=True)


class Hang(BaseException):
    pass


@contextlib.contextmanager
def wall_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread if the block runs longer than `seconds`."""

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
