"""RollModel: 88 independent Bernoulli notes per frame from a recurrent state fed the
previous frame (the RNN/LSTM/GRU rows of the polyphonic-music benchmark).

    x_t = y_{t-1} (t >= 1),  x_0 = 0            the previous frame, multi-hot (88,)
    xw^1_t = x_t W_x^1 + b^1                    h^k = layer_k(xw^k)
    xw^{k+1} = drop(h^k) W_x^{k+1} + b^{k+1}    l_t = drop(h^L_t) W_y + b_y   (88 logits)

A model with an opening (the weight first.b) predicts the first frame from it alone,
l_0 = first.b, rather than from h^L_0: the first frame's distribution is a block of its
own (the state h_0 still feeds frame 1). Training fits it in closed form
(saurus.music.roll_train) and leaves it out of the gradient steps.
    NLL(frame t) = -sum_j [y_tj log sigmoid(l_tj) + (1 - y_tj) log sigmoid(-l_tj)]
                 = sum_j softplus(l_tj) - y_tj l_tj

Batches are time-major: rolls (W, B, 88), piece lengths T_b <= W. The mask
m_tb = [t < T_b] (and [t >= 1] to leave the first frame unscored) weighs every frame, so
padding, whatever it holds, never enters the loss or the gradients:

    loss = sum_tb m_tb NLL_tb / sum_tb m_tb      dL/dl_tbj = m_tb (sigmoid(l_tbj) - y_tbj) / sum m

The cells are saurus.models.cells' (a GRU in the "cho" or "torch" convention); dropout is
inverted dropout between layers and before the head, on only when a generator is passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from saurus.errors import ModelFileError, OptionError
from saurus.models.cells import CELLS, CONVENTIONS, State, cell_for, sigmoid_, weight_grad
from saurus.models.recurrent import DTYPES, MAX_LAYERS, LayerStack, dropout_mask

KEYS = 88  # piano keys, one Bernoulli output each
OPENING = "first.b"  # the first frame's own logits (a model with an opening)
MAX_HIDDEN = 1 << 16  # a larger state is a typo or a forgery
Params = dict[str, np.ndarray]


def roll_shapes(
    cell: str, hidden: int, layers: int, convention: str = "cho", opening: bool = False
) -> dict[str, tuple[int, ...]]:
    """Every weight's shape: lk.Wx, lk.Wh, lk.b (and lk.bhn for the torch GRU), head.W,
    head.b, and first.b with an opening."""
    impl = cell_for(cell, convention)
    gh = impl.gates * hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(layers):
        shapes[f"l{k}.Wx"] = (KEYS if k == 0 else hidden, gh)
        shapes[f"l{k}.Wh"] = (hidden, gh)
        shapes[f"l{k}.b"] = (gh,)
        for name in impl.extras:
            shapes[f"l{k}.{name}"] = (hidden,)
    shapes["head.W"] = (hidden, KEYS)
    shapes["head.b"] = (KEYS,)
    if opening:
        shapes[OPENING] = (KEYS,)
    return shapes


def pad_rolls(pieces: Sequence[np.ndarray], dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Pieces' (T_i, 88) rolls as one time-major (max T_i, B, 88) batch padded with zeros,
    and the lengths (B,)."""
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    rolls = np.zeros((int(lengths.max(initial=0)), len(pieces), KEYS), dtype=dtype)
    for b, piece in enumerate(pieces):
        rolls[: len(piece), b] = piece
    return rolls, lengths


def frame_mask(lengths: np.ndarray, width: int, skip_first: bool = False) -> np.ndarray:
    """(W, B) bool m_tb = [t < T_b] (and [t >= 1] when skip_first)."""
    t = np.arange(width)[:, None]
    return (t < np.asarray(lengths)[None, :]) & (t >= int(skip_first))


