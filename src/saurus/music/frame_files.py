"""Frame models in model files, whichever kind: the notes-as-tokens model
(saurus.music.frame_model: "notes") or the piano-roll model (saurus.models.roll: "roll").

One door for the front ends: which kind a file holds, load it, score pieces under both
conventions of saurus.music.frame_eval, draw new frames, save with the grid the model
was trained on (FRAME_DATA_KEY: {"step": quarters, "source": ..., "valid": {...}}).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saurus.errors import OptionError
from saurus.files.model_file import load_model_file
from saurus.files.pretrained import resolve
from saurus.files.roll import load_roll, save_roll
from saurus.models.roll import RollModel
from saurus.music.frame_eval import Convention
from saurus.music.frame_model import FrameModel, is_frame_model, load_frame_model, save_frame_model
from saurus.music.frame_sample import sample_frames
from saurus.music.frame_score import frame_nll
from saurus.music.frames import MAX_FRAMES, QUARTER
from saurus.music.roll_train import evaluate_roll

NOTES, ROLL = "notes", "roll"
FRAME_KINDS = (NOTES, ROLL)
FRAME_DATA_KEY = "frame_data"
SAMPLE_FRAMES = 64  # frames drawn when no count is given: about a chorale (JSB's median is 57)


@dataclass(frozen=True)
class FrameFile:
    kind: str  # NOTES or ROLL
    model: FrameModel | RollModel
    meta: dict[str, Any]

    @property
    def step(self) -> float:
        """The grid, in quarter notes, of the frames the model was trained on."""
        data = self.meta.get(FRAME_DATA_KEY)
        step = data.get("step") if isinstance(data, dict) else None
        ok = isinstance(step, int | float) and not isinstance(step, bool) and 0 < step <= 64
        return float(step) if ok else QUARTER


def frame_kind(meta: dict[str, Any]) -> str | None:
    """NOTES or ROLL for a frame model's metadata; None for any other model."""
    if meta.get("kind") == RollModel.kind:
        return ROLL
    return NOTES if is_frame_model(meta) else None


def file_frame_kind(path: str | Path) -> str | None:
    """The frame kind of a model file (None: another model); a damaged file is a ModelFileError."""
    return frame_kind(load_model_file(resolve(path)).meta)


def load_frame_file(path: str | Path) -> FrameFile:
    """The frame model of a file, either kind; any other model is an OptionError."""
    kind = file_frame_kind(path)
    if kind is None:
        raise OptionError(f"{path} is not a frame model (train one with 'saurus music train jsb')")
    model, meta = load_roll(path) if kind == ROLL else load_frame_model(path)
    return FrameFile(kind, model, meta)


def save_frame_file(kind: str, model: FrameModel | RollModel, path: str | Path, data: dict[str, Any]) -> None:
    """Write a frame model atomically, `data` (its grid, source, scores) under FRAME_DATA_KEY."""
    extra = {FRAME_DATA_KEY: data}
    if kind == ROLL:
        assert isinstance(model, RollModel)
        save_roll(model, path, extra=extra)
    else:
        assert not isinstance(model, RollModel)
        save_frame_model(model, path, extra=extra)


def score_pieces(frame_file: FrameFile, pieces: Sequence[np.ndarray]) -> dict[Convention, float]:
    """NLL per frame (nats) of (T, 88) pieces: {"all": ..., "skip-first": ...}."""
    if isinstance(frame_file.model, RollModel):
        return evaluate_roll(frame_file.model, pieces)
    return frame_nll(frame_file.model, pieces)


def draw_frames(
    frame_file: FrameFile, frames: int, rng: np.random.Generator, temperature: float = 1.0
) -> np.ndarray:
    """(frames, 88) bool: new frames drawn at `temperature` from the generator."""
    if not 1 <= frames <= MAX_FRAMES:
        raise OptionError(f"the number of frames must lie in 1..{MAX_FRAMES:,}, got {frames}")
    if isinstance(frame_file.model, RollModel):
        return frame_file.model.sample(1, frames, rng, temperature)[0]
    return sample_frames(frame_file.model, frames, rng, temperature=temperature)


def piece_frames(pieces: Sequence[np.ndarray]) -> int:
    """The frames of a split, all of them (the "all" convention's count)."""
    return int(sum(len(p) for p in pieces))
