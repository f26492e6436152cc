"""The models a server offers: loaded once at start, each under its file name's stem.

Only the models named on the command line are ever served; no request names a path. A
model is of one kind: "names" and "text" models answer /v1/completions and /v1/score,
"music" models (written by `saurus music train`: token models, and the frame models of
saurus.music.frame_files, either kind) answer /v1/music.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from saurus.errors import OptionError
from saurus.files.models import MUSIC_KEY, load_with_meta
from saurus.files.pretrained import resolve as resolve_pretrained
from saurus.models.roll import RollModel
from saurus.music.frame_files import FrameFile, file_frame_kind, load_frame_file
from saurus.music.sample import MusicModel, music_model_of
from saurus.protocol import SequenceModel


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and what /v1/models says about it."""

    id: str
    model: SequenceModel | RollModel  # a RollModel only as a frame model (frames is set)
    path: Path
    created: int  # the model file's modification time, in seconds since the epoch
    music: MusicModel | None = None  # a token music model's tokens (None for the others)
    frames: FrameFile | None = None  # a frame model (None for the others)

    @property
    def mode(self) -> str:
        """lines (names) or stream (text and music, frame models too)."""
        return "stream" if isinstance(self.model, RollModel) else self.model.mode

    @property
    def kind(self) -> str:
        """The model's kind: "names" (mode lines), "text" (mode stream) or "music"."""
        if self.music is not None or self.frames is not None:
            return "music"
        return "names" if self.mode == "lines" else "text"


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
    """Load a names, text or music model (a frame model too); a diverged one is refused."""
    created = int(path.stat().st_mtime)
    if file_frame_kind(path) is not None:
        frames = load_frame_file(path)
        served = ServedModel(model_id, frames.model, path, created, frames=frames)
    else:
        model, meta = load_with_meta(path)
        music = music_model_of(model, meta, str(path)) if MUSIC_KEY in meta else None
        served = ServedModel(model_id, model, path, created, music)
    is_finite = getattr(served.model, "is_finite", None)
    if is_finite is not None and not is_finite():
        raise OptionError(f"{path} holds weights that are NaN or infinite (training diverged)")
    return served


def load_served(specs: Sequence[str | Path]) -> dict[str, ServedModel]:
    """The models to serve, by id, in the order given."""
    if not specs:
        raise OptionError("name at least one model to serve")
    paths = [resolve(spec) for spec in specs]
    return {
        model_id: load_one(model_id, path) for model_id, path in zip(model_ids(paths), paths, strict=True)
    }
