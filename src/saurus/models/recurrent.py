"""CharModel: input gather, stacked recurrent layers, one output head over all steps.

    xw^1_t = E[x_t] + b^1 (+ w . C)        (row gather: x_t W for a one-hot x_t; w . C: the
                                             category embedding of a labelled model, see
                                             saurus.generation.categories)
    h^k = layer_k(xw^k)                     xw^{k+1} = drop(h^k) W_x^{k+1} + b^{k+1}
    logits = drop(h^L) W_y + b_y            loss = -(1/N) sum_{t,b} m_tb log softmax(logits_tb)[y_tb]

Shapes are time-major: ids (T, B), activations (T, B, H). Dropout is inverted dropout
between layers and before the head, active only when a generator is passed.

A GRU has a `convention` (see saurus.models.cells): "cho" (the course's, reset before the
recurrent matmul) or "torch" (torch.nn.GRU's, reset after it, so a GRU trained by PyTorch
runs here); the torch convention adds the weight l{k}.bhn (H,) to every layer, and model
files record the convention (files without it are "cho").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from saurus.data.corpus import Mode
from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError, OptionError
from saurus.generation.categories import categories_meta, check_weights, prior, read_categories
from saurus.models.base import WeightsModel
from saurus.models.cells import CELLS, CONVENTIONS, Cell, State, cell_for, weight_grad
from saurus.models.fused_lstm import FusedLSTM
from saurus.protocol import START, base_meta, seen_names

DTYPES = {"float32": np.float32, "float64": np.float64}
MAX_LAYERS = 64  # deeper recurrent stacks do not train; a larger number is a typo or a forgery
Params = dict[str, np.ndarray]


def param_shapes(
    cell: str, vocab_size: int, hidden: int, layers: int, convention: str = "cho", categories: int = 0
) -> dict[str, tuple[int, ...]]:
    """Every weight's shape; layer 0's input weights are the gathered embedding table.
    The GRU's torch convention adds l{k}.bhn (H,) per layer; `categories` K > 0 adds the
    category embedding cat (K, G H)."""
    impl = cell_for(cell, convention)
    gh = impl.gates * hidden
    shapes: dict[str, tuple[int, ...]] = {"embed": (vocab_size, gh)}
    if categories:
        shapes["cat"] = (categories, gh)
    for k in range(layers):
        if k:
            shapes[f"l{k}.Wx"] = (hidden, gh)
        shapes[f"l{k}.Wh"] = (hidden, gh)
        shapes[f"l{k}.b"] = (gh,)
        for name in impl.extras:
            shapes[f"l{k}.{name}"] = (hidden,)
    shapes["head.W"] = (hidden, vocab_size)
    shapes["head.b"] = (vocab_size,)
    return shapes


def check_convention(cell: str, convention: Any, error: type[Exception]) -> None:
    """Raise `error` unless `convention` is one of CONVENTIONS that `cell` has ("torch" is
    the GRU's alone)."""
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise error(f"unknown GRU convention {convention!r}; choose one of: {', '.join(CONVENTIONS)}")
    if convention != "cho" and cell != "gru":
        raise error(f"the {convention!r} convention is the GRU's; a {cell} cell has none")


def gather_rows(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """table[ids] with a zero row wherever ids is START."""
    rows = table[np.maximum(ids, 0)]
    if (ids < 0).any():
        rows[ids < 0] = 0.0
    return rows


def scatter_rows(ids: np.ndarray, grads: np.ndarray, rows: int) -> np.ndarray:
    """The transpose of gather_rows: out[v] = sum of grads where ids == v (one sort, one reduceat)."""
    flat_ids, flat = ids.ravel(), grads.reshape(-1, grads.shape[-1])
    out = np.zeros((rows, flat.shape[1]), dtype=grads.dtype)
    keep = flat_ids >= 0
    if not keep.all():
        flat_ids, flat = flat_ids[keep], flat[keep]
    if len(flat_ids):
        order = np.argsort(flat_ids, kind="stable")
        sorted_ids = flat_ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        out[sorted_ids[starts]] = np.add.reduceat(flat[order], starts, axis=0)
    return out


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator | None, dtype: Any) -> Any:
    """Inverted dropout: keep with probability 1-p and scale by 1/(1-p); None when inactive."""
    if rng is None or p <= 0.0:
        return None
    keep = rng.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)


