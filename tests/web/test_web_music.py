"""POST /v1/music of `saurus serve`: a piece as MIDI, WAV and a piano roll, from a small
music model trained here on a few synthetic scales; and music models kept off the text
routes (and text models off this one)."""

from __future__ import annotations

import base64
import io
import shutil
import wave
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import require, saurus, tiny_lines_model, tiny_stream_model

symusic = pytest.importorskip("symusic")
pytest.importorskip("miditok")
pytest.importorskip("pretty_midi")
require("fastapi")
require("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import saurus as api  # noqa: E402
from saurus.music import render  # noqa: E402
from saurus.music.pieces import Piece  # noqa: E402
from saurus.music.roll import SVG_NS, piano_roll_svg  # noqa: E402
from saurus.music.token_text import TokenTable, pieces_text  # noqa: E402
from saurus.music.tokens import encode_score, tempo_of  # noqa: E402
from saurus.web.app import create_app  # noqa: E402
from saurus.web.limits import Limits  # noqa: E402
from saurus.web.served import load_served  # noqa: E402

MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
RECT = f"{{{SVG_NS}}}rect"


def scale_piece(key: int, bars: int = 8) -> Any:
    """Eighth notes up and down a major scale over a bass note a bar, at 100 BPM."""
    score = symusic.Score(480)
    melody, bass = symusic.Track(program=0), symusic.Track(program=32)
    for i in range(bars * 8):
        step = MAJOR[i % 8] if (i // 8) % 2 == 0 else MAJOR[7 - i % 8]
        melody.notes.append(symusic.Note(time=i * 240, duration=240, pitch=60 + key + step, velocity=80))
    for b in range(bars):
        bass.notes.append(symusic.Note(time=b * 1920, duration=1920, pitch=36 + key, velocity=90))
    score.tracks.extend([melody, bass])
    score.tempos.append(symusic.Tempo(time=0, qpm=100))
    score.time_signatures.append(symusic.TimeSignature(time=0, numerator=4, denominator=4))
    return score


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A music model (scales, a second of training), a names model and a text model."""
    folder = tmp_path_factory.mktemp("music-web")
    pieces = [Piece(f"scale{k}", tuple(encode_score(scale_piece(k))), None) for k in range(4)]
    table = TokenTable.of(pieces)
    config = api.TrainConfig(mode="stream", iterations=150, hidden=64, seed=0)
    trained = api.train_text(pieces_text(table, pieces), config)
    api.save(trained.model, folder / "scales.saurus", extra=table.meta())
    api.save(tiny_lines_model(), folder / "names.saurus")
    api.save(tiny_stream_model(), folder / "words.saurus")
    return folder


@pytest.fixture(scope="module")
def client(model_dir: Path) -> TestClient:
    names = ("scales", "names", "words")
    return TestClient(create_app(load_served([model_dir / f"{n}.saurus" for n in names])))


@pytest.fixture
def sine(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without FluidSynth."""
    monkeypatch.setattr(render, "find_fluidsynth", lambda: None)


def music(client: TestClient, **body: Any) -> dict[str, Any]:
    reply = client.post("/v1/music", json={"model": "scales", **body})
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(client: TestClient, route: str, body: dict[str, Any], status: int = 400) -> dict[str, Any]:
    reply = client.post(route, json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def midi_of(reply: dict[str, Any]) -> bytes:
    return base64.b64decode(reply["midi"], validate=True)


def wav_of(reply: dict[str, Any]) -> tuple[int, np.ndarray]:
    raw = base64.b64decode(reply["audio"]["data"], validate=True)
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    with wave.open(io.BytesIO(raw)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def rects(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{{{SVG_NS}}}svg"
    return list(root.iter(RECT))


# --- the models ---


def test_models_says_each_models_kind(client: TestClient) -> None:
    listed = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["mode"], m["kind"]) for m in listed] == [
        ("scales", "stream", "music"),
        ("names", "lines", "names"),
        ("words", "stream", "text"),
    ]
    assert client.get("/v1/models/scales").json()["kind"] == "music"


# --- a piece ---


def test_a_piece_comes_as_midi_sound_and_a_piano_roll(client: TestClient, sine: None) -> None:
    reply = music(client, bars=4, seed=1)
    assert reply["object"] == "music.piece" and reply["id"].startswith("music-")
    assert reply["model"] == "scales" and isinstance(reply["created"], int)
    assert 0 < reply["tokens"] <= 4 * 2000
    score = symusic.Score.from_midi(midi_of(reply))
    assert reply["notes"] == score.note_num() > 0
    assert reply["seconds"] == pytest.approx(score.to("second").end(), abs=1e-3)
    pretty_midi = pytest.importorskip("pretty_midi")
    played = pretty_midi.PrettyMIDI(io.BytesIO(midi_of(reply)))
    assert sum(len(i.notes) for i in played.instruments) == reply["notes"]
    audio = reply["audio"]
    assert audio["format"] == "wav" and audio["renderer"] == "sine"
    assert "apt-get install fluidsynth fluid-soundfont-gm" in audio["note"]
    rate, samples = wav_of(reply)
    assert rate == 22050
    assert len(samples) / rate == pytest.approx(audio["seconds"], abs=1e-3)
    assert audio["seconds"] == pytest.approx(reply["seconds"] + render.TAIL_SECONDS, abs=1e-3)
    assert np.abs(samples).max() == pytest.approx(32767 * render.PEAK, rel=1e-3)  # -1 dBFS
    assert len(rects(reply["piano_roll"])) == reply["notes"]


def test_bars_tempo_and_max_tokens_are_honoured(client: TestClient, sine: None) -> None:
    reply = music(client, bars=2, seed=3, tempo=90)
    score = symusic.Score.from_midi(midi_of(reply))
    onsets = [n.time for track in score.tracks for n in track.notes]
    assert onsets and max(onsets) < 2 * 4 * score.ticks_per_quarter  # every note starts in 2 bars
    assert tempo_of(score) == pytest.approx(90, abs=0.01)
    assert reply["seconds"] <= 2 * 4 * 60 / 90 + 1e-6  # 2 bars of 4 beats at 90 BPM
    capped = music(client, bars=8, seed=3, max_tokens=12)
    assert capped["tokens"] == 12


def test_same_seed_same_piece_and_it_is_what_the_command_line_writes(
    client: TestClient, model_dir: Path, tmp_path: Path, sine: None
) -> None:
    a, b = music(client, bars=3, seed=7, temperature=0.9), music(client, bars=3, seed=7, temperature=0.9)
    assert midi_of(a) == midi_of(b) and a["audio"]["data"] == b["audio"]["data"]
    assert a["piano_roll"] == b["piano_roll"]
    others = {midi_of(music(client, bars=3, seed=s, temperature=0.9)) for s in (8, 9, 10)}
    assert others - {midi_of(a)}
    out = tmp_path / "cli.mid"
    args = ("music", "sample", model_dir / "scales.saurus", "-o", out, "--bars", "3", "--seed", "7")
    result = saurus(*args, "--temperature", "0.9")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == midi_of(a)


def test_greedy_decoding_is_temperature_zero(client: TestClient, sine: None) -> None:
    one, two = music(client, bars=2, seed=1, temperature=0), music(client, bars=2, seed=2, temperature=0)
    assert midi_of(one) == midi_of(two)


# --- refusals ---


def test_text_models_are_refused_on_music_and_music_models_on_text(client: TestClient) -> None:
    error = refused(client, "/v1/music", {"model": "names"})
    assert error["param"] == "model" and "names is a names model" in error["message"]
    assert "/v1/music needs a music model" in error["message"]
    assert "is a text model" in refused(client, "/v1/music", {"model": "words"})["message"]
    for route, body in [
        ("/v1/completions", {"model": "scales", "prompt": ""}),
        ("/v1/completions", {"model": "scales", "prompt": "", "stream": True}),
        ("/v1/score", {"model": "scales", "texts": ["a"]}),
    ]:
        error = refused(client, route, body)
        assert error["message"] == "scales is a music model: use POST /v1/music"
        assert error["param"] == "model" and error["type"] == "invalid_request_error"
    missing = refused(client, "/v1/music", {"model": "nowhere"}, 404)
    assert missing["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"bars": 0}, "bars"),
        ({"bars": 33}, "bars"),
        ({"bars": "4"}, "bars"),
        ({"bars": 2.5}, "bars"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"frames": 8}, "frames"),  # a frame model's field (tests/web/test_web_music_frames.py)
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"seed": -1}, "seed"),
        ({"tempo": 10}, "tempo"),
        ({"tempo": 1000}, "tempo"),
        ({"prompt": "x"}, "prompt"),
        ({"n": 2}, "n"),
    ],
)
def test_bad_fields_are_refused(client: TestClient, body: dict[str, Any], param: str) -> None:
    error = refused(client, "/v1/music", {"model": "scales", **body})
    assert error["param"] == param and param in error["message"]


