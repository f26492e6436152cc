"""`saurus music train/eval/sample` for frame models, as a user runs them: the piano-roll
model trained on JSB (NumPy, tiny), scored on a split under both conventions, sampled to
MIDI; MIDI folders; the notes model's files through the same doors; hostile input."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("symusic")
from helpers import assert_one_line_error, saurus, tiny_stream_model

from saurus.files.models import save
from saurus.music.frame_files import NOTES, draw_frames, load_frame_file, save_frame_file
from saurus.music.frame_model import create_frame_model
from saurus.music.frame_score import frame_nll
from saurus.music.frames import midi_frames, write_frames_midi
from saurus.music.jsb import load_jsb
from saurus.music.roll_train import evaluate_roll

NUMBER = r"(\d+\.\d+)"
LINE = re.compile(
    rf"^(\w+): {NUMBER} nats per frame \(all frames\), "
    rf"{NUMBER} \(first frame not scored\), over (\d+) frames$"
)


def last_line(stdout: str) -> tuple[str, float, float, int]:
    match = LINE.match(stdout.strip().splitlines()[-1])
    assert match, stdout
    split, a, b, n = match.groups()
    assert math.isfinite(float(a)) and math.isfinite(float(b))
    return split, float(a), float(b), int(n)


@pytest.fixture(scope="module")
def jsb_file(data_dir: Path) -> Iterator[Path]:
    """JSB_Chorales.mat, with SAURUS_DATA_DIR pointing at its folder for the whole module."""
    path = data_dir / "JSB_Chorales.mat"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the data folder")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAURUS_DATA_DIR", str(data_dir))
        yield path


@pytest.fixture(scope="module")
def jsb(jsb_file: Path) -> dict[str, list[np.ndarray]]:
    return load_jsb(jsb_file)


@pytest.fixture(scope="module")
def roll_model(jsb_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("roll") / "jsb.saurus"
    args = ("--frames", "roll", "--engine", "numpy", "--hidden", "16", "--epochs", "2", "--batch-size", "32")
    result = saurus("music", "train", "jsb", "-o", out, *args, "--seed", "1", "-q")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_training_prints_the_validation_nll_per_frame(roll_model: tuple[Path, str], jsb: dict) -> None:
    path, stdout = roll_model
    split, nll_all, nll_skip, frames = last_line(stdout)
    assert (split, frames) == ("valid", sum(len(p) for p in jsb["valid"]))
    loaded = load_frame_file(path)
    assert loaded.kind == "roll" and loaded.step == 1.0
    again = evaluate_roll(loaded.model, jsb["valid"])  # the kept weights score what was printed
    assert (again["all"], again["skip-first"]) == pytest.approx((nll_all, nll_skip), abs=1e-4)
    assert nll_all < 20  # below independent fair coins' 88 log 2 = 61 nats by far


def test_eval_scores_a_split_under_both_conventions(roll_model: tuple[Path, str], jsb: dict) -> None:
    path, _ = roll_model
    result = saurus("music", "eval", path, "jsb", "--split", "test")
    assert result.returncode == 0, result.stderr
    split, nll_all, nll_skip, frames = last_line(result.stdout)
    assert (split, frames) == ("test", sum(len(p) for p in jsb["test"]))
    expected = evaluate_roll(load_frame_file(path).model, jsb["test"])
    assert (nll_all, nll_skip) == pytest.approx((expected["all"], expected["skip-first"]), abs=1e-4)
    assert saurus("music", "eval", path, "jsb").stdout == result.stdout  # test is the default split
    train = last_line(saurus("music", "eval", path, "jsb", "--split", "train").stdout)
    assert train[0] == "train" and train[3] == sum(len(p) for p in jsb["train"])


def test_sample_writes_the_seeded_frames_as_midi(roll_model: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = roll_model
    out = tmp_path / "chorale.mid"
    result = saurus("music", "sample", path, "-o", out, "--frames-count", "24", "--seed", "3")
    assert result.returncode == 0, result.stderr
    drawn = draw_frames(load_frame_file(path), 24, np.random.default_rng(3))
    back = midi_frames(out)
    assert len(back) <= 24 and not drawn[len(back) :].any()  # silent frames at the end are not kept
    np.testing.assert_array_equal(back, drawn[: len(back)])
    again = tmp_path / "again.mid"
    saurus("music", "sample", path, "-o", again, "--frames-count", "24", "--seed", "3")
    assert again.read_bytes() == out.read_bytes()
    assert_one_line_error(saurus("music", "sample", path, "-o", out, "--seed", "3"), "already exists")


def test_a_midi_folder_trains_and_is_scored_whole(jsb: dict, tmp_path: Path) -> None:
    folder = tmp_path / "songs"
    folder.mkdir()
    for i, piece in enumerate(jsb["test"][:4]):
        write_frames_midi(piece, folder / f"chorale{i}.mid")
    (folder / "notes.txt").write_text("not music")
    pieces = [midi_frames(folder / f"chorale{i}.mid") for i in range(4)]
    out = tmp_path / "songs.saurus"
    args = (
        "--frames",
        "roll",
        "--engine",
        "numpy",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--val-fraction",
        "0.25",
    )
    result = saurus("music", "train", folder, "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert "3 pieces" in result.stderr and "1 (" in result.stderr
    assert last_line(result.stdout)[3] in {len(p) for p in pieces}  # one whole piece held out
    scored = saurus("music", "eval", out, folder)
    assert scored.returncode == 0, scored.stderr
    split, nll_all, _, frames = last_line(scored.stdout)
    assert (split, frames) == ("files", sum(len(p) for p in pieces))
    assert nll_all == pytest.approx(evaluate_roll(load_frame_file(out).model, pieces)["all"], abs=1e-4)
    assert_one_line_error(saurus("music", "eval", out, folder, "--split", "test"), "--split")


def test_a_notes_model_file_goes_through_the_same_doors(jsb: dict, tmp_path: Path) -> None:
    path = tmp_path / "notes.saurus"
    model = create_frame_model(hidden=8, seed=2)
    save_frame_file(NOTES, model, path, {"source": "test", "step": 0.5})
    pieces = jsb["valid"][:3]
    folder = tmp_path / "three"
    folder.mkdir()
    for i, piece in enumerate(pieces):
        write_frames_midi(piece, folder / f"{i}.mid", step=0.5)  # the model's grid is read back
    result = saurus("music", "eval", path, folder)
    assert result.returncode == 0, result.stderr
    _, nll_all, nll_skip, frames = last_line(result.stdout)
    expected = frame_nll(load_frame_file(path).model, pieces)
    assert frames == sum(len(p) for p in pieces)
    assert (nll_all, nll_skip) == pytest.approx((expected["all"], expected["skip-first"]), abs=1e-4)
    out = tmp_path / "n.mid"
    drawn = saurus(
        "music", "sample", path, "-o", out, "--frames-count", "6", "--seed", "0", "--temperature", "0.5"
    )
    assert drawn.returncode == 0, drawn.stderr
    frames_back = midi_frames(out, step=0.5)
    expected_frames = draw_frames(load_frame_file(path), 6, np.random.default_rng(0), 0.5)
    np.testing.assert_array_equal(frames_back, expected_frames[: len(frames_back)])


def test_hostile_input_is_one_line(jsb_file: Path, roll_model: tuple[Path, str], tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.mat"
    damaged.write_bytes(jsb_file.read_bytes()[:3000])
    out = tmp_path / "m.saurus"
    train = ("music", "train")
    assert_one_line_error(saurus(*train, damaged, "-o", out, "--frames", "roll"), "damaged.mat", "truncated")
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"\x00" * 500)
    assert_one_line_error(saurus(*train, garbage, "-o", out, "--frames", "roll"), "not a MATLAB")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no music here")
    assert_one_line_error(saurus(*train, empty, "-o", out, "--frames", "roll"), "no MIDI files")
    assert_one_line_error(saurus(*train, "jsb", "-o", out, "--frames", "chords"), "--frames", "chords")
    numpy_transformer = ("--engine", "numpy", "--model", "transformer")
    assert_one_line_error(
        saurus(*train, "jsb", "-o", out, *numpy_transformer), "transformer trains with torch"
    )
    assert_one_line_error(saurus(*train, "jsb", "-o", out, "--frames", "roll", "--resume", out), "--resume")
    assert_one_line_error(saurus(*train, damaged, "-o", damaged, "--frames", "roll"), "input")
    assert_one_line_error(saurus(*train, "jsb", "-o", out, "--max-pieces", "3"), "--max-pieces")
    assert_one_line_error(saurus(*train, empty, "-o", out, "--transpose", "2"), "--frames")
    model, _ = roll_model
    assert_one_line_error(saurus(*train, "jsb", "-o", model, "--frames", "roll"), "already exists")
    assert not out.exists()
    token = tmp_path / "token.saurus"
    save(tiny_stream_model(), token)
    assert_one_line_error(saurus("music", "eval", token, "jsb", "--split", "test"), "not a frame model")
    assert_one_line_error(saurus("music", "sample", token, "-o", tmp_path / "t.mid", "--frames-count", "4"))
    assert_one_line_error(saurus("music", "sample", model, "-o", tmp_path / "r.mid", "--bars", "4"), "--bars")
    too_many = ("--frames-count", "100001")
    assert_one_line_error(saurus("music", "sample", model, "-o", tmp_path / "r.mid", *too_many), "100,000")
    shutil.copy(model, tmp_path / "copy.saurus")
    assert_one_line_error(saurus("music", "eval", tmp_path / "copy.saurus", damaged), "truncated")


@pytest.mark.slow
@pytest.mark.torch
def test_the_notes_model_trains_from_the_command_line(jsb_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "notes.saurus"
    args = ("--hidden", "16", "--epochs", "1", "--time-budget", "30", "--threads", "2", "-q")
    result = saurus("music", "train", "jsb", "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert load_frame_file(out).kind == NOTES
    assert last_line(result.stdout)[0] == "valid"
    assert last_line(saurus("music", "eval", out, "jsb", "--split", "test").stdout)[0] == "test"


@pytest.mark.parametrize("kind", ["notes", "roll"])
def test_training_never_reads_the_test_split(
    kind: str, jsb: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `saurus music train jsb` hands the trainer: train and valid, never a test piece."""
    from saurus.cli import main as cli_main
    from saurus.cli import music_frames

    seen: dict[str, list] = {}

    def trainer(train: list, valid: list, config: object, quiet: bool) -> tuple:
        seen.update(train=train, valid=valid)
        raise SystemExit(0)  # stop before saving: only the pieces handed over matter

    name = "train_roll_model" if kind == "roll" else "train_notes_model"
    monkeypatch.setattr(music_frames, name, trainer)
    out = str(tmp_path / "m.saurus")
    args = ["music", "train", "jsb", "--frames", kind, "--hidden", "8", "-o", out, "-q"]
    with pytest.raises(SystemExit):
        cli_main.main(args)
    test = {p.tobytes() for p in jsb["test"]}
    assert len(seen["train"]) == len(jsb["train"]) and len(seen["valid"]) == len(jsb["valid"])
    assert not any(p.tobytes() in test for p in [*seen["train"], *seen["valid"]])
