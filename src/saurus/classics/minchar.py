"""min-char-rnn (Andrej Karpathy's gist, 2015): a vanilla RNN on any text, column vectors.

With x_t the one-hot column of the t-th input character (so Wxh x_t is a column of Wxh):

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)      y_t = Why h_t + by      p_t = softmax(y_t)
    loss = -sum_t log p_t[target_t]             over a chunk of seq_length = 25 characters

Wxh (H, V), Whh (H, H), Why (V, H) ~ randn * 0.01, biases zero, H = 100. Backward through
the chunk, every gradient clipped elementwise to [-5, 5], then Adagrad with lr = 0.1:

    mem <- mem + d * d        p <- p - lr d / sqrt(mem + 1e-8)

The pointer walks the text 25 characters at a time, carrying h from chunk to chunk; when
p + seq_length + 1 >= len(data) (and at the start) it goes back to 0 with h = 0. The
reported loss is smoothed: smooth_0 = -log(1 / V) seq_length, smooth <- 0.999 smooth +
0.001 loss. Every `every` iterations, before the step, a 200-character sample is drawn from
the current h and the chunk's first input character.

Differences from the gist, all deliberate: the vocabulary is sorted (the gist's
`list(set(data))` has no fixed order) and made of characters, not the bytes Python 2 read;
the run stops after `iterations`; `np.random.RandomState(seed)` stands for the gist's
global `np.random` (so with the same vocabulary order, seed S reproduces `np.random.seed(S)`);
exp is shifted only where it would overflow. Everything else follows the gist step by step,
in its order of operations (see `loss_fun`), in float64.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from saurus.classics.common import check_recipe_fits, encode, require_length, sorted_vocab
from saurus.errors import OptionError, TrainingError

Params = dict[str, np.ndarray]
PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")
OVERFLOW = 700.0  # exp(709.8) is the largest float64


@dataclass(frozen=True)
class MinCharSetup:
    """The gist's hyperparameters; `iterations` and `every` are ours (the gist loops
    forever and prints every 100)."""

    iterations: int = 100_000
    every: int = 1000
    hidden: int = 100
    seq_length: int = 25
    lr: float = 0.1
    sample_len: int = 200
    seed: int = 0


@dataclass(frozen=True)
class IterationReport:
    """Iteration n: the chunk's loss, the smoothed loss, and the sample drawn before it (or None)."""

    n: int
    loss: float
    smooth_loss: float
    sample: str | None

    def format(self) -> str:
        """The gist's lines: '----\\n %s \\n----' for the sample, then 'iter %d, loss %f'."""
        text = "" if self.sample is None else f"----\n {self.sample} \n----\n"
        return text + f"iter {self.n}, loss {self.smooth_loss:f}\n"


def check_setup(text: str, setup: MinCharSetup, where: str) -> None:
    """Refuse a text shorter than one chunk and its target, bad sizes, or a job too big."""
    for name in ("iterations", "every", "hidden", "seq_length", "sample_len"):
        if getattr(setup, name) < 1:
            raise OptionError(f"{name} must be a positive integer, got {getattr(setup, name)}")
    require_length(
        text, setup.seq_length + 1, f"min-char-rnn with {setup.seq_length}-character chunks", where
    )
    V, H = len(set(text)), setup.hidden
    params = 2 * H * V + H * H + H + V
    floats = 4 * params + setup.seq_length * (3 * H + 3 * V) + 4 * len(text)  # text as code points, ids
    check_recipe_fits(
        floats,
        f"min-char-rnn with --hidden {H} on {len(text):,} characters",
        "choose a smaller --hidden or file",
    )


