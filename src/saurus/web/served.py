"""The models a server offers: loaded once at start, each under its file name's stem.

Only the models named on the command line are ever served; no request names a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from saurus.errors import OptionError
from saurus.files.models import load_for
from saurus.files.pretrained import resolve as resolve_pretrained
from saurus.protocol import SequenceModel


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and what /v1/models says about it."""

    id: str
    model: SequenceModel
    path: Path
    created: int  # the model file's modification time, in seconds since the epoch

    @property
    def mode(self) -> str:
        return self.model.mode


def resolve(spec: str | Path) -> Path:
    """The file a MODEL argument names: a path, or a pretrained model's name where that
    module exists (a path that exists always wins)."""
    return Path(resolve_pretrained(spec))


def model_ids(paths: Sequence[Path]) -> list[str]:
    """Each file's stem, the id the API knows it by; two files with one stem are refused."""
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise OptionError(
                f"two models would be served as {path.stem!r} ({seen[path.stem]} and {path}); "
                "the id is the file name without its suffix, so rename one"
            )
        seen[path.stem] = path
    return list(seen)


def load_one(model_id: str, path: Path) -> ServedModel:
    """Load a names or text model; a music model or a diverged one is refused."""
    model, _ = load_for(path, "text", "saurus serve serves names and text models")
    is_finite = getattr(model, "is_finite", None)
    if is_finite is not None and not is_finite():
        raise OptionError(f"{path} holds weights that are NaN or infinite (training diverged)")
    return ServedModel(model_id, model, path, int(path.stat().st_mtime))


def load_served(specs: Sequence[str | Path]) -> dict[str, ServedModel]:
    """The models to serve, by id, in the order given."""
    if not specs:
        raise OptionError("name at least one model to serve")
    paths = [resolve(spec) for spec in specs]
    return {
        model_id: load_one(model_id, path) for model_id, path in zip(model_ids(paths), paths, strict=True)
    }