def category_grad(cats: np.ndarray | None, dxw: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The gradient of cat (K, G H): each row's dxw summed over time, scattered to its
    category (with no categories given, the prior blend was used: its gradient is not
    taken, zero)."""
    if cats is None:
        return np.zeros_like(table)
    return scatter_rows(np.asarray(cats), dxw.sum(axis=0), table.shape[0])


@dataclass
class Forward:
    """What the backward pass needs from one forward pass."""

    ids: np.ndarray
    inputs: list[np.ndarray]  # the (dropped-out) input of layers 1.. and of the head
    caches: list[Any]
    masks: list[Any]  # dropout masks after each layer
    logits: np.ndarray  # (T*B, V)
    probs: np.ndarray | None = None  # softmax(logits), set by loss()
    cats: np.ndarray | None = None  # (B,) each row's category, for a labelled model


class LayerStack:
    """What a stack of recurrent layers shares (a mixin, no fields): `layers` layers of
    `hidden` units of one cell in one convention, and a head whose dtype is the model's."""

    params: Params
    cell: str
    convention: str
    hidden: int
    layers: int

    @property
    def layer_cell(self) -> Cell:
        """The Cell that runs every layer: the cell in this model's convention."""
        return cell_for(self.cell, self.convention)

    @property
    def dtype(self) -> Any:
        return self.params["head.W"].dtype

    def zero_state(self, batch: int) -> list[State]:
        return [self.layer_cell.zero_state(batch, self.hidden, self.dtype) for _ in range(self.layers)]


@dataclass
class CharModel(LayerStack, WeightsModel):
    params: Params
    vocab: Vocab
    mode: Mode
    lowercase: bool
    cell: str
    hidden: int
    layers: int
    dropout: float = 0.0
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    convention: str = "cho"  # the GRU's: "cho" or "torch" (see saurus.models.cells)
    categories: tuple[str, ...] = ()  # a labelled model's categories (params["cat"], one row each)
    category_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kind: ClassVar[str] = "engine"  # the kind string of its files since the first release: kept, so they load

    def __post_init__(self) -> None:
        check_convention(self.cell, self.convention, OptionError)

    @classmethod
    def create(
        cls,
        vocab: Vocab,
        mode: Mode,
        *,
        cell: str = "lstm",
        hidden: int = 256,
        layers: int = 1,
        dropout: float = 0.0,
        seed: int = 0,
        dtype: str = "float32",
        lowercase: bool = False,
        unigram: np.ndarray | None = None,
        convention: str = "cho",
        categories: tuple[str, ...] = (),
        category_counts: np.ndarray | None = None,
    ) -> CharModel:
        """Weights ~ U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch; LSTM forget biases start at 1 so
        the cell remembers from the first step; with `unigram` counts, the head bias starts
        at log frequencies, so step 0 already predicts like a unigram model. A GRU's
        `convention` is "cho" or "torch" (whose l{k}.bhn start at 0, like the biases)."""
        if cell not in CELLS:
            raise OptionError(f"unknown cell {cell!r}; choose one of: {', '.join(CELLS)}")
        check_convention(cell, convention, OptionError)
        if dtype not in DTYPES:
            raise OptionError(f"unknown dtype {dtype!r}; choose float32 or float64")
        if hidden <= 0 or layers <= 0:
            raise OptionError("--hidden and --layers must be positive")
        if not 0.0 <= dropout < 1.0:
            raise OptionError(f"--dropout must be in [0, 1), got {dropout}")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden)
        params = {
            name: rng.uniform(-bound, bound, shape).astype(DTYPES[dtype])
            for name, shape in param_shapes(
                cell, vocab.size, hidden, layers, convention, len(categories)
            ).items()
        }
        for k in range(layers):
            params[f"l{k}.b"][:] = 0.0
            for name in cell_for(cell, convention).extras:
                params[f"l{k}.{name}"][:] = 0.0
            if cell == "lstm":
                params[f"l{k}.b"][hidden : 2 * hidden] = 1.0
        params["head.b"][:] = 0.0
        if unigram is not None:
            freq = (np.asarray(unigram, dtype=np.float64) + 1.0) / (np.sum(unigram) + vocab.size)
            params["head.b"][:] = np.log(freq)
        counts = np.zeros(len(categories), np.int64) if category_counts is None else category_counts
        model = cls(params, vocab, mode, lowercase, cell, hidden, layers, dropout, convention=convention)
        model.categories, model.category_counts = tuple(categories), np.asarray(counts, dtype=np.int64)
        return model

    def category_rows(self, cats: np.ndarray | None) -> np.ndarray | None:
        """What the categories add to layer 0's input: cat[cats] (B, G H), or the prior
        blend's row when no category is given; None for a model without categories."""
        if not self.categories:
            return None
        if cats is None:
            return (prior(self.category_counts) @ self.params["cat"]).astype(self.dtype)
        return self.params["cat"][cats]

    def conditioned(self, weights: np.ndarray) -> CharModel:
        """This model for the category blend `weights` (K,), folded: l0.b + w . cat, no
        categories (see saurus.generation.categories). Weights other than l0.b are shared."""
        w = check_weights(weights, len(self.categories))
        params = {k: v for k, v in self.params.items() if k != "cat"}
        params["l0.b"] = (self.params["l0.b"] + w @ self.params["cat"]).astype(self.dtype)
        return CharModel(
            params,
            self.vocab,
            self.mode,
            self.lowercase,
            self.cell,
            self.hidden,
            self.layers,
            self.dropout,
            self.seen,
            self.convention,
        )

    # --- whole sequences ---

    def forward(
        self,
        ids: np.ndarray,
        state: list[State],
        rng: np.random.Generator | None = None,
        cats: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[State], Forward]:
        """Logits (T, B, V) for ids (T, B) from `state`; the final state; the backward cache.
        Dropout is on when `rng` is given; `cats` (B,) are the rows' categories (labelled
        models; None: the prior blend)."""
        p, cell = self.params, self.layer_cell
        xw = gather_rows(p["embed"], ids) + p["l0.b"]
        rows = self.category_rows(cats)
        if rows is not None:
            xw += rows
        inputs, caches, masks, final = [], [], [], []
        for k in range(self.layers):
            if k:
                x = inputs[-1]
                xw = (x.reshape(-1, x.shape[-1]) @ p[f"l{k}.Wx"]).reshape(*x.shape[:2], -1)
                xw += p[f"l{k}.b"]
            extra = [p[f"l{k}.{name}"] for name in cell.extras]
            hs, last, cache = cell.forward(xw, state[k], p[f"l{k}.Wh"], extra)
            mask = dropout_mask(hs.shape, self.dropout, rng, self.dtype)
            inputs.append(hs if mask is None else hs * mask)
            caches.append(cache)
            masks.append(mask)
            final.append(last)
        top = inputs[-1]
        logits = top.reshape(-1, self.hidden) @ p["head.W"] + p["head.b"]
        fwd = Forward(ids, inputs, caches, masks, logits, cats=cats)
        return logits.reshape(*ids.shape, -1), final, fwd

    def loss(
        self,
        ids: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray | None,
        state: list[State],
        rng: np.random.Generator | None = None,
        cats: np.ndarray | None = None,
    ) -> tuple[float, int, list[State], Forward]:
        """Mean nats per counted target (mask 1), their count, the final state, the cache."""
        _, final, fwd = self.forward(ids, state, rng, cats)
        probs = np.exp(fwd.logits - fwd.logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        fwd.probs = probs
        flat_targets = targets.ravel()
        picked = probs[np.arange(len(flat_targets)), flat_targets]
        nll = -np.log(np.maximum(picked, np.finfo(picked.dtype).tiny)).astype(np.float64)
        if mask is None:
            return float(nll.mean()), nll.size, final, fwd
        weights = mask.ravel().astype(np.float64)
        count = int(weights.sum())
        return float(nll @ weights / max(count, 1)), count, final, fwd

    def backward(
        self,
        fwd: Forward,
        targets: np.ndarray,
        mask: np.ndarray | None,
        dstate: list[State] | None = None,
    ) -> tuple[Params, list[State]]:
        """Gradients of the mean masked loss for every weight, and for the initial state.
        dstate adds an outside gradient on the final state (for gradient checks)."""
        p, cell = self.params, self.layer_cell
        flat_targets = targets.ravel()
        assert fwd.probs is not None, "backward needs the forward pass of loss()"
        dlogits = fwd.probs.copy()
        dlogits[np.arange(len(flat_targets)), flat_targets] -= 1.0
        if mask is None:
            dlogits /= len(flat_targets)
        else:
            m = mask.ravel().astype(self.dtype)
            dlogits *= (m / max(m.sum(), 1.0))[:, None]
        grads: Params = {}
        top = fwd.inputs[-1]
        grads["head.W"] = top.reshape(-1, self.hidden).T @ dlogits
        grads["head.b"] = dlogits.sum(axis=0)
        dh = (dlogits @ p["head.W"].T).reshape(top.shape)
        dstate0: list[State] = [()] * self.layers
        for k in reversed(range(self.layers)):
            if fwd.masks[k] is not None:
                dh *= fwd.masks[k]
            dxw, grads[f"l{k}.Wh"], dstate0[k], dextra = cell.backward(
                dh, fwd.caches[k], p[f"l{k}.Wh"], None if dstate is None else dstate[k]
            )
            for name, g in zip(cell.extras, dextra, strict=True):
                grads[f"l{k}.{name}"] = g
            grads[f"l{k}.b"] = dxw.sum(axis=(0, 1))
            if k:
                x = fwd.inputs[k - 1]
                grads[f"l{k}.Wx"] = weight_grad(x, dxw)
                dh = (dxw.reshape(-1, dxw.shape[-1]) @ p[f"l{k}.Wx"].T).reshape(x.shape)
            else:
                grads["embed"] = scatter_rows(fwd.ids, dxw, self.vocab.size)
                if self.categories:
                    grads["cat"] = category_grad(fwd.cats, dxw, self.params["cat"])
        return grads, dstate0

    # --- the SequenceModel protocol ---

    def start(self, batch: int) -> list[State]:
        return self.zero_state(batch)

    def step(self, state: list[State], ids: np.ndarray) -> tuple[np.ndarray, list[State]]:
        ids = np.where(ids == START, self.start_id, ids)
        logits, final, _ = self.forward(ids[None, :], state)
        return logits[0], final

    # --- files ---

    def fused_stepper(self) -> FusedLSTM | None:
        """The fast stepper generation uses for an LSTM (None for a GRU or RNN); a labelled
        model's runs the prior blend, as step() does."""
        if self.cell != "lstm":
            return None
        return FusedLSTM(self.conditioned(prior(self.category_counts)) if self.categories else self)

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {**base_meta(self), **{k: getattr(self, k) for k in ("cell", "hidden", "layers", "dropout")}}
        if self.cell == "gru":
            meta["convention"] = self.convention
        meta.update(categories_meta(self.categories))
        arrays = {**self.params, "seen_names": self.seen}
        if self.categories:
            arrays["category_counts"] = self.category_counts
        return meta, arrays

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> CharModel:
        vocab = Vocab.from_json(meta.get("vocab"))
        mode, lowercase, cell = meta.get("mode"), meta.get("lowercase"), meta.get("cell")
        hidden, layers, dropout = meta.get("hidden"), meta.get("layers"), meta.get("dropout", 0.0)
        if (
            mode not in ("lines", "stream")
            or not isinstance(lowercase, bool)
            or not isinstance(cell, str)
            or cell not in CELLS
        ):
            raise ModelFileError("the model's mode, cell or lowercase setting is malformed")
        convention = meta.get("convention", "cho")  # files before the torch convention: "cho"
        check_convention(cell, convention, ModelFileError)
        for name, value in (("hidden size", hidden), ("layer count", layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelFileError(f"the model's {name} is malformed")
        if layers > MAX_LAYERS:
            raise ModelFileError(f"the model claims {layers} layers, over the limit of {MAX_LAYERS}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ModelFileError("the model's dropout is malformed")
        if mode == "lines" and vocab.eos_id is None:
            raise ModelFileError("a lines model's vocabulary lacks the end token")
        params = {}
        dtype = arrays.get("head.W", np.zeros(0)).dtype
        if dtype not in (np.float32, np.float64):
            raise ModelFileError("the weight head.W is missing or not float32/float64")
        categories, counts = read_categories(meta, arrays)
        for name, shape in param_shapes(
            cell, vocab.size, hidden, layers, convention, len(categories)
        ).items():
            array = arrays.get(name)
            if array is None or array.shape != shape or array.dtype != dtype:
                raise ModelFileError(f"the weight {name} is missing or has the wrong shape")
            if not np.all(np.isfinite(array)):
                raise ModelFileError(f"the weight {name} holds NaN or infinite values")
            params[name] = array
        seen = seen_names(arrays)
        model = cls(params, vocab, mode, lowercase, cell, hidden, layers, float(dropout), seen, convention)
        model.categories, model.category_counts = categories, counts
        return model