def test_a_piece_past_the_time_limit_is_a_503(model_dir: Path, sine: None) -> None:
    served = load_served([model_dir / "scales.saurus"])
    slow = TestClient(create_app(served, Limits(timeout=0.001)))
    reply = slow.post("/v1/music", json={"model": "scales", "bars": 32, "seed": 0})
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "timeout"


# --- rendering ---


def small_midi() -> bytes:
    return bytes(scale_piece(0, bars=1).dumps_midi())


def test_a_failing_fluidsynth_falls_back_to_sine_tones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    false = shutil.which("false")
    if false is None:
        pytest.skip("no false program here")
    soundfont = tmp_path / "gm.sf2"
    soundfont.write_bytes(b"not a soundfont")
    monkeypatch.setattr(render, "find_fluidsynth", lambda: (false, soundfont))
    with pytest.warns(UserWarning, match="FluidSynth failed"):
        wav, renderer = render.render_wav(small_midi())
    assert renderer == "sine" and wav[:4] == b"RIFF"
    assert render.wav_seconds(wav) == pytest.approx(2.4 + render.TAIL_SECONDS, abs=1e-3)  # a bar at 100 BPM
    assert render.sine_note() == "sine tones: FluidSynth failed on this piece"


def test_the_soundfont_comes_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    soundfont = tmp_path / "mine.sf2"
    soundfont.write_bytes(b"RIFF")
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(soundfont))
    assert render.find_soundfont() == soundfont
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    assert render.find_soundfont() in (None, *render.SOUNDFONTS)


