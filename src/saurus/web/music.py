"""POST /v1/music: a piece improvised by a music model, as a MIDI file, as sound and as
a piano roll (no HTTP in the functions above `add_music_routes`).

The piece is what `saurus music sample --bars N --seed S` writes (saurus.music.sample's
`improvise_piece`, the same draws for the same seed); the sound comes from FluidSynth
where it and a General MIDI soundfont are installed, else from sine tones
(saurus.music.render). Generation runs on a worker thread through the server's gate, as
completions do, and stops at the time limit (saurus.web.limits). A frame model's piece is
drawn by saurus.web.music_frames and played the same way (saurus.web.music_reply).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import Response

from saurus.errors import SaurusError
from saurus.generation.decoding import Decoding
from saurus.music.sample import TOKENS_PER_BAR_CAP, MusicModel, improvise_piece
from saurus.web.completions import find_model
from saurus.web.limits import NO_DEADLINE, Deadline, Gate, Limits, TimedGenerator, timed
from saurus.web.music_frames import frame_work, run_frame_music
from saurus.web.music_reply import music_reply
from saurus.web.problems import invalid
from saurus.web.schemas import MusicRequest, MusicResponse, error_responses
from saurus.web.served import ServedModel

MUSIC_ERRORS = error_responses("not a music model, or a request out of the limits")


def music_model(served: Mapping[str, ServedModel], model_id: str) -> ServedModel:
    """The music model served as `model_id`, tokens or frames; a names or text model is refused."""
    found = find_model(served, model_id)
    if found.kind != "music":
        raise invalid(
            f"{model_id} is a {found.kind} model: /v1/music needs a music model "
            "(trained with 'saurus music train'); use POST /v1/completions for this one",
            "model",
        )
    return found


def token_cap(req: MusicRequest) -> int:
    """The most tokens the piece may draw: max_tokens, else TOKENS_PER_BAR_CAP a bar."""
    return req.max_tokens if req.max_tokens is not None else req.bars * TOKENS_PER_BAR_CAP


def token_model(found: ServedModel, req: MusicRequest) -> MusicModel:
    """A token music model's tokens; `frames` (a frame model's) is refused."""
    if req.frames is not None:
        raise invalid(
            f"frames applies to frame models; {req.model} is a token music model: ask for bars "
            "(and max_tokens)",
            "frames",
        )
    assert found.music is not None
    return found.music


def music_work(served: Mapping[str, ServedModel], req: MusicRequest) -> int:
    """Check a music request (ApiError when refused); the tokens of work it asks for."""
    found = music_model(served, req.model)
    if found.frames is not None:
        return frame_work(req, found.frames)
    token_model(found, req)
    return token_cap(req)


def run_music(
    served: Mapping[str, ServedModel], req: MusicRequest, deadline: Deadline = NO_DEADLINE
) -> MusicResponse:
    """POST /v1/music: improvise `bars` bars (at most max_tokens tokens), render them, draw
    them; a frame model draws its frames (saurus.web.music_frames). Past the deadline it
    stops with TimeLimitError (saurus.web.limits)."""
    found = music_model(served, req.model)
    if found.frames is not None:
        return run_frame_music(found.frames, req, deadline)
    music = token_model(found, req)
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
        deadline.check()
        return music_reply(req.model, piece.score, deadline, tokens=piece.drawn)
    except SaurusError as err:
        raise invalid(str(err)) from None


def add_music_routes(app: FastAPI, served: Mapping[str, ServedModel], limits: Limits) -> None:
    """Register POST /v1/music on `app`, through the gate add_api_routes set up
    (app.state.gate); `served` is looked up per request, so models may come and go."""
    gate: Gate = app.state.gate

    @app.post("/v1/music", response_model=MusicResponse, responses=MUSIC_ERRORS, tags=["music"])
    async def music(req: MusicRequest, request: Request) -> Response:
        """Improvise a piece with a music model (tokens, or a frame model's frames): the MIDI
        file, a WAV to listen to (FluidSynth where installed, else sine tones) and a piano
        roll in SVG, base64 where binary."""
        work = music_work(served, req)

        def job(deadline: Deadline) -> Response:
            reply = run_music(served, req, deadline)
            return Response(reply.model_dump_json(), media_type="application/json")  # on the worker

        return await gate.run(work, job, limits.timeout, request.is_disconnected)
