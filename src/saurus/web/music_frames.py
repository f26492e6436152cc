"""POST /v1/music for a frame model (saurus.music.frame_files, either kind): `frames`
frames, or `bars` bars of 4/4 on the model's grid, drawn at `temperature` from `seed`
(saurus.music.frame_piece: the piece `saurus music sample MODEL --frames-count N --seed S`
writes), played and drawn as a token model's piece is (saurus.web.music_reply).

The notes model checks the deadline at every step, the roll model at every frame's draw
(and once it is done, at temperature 0: a frame is one step, and a piece at most
MAX_MUSIC_FRAMES of them).
"""

from __future__ import annotations

import dataclasses

from saurus.errors import SaurusError
from saurus.music.frame_files import NOTES, FrameFile
from saurus.music.frame_piece import draw_frame_piece, frames_for_bars
from saurus.web.limits import NO_DEADLINE, Deadline, TimedGenerator, timed
from saurus.web.music_reply import music_reply
from saurus.web.problems import invalid
from saurus.web.schemas import MAX_MUSIC_FRAMES, MusicRequest, MusicResponse

WORK_PER_FRAME = 8  # characters of work a frame counts as (a chorale's frame: 4 notes and its end)
TOKEN_FIELDS = {"max_tokens": None, "top_k": 0, "top_p": 1.0}  # and their defaults


def frame_count(req: MusicRequest, frame_file: FrameFile) -> int:
    """The frames the request asks for (ApiError when refused): `frames`, else `bars` bars."""
    for name, default in TOKEN_FIELDS.items():
        if getattr(req, name) != default:
            raise invalid(
                f"{name} applies to token music models; {req.model} is a frame model, which draws "
                "with temperature only (ask for frames or bars)",
                name,
            )
    if req.frames is not None:
        if "bars" in req.model_fields_set:
            raise invalid("give frames or bars, not both", "frames")
        return req.frames
    count = frames_for_bars(req.bars, frame_file.step)
    if count > MAX_MUSIC_FRAMES:
        raise invalid(
            f"{req.bars} bars are {count:,} frames of {frame_file.step:g} quarters on {req.model}'s grid, "
            f"more than {MAX_MUSIC_FRAMES:,}; ask for fewer bars",
            "bars",
        )
    return count


def frame_work(req: MusicRequest, frame_file: FrameFile) -> int:
    """Check a frame model's request (ApiError when refused); its work for the gate."""
    return frame_count(req, frame_file) * WORK_PER_FRAME


def run_frame_music(
    frame_file: FrameFile, req: MusicRequest, deadline: Deadline = NO_DEADLINE
) -> MusicResponse:
    """The piece of a frame model, as MIDI, sound and piano roll; past the deadline it
    stops with TimeLimitError (saurus.web.limits)."""
    count = frame_count(req, frame_file)
    if frame_file.kind == NOTES:  # its steps look at the deadline
        frame_file = dataclasses.replace(frame_file, model=timed(frame_file.model, deadline))
    try:
        piece = draw_frame_piece(
            frame_file,
            count,
            TimedGenerator(req.seed, deadline),  # draws as np.random.default_rng(seed) does
            req.temperature,
            req.tempo,
        )
        deadline.check()
        return music_reply(req.model, piece.score, deadline, frames=count)
    except SaurusError as err:
        raise invalid(str(err)) from None
