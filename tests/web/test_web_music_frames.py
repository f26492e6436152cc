"""POST /v1/music with frame models (issue 21): a piano-roll and a notes-as-tokens model,
made here (untrained, small: the protocol is under test, not the music) and saved as
`saurus music train` saves them. They are listed as music, their pieces come back as
MIDI that reads back to the very frames drawn, with sound and a piano roll, the same seed
gives the same piece (the one `saurus music sample` writes), and bad requests are one
line each."""

from __future__ import annotations

import base64
import io
import wave
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import require, saurus

pytest.importorskip("symusic")
require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from saurus.models.roll import RollModel  # noqa: E402
from saurus.music import render  # noqa: E402
from saurus.music.frame_files import NOTES, ROLL, draw_frames, load_frame_file, save_frame_file  # noqa: E402
from saurus.music.frame_model import create_frame_model  # noqa: E402
from saurus.music.frames import score_frames  # noqa: E402
from saurus.music.roll import SVG_NS  # noqa: E402
from saurus.music.tokens import score_from_bytes, tempo_of  # noqa: E402
from saurus.web.app import create_app  # noqa: E402
from saurus.web.limits import Limits  # noqa: E402
from saurus.web.schemas import MAX_MUSIC_FRAMES  # noqa: E402
from saurus.web.served import load_served  # noqa: E402

C_MAJOR = (39, 43, 46)  # the keys of C4, E4, G4 (MIDI 60, 64, 67)
STEPS = {"roll": 1.0, "notes": 0.5, "fine": 1 / 16}  # each model's grid, in quarters


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """roll: a piano-roll model that mostly plays a C major triad; notes: a notes model on
    an eighth grid; fine: a notes model on a sixteenth-of-a-quarter grid."""
    folder = tmp_path_factory.mktemp("frames-web")
    rates = np.full(88, 0.01)
    rates[list(C_MAJOR)] = 0.7
    roll = RollModel.create(hidden=8, seed=0, note_rates=rates)
    save_frame_file(ROLL, roll, folder / "roll.saurus", {"source": "test", "step": STEPS["roll"]})
    for name in ("notes", "fine"):
        notes = create_frame_model(hidden=8, seed=1)
        save_frame_file(NOTES, notes, folder / f"{name}.saurus", {"source": "test", "step": STEPS[name]})
    return folder


@pytest.fixture(scope="module")
def client(model_dir: Path) -> TestClient:
    return TestClient(create_app(load_served([model_dir / f"{n}.saurus" for n in STEPS])))


