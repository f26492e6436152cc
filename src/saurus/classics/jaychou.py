"""d2l's recurrent network from scratch, on Jay Chou's lyrics (Dive into Deep Learning,
first Chinese edition, "循环神经网络的从零开始实现").

The data: the first 10,000 characters of the lyrics, "\\n" and "\\r" replaced by spaces;
the vocabulary is their distinct characters (1027), sorted (d2l's `list(set(...))` has no
fixed order). The model, with one-hot inputs x_t (so x_t W_xh is a row of W_xh):

    H_t = tanh(x_t W_xh + H_{t-1} W_hh + b_h)        Y_t = H_t W_hq + b_q

W_xh (V, 256), W_hh (256, 256), W_hq (256, V) ~ N(0, 0.01^2), biases zero. The loss is
the mean softmax cross-entropy over all num_steps * batch_size outputs of a batch:

    l = mean_{t,b} [ logsumexp(Y_tb) - Y_tb[y_tb] ]

the gradients are clipped to global norm theta = 0.01,

    g <- g * theta / ||g||   where ||g|| = sqrt(sum over all parameters of sum g^2) > theta

and SGD takes p <- p - lr g with lr = 100 (the loss is already a mean). An epoch's
perplexity is exp(l_sum / n), l_sum the sum of l * (outputs in the batch), n the outputs.

Random sampling (`data_iter_random`) cuts the corpus into non-overlapping examples of
num_steps characters at offsets 0, num_steps, 2 num_steps, ..., shuffles them every epoch
and starts every batch from a zero state. Consecutive sampling (`data_iter_consecutive`)
lays the corpus out in batch_size rows, walks along them num_steps at a time, starts each
epoch from a zero state and carries the state from batch to batch without
back-propagating into it (d2l's `detach`).

Randomness: one `np.random.default_rng(seed)` draws W_xh, W_hh, W_hq (in that order) and
then every epoch's shuffle; each sampling mode starts from the same seed.
Everything is float64 and vectorised over the batch (the one-hot product is a row gather).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from saurus.classics.common import check_recipe_fits, encode, sorted_vocab
from saurus.errors import DataError, OptionError, VocabularyError
from saurus.models.recurrent import scatter_rows

Params = dict[str, np.ndarray]
PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")
SAMPLINGS = ("random", "consecutive")
PREFIXES = ("分开", "不分开")


@dataclass(frozen=True)
class Lyrics:
    """The corpus as d2l's `load_data_jay_lyrics` returns it, with a sorted vocabulary."""

    indices: np.ndarray  # corpus_indices, int64
    idx_to_char: tuple[str, ...]

    @property
    def vocab_size(self) -> int:
        return len(self.idx_to_char)

    def char_to_idx(self, text: str) -> list[int]:
        """The indices of `text`; a character outside the vocabulary is a VocabularyError."""
        index = {ch: i for i, ch in enumerate(self.idx_to_char)}
        missing = [ch for ch in text if ch not in index]
        if missing:
            raise VocabularyError(f"the prefix {text!r} holds {missing[0]!r}, which is not in the corpus")
        return [index[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.idx_to_char[i] for i in ids)


def load_lyrics(text: str, chars: int = 10000) -> Lyrics:
    """d2l's corpus: newlines and carriage returns become spaces, then the first `chars`."""
    corpus = text.replace("\n", " ").replace("\r", " ")[:chars]
    vocab = sorted_vocab(corpus)
    return Lyrics(encode(corpus, vocab), vocab)


@dataclass(frozen=True)
class JaychouSetup:
    """d2l's hyperparameters (num_hiddens, num_steps, batch_size, lr, clipping_theta, ...)."""

    epochs: int = 250
    hidden: int = 256
    num_steps: int = 35
    batch_size: int = 32
    lr: float = 100.0
    clip: float = 0.01
    period: int = 50
    pred_len: int = 50
    prefixes: tuple[str, ...] = PREFIXES
    seed: int = 0


@dataclass(frozen=True)
class EpochReport:
    """One epoch: its perplexity and time, and at the end of a period the continuations."""

    epoch: int
    perplexity: float
    seconds: float
    predictions: tuple[str, ...]

    def format(self) -> str:
        """d2l's lines: 'epoch %d, perplexity %f, time %.2f sec', then ' - ' + each prediction."""
        head = f"epoch {self.epoch}, perplexity {self.perplexity:f}, time {self.seconds:.2f} sec\n"
        return head + "".join(f" - {p}\n" for p in self.predictions)


def min_chars(sampling: str, num_steps: int, batch_size: int) -> int:
    """The shortest corpus that gives one batch: random needs (n - 1) // T >= B examples,
    consecutive needs (n // B - 1) // T >= 1 steps along each row."""
    if sampling == "random":
        return num_steps * batch_size + 1
    return batch_size * (num_steps + 1)


def check_setup(lyrics: Lyrics, setup: JaychouSetup, samplings: tuple[str, ...]) -> None:
    """Refuse (one line) a corpus too short for one batch, an unknown prefix character, or a
    job too big for the memory: before anything is allocated."""
    for sampling in samplings:
        if sampling not in SAMPLINGS:
            raise OptionError(f"unknown sampling {sampling!r}; choose one of: {', '.join(SAMPLINGS)}")
        need = min_chars(sampling, setup.num_steps, setup.batch_size)
        if len(lyrics.indices) < need:
            raise DataError(
                f"the corpus has {len(lyrics.indices)} characters; {sampling} sampling in batches of "
                f"{setup.batch_size} x {setup.num_steps} needs at least {need}"
            )
    for prefix in setup.prefixes:
        if not prefix:
            raise OptionError("a prefix must hold at least one character")
        lyrics.char_to_idx(prefix)
    V, H = lyrics.vocab_size, setup.hidden
    params = 2 * V * H + H * H + H + V
    cache = setup.num_steps * setup.batch_size * (4 * H + 4 * V)
    check_recipe_fits(3 * params + cache, f"the Jay Chou run with --hidden {H}", "choose a smaller --hidden")


def init_params(vocab_size: int, hidden: int, rng: np.random.Generator) -> Params:
    """W_xh, W_hh, W_hq ~ N(0, 0.01^2), drawn in that order; b_h, b_q = 0."""
    V, H = vocab_size, hidden
    W_xh = rng.normal(0.0, 0.01, (V, H))
    W_hh = rng.normal(0.0, 0.01, (H, H))
    W_hq = rng.normal(0.0, 0.01, (H, V))
    return {"W_xh": W_xh, "W_hh": W_hh, "b_h": np.zeros(H), "W_hq": W_hq, "b_q": np.zeros(V)}


Batch = tuple[np.ndarray, np.ndarray]  # X, Y: (batch_size, num_steps) indices


def data_iter_random(
    indices: np.ndarray, batch_size: int, num_steps: int, rng: np.random.Generator
) -> Iterator[Batch]:
    """Examples at offsets j T, j < (n - 1) // T, in a shuffled order; Y is X one later."""
    num_examples = (len(indices) - 1) // num_steps
    order = rng.permutation(num_examples)
    for i in range(num_examples // batch_size):
        starts = order[i * batch_size : (i + 1) * batch_size] * num_steps
        X = indices[starts[:, None] + np.arange(num_steps)]
        Y = indices[starts[:, None] + np.arange(1, num_steps + 1)]
        yield X, Y


def data_iter_consecutive(indices: np.ndarray, batch_size: int, num_steps: int) -> Iterator[Batch]:
    """The corpus as batch_size rows of n // B characters; batch i is columns [iT, iT + T)."""
    batch_len = len(indices) // batch_size
    rows = indices[: batch_size * batch_len].reshape(batch_size, batch_len)
    for i in range((batch_len - 1) // num_steps):
        X = rows[:, i * num_steps : (i + 1) * num_steps]
        Y = rows[:, i * num_steps + 1 : (i + 1) * num_steps + 1]
        yield X, Y


def rnn_forward(params: Params, X: np.ndarray, state: np.ndarray) -> np.ndarray:
    """H_t = tanh(W_xh[x_t] + H_{t-1} W_hh + b_h) for X (T, B) time-major; returns H (T, B, H)."""
    pre = params["W_xh"][X] + params["b_h"]
    Hs = np.empty_like(pre)
    h = state
    for t in range(X.shape[0]):
        h = np.tanh(pre[t] + h @ params["W_hh"])
        Hs[t] = h
    return Hs


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """l = mean_i [logsumexp(z_i) - z_i[y_i]] and dl/dz = (softmax(z) - onehot(y)) / N.
    Works in place on `logits` (shifted by their row maxima first, for stability)."""
    rows = np.arange(len(y))
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits[rows, y]
    np.exp(logits, out=logits)
    s = logits.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - picked))
    logits /= s
    logits[rows, y] -= 1.0
    logits /= len(y)
    return loss, logits


def loss_and_grads(
    params: Params, X: np.ndarray, Y: np.ndarray, state: np.ndarray
) -> tuple[float, Params, np.ndarray]:
    """The mean loss of a batch (X, Y of shape (B, T)), the gradients of every parameter and
    the last state. Backward through time, with dA_t = (dH_t + dA_{t+1} W_hh^T) * (1 - H_t^2):
    dW_hh = sum_t H_{t-1}^T dA_t, dW_xh[v] = sum of dA_tb where x_tb = v, db_h = sum dA."""
    Xt, Yt = X.T, Y.T  # time-major: output row t B + b, as d2l's concat over steps
    T, B = Xt.shape
    Hs = rnn_forward(params, Xt, state)
    H2 = Hs.reshape(T * B, -1)
    loss, dz = softmax_xent(H2 @ params["W_hq"] + params["b_q"], Yt.reshape(-1))
    dHs = (dz @ params["W_hq"].T).reshape(Hs.shape)
    dA = np.empty_like(Hs)
    carry = np.zeros_like(state)
    for t in reversed(range(T)):
        dA[t] = (dHs[t] + carry) * (1.0 - Hs[t] ** 2)
        carry = dA[t] @ params["W_hh"].T
    prev = np.concatenate([state[None], Hs[:-1]]).reshape(T * B, -1)
    dA2 = dA.reshape(T * B, -1)
    grads = {
        "W_xh": scatter_rows(Xt, dA, params["W_xh"].shape[0]),
        "W_hh": prev.T @ dA2,
        "b_h": dA2.sum(axis=0),
        "W_hq": H2.T @ dz,
        "b_q": dz.sum(axis=0),
    }
    return loss, grads, Hs[-1]


def grad_clipping(grads: Params, theta: float) -> None:
    """In place: g <- g theta / ||g|| for every gradient when the global norm ||g|| > theta."""
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    if norm > theta:
        for g in grads.values():
            g *= theta / norm


def sgd(params: Params, grads: Params, lr: float) -> None:
    """In place: p <- p - lr g."""
    for name, p in params.items():
        p -= lr * grads[name]


def predict_rnn(params: Params, prefix: str, pred_len: int, lyrics: Lyrics) -> str:
    """Feed the prefix from a zero state, then append the likeliest next character
    (argmax of Y_t) pred_len times; returns the prefix and the continuation."""
    output = lyrics.char_to_idx(prefix[:1])
    wanted = lyrics.char_to_idx(prefix)
    h = np.zeros((1, params["W_hh"].shape[0]))
    for t in range(pred_len + len(prefix) - 1):
        h = np.tanh(params["W_xh"][output[-1]] + h @ params["W_hh"] + params["b_h"])
        if t < len(prefix) - 1:
            output.append(wanted[t + 1])
        else:
            output.append(int(np.argmax(h @ params["W_hq"] + params["b_q"])))
    return lyrics.decode(output)


def train_epoch(
    params: Params, lyrics: Lyrics, setup: JaychouSetup, sampling: str, rng: np.random.Generator
) -> float:
    """One epoch of d2l's `train_and_predict_rnn`; returns its perplexity exp(l_sum / n)."""
    B, T = setup.batch_size, setup.num_steps
    if sampling == "random":
        batches = data_iter_random(lyrics.indices, B, T, rng)
    else:
        batches = data_iter_consecutive(lyrics.indices, B, T)
    state = np.zeros((B, setup.hidden))
    l_sum, n = 0.0, 0
    for X, Y in batches:
        if sampling == "random":
            state = np.zeros((B, setup.hidden))
        loss, grads, state = loss_and_grads(params, X, Y, state)  # the new state is detached
        grad_clipping(grads, setup.clip)
        sgd(params, grads, setup.lr)
        l_sum += loss * Y.size
        n += Y.size
    return math.exp(l_sum / n)


def train_and_predict(lyrics: Lyrics, setup: JaychouSetup, sampling: str) -> Iterator[EpochReport]:
    """Train from `setup.seed`, reporting every epoch; every `period` epochs and at the last
    one the report carries the continuation of each prefix."""
    check_setup(lyrics, setup, (sampling,))
    rng = np.random.default_rng(setup.seed)
    params = init_params(lyrics.vocab_size, setup.hidden, rng)
    for epoch in range(1, setup.epochs + 1):
        start = time.perf_counter()
        perplexity = train_epoch(params, lyrics, setup, sampling, rng)
        seconds = time.perf_counter() - start
        predictions: tuple[str, ...] = ()
        if epoch % setup.period == 0 or epoch == setup.epochs:
            predictions = tuple(predict_rnn(params, p, setup.pred_len, lyrics) for p in setup.prefixes)
        yield EpochReport(epoch, perplexity, seconds, predictions)
