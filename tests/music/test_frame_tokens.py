"""A frame's notes as tokens: the round trip, the grammar, and a proper distribution over
all 2^P frames, proved by enumeration with a small P."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from saurus.errors import DataError
from saurus.music.frame_tokens import (
    FRAME_END,
    VOCAB,
    allowed_next,
    frame_log_likelihoods,
    frames_to_ids,
    ids_to_frames,
    log_mask,
    masked_log_softmax,
    previous_ids,
)

SMALL = 5  # pitches in the enumerations: ids 0..4, FRAME_END = 5


def test_ids_by_hand() -> None:
    x = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]], bool)
    ids = frames_to_ids(x)
    assert ids.tolist() == [0, 2, 5, 5, 4, 5]
    assert previous_ids(ids, SMALL).tolist() == [5, 0, 2, 5, 5, 4]
    assert np.array_equal(ids_to_frames(ids, SMALL), x)
    assert frames_to_ids(np.zeros((0, 88), bool)).tolist() == []
    assert ids_to_frames(np.array([], np.int64)).shape == (0, 88)
    assert (FRAME_END, VOCAB) == (88, 89)


def test_random_frames_round_trip() -> None:
    rng = np.random.default_rng(0)
    for density in (0.0, 0.05, 0.5, 1.0):
        x = rng.random((30, 88)) < density
        ids = frames_to_ids(x)
        assert len(ids) == x.sum() + len(x)
        assert np.array_equal(ids_to_frames(ids), x)


def test_the_jsb_chorales_round_trip(data_dir: Path) -> None:
    pytest.importorskip("scipy")
    from saurus.music.jsb import load_jsb

    for pieces in load_jsb(data_dir / "JSB_Chorales.mat").values():
        for piece in pieces:
            assert np.array_equal(ids_to_frames(frames_to_ids(piece)), piece)


def test_the_grammar() -> None:
    allowed = allowed_next(3)
    assert allowed.astype(int).tolist() == [
        [0, 1, 1, 1],  # after pitch 0: 1, 2 or the end
        [0, 0, 1, 1],
        [0, 0, 0, 1],  # after the highest pitch: only the end
        [1, 1, 1, 1],  # after FRAME_END (or at the start): anything
    ]
    mask = log_mask(3)
    assert np.array_equal(mask == 0, allowed) and np.isneginf(mask[~allowed]).all()
    assert allowed_next().shape == (89, 89) and allowed_next()[:, FRAME_END].all()


@pytest.mark.parametrize(
    ("ids", "fragment"),
    [
        ([2, 0, 5], "may not follow 2"),
        ([1, 1, 5], "may not follow 1"),
        ([1, 3], "end inside a frame"),
        ([1, 6], "from 0 to 5"),
        ([-1, 5], "from 0 to 5"),
    ],
)
def test_ids_outside_the_grammar_are_refused(ids: list[int], fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        ids_to_frames(np.array(ids), SMALL)


def random_model(seed: int, scale: float):
    """logits(prefix): a fixed random vector for every prefix, as any model's would be."""
    rng = np.random.default_rng(seed)
    seen: dict[tuple[int, ...], np.ndarray] = {}

    def logits(prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in seen:
            seen[prefix] = scale * rng.standard_normal(SMALL + 1)
        return seen[prefix]

    return logits


def log_prob(ids: list[int], logits) -> float:
    z = np.stack([logits(tuple(ids[:k])) for k in range(len(ids))])
    logq = masked_log_softmax(z, previous_ids(np.array(ids), SMALL), SMALL)
    return float(logq[np.arange(len(ids)), ids].sum())


def all_frames(pitches: int) -> list[np.ndarray]:
    return [np.array(bits, bool) for bits in itertools.product((0, 1), repeat=pitches)]


@pytest.mark.parametrize(("seed", "scale"), [(0, 1.0), (1, 5.0), (2, 40.0)])
def test_the_frames_share_probability_one(seed: int, scale: float) -> None:
    logits = random_model(seed, scale)
    frames = all_frames(SMALL)
    assert len(frames) == 2**SMALL
    one = sum(np.exp(log_prob(frames_to_ids(x[None]).tolist(), logits)) for x in frames)
    assert one == pytest.approx(1.0, abs=1e-12)
    # the second frame, given each first one: again a distribution, and the pair's too
    pairs = 0.0
    for first in frames[::7]:
        given = [np.exp(log_prob(frames_to_ids(np.stack([first, x])).tolist(), logits)) for x in frames]
        first_alone = np.exp(log_prob(frames_to_ids(first[None]).tolist(), logits))
        assert sum(given) == pytest.approx(first_alone, rel=1e-12)
        pairs += sum(given)
    total_first = sum(np.exp(log_prob(frames_to_ids(x[None]).tolist(), logits)) for x in frames[::7])
    assert pairs == pytest.approx(total_first, rel=1e-12)


def test_a_frame_is_the_sum_of_its_ids() -> None:
    ids = np.array([0, 2, 5, 5, 4, 5])
    logp = -np.arange(1.0, 7.0)
    assert frame_log_likelihoods(ids, logp, SMALL).tolist() == [-6.0, -4.0, -11.0]
    with pytest.raises(DataError, match="end inside a frame"):
        frame_log_likelihoods(ids[:-1], logp[:-1], SMALL)


def bernoulli_logits(p: np.ndarray) -> np.ndarray:
    """(V, V) logits[prev, next] of independent notes with P(on) = p, as frame tokens:
    next pitch q after prev: log p_q + sum_{prev<j<q} log(1 - p_j); FRAME_END: the rest off."""
    pitches = len(p)
    off = np.concatenate([[0.0], np.cumsum(np.log1p(-p))])  # off[q] = sum_{j<q} log(1 - p_j)
    out = np.full((pitches + 1, pitches + 1), -np.inf)
    for prev in range(-1, pitches):
        row = out[prev if prev >= 0 else pitches]
        for q in range(prev + 1, pitches):
            row[q] = np.log(p[q]) + off[q] - off[prev + 1]
        row[pitches] = off[pitches] - off[prev + 1]
    return out


def test_independent_notes_give_the_same_frame_likelihood_as_tokens() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.6, 88)
    x = rng.random((25, 88)) < p
    ids = frames_to_ids(x)
    prev = previous_ids(ids)
    logq = masked_log_softmax(bernoulli_logits(p)[prev], prev)
    by_tokens = frame_log_likelihoods(ids, logq[np.arange(len(ids)), ids])
    by_notes = (np.where(x, np.log(p), np.log1p(-p))).sum(axis=1)
    np.testing.assert_allclose(by_tokens, by_notes, rtol=1e-12)
