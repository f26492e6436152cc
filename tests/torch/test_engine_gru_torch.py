"""The GRU in torch.nn.GRU's convention ("torch": reset after the recurrent matmul, with the
recurrent bias l{k}.bhn): its hand-written backward against central differences, its
logits against torch.nn.GRU on converted weights, and its model files.

torch.nn.GRU (gate rows r, z, n; x the layer input, h the previous state):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   h' = (1 - z) * n + z * h
NumPy, torch convention (row vectors, blocks [z, r, n], z weighting the candidate, so
z = 1 - z_torch = sigmoid(-(...)) and every z weight and bias is torch's negated):
    embed  = Emb @ [-W_iz^T, W_ir^T, W_in^T]        lk.Wx = [-W_iz^T, W_ir^T, W_in^T]  (k > 0)
    lk.Wh  = [-W_hz^T, W_hr^T, W_hn^T]              lk.b  = [-(b_iz + b_hz), b_ir + b_hr, b_in]
    lk.bhn = b_hn                                   head.W = W_out^T, head.b = b_out
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import gradcheck_setup as setup

from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError, OptionError
from saurus.models.cells import CELLS, TorchGRUCell, cell_for
from saurus.models.recurrent import CharModel, param_shapes
from saurus.reference.gradcheck import numerical_gradient, relative_error

TOL = 1e-7
VOCAB = Vocab(tuple("\nabcdefg"))


def gradcheck_setup(layers: int, seed: int, dropout: float = 0.0):
    """The engine gradcheck's random model, inputs and state, for torch's GRU convention."""
    return setup("gru", layers, seed, dropout, convention="torch")


@pytest.mark.parametrize("layers,use_mask,dropout", [(1, False, 0.0), (2, True, 0.0), (2, True, 0.4)])
def test_torch_gru_gradients(layers: int, use_mask: bool, dropout: float) -> None:
    model, ids, targets, mask, state, readout = gradcheck_setup(layers, seed=layers * 11 + 1, dropout=dropout)
    mask = mask if use_mask else None
    rng = None if dropout == 0 else np.random.default_rng(5)
    _, _, _, fwd = model.loss(ids, targets, mask, state, rng)
    grads, dstate0 = model.backward(fwd, targets, mask, dstate=readout)

    def loss() -> float:
        drop = None if dropout == 0 else np.random.default_rng(5)
        value, _, final, _ = model.loss(ids, targets, mask, state, drop)
        return value + sum(
            float((f * r).sum())
            for fs, rs in zip(final, readout, strict=True)
            for f, r in zip(fs, rs, strict=True)
        )

    assert set(grads) == set(model.params)
    assert {f"l{k}.bhn" for k in range(layers)} <= set(grads)
    for name, w in model.params.items():
        err = relative_error(grads[name], numerical_gradient(loss, w))
        assert err < TOL, f"gru/torch {name}: {err:.2e}"
    for k, layer_state in enumerate(state):
        for j, s in enumerate(layer_state):
            err = relative_error(dstate0[k][j], numerical_gradient(loss, s))
            assert err < TOL, f"gru/torch initial state {k}.{j}: {err:.2e}"


# --- against torch.nn.GRU ---


def torch_modules(V: int, E: int, H: int, layers: int, seed: int):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    emb = torch.nn.Embedding(V, E).double()
    gru = torch.nn.GRU(E, H, num_layers=layers).double()
    head = torch.nn.Linear(H, V).double()
    with torch.no_grad():  # larger than torch's init, so the gates saturate unevenly
        for w in gru.parameters():
            w.mul_(2.5)
    return emb, gru, head


def converted(emb, gru, head, layers: int, H: int) -> dict[str, np.ndarray]:
    """torch Embedding + GRU + Linear -> CharModel params in the torch convention."""

    def t(x) -> np.ndarray:
        return x.detach().double().numpy()

    def ours(rows: np.ndarray) -> np.ndarray:
        """Torch's stacked rows [r; z; n] -> our blocks [-z; r; n]."""
        r, z, n = np.split(rows, 3, axis=0)
        return np.concatenate([-z, r, n], axis=0)

    p: dict[str, np.ndarray] = {}
    for k in range(layers):
        w_ih, w_hh = t(getattr(gru, f"weight_ih_l{k}")), t(getattr(gru, f"weight_hh_l{k}"))
        b_ih, b_hh = t(getattr(gru, f"bias_ih_l{k}")), t(getattr(gru, f"bias_hh_l{k}"))
        if k == 0:
            p["embed"] = t(emb.weight) @ ours(w_ih).T  # (V, 3H): Emb[v] W_ih^T, blocks reordered
        else:
            p[f"l{k}.Wx"] = ours(w_ih).T
        p[f"l{k}.Wh"] = ours(w_hh).T
        # b_hr and b_hz sit outside the reset gate: they fold into the input bias; b_hn cannot
        p[f"l{k}.b"] = ours(b_ih + np.concatenate([b_hh[: 2 * H], np.zeros(H)]))
        p[f"l{k}.bhn"] = b_hh[2 * H :].copy()
    p["head.W"] = t(head.weight).T.copy()
    p["head.b"] = t(head.bias).copy()
    return p


