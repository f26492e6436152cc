"""The pretrained models that ship inside the package, usable by name.

    saurus sample                         # new dinosaur names, offline, no data needed
    saurus sample shakespeare --prefix "ROMEO:"
    saurus.load("dinos")

Each is made by a `saurus train` command that scripts/make_pretrained.py reruns; a path
that exists always wins over a pretrained name of the same spelling.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
PRETRAINED = {
    "dinos": "dinosaur names (an LSTM trained on the dinosaur list)",
    "shakespeare": "Shakespeare-like text (an LSTM trained on tiny-shakespeare)",
}
DEFAULT_MODEL = "dinos"


def pretrained_path(name: str) -> Path:
    return PRETRAINED_DIR / f"{name}.saurus"


def resolve(name_or_path: str | Path) -> Path:
    """The file a model argument names: an existing path, else a pretrained model's file."""
    path = Path(name_or_path)
    if path.exists() or str(name_or_path) not in PRETRAINED:
        return path
    return pretrained_path(str(name_or_path))
