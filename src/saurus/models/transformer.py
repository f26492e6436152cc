"""TransformerModel: a GPT-style decoder that NumPy runs (forward, scoring, generation with a
key-value cache). Training it is the torch engine's job; NumPy only reads the weights.

Row vectors throughout (x W); shapes are time-major at the edges (ids (T, B), logits
(T, B, V)) and batch-major inside (B, T, D), with d = D / heads per head:

    x_t = tok_emb[id_t] + pos_emb[t]        (START reads "\\n" when the vocabulary has it, else
                                              a zero token embedding; pos_emb is added either way)
                                             with rotary positions there is no pos_emb: x_t = tok_emb[id_t]
                                             a labelled model adds w . cat_emb (its category,
                                             saurus.generation.categories; the prior blend if none)
    per block (pre-norm):
        x = x + proj(attn(ln1(x)))           [q | k | v] = h attn.W + attn.b, each D wide, split
                                              into `heads` contiguous chunks of d columns
        attn = causal softmax(q k^T / sqrt(d)) v, the heads side by side again
        rotary positions (RoFormer, GPT-NeoX's half split) turn q and k of position t first:
            rot(u)_t = u cos(t w) + [-u2, u1] sin(t w),  u = [u1 | u2] halves of d,
            w_j = 10000^(-2 (j mod d/2) / d)  (j = 0 .. d-1), so q_s . k_t depends on s - t only
        x = x + W2 gelu(ln2(x) W1 + b1) + b2 GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    logits = ln_f(x) head.W + head.b        (tok_emb^T instead of head.W when tied)
    LayerNorm: (x - mean) / sqrt(var + 1e-5) g + b, biased variance over the last axis.

Model files hold exactly the arrays `param_shapes` names (head.W only when untied), all of
one float dtype, plus "seen_names"; see TransformerModel.from_file for what is checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from saurus.data.corpus import Mode
from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError, OptionError
from saurus.generation.categories import categories_meta, check_weights, prior, read_categories
from saurus.models.base import WeightsModel
from saurus.models.recurrent import DTYPES, gather_rows
from saurus.protocol import START, base_meta, seen_names

MAX_LAYERS = 64
MAX_CONTEXT = 1_000_000
LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)
FIRST_CAPACITY = 32  # positions a fresh generation cache holds before it doubles
ROPE_BASE = 10000.0
POSITIONS = ("learned", "rotary")
Params = dict[str, np.ndarray]


def param_shapes(
    vocab_size: int,
    d_model: int,
    layers: int,
    context: int,
    tied: bool,
    positions: str = "learned",
    categories: int = 0,
) -> dict[str, tuple]:
    """Every weight's name and shape, in file order (no pos_emb with rotary positions; a
    labelled model's category embedding cat_emb (K, D))."""
    V, D, C = vocab_size, d_model, context
    shapes: dict[str, tuple[int, ...]] = {"tok_emb": (V, D)}
    if categories:
        shapes["cat_emb"] = (categories, D)
    if positions == "learned":
        shapes["pos_emb"] = (C, D)
    for i in range(layers):
        shapes.update(
            {
                f"b{i}.ln1.g": (D,),
                f"b{i}.ln1.b": (D,),
                f"b{i}.attn.W": (D, 3 * D),
                f"b{i}.attn.b": (3 * D,),
                f"b{i}.proj.W": (D, D),
                f"b{i}.proj.b": (D,),
                f"b{i}.ln2.g": (D,),
                f"b{i}.ln2.b": (D,),
                f"b{i}.mlp.W1": (D, 4 * D),
                f"b{i}.mlp.b1": (4 * D,),
                f"b{i}.mlp.W2": (4 * D, D),
                f"b{i}.mlp.b2": (D,),
            }
        )
    shapes["ln_f.g"], shapes["ln_f.b"] = (D,), (D,)
    if not tied:
        shapes["head.W"] = (D, V)
    shapes["head.b"] = (V,)
    return shapes


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + LN_EPS) * g + b


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (torch's approximate="tanh")."""
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * (x * x * x))))


