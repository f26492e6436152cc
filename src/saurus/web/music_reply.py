"""The reply of POST /v1/music for any music model: a drawn piece (a symusic Score) as its
MIDI file, its sound (FluidSynth where installed, else sine tones: saurus.music.render)
and its piano roll (saurus.music.roll), within the request's deadline."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from saurus.music.render import RENDER_TIMEOUT, SINE, render_wav, sine_note, wav_seconds
from saurus.music.roll import piano_roll_svg
from saurus.music.tokens import midi_bytes, seconds_of
from saurus.web.limits import Deadline
from saurus.web.schemas import MusicAudio, MusicResponse


def seconds_left(deadline: Deadline) -> float:
    return max(0.1, min(RENDER_TIMEOUT, deadline.end - time.monotonic()))


def music_reply(
    model_id: str, score: Any, deadline: Deadline, *, tokens: int = 0, frames: int | None = None
) -> MusicResponse:
    """`score` rendered and drawn for the reply (`tokens` or `frames`: what was drawn);
    past the deadline, TimeLimitError."""
    midi = midi_bytes(score)
    deadline.check()
    wav, renderer = render_wav(midi, timeout=seconds_left(deadline))
    deadline.check()
    return MusicResponse(
        id=f"music-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model_id,
        notes=int(score.note_num()),
        tokens=tokens,
        frames=frames,
        seconds=round(seconds_of(score), 3),
        midi=base64.b64encode(midi).decode("ascii"),
        audio=MusicAudio(
            renderer=renderer,  # type: ignore[arg-type]
            data=base64.b64encode(wav).decode("ascii"),
            seconds=round(wav_seconds(wav), 3),
            note=sine_note() if renderer == SINE else None,
        ),
        piano_roll=piano_roll_svg(score),
    )