def real_frames(rolls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The rolls with every padding frame (t >= T_b) zero, so that nothing the padding
    holds (NaN included) reaches a weight's gradient."""
    return np.where(frame_mask(lengths, rolls.shape[0])[..., None], rolls, 0)


def previous_frames(rolls: np.ndarray) -> np.ndarray:
    """x_t = y_{t-1}, x_0 = 0: the rolls shifted one frame later along time."""
    x = np.zeros_like(rolls)
    x[1:] = rolls[:-1]
    return x


def logits_of(rates: np.ndarray) -> np.ndarray:
    """log p - log(1 - p) of probabilities (88,), kept within 1e-4 of 0 and 1."""
    p = np.clip(np.asarray(rates, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p) - np.log1p(-p)


def frame_nll(logits: np.ndarray, rolls: np.ndarray) -> np.ndarray:
    """(..., ) sum_j softplus(l_j) - y_j l_j over the last axis, in float64."""
    l = logits.astype(np.float64)
    softplus = np.maximum(l, 0.0) + np.log1p(np.exp(-np.abs(l)))
    return (softplus - rolls * l).sum(axis=-1)


@dataclass
class RollForward:
    """What the backward pass needs from one forward pass."""

    x: np.ndarray  # (W, B, 88) the previous frames
    inputs: list[np.ndarray]  # the (dropped-out) output of every layer
    caches: list[Any]
    masks: list[Any]
    logits: np.ndarray  # (W, B, 88)


@dataclass
class RollModel(LayerStack):
    params: Params
    cell: str
    hidden: int
    layers: int
    dropout: float = 0.0
    convention: str = "cho"  # the GRU's: "cho" or "torch" (see saurus.models.cells)
    kind: ClassVar[str] = "piano-roll"

    @classmethod
    def create(
        cls,
        *,
        cell: str = "lstm",
        hidden: int = 256,
        layers: int = 1,
        dropout: float = 0.0,
        seed: int = 0,
        dtype: str = "float32",
        convention: str = "cho",
        note_rates: np.ndarray | None = None,
        first_rates: np.ndarray | None = None,
    ) -> RollModel:
        """Weights ~ U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch, biases 0, LSTM forget biases 1;
        with `note_rates` (88,) (each key's frequency in training frames), head.b starts at
        their logits, so the first step predicts like independent notes; `first_rates`
        (88,) gives the model an opening, first.b = their logits."""
        check_structure(cell, convention, hidden, layers, dropout, OptionError)
        if dtype not in DTYPES:
            raise OptionError(f"unknown dtype {dtype!r}; choose float32 or float64")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden)
        params = {
            name: rng.uniform(-bound, bound, shape).astype(DTYPES[dtype])
            for name, shape in roll_shapes(cell, hidden, layers, convention, first_rates is not None).items()
        }
        for k in range(layers):
            params[f"l{k}.b"][:] = 0.0
            for name in cell_for(cell, convention).extras:
                params[f"l{k}.{name}"][:] = 0.0
            if cell == "lstm":
                params[f"l{k}.b"][hidden : 2 * hidden] = 1.0
        params["head.b"][:] = 0.0
        if note_rates is not None:
            params["head.b"][:] = logits_of(note_rates)
        if first_rates is not None:
            params[OPENING][:] = logits_of(first_rates)
        return cls(params, cell, hidden, layers, float(dropout), convention)

    @property
    def opening(self) -> bool:
        """Whether the first frame has logits of its own (first.b)."""
        return OPENING in self.params

    def num_params(self) -> int:
        return sum(w.size for w in self.params.values())

    # --- whole batches ---

    def forward(
        self,
        x: np.ndarray,
        state: list[State],
        rng: np.random.Generator | None = None,
        from_start: bool = False,
    ) -> tuple[np.ndarray, list[State], RollForward]:
        """Logits (W, B, 88) for the input frames x (W, B, 88) from `state`; the final state;
        the backward cache. Dropout is on when `rng` is given; `from_start` (x_0 is a piece's
        first input) puts an opening's logits at t = 0."""
        p, cell = self.params, self.layer_cell
        x = np.asarray(x, dtype=self.dtype)
        inputs: list[np.ndarray] = []
        caches, masks, final = [], [], []
        below = x
        for k in range(self.layers):
            xw = (below.reshape(-1, below.shape[-1]) @ p[f"l{k}.Wx"]).reshape(*below.shape[:2], -1)
            xw += p[f"l{k}.b"]
            extra = [p[f"l{k}.{name}"] for name in cell.extras]
            hs, last, cache = cell.forward(xw, state[k], p[f"l{k}.Wh"], extra)
            mask = dropout_mask(hs.shape, self.dropout, rng, self.dtype)
            below = hs if mask is None else hs * mask
            inputs.append(below)
            caches.append(cache)
            masks.append(mask)
            final.append(last)
        logits = (below.reshape(-1, self.hidden) @ p["head.W"] + p["head.b"]).reshape(*x.shape[:2], KEYS)
        if from_start and self.opening and len(logits):
            logits[0] = p[OPENING]
        return logits, final, RollForward(x, inputs, caches, masks, logits)

    def log_likelihoods(self, rolls: np.ndarray) -> np.ndarray:
        """(W, B) log P(y_t | y_<t) of every frame of a padded batch (padding: meaningless,
        mask it), without dropout."""
        logits, _, _ = self.forward(previous_frames(rolls), self.zero_state(rolls.shape[1]), from_start=True)
        return -frame_nll(logits, rolls)

    def loss(
        self,
        rolls: np.ndarray,
        lengths: np.ndarray,
        rng: np.random.Generator | None = None,
        skip_first: bool = False,
    ) -> tuple[float, int, RollForward]:
        """Mean nats per scored frame of a padded batch, the number of scored frames, the cache."""
        rolls = real_frames(rolls, lengths)
        _, _, fwd = self.forward(previous_frames(rolls), self.zero_state(rolls.shape[1]), rng, True)
        mask = frame_mask(lengths, rolls.shape[0], skip_first)
        nll = np.where(mask, frame_nll(fwd.logits, rolls), 0.0)
        count = int(mask.sum())
        return float(nll.sum() / max(count, 1)), count, fwd

    def backward(
        self, fwd: RollForward, rolls: np.ndarray, lengths: np.ndarray, skip_first: bool = False
    ) -> Params:
        """Gradients of loss()'s mean masked NLL for every weight."""
        p, cell = self.params, self.layer_cell
        mask = frame_mask(lengths, rolls.shape[0], skip_first)
        weight = (mask / max(int(mask.sum()), 1)).astype(self.dtype)[..., None]
        target = real_frames(rolls, lengths).astype(self.dtype)
        dlogits = (sigmoid_(fwd.logits.copy()) - target) * weight
        grads: Params = {}
        if self.opening:  # l_0 is first.b: frame 0's error reaches no other weight
            grads[OPENING] = dlogits[0].sum(axis=0)
            dlogits[0] = 0.0
        dlogits = dlogits.reshape(-1, KEYS)
        top = fwd.inputs[-1]
        grads["head.W"] = top.reshape(-1, self.hidden).T @ dlogits
        grads["head.b"] = dlogits.sum(axis=0)
        dh = (dlogits @ p["head.W"].T).reshape(top.shape)
        for k in reversed(range(self.layers)):
            if fwd.masks[k] is not None:
                dh *= fwd.masks[k]
            dxw, grads[f"l{k}.Wh"], _, dextra = cell.backward(dh, fwd.caches[k], p[f"l{k}.Wh"])
            for name, g in zip(cell.extras, dextra, strict=True):
                grads[f"l{k}.{name}"] = g
            grads[f"l{k}.b"] = dxw.sum(axis=(0, 1))
            below = fwd.inputs[k - 1] if k else fwd.x
            grads[f"l{k}.Wx"] = weight_grad(below, dxw)
            if k:
                dh = (dxw.reshape(-1, dxw.shape[-1]) @ p[f"l{k}.Wx"].T).reshape(below.shape)
        return grads

    # --- generation ---

    def step(self, state: list[State], frames: np.ndarray) -> tuple[np.ndarray, list[State]]:
        """Feed the previous frames (B, 88); return the next frame's logits (B, 88) and the state."""
        logits, final, _ = self.forward(np.asarray(frames)[None], state)
        return logits[0], final

    def sample(
        self, count: int, frames: int, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        """(count, frames, 88) bool rolls: each frame drawn note by note,
        y_tj ~ Bernoulli(sigmoid(l_tj / temperature)), and fed back; temperature 0 takes
        every note with sigmoid(l_tj) > 1/2."""
        if count < 1 or frames < 1:
            raise OptionError("the number of pieces and of frames must be positive")
        if not (temperature >= 0 and np.isfinite(temperature)):
            raise OptionError(f"the temperature must be 0 or more, got {temperature}")
        state = self.zero_state(count)
        out = np.zeros((frames, count, KEYS), dtype=bool)
        previous = np.zeros((count, KEYS), dtype=self.dtype)
        for t in range(frames):
            logits, state = self.step(state, previous)
            if t == 0 and self.opening:
                logits = np.broadcast_to(self.params[OPENING], logits.shape)
            if temperature == 0:
                out[t] = logits > 0
            else:
                probs = sigmoid_(logits.astype(np.float64) / temperature)
                out[t] = rng.random(probs.shape) < probs
            previous = out[t].astype(self.dtype)
        return out.transpose(1, 0, 2)

    # --- files ---

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"kind": self.kind, "keys": KEYS, "convention": self.convention, "opening": self.opening}
        meta.update({k: getattr(self, k) for k in ("cell", "hidden", "layers", "dropout")})
        return meta, dict(self.params)

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RollModel:
        """The model of a file's metadata and arrays, every shape, dtype and value checked."""
        cell, hidden, layers = meta.get("cell"), meta.get("hidden"), meta.get("layers")
        dropout, convention = meta.get("dropout", 0.0), meta.get("convention", "cho")
        opening = meta.get("opening", False)  # files of saurus before the opening have none
        if meta.get("keys") != KEYS:
            raise ModelFileError(f"the model is not over the {KEYS} piano keys")
        if not isinstance(opening, bool):
            raise ModelFileError(f"the opening must be true or false, not {opening!r}")
        check_structure(cell, convention, hidden, layers, dropout, ModelFileError)
        dtype = arrays.get("head.W", np.zeros(0, np.int8)).dtype
        if dtype not in (np.float32, np.float64):
            raise ModelFileError("the weight head.W is missing or not float32/float64")
        params = {}
        for name, shape in roll_shapes(cell, hidden, layers, convention, opening).items():
            array = arrays.get(name)
            if array is None or array.shape != shape or array.dtype != dtype:
                raise ModelFileError(f"the weight {name} is missing or has the wrong shape")
            if not np.all(np.isfinite(array)):
                raise ModelFileError(f"the weight {name} holds NaN or infinite values")
            params[name] = array
        extra = sorted(set(arrays) - set(params))
        if extra:
            raise ModelFileError(f"the model holds unexpected arrays: {', '.join(extra[:3])}")
        return cls(params, cell, hidden, layers, float(dropout), convention)


def check_structure(
    cell: Any, convention: Any, hidden: Any, layers: Any, dropout: Any, error: type[Exception]
) -> None:
    """Raise `error` unless the cell, its convention, sizes and dropout make a model."""
    if not isinstance(cell, str) or cell not in CELLS:
        raise error(f"unknown cell {cell!r}; choose one of: {', '.join(CELLS)}")
    if (
        not isinstance(convention, str)
        or convention not in CONVENTIONS
        or (convention != "cho" and cell != "gru")
    ):
        raise error(f"the convention {convention!r} is not one a {cell} cell has")
    for name, value, most in (("hidden size", hidden, MAX_HIDDEN), ("layer count", layers, MAX_LAYERS)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= most:
            raise error(f"the {name} must be a whole number in 1..{most}, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise error(f"the dropout must be in [0, 1), got {dropout!r}")