def init_params(vocab_size: int, hidden: int, rng: np.random.RandomState) -> Params:
    """Wxh, Whh, Why = randn * 0.01, drawn in that order; bh, by = 0 (columns)."""
    V, H = vocab_size, hidden
    Wxh = rng.randn(H, V) * 0.01
    Whh = rng.randn(H, H) * 0.01
    Why = rng.randn(V, H) * 0.01
    return {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": np.zeros((H, 1)), "by": np.zeros((V, 1))}


def softmax(y: np.ndarray) -> np.ndarray:
    """exp(y) / sum(exp(y)), as the gist computes it; shifted by max(y) only where exp would
    overflow (where the gist itself would give NaN), so every other result is the gist's."""
    if y.max() > OVERFLOW:
        y = y - y.max()
    e = np.exp(y)
    return e / np.sum(e)


def loss_fun(
    params: Params, inputs: np.ndarray, targets: np.ndarray, hprev: np.ndarray
) -> tuple[float, Params, np.ndarray]:
    """The gist's lossFun: the chunk's summed loss, clipped gradients and the last h.
    Backward, with dy_t = p_t - 1[target_t] and dhraw_t = (1 - h_t^2) (Why^T dy_t + Whh^T dhraw_{t+1}):
    dWhy = sum_t dy_t h_t^T, dWxh[:, x_t] += dhraw_t, dWhh = sum_t dhraw_t h_{t-1}^T.

    Step by step, in the gist's order of operations: Adagrad's first steps, where the
    gradients are near sqrt(1e-8), amplify rounding differences a hundredfold per
    iteration, so only the same sums in the same order give the gist's numbers."""
    Wxh, Whh, Why, bh, by = (params[name] for name in PARAM_NAMES)
    hs, ps = {-1: hprev}, {}
    loss = 0.0
    for t, ix in enumerate(inputs):
        hs[t] = np.tanh(Wxh[:, ix : ix + 1] + np.dot(Whh, hs[t - 1]) + bh)  # Wxh x_t is a column
        ps[t] = softmax(np.dot(Why, hs[t]) + by)
        loss += -np.log(ps[t][targets[t], 0])
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    dhnext = np.zeros_like(hprev)
    for t in reversed(range(len(inputs))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1
        grads["Why"] += np.dot(dy, hs[t].T)
        grads["by"] += dy
        dhraw = (1 - hs[t] * hs[t]) * (np.dot(Why.T, dy) + dhnext)
        grads["bh"] += dhraw
        grads["Wxh"][:, inputs[t] : inputs[t] + 1] += dhraw
        grads["Whh"] += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for g in grads.values():
        np.clip(g, -5, 5, out=g)
    return float(loss), grads, hs[len(inputs) - 1]


def sample(params: Params, h: np.ndarray, seed_ix: int, n: int, rng: np.random.RandomState) -> list[int]:
    """n indices, each drawn from softmax(Why h + by) after feeding the previous one
    (the first fed is seed_ix); the caller's `h` is left as it was."""
    V = params["Wxh"].shape[1]
    ixes = []
    ix = seed_ix
    for _ in range(n):
        h = np.tanh(params["Wxh"][:, ix : ix + 1] + np.dot(params["Whh"], h) + params["bh"])
        p = softmax(np.dot(params["Why"], h) + params["by"])
        if not np.isfinite(p).all():
            raise TrainingError("the weights diverged (NaN or infinity); lower --lr")
        ix = int(rng.choice(V, p=p.ravel()))
        ixes.append(ix)
    return ixes


def adagrad(params: Params, grads: Params, memory: Params, lr: float) -> None:
    """In place: mem += d * d, p += -lr d / sqrt(mem + 1e-8)."""
    for name, p in params.items():
        d = grads[name]
        memory[name] += d * d
        p += -lr * d / np.sqrt(memory[name] + 1e-8)


def train(text: str, setup: MinCharSetup, where: str = "the text") -> Iterator[IterationReport]:
    """The gist's main loop for setup.iterations iterations, one report per iteration."""
    check_setup(text, setup, where)
    vocab = sorted_vocab(text)
    data = encode(text, vocab)
    V, T = len(vocab), setup.seq_length
    rng = np.random.RandomState(setup.seed)
    params = init_params(V, setup.hidden, rng)
    memory = {name: np.zeros_like(p) for name, p in params.items()}
    smooth_loss = -np.log(1.0 / V) * T
    p, hprev = 0, np.zeros((setup.hidden, 1))
    for n in range(setup.iterations):
        if p + T + 1 >= len(data) or n == 0:
            p, hprev = 0, np.zeros((setup.hidden, 1))
        inputs, targets = data[p : p + T], data[p + 1 : p + T + 1]
        text_sample = None
        if n % setup.every == 0:
            ixes = sample(params, hprev, int(inputs[0]), setup.sample_len, rng)
            text_sample = "".join(vocab[i] for i in ixes)
        loss, grads, hprev = loss_fun(params, inputs, targets, hprev)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        yield IterationReport(n, loss, float(smooth_loss), text_sample)
        adagrad(params, grads, memory, setup.lr)
        p += T
