"""Scoring pieces in batches of near-equal length: every piece once, and each piece gets
what it gets alone, in its own place."""

from __future__ import annotations

import numpy as np
import pytest

from saurus.music import frame_score
from saurus.music.frame_model import create_frame_model
from saurus.music.frame_score import piece_log_likelihoods
from saurus.music.length_batches import length_batches


def test_batches_take_every_piece_once_shortest_first() -> None:
    pieces = ["abcde", "a", "abc", "ab", "abcd", "", "abcdef"]
    batches = list(length_batches(pieces, 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(pieces)))
    assert [len(pieces[i]) for i in flat] == sorted(map(len, pieces))


def test_numpy_scores_each_piece_in_its_own_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frame_score, "BATCH", 2)
    rng = np.random.default_rng(4)
    pieces = [rng.random((int(t), 12)) < 0.3 for t in (9, 3, 14, 5, 11)]
    model = create_frame_model(12, cell="lstm", hidden=8, seed=2)
    together = piece_log_likelihoods(model, pieces)
    for piece, scored in zip(pieces, together, strict=True):
        assert scored.shape == (len(piece),)
        np.testing.assert_allclose(scored, piece_log_likelihoods(model, [piece])[0], rtol=1e-9)