def torch_logits(emb, gru, head, ids: np.ndarray, h0: np.ndarray, dtype) -> np.ndarray:
    import torch

    with torch.no_grad():
        x = emb.to(dtype)(torch.from_numpy(ids))
        out, _ = gru.to(dtype)(x, torch.from_numpy(h0).to(dtype))
        return head.to(dtype)(out).double().numpy()


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_gru_equals_torch_nn_gru(seed: int) -> None:
    V, E, H, layers, T, B = VOCAB.size, 5, 6, 2, 7, 3
    emb, gru, head = torch_modules(V, E, H, layers, seed)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(T, B))
    h0 = rng.normal(size=(layers, B, H))
    expected = torch_logits(emb, gru, head, ids, h0, pytest.importorskip("torch").float64)

    params = converted(emb, gru, head, layers, H)
    assert {k: v.shape for k, v in params.items()} == param_shapes("gru", V, H, layers, "torch")
    model = CharModel(params, VOCAB, "lines", False, "gru", H, layers, convention="torch")
    state = [(h0[k].copy(),) for k in range(layers)]
    logits, final, _ = model.forward(ids, state)
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-10)

    # one step at a time carries the same state
    state = [(h0[k].copy(),) for k in range(layers)]
    for t in range(T):
        step_logits, state = model.step(state, ids[t])
        np.testing.assert_allclose(step_logits, logits[t], rtol=0, atol=1e-12)
    for (a,), (b,) in zip(state, final, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)

    # and in float32, against torch in float32 and in float64
    model32 = CharModel(
        {k: v.astype(np.float32) for k, v in params.items()},
        VOCAB,
        "lines",
        False,
        "gru",
        H,
        layers,
        convention="torch",
    )
    logits32, _, _ = model32.forward(ids, [(h0[k].astype(np.float32),) for k in range(layers)])
    assert logits32.dtype == np.float32
    np.testing.assert_allclose(logits32, expected, rtol=0, atol=1e-5)
    torch32 = torch_logits(emb, gru, head, ids, h0, pytest.importorskip("torch").float32)
    np.testing.assert_allclose(logits32, torch32, rtol=0, atol=1e-5)

    # the course's convention on the same weights is a different function
    cho = CharModel(
        {k: v for k, v in params.items() if not k.endswith(".bhn")}, VOCAB, "lines", False, "gru", H, layers
    )
    cho_logits, _, _ = cho.forward(ids, [(h0[k].copy(),) for k in range(layers)])
    assert np.abs(cho_logits - expected).max() > 1e-3


# --- API and model files ---


def test_the_variant_is_not_a_cell_choice() -> None:
    assert set(CELLS) == {"rnn", "lstm", "gru"}
    assert isinstance(cell_for("gru", "torch"), TorchGRUCell)
    assert cell_for("gru") is CELLS["gru"] and cell_for("lstm", "cho") is CELLS["lstm"]
    with pytest.raises(KeyError):
        cell_for("lstm", "torch")
    shapes = param_shapes("gru", 7, 4, 2, "torch")
    assert shapes["l0.bhn"] == (4,) and shapes["l1.bhn"] == (4,)
    assert set(shapes) - set(param_shapes("gru", 7, 4, 2)) == {"l0.bhn", "l1.bhn"}


def test_create_checks_the_convention() -> None:
    model = CharModel.create(VOCAB, "lines", cell="gru", hidden=4, layers=2, convention="torch")
    assert model.convention == "torch" and not model.params["l1.bhn"].any()
    assert CharModel.create(VOCAB, "lines", cell="gru", hidden=4).convention == "cho"
    with pytest.raises(OptionError):
        CharModel.create(VOCAB, "lines", cell="lstm", hidden=4, convention="torch")
    with pytest.raises(OptionError):
        CharModel.create(VOCAB, "lines", cell="gru", hidden=4, convention="keras")


def test_file_round_trip_keeps_the_convention(tmp_path) -> None:
    from saurus.files.models import load, save

    model = CharModel.create(VOCAB, "lines", cell="gru", hidden=4, layers=2, convention="torch", seed=3)
    for k in range(2):
        model.params[f"l{k}.bhn"][:] = np.arange(4) + k
    meta, arrays = model.to_file()
    assert meta["convention"] == "torch"
    again = CharModel.from_file(meta, arrays)
    assert again.convention == "torch"
    np.testing.assert_array_equal(again.params["l1.bhn"], model.params["l1.bhn"])

    save(model, tmp_path / "torch.saurus")
    loaded = load(tmp_path / "torch.saurus")
    assert isinstance(loaded, CharModel) and loaded.convention == "torch"
    assert set(loaded.params) == set(model.params)
    for name, w in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], w)
    ids = np.array([0, 3, 5])
    a, _ = model.step(model.start(3), ids)
    b, _ = loaded.step(loaded.start(3), ids)
    np.testing.assert_array_equal(a, b)

    # a torch-convention file without its bhn weights is refused
    with pytest.raises(ModelFileError):
        CharModel.from_file(meta, {k: v for k, v in arrays.items() if k != "l0.bhn"})


def test_old_and_forged_conventions() -> None:
    cho = CharModel.create(VOCAB, "lines", cell="gru", hidden=4, seed=1)
    meta, arrays = cho.to_file()
    assert meta["convention"] == "cho"
    old = {k: v for k, v in meta.items() if k != "convention"}  # files from before conventions
    assert CharModel.from_file(old, arrays).convention == "cho"

    lstm_meta, lstm_arrays = CharModel.create(VOCAB, "lines", cell="lstm", hidden=4).to_file()
    assert "convention" not in lstm_meta
    assert CharModel.from_file(lstm_meta, lstm_arrays).convention == "cho"
    with pytest.raises(ModelFileError):
        CharModel.from_file({**lstm_meta, "convention": "torch"}, lstm_arrays)
    for forged in ("keras", "", None, 1, ["torch"]):
        with pytest.raises(ModelFileError):
            CharModel.from_file({**meta, "convention": forged}, arrays)
    # a "cho" file relabelled "torch" lacks the bhn weights and is refused
    with pytest.raises(ModelFileError):
        CharModel.from_file({**meta, "convention": "torch"}, arrays)