NO_FLUIDSYNTH = "FluidSynth and a General MIDI soundfont are not installed"


@pytest.mark.skipif(render.find_fluidsynth() is None, reason=NO_FLUIDSYNTH)
def test_fluidsynth_renders_where_installed(client: TestClient) -> None:
    wav, renderer = render.render_wav(small_midi())
    assert renderer == "fluidsynth"
    assert render.wav_seconds(wav) == pytest.approx(2.4 + render.TAIL_SECONDS, abs=1e-3)
    reply = music(client, bars=2, seed=1)
    assert reply["audio"]["renderer"] == "fluidsynth" and reply["audio"]["note"] is None
    rate, samples = wav_of(reply)
    assert len(samples) / rate == pytest.approx(reply["audio"]["seconds"], abs=1e-3)
    assert np.abs(samples).max() > 0


def test_music_sample_wav_says_which_renderer(model_dir: Path, tmp_path: Path, sine: None) -> None:
    out, wav = tmp_path / "a.mid", tmp_path / "a.wav"
    result = saurus("music", "sample", model_dir / "scales.saurus", "-o", out, "--bars", "2", "--wav", wav)
    assert result.returncode == 0, result.stderr
    assert f"wrote {wav} (" in result.stderr and "sine tones: FluidSynth" in result.stderr
    with wave.open(str(wav)) as w:
        assert w.getnframes() > 0 and w.getnchannels() == 1


def test_the_piano_roll_draws_one_rectangle_per_note_in_place() -> None:
    score = scale_piece(0, bars=2)
    svg = piano_roll_svg(score)
    drawn = rects(svg)
    assert len(drawn) == score.note_num() == 2 * 8 + 2
    lowest = max(drawn, key=lambda r: float(r.get("y", 0)))  # the first bass note: lowest on the page
    assert float(lowest.get("x", -1)) == 0 and float(lowest.get("width", 0)) == pytest.approx(360)  # a bar
    empty = piano_roll_svg(symusic.Score(480))
    assert rects(empty) == [] and "no notes" in empty


def test_a_sound_is_padded_or_cut_with_a_fade_to_the_length_asked() -> None:
    tone = np.ones(10)
    assert render.fitted(tone, 12, 4).tolist() == [1.0] * 10 + [0.0] * 2
    cut = render.fitted(tone, 8, 4)
    assert cut.tolist() == pytest.approx([1, 1, 1, 1, 1, 2 / 3, 1 / 3, 0])
    assert tone.tolist() == [1.0] * 10  # the sound given is left as it was
