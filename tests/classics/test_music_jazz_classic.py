"""The classic jazz exercise: its windows, its model's size, its loss curve and its defects."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21")
from helpers import assert_one_line_error, saurus

from saurus.classics.jazz import (
    M_WINDOWS,
    TX,
    EpochReport,
    JazzSetup,
    improvise_values,
    keras_model,
    parameter_count,
    train_jazz,
    value_vocab,
    windows,
)
from saurus.classics.jazz_grammar import load_jazz
from saurus.generation.sampling import Decoding
from saurus.protocol import START


@pytest.fixture(scope="module")
def values(data_dir: Path) -> list[str]:
    return load_jazz(data_dir / "original_metheny.mid").values


@pytest.fixture(scope="module")
def trained(values: list[str]) -> tuple[list[EpochReport], object]:
    *reports, model = train_jazz(values, JazzSetup())
    return reports, model


def test_the_windows_are_the_exercises():
    """x_0 is the zero vector, y_{j-1} = x_j, and the last target is no target (29 of 30)."""
    ids = np.arange(100)
    x, y, mask = windows(ids, all_targets=False)
    assert x.shape == y.shape == mask.shape == (TX, M_WINDOWS)
    assert (x[0] == START).all()
    np.testing.assert_array_equal(y[:-1], x[1:])
    assert mask.sum(axis=0).tolist() == [29.0] * M_WINDOWS and not mask[-1].any()
    starts = x[1] - 1  # window i holds values start_i .. start_i + 29
    picker = np.random.RandomState(0)
    assert starts.tolist() == [picker.choice(100 - TX) for _ in range(M_WINDOWS)]
    x2, y2, mask2 = windows(ids, all_targets=True)
    assert mask2.all() and (x2[0] == START).all()
    np.testing.assert_array_equal(y2[:-1], x2[1:])
    np.testing.assert_array_equal(y2[0], starts)


def test_the_parameter_count_is_the_courses():
    assert parameter_count(78, 64) == 41_678  # the course's Keras summary
    vocab, _ = value_vocab([f"C,{i}.000" for i in range(78)])
    assert keras_model(vocab, 64, seed=0).num_params() == 41_678


def test_keras_initialisation(values: list[str]):
    vocab, _ = value_vocab(values)
    p = keras_model(vocab, 64, seed=0).params
    np.testing.assert_allclose(p["l0.Wh"] @ p["l0.Wh"].T, np.eye(64), atol=1e-10)  # orthogonal rows
    assert np.abs(p["embed"]).max() <= math.sqrt(6 / (vocab.size + 256))
    assert (p["l0.b"][64:128] == 1).all() and (np.delete(p["l0.b"], np.s_[64:128]) == 0).all()


def test_the_loss_falls_as_the_courses_did(values: list[str], trained):
    """The course: about 125.8 at the first epoch (29 ln 78 = 126.3) and 6.19 after 100;
    here, with V = 79 values, it starts at about 29 ln 79 and memorises the same way."""
    reports, _ = trained
    assert len(reports) == 100
    assert reports[0].loss == pytest.approx(29 * math.log(len(set(values))), rel=0.02)
    assert reports[-1].loss < 10.0
    losses = [r.loss for r in reports]
    assert all(b < a for a, b in zip(losses[::10], losses[10::10], strict=False))


def test_greedy_lines_are_all_alike_and_the_fixes_vary_them(values: list[str], trained):
    _, model = trained
    _, distinct = value_vocab(values)
    rng = np.random.default_rng(0)
    greedy = [improvise_values(model, distinct, Decoding(greedy=True), rng, False) for _ in range(3)]
    assert greedy[0] == greedy[1] == greedy[2] and len(greedy[0]) == 50  # the exercise's defect
    drawn = [improvise_values(model, distinct, Decoding(), rng, False) for _ in range(3)]
    assert len({tuple(d) for d in drawn}) == 3
    started = [improvise_values(model, distinct, Decoding(greedy=True), rng, True) for _ in range(6)]
    assert len({tuple(s) for s in started}) > 1


def test_reproduce_jazz_writes_its_midi(data_dir: Path, tmp_path: Path):
    mido = pytest.importorskip("mido")
    out = tmp_path / "jazz.mid"
    result = saurus("reproduce", "jazz", "-o", out, "--epochs", "20", "--every", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"\d+ values, \d+ distinct, in \d+ measures", lines[0])
    assert lines[1].startswith("parameters: ")
    assert [line.split()[1] for line in lines[2:]] == ["1", "10", "20"]
    midi = mido.MidiFile(out)
    assert any(m.type == "note_on" for t in midi.tracks for m in t)
    tempos = [mido.tempo2bpm(m.tempo) for t in midi.tracks for m in t if m.type == "set_tempo"]
    assert tempos and tempos[0] == pytest.approx(130, abs=0.01)
    again = tmp_path / "again.mid"
    assert saurus("reproduce", "jazz", "-o", again, "--epochs", "20").returncode == 0
    assert again.read_bytes() == out.read_bytes()  # same seed, same file
    assert_one_line_error(saurus("reproduce", "jazz", "-o", out, "--epochs", "1"), "--overwrite")
    assert_one_line_error(saurus("reproduce", "jazz", "-o", tmp_path / "x.mid", "--greedy", "--top-k", "2"))
    assert_one_line_error(saurus("reproduce", "jazz", "-o", tmp_path / "x.mid", "--iterations", "2"))
