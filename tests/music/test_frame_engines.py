"""The frame-notes model on both engines: the same masked loss and gradients on the same
weights, the NumPy engine training on a few JSB chorales, and which engine a config gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saurus.errors import OptionError
from saurus.music import frame_train
from saurus.music.frame_model import create_frame_model, frame_vocab, masked_loss_and_grads, piece_ids
from saurus.music.frame_score import frame_nll
from saurus.music.frame_tokens import log_mask
from saurus.music.frame_train import FrameTrainConfig, batch_first, train_frames
from saurus.music.frame_trainees import NumpyFrameTrainee

PITCHES = 10


def random_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three pieces of random chords (some frames empty), batch-first as passes draws them."""
    pieces = [rng.random((t, PITCHES)) < 0.3 for t in (4, 7, 2)]
    return batch_first(piece_ids(pieces), PITCHES)


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_both_engines_give_the_same_masked_loss_and_gradients(cell: str) -> None:
    torch = pytest.importorskip("torch")
    from saurus.training.backends.torch.convert import blocks, recurrent_from_numpy, to_numpy
    from saurus.training.backends.torch.masked import masked_loss, new_module
    from saurus.training.backends.torch.masked_trainee import TorchMaskedTrainee

    rng = np.random.default_rng(0)
    batch = random_batch(rng)
    inputs, targets, weights = (a.T.copy() for a in batch)
    table = torch.from_numpy(log_mask(PITCHES)).float()
    # torch -> NumPy: the same loss and the same log q of every target
    module = new_module(cell, PITCHES + 1, 3, hidden=6, layers=2, dropout=0.0, embed=5)
    model = to_numpy(module, frame_vocab(PITCHES), "stream", lowercase=False, dtype="float64")
    loss, _ = masked_loss_and_grads(model, inputs, targets, weights)
    assert loss == pytest.approx(masked_loss(module, batch, table).item(), rel=1e-5)
    numpy_trainee = NumpyFrameTrainee(model, 0.0, 0.0, rng)
    torch_trainee = TorchMaskedTrainee(module, frame_vocab(PITCHES), log_mask(PITCHES), 0.0, 0.0)
    real = batch[2] > 0
    np.testing.assert_allclose(
        numpy_trainee.target_log_probs(batch[0], batch[1])[real],
        torch_trainee.target_log_probs(batch[0], batch[1])[real],
        rtol=1e-5,
        atol=1e-6,
    )
    # NumPy -> torch (an identity embedding): every gradient, weight for weight
    model = create_frame_model(PITCHES, cell=cell, hidden=6, layers=2, dtype="float64", seed=4)
    model.params["head.W"] *= 3.0  # away from uniform
    loss, grads = masked_loss_and_grads(model, inputs, targets, weights)
    net = recurrent_from_numpy(model)
    torch_loss = masked_loss(net, batch, table)
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    rnn = net.rnn
    pairs = {
        "embed": blocks(cell, rnn.weight_ih_l0.grad.double().numpy()).T,
        "l0.b": blocks(cell, rnn.bias_ih_l0.grad.double().numpy()),
        "l1.Wx": blocks(cell, rnn.weight_ih_l1.grad.double().numpy()).T,
        "head.W": net.head.weight.grad.double().numpy().T,
        "head.b": net.head.bias.grad.double().numpy(),
    }
    for k in range(2):
        pairs[f"l{k}.Wh"] = blocks(cell, getattr(rnn, f"weight_hh_l{k}").grad.double().numpy()).T
        pairs[f"l{k}.b"] = blocks(cell, getattr(rnn, f"bias_hh_l{k}").grad.double().numpy())
    assert set(pairs) == set(grads)
    for name, expected in pairs.items():
        scale = np.abs(expected).max()
        np.testing.assert_allclose(grads[name], expected, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_the_numpy_engine_lowers_the_validation_nll_of_a_few_chorales(data_dir: Path) -> None:
    pytest.importorskip("scipy")
    from saurus.music.jsb import load_jsb

    jsb = load_jsb(data_dir / "JSB_Chorales.mat")
    train = sorted(jsb["train"], key=len)[:16]
    valid = sorted(jsb["valid"], key=len)[:4]
    config = FrameTrainConfig(
        hidden=24, dropout=0.1, lr=1e-2, batch=4, max_passes=4, patience=10, engine="numpy"
    )
    fit = train_frames(train, valid, config)
    assert fit.engine == "numpy" and fit.module is None and len(fit.scores) == 4
    assert fit.scores[-1] < fit.scores[0] - 2.0, fit.scores  # measured: 16.6 -> 12.8 nats a frame
    assert fit.valid["skip-first"] == min(fit.scores)  # the best weights kept
    again = frame_nll(fit.model, valid)  # the NumPy model scores what training recorded
    assert again == pytest.approx(fit.valid, rel=1e-9)


def test_the_engine_a_config_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    numpy_transformer = FrameTrainConfig(family="transformer", engine="numpy")
    with pytest.raises(OptionError, match="transformer trains with torch"):
        numpy_transformer.resolved()
    with pytest.raises(OptionError, match="unknown engine"):
        FrameTrainConfig(engine="jax").resolved()
    monkeypatch.setattr(frame_train, "torch_available", lambda: False)
    assert FrameTrainConfig().resolved().engine == "numpy"
    with pytest.raises(OptionError, match="needs PyTorch"):
        FrameTrainConfig(engine="torch").resolved()
    monkeypatch.setattr(frame_train, "torch_available", lambda: True)
    assert FrameTrainConfig().resolved().engine == "torch"
    assert FrameTrainConfig(family="gru", engine="numpy").resolved().engine == "numpy"


WITHOUT_TORCH = """
import builtins, importlib.util, sys
real_import, real_find = builtins.__import__, importlib.util.find_spec
def no_torch(name, *args, **kwargs):
    if name.split(".")[0] == "torch":
        raise ImportError("torch is blocked for this test")
    return real_import(name, *args, **kwargs)
builtins.__import__ = no_torch
def find(name, *args, **kwargs):
    return None if name.split(".")[0] == "torch" else real_find(name, *args, **kwargs)
importlib.util.find_spec = find
import numpy as np
from saurus.music.frame_train import FrameTrainConfig, train_frames
rng = np.random.default_rng(0)
pieces = [rng.random((6, 10)) < 0.3 for _ in range(8)]
fit = train_frames(pieces[:6], pieces[6:], FrameTrainConfig(family="gru", hidden=8, max_passes=2), pitches=10)
assert fit.engine == "numpy" and len(fit.scores) == 2 and "torch" not in sys.modules
print("ok without torch")
"""


def test_auto_trains_with_numpy_where_torch_is_missing() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok without torch" in done.stdout


@pytest.mark.torch
def test_a_piece_longer_than_the_transformers_positions_is_one_clear_error() -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    pieces = [rng.random((40, PITCHES)) < 0.3 for _ in range(2)]
    config = FrameTrainConfig(family="transformer", context=16, engine="torch", hidden=8, heads=2)
    with pytest.raises(OptionError, match="--context"):
        train_frames(pieces, pieces, config, pitches=PITCHES)


def test_long_pieces_train_in_chunks_of_at_most_128_frames() -> None:
    rng = np.random.default_rng(3)
    long, short = rng.random((300, PITCHES)) < 0.3, rng.random((20, PITCHES)) < 0.3
    config = FrameTrainConfig(hidden=8, batch=1, max_passes=2, transpose=0, engine="numpy")
    fit = train_frames([long, short], [short], config, pitches=PITCHES)
    assert fit.steps == 2 * 4  # a pass: 3 chunks of 100 frames, and the short piece
    assert fit.valid == pytest.approx(frame_nll(fit.model, [short]), rel=1e-9)
