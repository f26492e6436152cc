"""saurus: small character-level sequence models that invent new names and text.

>>> import numpy as np, saurus
>>> result = saurus.train_file("dinos.txt", saurus.TrainConfig(lowercase=True, time_budget=10))
>>> saurus.save(result.model, "dinos.saurus")
>>> saurus.generate_lines(saurus.load("dinos.saurus"), 5, np.random.default_rng(0))

The public API is re-exported here and imported on first use, so that `import saurus`
(and the command line's start, where Ctrl-C must already be handled) stays light.
"""

from __future__ import annotations

import _signal  # (the C module: `import signal` takes long enough to be interrupted)
import sys as _sys


def _record_interrupt(signum: int, frame: object) -> None:
    """The `saurus` command's first SIGINT handler, while the package itself loads: it only
    records the interrupt (raising here would end in runpy's traceback, or be swallowed by
    an import's weakref callback); saurus.entry acts on the record."""
    _interrupted[0] = True


_interrupted = [False]  # a Ctrl-C came while the command was starting (saurus.entry)
if (_sys.argv[:1] == ["-m"] or _sys.argv[0].endswith(("/saurus", "\\saurus", "saurus.exe"))) and (
    _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
):  # (`python -m saurus` or the `saurus` script, not a program importing the library)
    _signal.signal(_signal.SIGINT, _record_interrupt)

import importlib  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

__version__ = "0.1.0"

_EXPORTS = {
    "saurus.data.corpus": ("LinesCorpus", "StreamCorpus", "make_corpus", "read_text"),
    "saurus.errors": ("DataError", "ModelFileError", "OptionError", "SaurusError", "VocabularyError"),
    "saurus.generation.scoring": ("LossReport", "evaluate", "score_strings"),
    "saurus.files.models": ("load", "save"),
    "saurus.generation.sampling": (
        "generate_lines",
        "generate_text",
        "generate_texts",
        "iter_lines",
        "iter_text",
        "iter_texts",
    ),
    "saurus.training.loop": ("TrainConfig", "TrainResult", "train_file", "train_text"),
    "saurus.data.vocab": ("Vocab",),
    "saurus.generation.constraints": ("Constraints",),
    "saurus.generation.likely": ("most_likely_names",),
    "saurus.generation.categories": ("classify", "conditioned"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "Constraints",
    "DataError",
    "LinesCorpus",
    "LossReport",
    "ModelFileError",
    "OptionError",
    "SaurusError",
    "StreamCorpus",
    "TrainConfig",
    "TrainResult",
    "Vocab",
    "VocabularyError",
    "__version__",
    "classify",
    "conditioned",
    "evaluate",
    "generate_lines",
    "generate_text",
    "generate_texts",
    "iter_lines",
    "iter_text",
    "iter_texts",
    "load",
    "make_corpus",
    "most_likely_names",
    "read_text",
    "save",
    "score_strings",
    "train_file",
    "train_text",
]  # every name of _WHERE, and __version__

if TYPE_CHECKING:
    from saurus.data.corpus import LinesCorpus, StreamCorpus, make_corpus, read_text
    from saurus.data.vocab import Vocab
    from saurus.errors import DataError, ModelFileError, OptionError, SaurusError, VocabularyError
    from saurus.files.models import load, save
    from saurus.generation.categories import classify, conditioned
    from saurus.generation.constraints import Constraints
    from saurus.generation.likely import most_likely_names
    from saurus.generation.sampling import (
        generate_lines,
        generate_text,
        generate_texts,
        iter_lines,
        iter_text,
        iter_texts,
    )
    from saurus.generation.scoring import LossReport, evaluate, score_strings
    from saurus.training.loop import TrainConfig, TrainResult, train_file, train_text


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'saurus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
