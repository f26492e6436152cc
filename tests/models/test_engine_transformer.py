"""The NumPy Transformer: step() against forward(), forward() against a torch GPT, model files,
and sampling and scoring through the usual functions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError, OptionError
from saurus.files import models
from saurus.files.model_file import load_model_file, save_model_file
from saurus.generation.sampling import generate_lines, generate_text
from saurus.generation.scoring import evaluate, score_strings
from saurus.models.transformer import TransformerModel, TransformerState, param_shapes, rotary_tables, rotate
from saurus.protocol import START

TEXT = "the cat sat on the mat. the dog dug a log. "
LINES_VOCAB = LinesCorpus.from_text(NAMES).vocab()
STREAM_VOCAB = StreamCorpus(TEXT).vocab()  # no "\n": START reads a zero token embedding


def noisy(model: TransformerModel, seed: int = 0, std: float = 0.3) -> TransformerModel:
    """The model with every weight redrawn larger (biases and LayerNorms included), so no
    term of the computation hides behind GPT-2's tiny initial weights."""
    rng = np.random.default_rng(seed)
    for w in model.params.values():
        w += rng.normal(0.0, std, w.shape).astype(w.dtype)
    return model


def small(
    vocab: Vocab,
    mode: str,
    *,
    context: int = 8,
    tied: bool = False,
    dtype: str = "float64",
    positions: str = "learned",
):
    model = TransformerModel.create(
        vocab,
        mode,
        d_model=12,
        layers=2,
        heads=3,
        context=context,
        tied=tied,
        dtype=dtype,
        seed=1,
        positions=positions,
    )
    return noisy(model)


def stepped(model: TransformerModel, ids: np.ndarray) -> np.ndarray:
    """Logits (T, B, V) from feeding ids (T, B) one step at a time."""
    state, out = model.start(ids.shape[1]), []
    for row in ids:
        logits, state = model.step(state, row)
        out.append(logits)
    return np.stack(out)


def windowed(model: TransformerModel, ids: np.ndarray) -> np.ndarray:
    """What step() promises, from forward() alone: each step's logits are forward()'s last
    over the window of tokens kept, which drops to its last context // 2 when full."""
    window: list[np.ndarray] = []
    out = []
    for row in ids:
        if len(window) == model.context:
            window = window[len(window) - model.context // 2 :]
        window.append(row)
        out.append(model.forward(np.stack(window))[-1])
    return np.stack(out)


# --- step() and forward() ---


@pytest.mark.parametrize(("tied", "positions"), [(False, "learned"), (True, "learned"), (False, "rotary")])
def test_steps_equal_forward_for_names_from_start(tied: bool, positions: str) -> None:
    model = small(LINES_VOCAB, "lines", context=8, tied=tied, positions=positions)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, LINES_VOCAB.size, (8, 5))
    ids[0] = START
    np.testing.assert_allclose(stepped(model, ids), model.forward(ids), rtol=0, atol=1e-10)
    # START reads the end token
    eos = ids.copy()
    eos[0] = LINES_VOCAB.eos_id
    np.testing.assert_array_equal(model.forward(eos), model.forward(ids))


def test_steps_equal_forward_for_a_stream_and_its_start() -> None:
    model = small(STREAM_VOCAB, "stream", context=8)
    ids = np.random.default_rng(1).integers(0, STREAM_VOCAB.size, (8, 3))
    np.testing.assert_allclose(stepped(model, ids), model.forward(ids), rtol=0, atol=1e-10)
    ids[0] = START
    np.testing.assert_allclose(stepped(model, ids), model.forward(ids), rtol=0, atol=1e-10)
    # START is a zero token embedding (pos_emb still added): zeroing every token row of
    # tok_emb makes any first token read the same
    zeroed = small(STREAM_VOCAB, "stream", context=8)
    zeroed.params["tok_emb"][:] = 0.0
    other = ids.copy()
    other[0] = 2
    np.testing.assert_allclose(zeroed.forward(ids), zeroed.forward(other), rtol=0, atol=1e-12)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("context", [1, 2, 5, 8])
def test_steps_across_the_context_refill(context: int, positions: str) -> None:
    model = small(STREAM_VOCAB, "stream", context=context, positions=positions)
    ids = np.random.default_rng(2).integers(0, STREAM_VOCAB.size, (3 * context + 4, 2))
    ids[0] = START
    np.testing.assert_allclose(stepped(model, ids), windowed(model, ids), rtol=0, atol=1e-10)
    state, lengths = model.start(2), []
    for row in ids:
        _, state = model.step(state, row)
        lengths.append(state.length)
    keep = context // 2
    assert max(lengths) == context and lengths[context] == keep + 1, "the cache was refilled"


