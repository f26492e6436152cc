"""Training the frame-notes model with torch: the masked loss, transposition, early
stopping, and the export to NumPy scoring exactly what torch scores."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from saurus.music.frame_eval import nll_per_frame
from saurus.music.frame_model import piece_ids
from saurus.music.frame_score import frame_nll
from saurus.music.frame_train import (
    FrameTrainConfig,
    passes,
    shifts,
    torch_log_likelihoods,
    train_frames,
    transposed,
)

PITCHES = 12
CHORDS = [(0, 4, 7), (2, 5, 9), (4, 7, 11), (0, 5, 9)]  # a cycle the model can learn


def chord_pieces(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Pieces cycling through CHORDS from a random place, sometimes a rest between."""
    pieces = []
    for _ in range(count):
        start, length = int(rng.integers(4)), int(rng.integers(6, 14))
        frames = np.zeros((length, PITCHES), dtype=bool)
        for t in range(length):
            frames[t, list(CHORDS[(start + t) % 4])] = True
        pieces.append(frames)
    return pieces


def test_shifts_keep_every_note_on_the_keyboard() -> None:
    y = np.array([3, 9, PITCHES, 5, PITCHES])
    assert shifts(y, 6, PITCHES).tolist() == [-3, -2, -1, 0, 1, 2]
    assert transposed(y, -3, PITCHES).tolist() == [0, 6, PITCHES, 2, PITCHES]
    rng = np.random.default_rng(0)
    one_pass = passes(piece_ids(chord_pieces(rng, 10)), 3, 6, rng, PITCHES)
    batches = list(one_pass())
    assert sum(b[0].shape[0] for b in batches) == 10
    for inputs, targets, weights in batches:
        real = targets[weights > 0]
        assert real.min() >= 0 and real.max() <= PITCHES
        assert (inputs[:, 0] == PITCHES).all()


@pytest.mark.parametrize(
    "config",
    [
        FrameTrainConfig(family="lstm", hidden=32, embed=16, dropout=0.1, lr=1e-2, batch=4, budget_s=60),
        FrameTrainConfig(
            family="transformer",
            hidden=16,
            layers=1,
            heads=2,
            context=128,
            dropout=0.0,
            lr=1e-2,
            batch=4,
            budget_s=60,
        ),
    ],
    ids=["lstm", "transformer"],
)
def test_training_lowers_the_validation_nll_and_numpy_scores_what_torch_scores(
    config: FrameTrainConfig,
) -> None:
    rng = np.random.default_rng(1)
    train, valid = chord_pieces(rng, 24), chord_pieces(rng, 6)
    config = FrameTrainConfig(**{**config.__dict__, "patience": 100, "max_passes": 12})
    fit = train_frames(train, valid, config, pitches=PITCHES)
    assert len(fit.scores) == 12
    assert fit.valid[config.convention] == pytest.approx(min(fit.scores))  # the best weights kept
    assert fit.valid["skip-first"] < fit.scores[0] - 1.0
    assert fit.valid["skip-first"] < 2.0  # the untrained model: about 12 nats a frame
    torch_nll = nll_per_frame(torch_log_likelihoods(fit.module, piece_ids(valid), PITCHES))
    numpy_nll = frame_nll(fit.model, valid)
    for convention in torch_nll:
        assert numpy_nll[convention] == pytest.approx(torch_nll[convention], rel=1e-5)


def test_scoring_in_length_order_gives_each_piece_its_own_likelihoods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saurus.music import frame_train
    from saurus.music.frame_train import new_trainee, trainee_log_likelihoods

    monkeypatch.setattr(frame_train, "EVAL_BATCH", 2)  # several batches, cut from sorted lengths
    rng = np.random.default_rng(3)
    pieces = piece_ids(chord_pieces(rng, 7))
    assert sorted(map(len, pieces)) != [len(p) for p in pieces]  # not already in length order
    trainee = new_trainee(FrameTrainConfig(hidden=8, embed=4, engine="torch").resolved(), PITCHES)
    together = trainee_log_likelihoods(trainee, pieces, PITCHES)
    for piece, scored in zip(pieces, together, strict=True):
        alone = trainee_log_likelihoods(trainee, [piece], PITCHES)[0]
        assert scored.shape == alone.shape and scored.shape[0] == int((piece == PITCHES).sum())
        np.testing.assert_allclose(scored, alone, rtol=1e-5, atol=1e-6)