@pytest.fixture
def sine(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without FluidSynth."""
    monkeypatch.setattr(render, "find_fluidsynth", lambda: None)


def music(client: TestClient, model: str, **body: Any) -> dict[str, Any]:
    reply = client.post("/v1/music", json={"model": model, **body})
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(client: TestClient, body: dict[str, Any], route: str = "/v1/music") -> dict[str, Any]:
    reply = client.post(route, json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and "\n" not in error["message"]
    return error


def midi_of(reply: dict[str, Any]) -> bytes:
    return base64.b64decode(reply["midi"], validate=True)


def frames_of(reply: dict[str, Any], step: float) -> np.ndarray:
    return score_frames(score_from_bytes(midi_of(reply)), step=step)


def drawn(model_dir: Path, name: str, frames: int, seed: int, temperature: float = 1.0) -> np.ndarray:
    """What the library draws for the same model, count, seed and temperature."""
    loaded = load_frame_file(model_dir / f"{name}.saurus")
    return draw_frames(loaded, frames, np.random.default_rng(seed), temperature)


def test_frame_models_are_listed_as_music(client: TestClient) -> None:
    listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert [(m["kind"], m["mode"], m["frames"], m["step"]) for m in listed.values()] == [
        ("music", "stream", "roll", 1.0),
        ("music", "stream", "notes", 0.5),
        ("music", "stream", "notes", 1 / 16),
    ]
    assert listed["roll"]["vocab"] == "" and len(listed["notes"]["vocab"]) == 89  # 88 keys and a frame's end
    assert client.get("/v1/models/roll").json()["frames"] == "roll"


@pytest.mark.parametrize("name", ["roll", "notes"])
def test_a_piece_reads_back_to_the_frames_drawn_with_sound_and_a_piano_roll(
    client: TestClient, model_dir: Path, name: str, sine: None
) -> None:
    reply = music(client, name, frames=12, seed=3, temperature=0.8)
    assert reply["object"] == "music.piece" and (reply["frames"], reply["tokens"]) == (12, 0)
    expected = drawn(model_dir, name, 12, seed=3, temperature=0.8)
    back = frames_of(reply, STEPS[name])
    assert back.any() and np.array_equal(back, expected[: len(back)])
    assert not expected[len(back) :].any()  # only silent frames at the end are not written
    score = score_from_bytes(midi_of(reply))
    assert reply["notes"] == score.note_num() > 0
    assert tempo_of(score) == pytest.approx(100)  # the command line's default
    assert reply["seconds"] == pytest.approx(len(back) * STEPS[name] * 60 / 100, abs=1e-3)
    audio = reply["audio"]
    assert audio["renderer"] == "sine" and "fluidsynth" in audio["note"]
    raw = base64.b64decode(audio["data"], validate=True)
    with wave.open(io.BytesIO(raw)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(audio["seconds"], abs=1e-3)
    assert audio["seconds"] == pytest.approx(reply["seconds"] + render.TAIL_SECONDS, abs=1e-3)
    svg = ET.fromstring(reply["piano_roll"])
    assert len(list(svg.iter(f"{{{SVG_NS}}}rect"))) == reply["notes"]


def test_same_seed_same_piece_and_it_is_what_the_command_line_writes(
    client: TestClient, model_dir: Path, tmp_path: Path, sine: None
) -> None:
    a, b = (music(client, "roll", frames=16, seed=7, temperature=0.9) for _ in range(2))
    assert midi_of(a) == midi_of(b) and a["piano_roll"] == b["piano_roll"]
    assert a["audio"]["data"] == b["audio"]["data"]
    others = {midi_of(music(client, "roll", frames=16, seed=s, temperature=0.9)) for s in (8, 9)}
    assert others - {midi_of(a)}
    out = tmp_path / "chorale.mid"
    args = ("--frames-count", "16", "--seed", "7", "--temperature", "0.9")
    result = saurus("music", "sample", model_dir / "roll.saurus", "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == midi_of(a)


def test_greedy_is_temperature_zero_whatever_the_seed(client: TestClient, sine: None) -> None:
    one, two = (music(client, "roll", frames=8, seed=s, temperature=0) for s in (1, 2))
    assert midi_of(one) == midi_of(two)
    chord = frames_of(one, 1.0)
    assert chord.shape == (8, 88) and [tuple(np.flatnonzero(f)) for f in chord] == [C_MAJOR] * 8


@pytest.mark.parametrize(("name", "bars", "frames"), [("roll", 3, 12), ("notes", 2, 16), ("notes", 1, 8)])
def test_bars_are_four_quarters_on_the_models_grid(
    client: TestClient, name: str, bars: int, frames: int, sine: None
) -> None:
    reply = music(client, name, bars=bars, seed=0, tempo=120)
    assert reply["frames"] == frames
    assert tempo_of(score_from_bytes(midi_of(reply))) == pytest.approx(120)
    assert reply["seconds"] <= bars * 4 * 60 / 120 + 1e-6
    assert music(client, name, seed=0)["frames"] == frames // bars * 4  # 4 bars by default


@pytest.mark.parametrize(
    ("body", "param", "said"),
    [
        ({"frames": 0}, "frames", "frames: Input should be greater than or equal to 1"),
        ({"frames": MAX_MUSIC_FRAMES + 1}, "frames", f"less than or equal to {MAX_MUSIC_FRAMES}"),
        ({"frames": 10**9}, "frames", "less than or equal to"),
        ({"frames": 8, "bars": 2}, "frames", "give frames or bars, not both"),
        ({"top_k": 5}, "top_k", "top_k applies to token music models; roll is a frame model"),
        ({"top_p": 0.5}, "top_p", "top_p applies to token music models"),
        ({"max_tokens": 9}, "max_tokens", "max_tokens applies to token music models"),
        ({"temperature": -1}, "temperature", "temperature"),
    ],
)
def test_bad_requests_are_one_line(client: TestClient, body: dict[str, Any], param: str, said: str) -> None:
    error = refused(client, {"model": "roll", **body})
    assert error["param"] == param and said in error["message"], error


def test_bars_beyond_the_frame_limit_on_a_fine_grid_are_refused(client: TestClient) -> None:
    error = refused(client, {"model": "fine", "bars": 32})
    assert error["param"] == "bars"
    assert error["message"] == (
        f"32 bars are 2,048 frames of 0.0625 quarters on fine's grid, more than {MAX_MUSIC_FRAMES:,}; "
        "ask for fewer bars"
    )


def test_frame_models_stay_off_the_text_routes_and_export(client: TestClient) -> None:
    for body, route in [
        ({"model": "roll", "prompt": ""}, "/v1/completions"),
        ({"model": "notes", "prompt": "", "stream": True}, "/v1/completions"),
        ({"model": "notes", "texts": ["a"]}, "/v1/score"),
    ]:
        assert refused(client, body, route)["message"].endswith("is a music model: use POST /v1/music")
    exported = client.get("/v1/models/roll/export")
    assert exported.status_code == 400
    assert exported.json()["error"]["message"] == (
        "saurus export writes a page for names models; roll is a music model"
    )


def test_a_frame_piece_past_the_time_limit_is_a_503(model_dir: Path, sine: None) -> None:
    slow = TestClient(create_app(load_served([model_dir / "notes.saurus"]), Limits(timeout=0.001)))
    reply = slow.post("/v1/music", json={"model": "notes", "frames": MAX_MUSIC_FRAMES, "seed": 0})
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "timeout"
