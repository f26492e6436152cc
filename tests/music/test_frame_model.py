"""The notes-as-tokens frame model on the NumPy engine: masked loss and gradient, padding,
exact per-frame likelihoods, sampling under the grammar, model files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from saurus.errors import ModelFileError
from saurus.files.models import save
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.music.frame_model import (
    create_frame_model,
    frame_vocab,
    is_frame_model,
    load_frame_model,
    masked_loss,
    masked_loss_and_grads,
    padded_ids,
    piece_ids,
    save_frame_model,
)
from saurus.music.frame_sample import sample_frames
from saurus.music.frame_score import frame_nll, id_log_probs, piece_log_likelihoods
from saurus.music.frame_tokens import FRAME_END
from saurus.reference.gradcheck import numerical_gradient, relative_error


def random_pieces(rng: np.random.Generator, pitches: int, lengths: list[int]) -> list[np.ndarray]:
    return [rng.random((t, pitches)) < 0.3 for t in lengths]


def test_the_vocabulary_ids_are_the_token_ids() -> None:
    vocab = frame_vocab()
    assert vocab.size == FRAME_END + 1
    assert vocab.encode(vocab.decode(range(vocab.size))).tolist() == list(range(vocab.size))
    assert vocab.chars[FRAME_END] == "\uff5c" and vocab.chars[0] == "\u2800"


def test_the_gradient_of_the_masked_loss() -> None:
    rng = np.random.default_rng(0)
    model = create_frame_model(4, cell="lstm", hidden=4, layers=2, dropout=0.2, dtype="float64", seed=1)
    model.params["head.W"] *= 4.0  # away from uniform, so every gradient matters
    inputs, targets, mask = padded_ids(piece_ids(random_pieces(rng, 4, [3, 5, 1])), 4)

    def loss() -> float:
        return masked_loss(model, inputs, targets, mask, np.random.default_rng(7))[0]

    _, grads = masked_loss_and_grads(model, inputs, targets, mask, np.random.default_rng(7))
    for name, array in model.params.items():
        assert relative_error(grads[name], numerical_gradient(loss, array)) < 1e-7, name


def test_a_padded_batch_is_its_pieces_one_by_one() -> None:
    rng = np.random.default_rng(1)
    model = create_frame_model(6, cell="gru", hidden=8, dtype="float64", seed=2)
    sequences = piece_ids(random_pieces(rng, 6, [4, 9, 2]))
    loss, grads = masked_loss_and_grads(model, *padded_ids(sequences, 6))
    counts = np.array([len(y) for y in sequences], dtype=np.float64)
    alone = [masked_loss_and_grads(model, *padded_ids([y], 6)) for y in sequences]
    assert loss == pytest.approx(sum(n * a[0] for n, a in zip(counts, alone, strict=True)) / counts.sum())
    for name in grads:
        weighted = sum(n * a[1][name] for n, a in zip(counts, alone, strict=True)) / counts.sum()
        np.testing.assert_allclose(grads[name], weighted, rtol=1e-10, atol=1e-12)
    together = id_log_probs(model, sequences)
    for y, lq in zip(sequences, together, strict=True):
        np.testing.assert_allclose(lq, id_log_probs(model, [y])[0], rtol=1e-12)


def tiny_models(pitches: int) -> list[CharModel | TransformerModel]:
    lstm = create_frame_model(pitches, cell="lstm", hidden=6, seed=3, dtype="float64")
    lstm.params["head.W"] *= 5.0
    gpt = TransformerModel.create(
        frame_vocab(pitches), "stream", d_model=8, layers=1, heads=2, context=32, seed=4, dtype="float64"
    )
    gpt.params["head.b"][:] = np.random.default_rng(5).normal(0, 2, pitches + 1)
    return [lstm, gpt]


@pytest.mark.parametrize("which", [0, 1])
def test_the_scored_frames_share_probability_one(which: int) -> None:
    pitches = 4
    model = tiny_models(pitches)[which]
    before = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], dtype=bool)
    every = [np.array(bits, dtype=bool) for bits in itertools.product((0, 1), repeat=pitches)]
    pieces = [np.vstack([before, frame[None]]) for frame in every]
    last = np.array([ll[-1] for ll in piece_log_likelihoods(model, pieces)])
    assert np.exp(last).sum() == pytest.approx(1.0, abs=1e-10)
    assert len(set(np.round(last, 9))) > 8  # the model prefers some frames: a real test


def test_the_nll_per_frame_follows_both_conventions() -> None:
    rng = np.random.default_rng(6)
    model = tiny_models(5)[0]
    pieces = random_pieces(rng, 5, [3, 6])
    lls = piece_log_likelihoods(model, pieces)
    nll = frame_nll(model, pieces)
    assert nll["all"] == pytest.approx(-sum(ll.sum() for ll in lls) / 9)
    assert nll["skip-first"] == pytest.approx(-sum(ll[1:].sum() for ll in lls) / 7)


def test_samples_keep_the_grammar_and_the_seed() -> None:
    model = create_frame_model(5, cell="lstm", hidden=6, seed=8)
    model.params["head.b"][0] = 8.0  # pitch 0 again and again, were it allowed
    frames = sample_frames(model, 12, np.random.default_rng(9))
    assert frames.shape == (12, 5) and frames.dtype == bool
    assert frames[:, 0].all()  # every frame opens with pitch 0, and the grammar ends it there or goes up
    again = sample_frames(model, 12, np.random.default_rng(9))
    np.testing.assert_array_equal(frames, again)
    primed = sample_frames(model, 3, np.random.default_rng(9), temperature=0.5, prime=frames[:4])
    assert primed.shape == (3, 5)


def test_sampled_frames_follow_the_scored_distribution() -> None:
    pitches = 3
    model = tiny_models(pitches)[0]
    every = [np.array(bits, dtype=bool) for bits in itertools.product((0, 1), repeat=pitches)]
    p = np.exp([piece_log_likelihoods(model, [f[None]])[0][0] for f in every])
    rng = np.random.default_rng(10)
    draws = 2000
    seen = np.zeros(len(every))
    for _ in range(draws):
        frame = sample_frames(model, 1, rng)[0]
        seen[int("".join("1" if b else "0" for b in frame), 2)] += 1
    assert np.abs(seen / draws - p).max() < 4 * np.sqrt(p.max() / draws)


def test_a_model_file_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    pieces = random_pieces(rng, 88, [5, 7])
    model = create_frame_model(88, cell="lstm", hidden=8, seed=12)
    save_frame_model(model, tmp_path / "f.saurus", extra={"valid_nll": 1.5})
    loaded, meta = load_frame_model(tmp_path / "f.saurus")
    assert is_frame_model(meta) and meta["valid_nll"] == 1.5
    assert frame_nll(loaded, pieces) == frame_nll(model, pieces)
    save(model, tmp_path / "plain.saurus")
    with pytest.raises(ModelFileError, match="not a frame-notes model"):
        load_frame_model(tmp_path / "plain.saurus")
