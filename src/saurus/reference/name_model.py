"""The "Dinosaur Island" name model: a vanilla RNN trained one name at a time.

Parameters (classic names): Wax (n_a, V), Waa (n_a, n_a), Wya (V, n_a), b (n_a, 1), by (V, 1).
An input of None is the all-zeros vector that starts a name; "\\n" ends it.

    a_t = tanh(Wax x_t + Waa a_{t-1} + b)      y_t = softmax(Wya a_t + by)
    loss = sum_t -log y_t[Y_t]

Randomness uses local RandomState generators that draw exactly what the exercise's
np.random.seed(...) calls draw, so the published numbers come out unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from saurus.reference.activations import softmax

Params = dict[str, np.ndarray]
GRAD_KEYS = ("dWax", "dWaa", "dWya", "db", "dby")
MAX_SAMPLE_LEN = 50


def initialize_parameters(n_a: int, n_x: int, n_y: int, seed: int = 1) -> Params:
    """Small random weights (randn * 0.01, drawn Wax, Waa, Wya in that order), zero biases."""
    rng = np.random.RandomState(seed)
    return {
        "Wax": rng.randn(n_a, n_x) * 0.01,
        "Waa": rng.randn(n_a, n_a) * 0.01,
        "Wya": rng.randn(n_y, n_a) * 0.01,
        "b": np.zeros((n_a, 1)),
        "by": np.zeros((n_y, 1)),
    }


def get_initial_loss(vocab_size: int, seq_length: int) -> float:
    """Loss of a uniform guess over `seq_length` characters: -log(1/V) * seq_length."""
    return float(-np.log(1.0 / vocab_size) * seq_length)


def smooth(loss: float, cur_loss: float) -> float:
    """Exponential moving average with weight 0.999 on the past."""
    return loss * 0.999 + cur_loss * 0.001


def one_hot(index: int | None, size: int) -> np.ndarray:
    """Column one-hot vector; None gives all zeros (the start of a name)."""
    x = np.zeros((size, 1))
    if index is not None:
        x[index] = 1.0
    return x


def rnn_step_forward(parameters: Params, a_prev: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a_next = np.tanh(parameters["Wax"] @ x + parameters["Waa"] @ a_prev + parameters["b"])
    return a_next, softmax(parameters["Wya"] @ a_next + parameters["by"])


def name_forward(
    X: Sequence[int | None], Y: Sequence[int], a0: np.ndarray, parameters: Params
) -> tuple[float, tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]]]:
    """Forward over one name; returns the summed cross-entropy and the cache (y_hat, a, x)."""
    vocab_size = parameters["by"].shape[0]
    x: dict[int, np.ndarray] = {}
    a: dict[int, np.ndarray] = {-1: np.copy(a0)}
    y_hat: dict[int, np.ndarray] = {}
    loss = 0.0
    for t in range(len(X)):
        x[t] = one_hot(X[t], vocab_size)
        a[t], y_hat[t] = rnn_step_forward(parameters, a[t - 1], x[t])
        loss -= float(np.log(y_hat[t][Y[t], 0]))
    return loss, (y_hat, a, x)


def rnn_step_backward(
    dy: np.ndarray,
    gradients: dict[str, np.ndarray],
    parameters: Params,
    x: np.ndarray,
    a: np.ndarray,
    a_prev: np.ndarray,
) -> dict[str, np.ndarray]:
    """Accumulate one step's gradients; dy = y_hat - one_hot(target), da_next carries the state."""
    gradients["dWya"] += dy @ a.T
    gradients["dby"] += dy
    da = parameters["Wya"].T @ dy + gradients["da_next"]
    daraw = (1.0 - a * a) * da
    gradients["db"] += daraw
    gradients["dWax"] += daraw @ x.T
    gradients["dWaa"] += daraw @ a_prev.T
    gradients["da_next"] = parameters["Waa"].T @ daraw
    return gradients