def test_a_state_stepped_twice_branches_without_harm() -> None:
    model = small(LINES_VOCAB, "lines", context=40)
    ids = np.random.default_rng(3).integers(0, LINES_VOCAB.size, (20, 2))
    state = model.start(2)
    for row in ids[:17]:
        _, state = model.step(state, row)
    branch = state
    a1, after_a = model.step(branch, ids[17])
    b1, after_b = model.step(branch, ids[18])  # the same state again: a branch
    a2, _ = model.step(after_a, ids[18])
    b2, _ = model.step(after_b, ids[19])
    assert isinstance(after_a, TransformerState) and after_a.cache is not after_b.cache
    np.testing.assert_allclose(a2, model.forward(ids[:19])[-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(b2, model.forward(np.concatenate([ids[:17], ids[18:20]]))[-1], atol=1e-10)
    np.testing.assert_allclose(a1, model.forward(ids[:18])[-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(b1, model.forward(np.concatenate([ids[:17], ids[18:19]]))[-1], atol=1e-10)


def test_rotary_scores_depend_on_the_distance_only() -> None:
    """q_s . k_t after turning depends on s - t: shifting both positions by 7 keeps it."""
    rng = np.random.default_rng(6)
    q, k = rng.normal(size=(2, 8))
    cos, sin = rotary_tables(0, 20, 8, np.float64)
    for s, t in ((5, 2), (9, 9), (3, 10)):
        here = rotate(q, cos[s], sin[s]) @ rotate(k, cos[t], sin[t])
        there = rotate(q, cos[s + 7], sin[s + 7]) @ rotate(k, cos[t + 7], sin[t + 7])
        assert here == pytest.approx(there, abs=1e-12)
        assert here != pytest.approx(q @ k, abs=1e-3) or s == t  # it does turn
    # position 0 is the identity; norms are kept
    np.testing.assert_allclose(rotate(q, cos[0], sin[0]), q, atol=1e-15)
    assert np.linalg.norm(rotate(q, cos[13], sin[13])) == pytest.approx(np.linalg.norm(q))


def test_a_rotary_model_has_no_position_table_and_round_trips(tmp_path: Path) -> None:
    model = small(LINES_VOCAB, "lines", positions="rotary")
    assert "pos_emb" not in model.params
    path = tmp_path / "rope.saurus"
    models.save(model, path)
    assert load_model_file(path).meta["positions"] == "rotary"
    loaded = models.load(path)
    assert loaded.positions == "rotary"
    ids = np.random.default_rng(7).integers(0, LINES_VOCAB.size, (6, 2))
    np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
    with pytest.raises(OptionError, match="even head width"):
        TransformerModel.create(
            LINES_VOCAB, "lines", d_model=9, layers=1, heads=3, context=4, positions="rotary"
        )


def test_float32_stays_float32_and_forward_checks_its_input() -> None:
    model = small(LINES_VOCAB, "lines", dtype="float32")
    ids = np.full((4, 2), START)
    assert model.forward(ids).dtype == np.float32
    logits, _ = model.step(model.start(2), ids[0])
    assert logits.dtype == np.float32 and logits.shape == (2, LINES_VOCAB.size)
    with pytest.raises(ValueError, match="T <= 8"):
        model.forward(np.zeros((9, 1), dtype=np.int64))


def test_create_initialises_as_gpt2_and_checks_its_options() -> None:
    model = TransformerModel.create(
        LINES_VOCAB, "lines", d_model=64, layers=8, heads=4, context=32, seed=0, dtype="float32"
    )
    p = model.params
    assert all(w.dtype == np.float32 for w in p.values()) and model.is_finite()
    assert set(p) == set(param_shapes(LINES_VOCAB.size, 64, 8, 32, tied=False))
    assert model.num_params() == sum(w.size for w in p.values())
    assert abs(p["b0.attn.W"].std() - 0.02) < 0.002 and abs(p["tok_emb"].std() - 0.02) < 0.004
    assert abs(p["b3.proj.W"].std() - 0.02 / 4) < 0.0005 and abs(p["b7.mlp.W2"].std() - 0.005) < 0.0003
    assert not p["b2.attn.b"].any() and not p["head.b"].any() and not p["ln_f.b"].any()
    assert (p["b1.ln2.g"] == 1).all()
    tied = TransformerModel.create(STREAM_VOCAB, "stream", d_model=8, layers=1, heads=2, context=4, tied=True)
    assert "head.W" not in tied.params and tied.num_params() < model.num_params()
    for bad in ({"heads": 3}, {"layers": 0}, {"context": -1}, {"dtype": "float16"}):
        options = {"d_model": 8, "layers": 1, "heads": 2, "context": 4, **bad}
        with pytest.raises(OptionError):
            TransformerModel.create(STREAM_VOCAB, "stream", **options)


# --- against torch ---


def torch_gpt(vocab: int, d_model: int, layers: int, heads: int, context: int, tied: bool):
    """A small GPT written directly in torch, independently of saurus.training.backends.torch."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d_model, eps=1e-5), nn.LayerNorm(d_model, eps=1e-5)
            self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
            self.fc1, self.fc2 = nn.Linear(d_model, 4 * d_model), nn.Linear(4 * d_model, d_model)
            self.gelu = nn.GELU(approximate="tanh")

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
            q, k, v = (t.view(B, T, heads, D // heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(self.gelu(self.fc1(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d_model), nn.Embedding(context, d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
            self.head = nn.Linear(d_model, vocab)
            if tied:
                self.head.weight = self.tok.weight

        def forward(self, ids):  # (B, T)
            x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    gpt = GPT()
    with torch.no_grad():
        for w in gpt.parameters():  # biases and LayerNorms away from 0 and 1 too
            nn.init.normal_(w, std=0.3)
    return gpt


def exported(gpt, tied: bool) -> dict[str, np.ndarray]:
    """The torch GPT's weights in the model-file format (Linear weights transposed)."""

    def arr(t):
        return t.detach().double().numpy().copy()

    params = {"tok_emb": arr(gpt.tok.weight), "pos_emb": arr(gpt.pos.weight)}
    for i, b in enumerate(gpt.blocks):
        params |= {
            f"b{i}.ln1.g": arr(b.ln1.weight),
            f"b{i}.ln1.b": arr(b.ln1.bias),
            f"b{i}.attn.W": arr(b.qkv.weight).T,
            f"b{i}.attn.b": arr(b.qkv.bias),
            f"b{i}.proj.W": arr(b.proj.weight).T,
            f"b{i}.proj.b": arr(b.proj.bias),
            f"b{i}.ln2.g": arr(b.ln2.weight),
            f"b{i}.ln2.b": arr(b.ln2.bias),
            f"b{i}.mlp.W1": arr(b.fc1.weight).T,
            f"b{i}.mlp.b1": arr(b.fc1.bias),
            f"b{i}.mlp.W2": arr(b.fc2.weight).T,
            f"b{i}.mlp.b2": arr(b.fc2.bias),
        }
    params |= {"ln_f.g": arr(gpt.ln_f.weight), "ln_f.b": arr(gpt.ln_f.bias), "head.b": arr(gpt.head.bias)}
    if not tied:
        params["head.W"] = arr(gpt.head.weight).T
    return params


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_matches_a_torch_gpt(tied: bool, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    V, D, L, H, C = LINES_VOCAB.size, 16, 2, 2, 12
    gpt = torch_gpt(V, D, L, H, C, tied).to(getattr(torch, dtype))
    params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in exported(gpt, tied).items()}
    model = TransformerModel(params, LINES_VOCAB, "lines", False, D, L, H, C, 0.0, tied)
    ids = np.random.default_rng(4).integers(0, V, (C, 3))
    with torch.no_grad():
        ref = gpt(torch.from_numpy(ids.T.copy())).numpy().transpose(1, 0, 2)
    atol = 1e-10 if dtype == "float64" else 1e-5
    got = model.forward(ids)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)
    np.testing.assert_allclose(stepped(model, ids), ref, rtol=0, atol=atol)


# --- model files ---


def test_file_round_trip(tmp_path: Path) -> None:
    for tied in (False, True):
        model = small(LINES_VOCAB, "lines", tied=tied)
        model.seen = np.array([3, 9], dtype=np.uint64)
        path = tmp_path / f"t{tied}.saurus"
        models.save(model, path, extra={"training": {"seed": 1}})
        meta = load_model_file(path).meta
        assert meta["kind"] == "transformer" and meta["positions"] == "learned" and meta["tied"] is tied
        loaded = models.load(path)
        assert isinstance(loaded, TransformerModel)
        settings = ("vocab", "mode", "lowercase", "d_model", "layers", "heads", "context", "dropout", "tied")
        assert all(getattr(loaded, k) == getattr(model, k) for k in settings)
        assert loaded.params.keys() == model.params.keys()
        for key, value in model.params.items():
            np.testing.assert_array_equal(loaded.params[key], value)
        np.testing.assert_array_equal(loaded.seen, model.seen)
        ids = np.random.default_rng(5).integers(0, LINES_VOCAB.size, (6, 2))
        np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))


def forged(tmp_path: Path, meta_change: dict | None = None, arrays_change: dict | None = None) -> Path:
    meta, arrays = small(LINES_VOCAB, "lines").to_file()
    meta.update(meta_change or {})
    for name, value in (arrays_change or {}).items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    path = tmp_path / "forged.saurus"
    save_model_file(path, meta, arrays)
    return path


D, V = 12, LINES_VOCAB.size


@pytest.mark.parametrize(
    ("meta_change", "arrays_change", "message"),
    [
        ({}, {"b1.attn.W": np.zeros((D, 2 * D))}, r"b1\.attn\.W is float64 \(12, 24\), expected"),
        ({}, {"pos_emb": np.zeros((8, D), np.float32)}, "pos_emb is float32"),
        ({"heads": 5}, {}, "5 heads do not divide its width 12"),
        ({}, {"head.W": None}, r"head\.W is missing"),
        ({"tied": True}, {}, r"do not belong to it: head\.W"),
        ({}, {"b2.ln1.g": np.ones(D)}, r"do not belong to it: b2\.ln1\.g"),
        ({}, {"head.b": np.full(V, np.nan)}, "NaN"),
        ({"layers": 65}, {}, "over the limit of 64"),
        ({"context": 10**7}, {}, "over the limit of 1000000"),
        ({"d_model": 0}, {}, "d_model is malformed"),
        ({"layers": True}, {}, "layers is malformed"),
        ({"tied": "no"}, {}, "tied setting is malformed"),
        ({"positions": "sinusoidal"}, {}, "not one of: learned, rotary"),
        ({"positions": "rotary"}, {}, r"do not belong to it: pos_emb"),
        ({"dropout": 1.5}, {}, "dropout is malformed"),
        ({}, {"tok_emb": np.zeros((V, D), np.int32)}, "not float32/float64"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, meta_change, arrays_change, message: str) -> None:
    path = forged(tmp_path, meta_change, arrays_change)
    with pytest.raises(ModelFileError, match=message) as err:
        models.load(path)
    assert "\n" not in str(err.value)


# --- sampling and scoring through the usual functions ---


def test_sampling_and_scoring_names() -> None:
    model = TransformerModel.create(
        LINES_VOCAB, "lines", d_model=16, layers=2, heads=2, context=6, seed=3, lowercase=True
    )
    names = generate_lines(model, 20, np.random.default_rng(0), max_len=15)
    assert len(names) == 20 and all(names) and all(len(n) <= 15 and "\n" not in n for n in names)
    assert any(len(n) > 6 for n in names), "some name runs past the context (a refill)"
    again = generate_lines(model, 20, np.random.default_rng(0), max_len=15)
    assert again == names
    reports = score_strings(model, ["anna", "bob", "frida" * 3])
    assert all(math.isfinite(r.nats) and r.nats > 0 for r in reports)
    assert [r.chars for r in reports] == [5, 4, 16]
    report = evaluate(model, LinesCorpus.from_text(NAMES))
    assert math.isfinite(report.nats) and abs(report.nats - math.log(V)) < 0.5  # about uniform


def test_sampling_and_scoring_a_stream() -> None:
    model = noisy(
        TransformerModel.create(STREAM_VOCAB, "stream", d_model=16, layers=1, heads=4, context=8, tied=True),
        std=0.05,
    )
    text = generate_text(model, 40, np.random.default_rng(1), prefix="the ")
    assert len(text) == 44 and text.startswith("the ") and set(text) <= set(STREAM_VOCAB.chars)
    (report,) = score_strings(model, [TEXT])
    assert math.isfinite(report.nats) and report.chars == len(TEXT)
    assert math.isclose(evaluate(model, StreamCorpus(TEXT)).nats, report.nats)
