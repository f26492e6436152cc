"""`saurus music train` for frame models as a user runs it on a few MIDI files: the notes
model on the NumPy engine, read back by eval; Ctrl-C during training (notes or roll) saves
the best weights so far and exits with 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("symusic")
from helpers import saurus

from saurus.music.frame_files import FRAME_DATA_KEY, NOTES, ROLL, load_frame_file, score_pieces
from saurus.music.frames import midi_frames, write_frames_midi
from saurus.music.jsb import load_jsb

PIECES = 6


@pytest.fixture(scope="module")
def songs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A folder of the six shortest JSB test chorales as MIDI, and their frames read back."""
    folder = tmp_path_factory.mktemp("songs")
    chorales = sorted(load_jsb(data_dir / "JSB_Chorales.mat")["test"], key=len)[:PIECES]
    for i, piece in enumerate(chorales):
        write_frames_midi(piece, folder / f"chorale{i}.mid")
    return folder, [midi_frames(folder / f"chorale{i}.mid") for i in range(PIECES)]


def test_the_numpy_engine_trains_a_notes_model_that_eval_reads(
    songs: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    folder, pieces = songs
    out = tmp_path / "notes.saurus"
    args = (
        "--frames",
        "notes",
        "--engine",
        "numpy",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--val-fraction",
        "0.2",
    )
    result = saurus("music", "train", folder, "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert "notes model, numpy" in result.stderr and "best of 1 passes: pass 1" in result.stderr
    loaded = load_frame_file(out)
    assert loaded.kind == NOTES and loaded.meta[FRAME_DATA_KEY]["interrupted"] is False
    scored = saurus("music", "eval", out, folder)
    assert scored.returncode == 0, scored.stderr
    expected = score_pieces(loaded, pieces)
    assert f"files: {expected['all']:.4f} nats per frame (all frames)" in scored.stdout


@pytest.mark.parametrize(("kind", "first"), [(NOTES, "pass 1:"), (ROLL, "epoch 1:")])
def test_ctrl_c_saves_the_best_weights_so_far(
    songs: tuple[Path, list[np.ndarray]], tmp_path: Path, kind: str, first: str
) -> None:
    folder, pieces = songs
    out = tmp_path / "m.saurus"
    args = ["music", "train", folder, "-o", out, "--frames", kind, "--engine", "numpy", "--hidden", "8"]
    args += ["--epochs", "1000000", "--patience", "0", "--time-budget", "100000"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "saurus", *map(str, args)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        while line and not line.startswith(first):  # the first evaluation is over
            line = proc.stderr.readline()
        assert line.startswith(first), line
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest and "interrupted; saved the best model so far" in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.saurus"]  # written atomically
    loaded = load_frame_file(out)
    data = loaded.meta[FRAME_DATA_KEY]
    assert loaded.kind == kind and data["interrupted"] is True
    assert f"valid: {data['valid']['all']:.4f} nats per frame" in stdout  # what was kept is what was said
    assert np.isfinite(score_pieces(loaded, pieces)["all"])
