"""Torch modules <-> NumPy models, weight for weight, so a model trained with torch is saved
(and sampled) as a NumPy model, and a NumPy model continues training in torch.

Recurrent (NumPy: row vectors, gate columns fused; torch: weight (gates*H, in) rows):
    embed  = E W_ih0^T             the embedding folded into layer 0's input weights (V, G H)
    l0.b   = b_ih0 + b_hh0         lk.Wx = W_ihk^T   lk.Wh = W_hhk^T   lk.b = b_ihk + b_hhk
    head.W = W_out^T               head.b = b_out
LSTM gate blocks: torch i, f, g, o -> NumPy i, f, o, g.
GRU: torch r, z, n with h' = (1 - z) n + z h -> NumPy's "torch" convention z, r, n with
h' = z n + (1 - z) h, so the z rows are negated (sigmoid(-a) = 1 - sigmoid(a)); the
recurrent bias of n stays apart as lk.bhn, since the reset gate multiplies it.
Transformer: every Linear's weight is transposed (x W); names as in models/transformer.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from saurus.data.vocab import Vocab
from saurus.errors import OptionError
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM

# NumPy block k comes from torch block ORDER[cell][k]
ORDER = {"lstm": (0, 1, 3, 2), "gru": (1, 0, 2), "rnn": (0,)}
NEGATED = {"gru": (0,)}  # NumPy blocks whose pre-activation is negated


def numpy_of(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def blocks(cell: str, rows: np.ndarray) -> np.ndarray:
    """Torch's (G*H, ...) gate rows in NumPy's block order, z negated for the GRU."""
    parts = np.split(rows, len(ORDER[cell]), axis=0)
    out = [parts[j] for j in ORDER[cell]]
    for k in NEGATED.get(cell, ()):
        out[k] = -out[k]
    return np.concatenate(out, axis=0)


def unblocks(cell: str, columns: np.ndarray) -> np.ndarray:
    """The inverse of `blocks` for NumPy's (..., G*H) column blocks, as torch rows."""
    parts = np.split(columns, len(ORDER[cell]), axis=-1)
    for k in NEGATED.get(cell, ()):
        parts[k] = -parts[k]
    rows = [None] * len(parts)
    for k, j in enumerate(ORDER[cell]):
        rows[j] = parts[k]
    return np.concatenate(rows, axis=-1).T


def recurrent_params(module: RecurrentLM) -> dict[str, np.ndarray]:
    cell, H = module.cell, module.hidden
    rnn = module.rnn
    params: dict[str, np.ndarray] = {}
    for k in range(module.layers):
        w_ih, w_hh = numpy_of(getattr(rnn, f"weight_ih_l{k}")), numpy_of(getattr(rnn, f"weight_hh_l{k}"))
        b_ih, b_hh = numpy_of(getattr(rnn, f"bias_ih_l{k}")), numpy_of(getattr(rnn, f"bias_hh_l{k}"))
        if cell == "gru":  # the recurrent bias of n stays apart; r's and z's fold into the input bias
            params[f"l{k}.bhn"] = b_hh[2 * H :].copy()
            b_hh = np.concatenate([b_hh[: 2 * H], np.zeros(H)])
        if k == 0:
            params["embed"] = blocks(cell, w_ih @ numpy_of(module.embed.weight).T).T
        else:
            params[f"l{k}.Wx"] = blocks(cell, w_ih).T
        params[f"l{k}.Wh"] = blocks(cell, w_hh).T
        params[f"l{k}.b"] = blocks(cell, b_ih + b_hh)
    if module.cat is not None:  # the category embedding through layer 0's input weights
        w_ih0 = numpy_of(rnn.weight_ih_l0)
        params["cat"] = blocks(cell, w_ih0 @ numpy_of(module.cat.weight).T).T
    params["head.W"] = numpy_of(module.head.weight).T
    params["head.b"] = numpy_of(module.head.bias)
    return params


def transformer_params(module: TransformerLM) -> dict[str, np.ndarray]:
    params = {"tok_emb": numpy_of(module.tok.weight)}
    if module.cat is not None:
        params["cat_emb"] = numpy_of(module.cat.weight)
    if module.pos is not None:
        params["pos_emb"] = numpy_of(module.pos.weight)
    for i, b in enumerate(module.blocks):
        for name, norm in (("ln1", b.ln1), ("ln2", b.ln2)):
            params[f"b{i}.{name}.g"], params[f"b{i}.{name}.b"] = numpy_of(norm.weight), numpy_of(norm.bias)
        for name, lin in (("attn", b.attn), ("proj", b.proj)):
            params[f"b{i}.{name}.W"], params[f"b{i}.{name}.b"] = numpy_of(lin.weight).T, numpy_of(lin.bias)
        params[f"b{i}.mlp.W1"], params[f"b{i}.mlp.b1"] = numpy_of(b.fc1.weight).T, numpy_of(b.fc1.bias)
        params[f"b{i}.mlp.W2"], params[f"b{i}.mlp.b2"] = numpy_of(b.fc2.weight).T, numpy_of(b.fc2.bias)
    params["ln_f.g"], params["ln_f.b"] = numpy_of(module.ln_f.weight), numpy_of(module.ln_f.bias)
    if not module.tied:
        params["head.W"] = numpy_of(module.head.weight).T
    params["head.b"] = numpy_of(module.head.bias)
    return params


