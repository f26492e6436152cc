"""POST /v1/music: a piece improvised by a music model, as a MIDI file, as sound and as
a piano roll (no HTTP in the functions above `add_music_routes`).

The piece is what `saurus music sample --bars N --seed S` writes (saurus.music.sample's
`improvise_piece`, the same draws for the same seed); the sound comes from FluidSynth
where it and a General MIDI soundfont are installed, else from sine tones
(saurus.music.render). Generation runs on a worker thread through the server's gate, as
completions do, and stops at the time limit (saurus.web.limits).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import Response

from saurus.errors import SaurusError
from saurus.generation.decoding import Decoding
from saurus.music.render import RENDER_TIMEOUT, SINE, render_wav, sine_note, wav_seconds
from saurus.music.roll import piano_roll_svg
from saurus.music.sample import TOKENS_PER_BAR_CAP, MusicModel, improvise_piece
from saurus.web.completions import find_model
from saurus.web.limits import NO_DEADLINE, Deadline, Gate, Limits, TimedGenerator, timed
from saurus.web.problems import invalid
from saurus.web.schemas import MusicAudio, MusicRequest, MusicResponse, error_responses
from saurus.web.served import ServedModel

MUSIC_ERRORS = error_responses("not a music model, or a request out of the limits")


def music_model(served: Mapping[str, ServedModel], model_id: str) -> MusicModel:
    """The music model served as `model_id`; a names or text model is refused."""
    found = find_model(served, model_id)
    if found.music is None:
        raise invalid(
            f"{model_id} is a {found.kind} model: /v1/music needs a music model "
            "(trained with 'saurus music train'); use POST /v1/completions for this one",
            "model",
        )
    return found.music


def token_cap(req: MusicRequest) -> int:
    """The most tokens the piece may draw: max_tokens, else TOKENS_PER_BAR_CAP a bar."""
    return req.max_tokens if req.max_tokens is not None else req.bars * TOKENS_PER_BAR_CAP


def music_work(served: Mapping[str, ServedModel], req: MusicRequest) -> int:
    """Check a music request (ApiError when refused); the tokens of work it asks for."""
    music_model(served, req.model)
    return token_cap(req)


def seconds_left(deadline: Deadline) -> float:
    return max(0.1, min(RENDER_TIMEOUT, deadline.end - time.monotonic()))


def run_music(
    served: Mapping[str, ServedModel], req: MusicRequest, deadline: Deadline = NO_DEADLINE
) -> MusicResponse:
    """POST /v1/music: improvise `bars` bars (at most max_tokens tokens), render them, draw
    them. Past the deadline it stops with TimeLimitError (saurus.web.limits)."""
    music = music_model(served, req.model)
    stepped = MusicModel(timed(music.model, deadline), music.table)  # its steps look at the deadline
    try:
        how = Decoding.from_options(req.temperature, req.top_k, req.top_p)
        piece = improvise_piece(
            stepped,
            TimedGenerator(req.seed, deadline),  # draws as np.random.default_rng(seed) does
            how,
            length=req.max_tokens,
            bars=req.bars,
            tempo=req.tempo,
        )
        midi = piece.midi()
        deadline.check()
        wav, renderer = render_wav(midi, timeout=seconds_left(deadline))
        deadline.check()
    except SaurusError as err:
        raise invalid(str(err)) from None
    return MusicResponse(
        id=f"music-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=req.model,
        notes=piece.notes,
        tokens=piece.drawn,
        seconds=round(piece.seconds, 3),
        midi=base64.b64encode(midi).decode("ascii"),
        audio=MusicAudio(
            renderer=renderer,  # type: ignore[arg-type]
            data=base64.b64encode(wav).decode("ascii"),
            seconds=round(wav_seconds(wav), 3),
            note=sine_note() if renderer == SINE else None,
        ),
        piano_roll=piano_roll_svg(piece.score),
    )


def add_music_routes(app: FastAPI, served: Mapping[str, ServedModel], limits: Limits) -> None:
    """Register POST /v1/music on `app`, through the gate add_api_routes set up
    (app.state.gate); `served` is looked up per request, so models may come and go."""
    gate: Gate = app.state.gate

    @app.post("/v1/music", response_model=MusicResponse, responses=MUSIC_ERRORS, tags=["music"])
    async def music(req: MusicRequest, request: Request) -> Response:
        """Improvise a piece with a music model: the MIDI file, a WAV to listen to (FluidSynth
        where installed, else sine tones) and a piano roll in SVG, base64 where binary."""
        work = music_work(served, req)

        def job(deadline: Deadline) -> Response:
            reply = run_music(served, req, deadline)
            return Response(reply.model_dump_json(), media_type="application/json")  # on the worker

        return await gate.run(work, job, limits.timeout, request.is_disconnected)
