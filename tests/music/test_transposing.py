"""Transposition augmentation's draw: the share kept in its key, and uniform shifts otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from saurus.music.roll_train import augmented
from saurus.music.transposing import draw_shift


@pytest.mark.parametrize("keep", [0.0, 0.5, 1.0])
def test_a_shift_is_zero_with_the_kept_share_and_uniform_otherwise(keep: float) -> None:
    rng = np.random.default_rng(0)
    lo, hi, n = -6, 6, 40_000
    draws = np.array([draw_shift(lo, hi, keep, rng) for _ in range(n)])
    assert draws.min() >= lo and draws.max() <= hi
    counts = np.bincount(draws - lo, minlength=hi - lo + 1) / n
    expected = np.full(hi - lo + 1, (1 - keep) / (hi - lo + 1))
    expected[-lo] += keep
    assert np.abs(counts - expected).max() < 4 * np.sqrt(0.25 / n)  # four standard errors at most


def test_a_piece_with_no_room_to_move_stays() -> None:
    rng = np.random.default_rng(1)
    assert {draw_shift(0, 0, 0.0, rng) for _ in range(50)} == {0}


def test_roll_augmentation_keeps_the_notes_on_the_keys_and_some_pieces_in_place() -> None:
    rng = np.random.default_rng(2)
    piece = np.zeros((5, 88), bool)
    piece[:, [40, 44, 47]] = True
    out = augmented([piece] * 400, 6, rng, keep=0.5)
    shifts = [int(np.flatnonzero(p[0])[0]) - 40 for p in out]
    assert all(p.sum() == piece.sum() for p in out) and set(shifts) <= set(range(-6, 7))
    assert 0.45 < shifts.count(0) / len(shifts) < 0.65  # 0.5 + 0.5 / 13 expected