def to_numpy(
    module: torch.nn.Module,
    vocab: Vocab,
    mode: str,
    *,
    lowercase: bool,
    dtype: str = "float32",
    categories: tuple[str, ...] = (),
    category_counts: np.ndarray | None = None,
) -> Any:
    """The NumPy model with `module`'s weights (in `dtype`), and the categories it was
    trained on (a labelled model)."""
    cast = np.float32 if dtype == "float32" else np.float64
    labelled: dict[str, Any] = {}
    if categories:
        assert category_counts is not None
        labelled = {"categories": tuple(categories), "category_counts": np.asarray(category_counts, np.int64)}
    if isinstance(module, RecurrentLM):
        params = {k: v.astype(cast) for k, v in recurrent_params(module).items()}
        sizes = {"cell": module.cell, "hidden": module.hidden, "layers": module.layers}
        if module.cell == "gru":
            sizes["convention"] = "torch"
        return CharModel(params, vocab, mode, lowercase, dropout=module.dropout_p, **sizes, **labelled)  # type: ignore[arg-type]

    assert isinstance(module, TransformerLM)
    params = {k: v.astype(cast) for k, v in transformer_params(module).items()}
    shape = {k: getattr(module, k) for k in ("d_model", "layers", "heads", "context", "tied", "positions")}
    return TransformerModel(params, vocab, mode, lowercase, dropout=module.dropout_p, **shape, **labelled)  # type: ignore[arg-type]


def recurrent_from_numpy(model: CharModel) -> RecurrentLM:
    """A torch RecurrentLM computing what `model` computes: the embedding is the identity
    over the vocabulary (so E W_ih0^T is the NumPy input table itself); a labelled model's
    categories get identity columns of their own after the vocabulary's, whose input
    weights are its cat table."""
    if model.cell == "gru" and getattr(model, "convention", "cho") != "torch":
        raise OptionError(
            "this GRU was trained by the NumPy engine, whose reset gate acts before the recurrent "
            "matmul (Cho et al.); torch's GRU cannot continue it: train it on, or anew, with "
            "--engine numpy"
        )
    V, H, K = model.vocab.size, model.hidden, len(model.categories)
    module = RecurrentLM(V, model.cell, H, model.layers, model.dropout, embed=V + K, categories=K)
    p = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in model.params.items()}
    rnn = module.rnn
    with torch.no_grad():
        eye = torch.eye(V + K)
        module.embed.weight.copy_(eye[:V])
        if module.cat is not None:
            module.cat.weight.copy_(eye[V:])
        for k in range(model.layers):
            w_ih = p["embed"] if k == 0 else p[f"l{k}.Wx"]
            if k == 0 and K:
                w_ih = torch.cat([w_ih, p["cat"]], dim=0)
            getattr(rnn, f"weight_ih_l{k}").copy_(torch.from_numpy(unblocks(model.cell, w_ih.numpy())))
            getattr(rnn, f"weight_hh_l{k}").copy_(
                torch.from_numpy(unblocks(model.cell, p[f"l{k}.Wh"].numpy()))
            )
            getattr(rnn, f"bias_ih_l{k}").copy_(torch.from_numpy(unblocks(model.cell, p[f"l{k}.b"].numpy())))
            b_hh = getattr(rnn, f"bias_hh_l{k}")
            b_hh.zero_()
            if model.cell == "gru":
                b_hh[2 * H :] = p[f"l{k}.bhn"]
        module.head.weight.copy_(p["head.W"].T)
        module.head.bias.copy_(p["head.b"])
    return module


def transformer_from_numpy(model: Any) -> TransformerLM:
    """A torch TransformerLM with the weights of a NumPy TransformerModel."""
    V = model.vocab.size
    module = TransformerLM(
        V,
        model.d_model,
        model.layers,
        model.heads,
        model.context,
        model.dropout,
        model.tied,
        model.positions,
        len(model.categories),
    )
    p = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in model.params.items()}
    with torch.no_grad():
        module.tok.weight.copy_(p["tok_emb"])
        if module.cat is not None:
            module.cat.weight.copy_(p["cat_emb"])
        if module.pos is not None:
            module.pos.weight.copy_(p["pos_emb"])
        for i, b in enumerate(module.blocks):
            for name, norm in (("ln1", b.ln1), ("ln2", b.ln2)):
                norm.weight.copy_(p[f"b{i}.{name}.g"])
                norm.bias.copy_(p[f"b{i}.{name}.b"])
            for name, lin in (("attn", b.attn), ("proj", b.proj)):
                lin.weight.copy_(p[f"b{i}.{name}.W"].T)
                lin.bias.copy_(p[f"b{i}.{name}.b"])
            b.fc1.weight.copy_(p[f"b{i}.mlp.W1"].T)
            b.fc1.bias.copy_(p[f"b{i}.mlp.b1"])
            b.fc2.weight.copy_(p[f"b{i}.mlp.W2"].T)
            b.fc2.bias.copy_(p[f"b{i}.mlp.b2"])
        module.ln_f.weight.copy_(p["ln_f.g"])
        module.ln_f.bias.copy_(p["ln_f.b"])
        if not model.tied:
            module.head.weight.copy_(p["head.W"].T)
        module.head.bias.copy_(p["head.b"])
    return module
