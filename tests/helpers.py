"""What several test folders share: small models (no shared data needed), running the
command line as a user does, and the gradient-check setup."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from saurus.cli.main import main
from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.data.vocab import Vocab
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel

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


def saurus_process(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m saurus ARGS` in a subprocess, as a user would: for what needs the
    process boundary (start-up, signals, standard input, exit codes of the interpreter)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "saurus", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def saurus(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line `saurus ARGS` in this process (cli.main: the same parser, work
    and messages, without starting Python and importing NumPy and torch again), with its
    standard output and error captured; the environment and folder are put back after."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    environ, folder = dict(os.environ), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit:  # argparse: --help, --version and usage errors
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 2)
    finally:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
    return subprocess.CompletedProcess(["saurus", *argv], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def gradcheck_setup(cell: str, layers: int, seed: int, dropout: float = 0.0, convention: str = "cho"):
    rng = np.random.default_rng(seed)
    V, H, T, B = 5, 4, 5, 3
    model = CharModel.create(
        Vocab(tuple("\nabcd")),
        "lines",
        cell=cell,
        hidden=H,
        layers=layers,
        dropout=dropout,
        seed=seed,
        dtype="float64",
        convention=convention,
    )
    for w in model.params.values():  # larger than the init, so every nonlinearity bends
        w += rng.normal(scale=0.5, size=w.shape)
    ids = rng.integers(0, V, size=(T, B))
    targets = rng.integers(0, V, size=(T, B))
    lengths = np.array([T, 2, 4])
    mask = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)
    state = [tuple(rng.normal(size=(B, H)) for _ in s) for s in model.zero_state(B)]
    readout = [tuple(rng.normal(size=(B, H)) for _ in s) for s in state]
    return model, ids, targets, mask, state, readout


def labelled_names_text(per_label: int = 40, seed: int = 0) -> str:
    """name<TAB>label lines of two categories a model tells apart quickly: Ka's names are
    made of k and a, Zo's of z and o."""
    rng = np.random.default_rng(seed)
    lines = []
    for label, letters in (("Ka", "ka"), ("Zo", "zo")):
        names = {"".join(rng.choice(list(letters), size=int(rng.integers(3, 8)))) for _ in range(per_label)}
        lines += [f"{name}\t{label}\n" for name in sorted(names)]
    return "".join(lines)


def labelled_names_model(iterations: int = 200) -> Any:
    """A small names model trained on labelled_names_text, conditioned on its category
    (about half a second with NumPy)."""
    from saurus.training.config import TrainConfig
    from saurus.training.loop import train_text

    config = TrainConfig(labelled=True, engine="numpy", hidden=16, iterations=iterations, val_fraction=0)
    return train_text(labelled_names_text(), config).model