def linear(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x W + b over the last axis of x (..., in), as one matmul."""
    return (x.reshape(-1, x.shape[-1]) @ W).reshape(*x.shape[:-1], W.shape[1]) + b


def rotary_tables(start: int, stop: int, head_dim: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """cos(t w), sin(t w) for positions t = start .. stop-1, shape (T, head_dim), computed in
    float64 and then cast (torch does the same, so both engines agree)."""
    half = head_dim // 2
    w = ROPE_BASE ** (-np.arange(half, dtype=np.float64) * 2.0 / head_dim)
    angles = np.arange(start, stop, dtype=np.float64)[:, None] * w[None, :]
    angles = np.concatenate([angles, angles], axis=1)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def rotate(u: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """u cos + [-u2, u1] sin over the last axis (u's halves u1, u2)."""
    half = u.shape[-1] // 2
    return u * cos + np.concatenate([-u[..., half:], u[..., :half]], axis=-1) * sin


def positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass
class KVCache:
    """Keys and values per layer (B, heads, capacity, d), the token ids read so far (B,
    capacity), and how many positions are filled. States share a cache while generation
    runs straight on; a state that branches off an older one copies it first."""

    keys: list[np.ndarray]
    values: list[np.ndarray]
    tokens: np.ndarray
    filled: int = 0

    @classmethod
    def empty(cls, layers: int, batch: int, heads: int, head_dim: int, capacity: int, dtype: Any) -> KVCache:
        shape = (batch, heads, capacity, head_dim)  # np.empty: positions are written before read
        return cls(
            [np.empty(shape, dtype) for _ in range(layers)],
            [np.empty(shape, dtype) for _ in range(layers)],
            np.empty((batch, capacity), dtype=np.int64),
        )

    @property
    def capacity(self) -> int:
        return self.tokens.shape[1]

    def resized(self, length: int, capacity: int) -> KVCache:
        """A fresh cache holding this one's first `length` positions, with room for `capacity`."""
        batch, heads, _, head_dim = self.keys[0].shape
        out = KVCache.empty(len(self.keys), batch, heads, head_dim, capacity, self.keys[0].dtype)
        for src, dst in zip(self.keys + self.values, out.keys + out.values, strict=True):
            dst[:, :, :length] = src[:, :, :length]
        out.tokens[:, :length] = self.tokens[:, :length]
        out.filled = length
        return out


@dataclass(frozen=True)
class TransformerState:
    """Generation state: the cache and how many of its positions belong to this state."""

    cache: KVCache
    length: int


def kept_on_refill(context: int) -> int:
    """How many of its last tokens a full cache keeps when it refills: context // 2."""
    return context // 2


def window_spans(length: int, context: int) -> list[tuple[int, int, int]]:
    """The windows that stepping runs a sequence of `length` inputs through, as (start,
    end, first position scored in the window): the first `context` inputs in one; then,
    with keep = kept_on_refill(context) and stride S = context - keep, the inputs r to
    r + S - 1 (r = context, context + S, ...) from a window starting keep inputs before r.
    Evaluating by windows (the torch backend does) gives what stepping gives."""
    keep = kept_on_refill(context)
    stride = context - keep
    spans = [(0, context, 0)]
    spans += [(r - keep, r + stride, keep) for r in range(context, length, stride)]
    return spans


@dataclass
class TransformerModel(WeightsModel):
    params: Params
    vocab: Vocab
    mode: Mode
    lowercase: bool
    d_model: int
    layers: int
    heads: int
    context: int
    dropout: float = 0.0  # recorded only: NumPy runs the model, it does not train it
    tied: bool = False
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    positions: str = "learned"  # or "rotary"
    categories: tuple[str, ...] = ()  # a labelled model's categories (params["cat_emb"], one row each)
    category_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kind: ClassVar[str] = "transformer"

    @classmethod
    def create(
        cls,
        vocab: Vocab,
        mode: Mode,
        *,
        d_model: int,
        layers: int,
        heads: int,
        context: int,
        tied: bool = False,
        seed: int = 0,
        dtype: str = "float32",
        lowercase: bool = False,
        dropout: float = 0.0,
        positions: str = "learned",
    ) -> TransformerModel:
        """GPT-2's initialisation: weights ~ N(0, 0.02^2), the residual projections (proj.W,
        mlp.W2) ~ N(0, (0.02 / sqrt(2 layers))^2), zero biases, LayerNorm g = 1, b = 0."""
        if dtype not in DTYPES:
            raise OptionError(f"unknown dtype {dtype!r}; choose float32 or float64")
        for name, value in (("d_model", d_model), ("layers", layers), ("heads", heads), ("context", context)):
            if not positive_int(value):
                raise OptionError(f"the transformer's {name} must be a positive whole number, got {value!r}")
        if d_model % heads:
            raise OptionError(f"{heads} heads do not divide the model width {d_model}")
        if positions not in POSITIONS:
            raise OptionError(f"unknown positions {positions!r}; choose learned or rotary")
        if positions == "rotary" and (d_model // heads) % 2:
            raise OptionError(f"rotary positions need an even head width; {d_model} / {heads} is odd")
        if layers > MAX_LAYERS or context > MAX_CONTEXT:
            raise OptionError(f"at most {MAX_LAYERS} layers and a context of {MAX_CONTEXT:,} positions")
        if not 0.0 <= dropout < 1.0:
            raise OptionError(f"--dropout must be in [0, 1), got {dropout}")
        if vocab.size == 0:
            raise OptionError("the vocabulary is empty")
        rng = np.random.default_rng(seed)
        residual = 0.02 / math.sqrt(2 * layers)
        params: Params = {}
        for name, shape in param_shapes(vocab.size, d_model, layers, context, tied, positions).items():
            if name.endswith((".b", ".b1", ".b2")):
                params[name] = np.zeros(shape, DTYPES[dtype])
            elif name.endswith(".g"):
                params[name] = np.ones(shape, DTYPES[dtype])
            else:
                std = residual if name.endswith(("proj.W", "mlp.W2")) else 0.02
                params[name] = rng.normal(0.0, std, shape).astype(DTYPES[dtype])
        return cls(
            params,
            vocab,
            mode,
            lowercase,
            d_model,
            layers,
            heads,
            context,
            float(dropout),
            tied,
            positions=positions,
        )

    @property
    def dtype(self) -> Any:
        return self.params["tok_emb"].dtype

    def conditioned(self, weights: np.ndarray) -> TransformerModel:
        """This model for the category blend `weights` (K,), folded into the inputs: learned
        positions get pos_emb + w . cat_emb; rotary ones tok_emb + w . cat_emb, the head
        untied first (head.W = tok_emb^T as it was). Other weights are shared."""
        w = check_weights(weights, len(self.categories))
        p = {k: v for k, v in self.params.items() if k != "cat_emb"}
        row = (w @ self.params["cat_emb"]).astype(self.dtype)
        tied = self.tied
        if self.positions == "learned":
            p["pos_emb"] = p["pos_emb"] + row
        else:
            if tied:
                p["head.W"], tied = np.ascontiguousarray(p["tok_emb"].T), False
            p["tok_emb"] = p["tok_emb"] + row
        sizes = (self.d_model, self.layers, self.heads, self.context)
        return TransformerModel(
            p, self.vocab, self.mode, self.lowercase, *sizes, self.dropout, tied, self.seen, self.positions
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    # --- the computation ---

    def run(self, ids: np.ndarray, cache: KVCache, past: int) -> np.ndarray:
        """Logits (B, T, V) for ids (B, T) (START already mapped to start_id) at positions
        past .. past+T-1, attending to the `past` positions in `cache` as well; their keys,
        values and ids are written into `cache` (which must have room for past + T)."""
        p = self.params
        B, T = ids.shape
        H, d, D = self.heads, self.head_dim, self.d_model
        end = past + T
        cache.tokens[:, past:end] = ids
        x = gather_rows(p["tok_emb"], ids)
        if self.categories:  # no category given: the prior blend
            x = x + (prior(self.category_counts) @ p["cat_emb"]).astype(self.dtype)
        turn = None
        if self.positions == "rotary":
            turn = rotary_tables(past, end, d, self.dtype)
        else:
            x = x + p["pos_emb"][past:end]
        scale = 1.0 / math.sqrt(d)
        mask = None
        if T > 1:  # query i (at position past + i) sees keys 0 .. past + i
            hidden = np.arange(end)[None, :] > (past + np.arange(T))[:, None]
            mask = np.where(hidden, -np.inf, 0.0).astype(self.dtype)
        for i in range(self.layers):
            h = layer_norm(x, p[f"b{i}.ln1.g"], p[f"b{i}.ln1.b"])
            qkv = linear(h, p[f"b{i}.attn.W"], p[f"b{i}.attn.b"])  # (B, T, 3D)
            qkv = qkv.reshape(B, T, 3, H, d).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, d)
            q, k = (qkv[0], qkv[1]) if turn is None else (rotate(qkv[0], *turn), rotate(qkv[1], *turn))
            cache.keys[i][:, :, past:end] = k
            cache.values[i][:, :, past:end] = qkv[2]
            keys, values = cache.keys[i][:, :, :end], cache.values[i][:, :, :end]
            scores = (q * scale) @ keys.swapaxes(-1, -2)  # (B, H, T, end)
            if mask is not None:
                scores += mask
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            y = (scores @ values).transpose(0, 2, 1, 3).reshape(B, T, D)
            x = x + linear(y, p[f"b{i}.proj.W"], p[f"b{i}.proj.b"])
            h = layer_norm(x, p[f"b{i}.ln2.g"], p[f"b{i}.ln2.b"])
            h = gelu(linear(h, p[f"b{i}.mlp.W1"], p[f"b{i}.mlp.b1"]))
            x = x + linear(h, p[f"b{i}.mlp.W2"], p[f"b{i}.mlp.b2"])
        cache.filled = end
        return self.head(x)

    def head(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        W = p["tok_emb"].T if self.tied else p["head.W"]
        return linear(layer_norm(x, p["ln_f.g"], p["ln_f.b"]), W, p["head.b"])

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        return KVCache.empty(self.layers, batch, self.heads, self.head_dim, capacity, self.dtype)

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """Logits (T, B, V) for whole sequences ids (T, B), T <= context, every row from
        position 0 (START reads as in step)."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not 0 < ids.shape[0] <= self.context:
            raise ValueError(f"forward takes ids (T, B) with 0 < T <= {self.context}, got {ids.shape}")
        rows = np.where(ids == START, self.start_id, ids).astype(np.int64).T
        logits = self.run(rows, self.new_cache(rows.shape[0], rows.shape[1]), 0)
        return logits.transpose(1, 0, 2)

    # --- the SequenceModel protocol ---

    def start(self, batch: int) -> TransformerState:
        return TransformerState(self.new_cache(batch, min(FIRST_CAPACITY, self.context)), 0)

    def step(self, state: TransformerState, ids: np.ndarray) -> tuple[np.ndarray, TransformerState]:
        """Feed ids (B,) at the next position; logits (B, V) equal forward()'s over the tokens
        the state holds plus these.

        The cache grows by doubling up to `context` positions. When it is full, the last
        context // 2 tokens are kept and their cache recomputed from position 0 (positions
        renumbered), together with the new token: one forward over context // 2 + 1 tokens
        every context - context // 2 steps, so a step costs, amortised, about what a step
        into a full cache costs. Rows of a batch move in step, so they share one position.

        States going straight on share their cache; stepping an older state again (a
        branch) first copies the positions it holds, so every state stays valid."""
        ids = np.asarray(ids)
        cache, length = state.cache, state.length
        if ids.shape != (cache.tokens.shape[0],):
            raise ValueError(f"step takes ids ({cache.tokens.shape[0]},), got {ids.shape}")
        new = np.where(ids == START, self.start_id, ids).astype(np.int64)[:, None]
        if length == self.context:  # full: refill from the last context // 2 tokens
            keep = kept_on_refill(self.context)
            window = np.concatenate([cache.tokens[:, length - keep : length], new], axis=1)
            cache = self.new_cache(len(new), min(self.context, max(FIRST_CAPACITY, 2 * (keep + 1))))
            logits = self.run(window, cache, 0)
            return logits[:, -1], TransformerState(cache, keep + 1)
        if cache.filled != length or length == cache.capacity:  # a branch, or no room left
            capacity = cache.capacity if length < cache.capacity else 2 * cache.capacity
            cache = cache.resized(length, min(capacity, self.context))
        logits = self.run(new, cache, length)
        return logits[:, 0], TransformerState(cache, length + 1)

    # --- files ---

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        sizes = ("d_model", "layers", "heads", "context", "dropout", "tied", "positions")
        meta = {**base_meta(self), **{k: getattr(self, k) for k in sizes}, **categories_meta(self.categories)}
        arrays = {**self.params, "seen_names": self.seen}
        if self.categories:
            arrays["category_counts"] = self.category_counts
        return meta, arrays

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TransformerModel:
        """The model in a file, checked throughout: a ModelFileError (one line) for malformed
        settings, a missing, misshapen, mistyped or non-finite weight, or an array that does
        not belong to this model."""
        vocab = Vocab.from_json(meta.get("vocab"))
        mode, lowercase, tied = meta.get("mode"), meta.get("lowercase"), meta.get("tied")
        if mode not in ("lines", "stream") or not isinstance(lowercase, bool) or not isinstance(tied, bool):
            raise ModelFileError("the model's mode, lowercase or tied setting is malformed")
        positions = meta.get("positions")
        if positions not in POSITIONS:
            raise ModelFileError(
                f"the model's position encoding {positions!r} is not one of: {', '.join(POSITIONS)}"
            )
        sizes = {name: meta.get(name) for name in ("d_model", "layers", "heads", "context")}
        for name, value in sizes.items():
            if not positive_int(value):
                raise ModelFileError(f"the model's {name} is malformed (not a positive whole number)")
        d_model, layers, heads, context = sizes.values()
        if d_model % heads:
            raise ModelFileError(f"the model's {heads} heads do not divide its width {d_model}")
        if positions == "rotary" and (d_model // heads) % 2:
            raise ModelFileError("the model's rotary positions need an even head width")
        if layers > MAX_LAYERS:
            raise ModelFileError(f"the model claims {layers} layers, over the limit of {MAX_LAYERS}")
        if context > MAX_CONTEXT:
            raise ModelFileError(f"the model claims a context of {context}, over the limit of {MAX_CONTEXT}")
        dropout = meta.get("dropout", 0.0)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ModelFileError("the model's dropout is malformed")
        if vocab.size == 0:
            raise ModelFileError("the model's vocabulary is empty")
        if mode == "lines" and vocab.eos_id is None:
            raise ModelFileError("a lines model's vocabulary lacks the end token")
        categories, counts = read_categories(meta, arrays)
        shapes = param_shapes(vocab.size, d_model, layers, context, tied, positions, len(categories))
        extra = sorted(set(arrays) - set(shapes) - {"seen_names", "category_counts"})
        if extra:
            raise ModelFileError(f"the model holds arrays that do not belong to it: {', '.join(extra[:5])}")
        dtype = arrays.get("tok_emb", np.zeros(0, dtype=np.int8)).dtype
        if dtype not in (np.float32, np.float64):
            raise ModelFileError("the weight tok_emb is missing or not float32/float64")
        params: Params = {}
        for name, shape in shapes.items():
            array = arrays.get(name)
            if array is None:
                raise ModelFileError(f"the weight {name} is missing")
            if array.shape != shape or array.dtype != dtype:
                raise ModelFileError(
                    f"the weight {name} is {array.dtype} {array.shape}, expected {dtype} {shape}"
                )
            if not np.all(np.isfinite(array)):
                raise ModelFileError(f"the weight {name} holds NaN or infinite values")
            params[name] = array
        seen = seen_names(arrays)
        return cls(
            params,
            vocab,
            mode,
            lowercase,
            **sizes,
            dropout=float(dropout),
            tied=tied,
            seen=seen,
            positions=positions,
            categories=categories,
            category_counts=counts,
        )
