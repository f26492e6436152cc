"""NLL per frame as the papers score it: by hand on tiny inputs, padded batches, and the
two published baselines on the JSB test split (11.09 and 10.49, first frame not scored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saurus.errors import DataError
from saurus.music.frame_baselines import IndependentNotes, NoteMarkov
from saurus.music.frame_eval import FrameNLL, nll_per_frame, pad, padded_nll, pieces_nll, scored_mask

PIECES = [np.array([-1.0, -2.0, -3.0]), np.array([-4.0]), np.array([-5.0, -6.0])]


def test_both_conventions_by_hand() -> None:
    assert nll_per_frame(PIECES) == {
        "all": pytest.approx((1 + 2 + 3 + 4 + 5 + 6) / 6),  # every frame, a long piece weighs more
        "skip-first": pytest.approx((2 + 3 + 6) / 3),  # the one-frame piece adds nothing
    }
    assert pieces_nll(PIECES, "skip-first") == FrameNLL(11.0, 3)


def test_the_mask() -> None:
    lengths = np.array([3, 1, 2])
    assert scored_mask(lengths, 4, "all").astype(int).tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]]
    assert scored_mask(lengths, 4, "skip-first").astype(int).tolist() == [
        [0, 1, 1, 0],
        [0, 0, 0, 0],
        [0, 1, 0, 0],
    ]


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 0.0, -1e300])
def test_padding_never_enters_the_average(fill: float) -> None:
    batch, lengths = pad(PIECES, fill)
    assert batch.shape == (3, 3) and lengths.tolist() == [3, 1, 2]
    for convention in ("all", "skip-first"):
        assert padded_nll(batch, lengths, convention) == pieces_nll(PIECES, convention)
        wider = np.hstack([batch, np.full((3, 5), fill)])  # more padding changes nothing
        assert padded_nll(wider, lengths, convention) == pieces_nll(PIECES, convention)


def test_batches_add_up_before_the_one_division() -> None:
    one = padded_nll(*pad(PIECES[:2]), "all")  # 4 frames, 10 nats
    two = padded_nll(*pad(PIECES[2:]), "all")  # 2 frames, 11 nats
    assert (one + two).per_frame == pytest.approx(21 / 6)
    assert (one.per_frame + two.per_frame) / 2 == pytest.approx(4.0)  # the mistake this avoids


def test_what_cannot_be_scored() -> None:
    with pytest.raises(DataError, match="no frames to score"):
        _ = pieces_nll([np.array([-1.0]), np.array([-2.0])], "skip-first").per_frame
    with pytest.raises(ValueError, match=r"0\.\.2"):
        padded_nll(np.zeros((1, 2)), np.array([3]), "all")
    with pytest.raises(ValueError, match="unknown convention"):
        scored_mask(np.array([1]), 1, "first")  # type: ignore[arg-type]


def test_the_baselines_by_hand() -> None:
    train = [np.array([[1, 0], [1, 1], [0, 0]], bool)]
    notes = IndependentNotes.fit(train)
    np.testing.assert_allclose(notes.p, [2.5 / 4, 1.5 / 4])  # (c + 1/2) / (N + 1)
    assert notes.log_likelihoods(np.array([[1, 0]], bool))[0] == pytest.approx(2 * np.log(0.625))
    chain = NoteMarkov.fit([np.array([[1], [1], [0], [1]], bool)])  # 1->1, 1->0, 0->1
    np.testing.assert_allclose(chain.p[:, 0], [1.5 / 2, 1.5 / 3])  # P(on | off), P(on | on)
    ll = chain.log_likelihoods(np.array([[1], [0]], bool))
    np.testing.assert_allclose(ll, [np.log(0.75), np.log(0.5)])  # the first after an empty frame


@pytest.fixture(scope="module")
def jsb(data_dir: Path) -> dict[str, list[np.ndarray]]:
    pytest.importorskip("scipy")
    from saurus.music.jsb import load_jsb

    return load_jsb(data_dir / "JSB_Chorales.mat")


@pytest.mark.parametrize(
    ("model", "published", "all_frames"),
    [(IndependentNotes, 11.09, 11.0602), (NoteMarkov, 10.49, 10.4787)],
)
def test_the_published_baselines(jsb: dict, model: type, published: float, all_frames: float) -> None:
    fitted = model.fit(jsb["train"])
    scores = [fitted.log_likelihoods(p) for p in jsb["test"]]
    figures = nll_per_frame(scores)
    assert round(figures["skip-first"], 2) == published
    assert figures["all"] == pytest.approx(all_frames, abs=5e-5)
    batch, lengths = pad(scores)  # the padded path: the same figure
    assert padded_nll(batch, lengths, "skip-first").per_frame == pytest.approx(
        figures["skip-first"], rel=1e-12
    )
    assert pieces_nll(scores, "skip-first").frames == 4725 - 77
