"""A piece drawn from a frame model, as a symusic Score: what the web server's /v1/music
plays for a frame model, and the same piece `saurus music sample` writes for the same
frames, seed and temperature (draw_frames, then frames_score).

A bar is BEATS_PER_BAR quarter notes (the chorales' 4/4), so `bars` bars on a grid of
`step` quarters are round(bars * 4 / step) frames (4 a bar on the chorales' quarter grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saurus.music.frame_files import FrameFile, draw_frames
from saurus.music.frames import frames_score
from saurus.music.tokens import ScoredPiece

BEATS_PER_BAR = 4  # quarter notes a bar: 4/4, the chorales' metre


def frames_for_bars(bars: int, step: float) -> int:
    """The frames `bars` bars of 4/4 take on a grid of `step` quarters (at least one)."""
    return max(1, round(bars * BEATS_PER_BAR / step))


@dataclass(frozen=True)
class FramePiece(ScoredPiece):
    """Drawn frames, (T, 88) bool, and the piece they make as a one-track Score."""

    frames: np.ndarray
    score: Any


def draw_frame_piece(
    frame_file: FrameFile,
    frames: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    tempo: float | None = None,
) -> FramePiece:
    """`frames` new frames at `temperature`, on the model's grid, at `tempo` BPM (None:
    the default of saurus.music.frames.frames_score, as the command line)."""
    drawn = draw_frames(frame_file, frames, rng, temperature)
    options = {} if tempo is None else {"tempo": tempo}
    return FramePiece(drawn, frames_score(drawn, step=frame_file.step, **options))
