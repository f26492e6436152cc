"""What an exported page's sampler reads (model_json): the model's family and sizes, its
characters, its weights as base64 float32 (little-endian), its categories, and the chain
hashes of its training names. Every family of names model exports:

    recurrent    CharModel (LSTM, GRU in both conventions, RNN; any depth)
                   xw^1_t = embed[x_t] + l0.b + sum_k w_k cat[k]      (cat only with categories)
    classic      ClassicRNN (column vectors, a zero start input, no categories)
                   a_t = tanh(Wax x_t + Waa a_{t-1} + b),   logits_t = Wya a_t + by
    transformer  TransformerModel (learned or rotary positions, tied or untied head)
                   x_t = tok_emb[id_t] + pos_emb[t] + sum_k w_k cat_emb[k]

w is the page's category blend (weights >= 0 summing to 1). Text (stream) models do not
export: the page makes names.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from saurus.errors import OptionError
from saurus.generation.novelty import read_record
from saurus.models.classic import ClassicRNN
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel

FAMILIES = ("recurrent", "classic", "transformer")
CATEGORY_WEIGHT = {"recurrent": "cat", "transformer": "cat_emb"}  # (K, width) in params


def b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def family_of(model: SequenceModel) -> str:
    """The model's family, or an OptionError (one line) for what has no page."""
    if model.mode != "lines":
        raise OptionError("saurus export writes a page for names models; this is a text model")
    if isinstance(model, CharModel):
        return "recurrent"
    if isinstance(model, ClassicRNN):
        return "classic"
    if isinstance(model, TransformerModel):
        return "transformer"
    raise OptionError(f"saurus export writes a page for names models; a {type(model).__name__} has none")


def sizes(model: SequenceModel, family: str) -> dict[str, Any]:
    """The family's sizes and settings that the sampler's step reads."""
    names = {
        "recurrent": ("cell", "convention", "hidden", "layers"),
        "classic": ("hidden",),
        "transformer": ("d_model", "layers", "heads", "context", "tied", "positions"),
    }[family]
    return {name: getattr(model, name) for name in names}


def categories_json(model: SequenceModel, family: str) -> dict[str, Any]:
    """The category labels and training counts; a model with categories must hold their
    weight (K, width) under CATEGORY_WEIGHT[family]."""
    labels = tuple(getattr(model, "categories", None) or ())
    if not labels:
        return {"categories": [], "category_counts": []}
    weight = CATEGORY_WEIGHT.get(family)
    params: dict[str, np.ndarray] = model.params  # type: ignore[attr-defined]
    if weight is None or weight not in params or params[weight].shape[0] != len(labels):
        raise OptionError(f"the model's {len(labels)} categories lack their weight {weight or 'cat'}")
    counts = np.asarray(getattr(model, "category_counts", np.ones(len(labels))), dtype=np.int64)
    if counts.shape != (len(labels),) or (counts < 0).any():
        raise OptionError("the model's category counts do not match its categories")
    return {"categories": [str(c) for c in labels], "category_counts": counts.tolist()}


def model_json(model: SequenceModel) -> dict[str, Any]:
    """What the sampler needs, as JSON: family, sizes, and the arrays as base64."""
    family = family_of(model)
    params: dict[str, np.ndarray] = model.params  # type: ignore[attr-defined]
    seen = getattr(model, "seen", None)
    record = read_record(seen) if seen is not None and len(seen) else None
    chain = record.chain if record is not None and record.chain is not None else np.zeros(0, np.uint64)
    return {
        "family": family,
        **sizes(model, family),
        "chars": list(model.vocab.chars),
        "eos": int(model.vocab.eos_id),  # type: ignore[arg-type]
        "lowercase": bool(model.lowercase),
        **categories_json(model, family),
        "params": {k: {"shape": list(v.shape), "data": b64(v, "<f4")} for k, v in params.items()},
        "seen": b64(np.sort(chain), "<u8"),
    }