def name_backward(
    X: Sequence[int | None],
    Y: Sequence[int],
    parameters: Params,
    cache: tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray]],
) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Backpropagation through time over one name; returns the gradients and the states a."""
    y_hat, a, x = cache
    gradients = {k: np.zeros_like(parameters[k[1:]]) for k in GRAD_KEYS}
    gradients["da_next"] = np.zeros_like(a[0])
    for t in reversed(range(len(X))):
        dy = np.copy(y_hat[t])
        dy[Y[t]] -= 1.0
        rnn_step_backward(dy, gradients, parameters, x[t], a[t], a[t - 1])
    return gradients, a


def clip(gradients: dict[str, np.ndarray], maxValue: float) -> dict[str, np.ndarray]:
    """Clip dWax, dWaa, dWya, db, dby elementwise into [-maxValue, maxValue], in place."""
    for key in GRAD_KEYS:
        np.clip(gradients[key], -maxValue, maxValue, out=gradients[key])
    return gradients


def update_parameters(parameters: Params, gradients: dict[str, np.ndarray], lr: float) -> Params:
    """Plain SGD: W -= lr * dW, in place."""
    for key in GRAD_KEYS:
        parameters[key[1:]] -= lr * gradients[key]
    return parameters


def optimize(
    X: Sequence[int | None],
    Y: Sequence[int],
    a_prev: np.ndarray,
    parameters: Params,
    learning_rate: float = 0.01,
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """One SGD step on one name: forward, backward, clip to [-5, 5], update.
    Returns the loss, the clipped gradients and the last hidden state."""
    loss, cache = name_forward(X, Y, a_prev, parameters)
    gradients, a = name_backward(X, Y, parameters, cache)
    clip(gradients, 5)
    update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[len(X) - 1]


def sample(parameters: Params, char_to_ix: dict[str, int], seed: int) -> list[int]:
    """Sample one name; step k draws with RandomState(seed + 2k) as the exercise does
    (it reseeds with counter + seed and also increments seed). Stops at "\\n" or after
    50 characters, then appends "\\n"."""
    vocab_size = parameters["by"].shape[0]
    n_a = parameters["Waa"].shape[1]
    eos = char_to_ix["\n"]
    x = np.zeros((vocab_size, 1))
    a_prev = np.zeros((n_a, 1))
    indices: list[int] = []
    idx = -1
    counter = 0
    while idx != eos and counter != MAX_SAMPLE_LEN:
        a_prev, y = rnn_step_forward(parameters, a_prev, x)
        idx = int(np.random.RandomState(counter + seed).choice(vocab_size, p=y.ravel()))
        indices.append(idx)
        x = one_hot(idx, vocab_size)
        seed += 1
        counter += 1
    if counter == MAX_SAMPLE_LEN:
        indices.append(eos)
    return indices


def format_name(indices: Sequence[int], ix_to_char: dict[int, str]) -> str:
    """The printed form: characters without the final "\\n", first letter upper-cased."""
    txt = "".join(ix_to_char[i] for i in indices).rstrip("\n")
    return txt[:1].upper() + txt[1:]


@dataclass(frozen=True)
class TranscriptBlock:
    iteration: int
    loss: float
    names: tuple[str, ...]

    def format(self) -> str:
        """The published layout: header, one name per line, a blank line."""
        return "\n".join([f"Iteration: {self.iteration}, Loss: {self.loss:f}", *self.names, ""]) + "\n"


def classic_training_run(
    examples: Sequence[str],
    char_to_ix: dict[str, int],
    *,
    num_iterations: int = 35000,
    n_a: int = 50,
    dino_names: int = 7,
    every: int = 2000,
    learning_rate: float = 0.01,
) -> Iterator[TranscriptBlock]:
    """The exercise's training loop: shuffle the names with seed 0, one SGD step per name
    (the hidden state carried from name to name), and every `every` iterations sample
    `dino_names` names with seeds 0, 1, ... Yields one block per report."""
    vocab_size = len(char_to_ix)
    ix_to_char = {i: c for c, i in char_to_ix.items()}
    eos = char_to_ix["\n"]
    parameters = initialize_parameters(n_a, vocab_size, vocab_size)
    loss = get_initial_loss(vocab_size, dino_names)
    examples = list(examples)
    np.random.RandomState(0).shuffle(examples)
    encoded = [[char_to_ix[ch] for ch in name] for name in examples]
    a_prev = np.zeros((n_a, 1))
    for j in range(num_iterations):
        X: list[int | None] = [None, *encoded[j % len(encoded)]]
        Y = [*X[1:], eos]
        cur_loss, _, a_prev = optimize(X, Y, a_prev, parameters, learning_rate)
        loss = smooth(loss, cur_loss)
        if j % every == 0:
            names = tuple(
                format_name(sample(parameters, char_to_ix, seed), ix_to_char) for seed in range(dino_names)
            )
            yield TranscriptBlock(j, loss, names)
