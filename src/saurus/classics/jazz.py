"""The classic "Improvise a jazz solo with an LSTM" exercise, faithful, on the NumPy engine.

Data: the Metheny piece's grammar values (saurus.classics.jazz_grammar). Training: m = 60
windows of Tx = 30 values at offsets drawn by RandomState(0), the first input a zero
vector and the targets shifted by one, so only 29 of the 30 targets are real (the last
is a zero vector; --all-targets feeds the zero vector before the first value and makes
all 30 real). Model: LSTM(64) and a softmax head, 4H(V+H+1) + V(H+1) weights (41,678
at V = 78), Keras initialisation (Glorot-uniform inputs and head, orthogonal recurrence,
forget bias 1). Adam, lr 0.01 / (1 + 0.01 * updates) (Keras's `decay`), batches of 32
reshuffled every epoch, 100 epochs. The loss shown is Keras's: per window, the summed
cross-entropy of its targets (about 29 ln V at the start).
Generation: for each measure of chords, 50 values from a zero input, each the argmax
(so every measure gets the same line) unless a temperature, top-k or a random start is
asked for; values_to_midi puts "C,0.25" first, and the values become notes against that measure's chords,
and the chords are added; 130 BPM.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saurus.classics.jazz_decode import values_to_midi
from saurus.data.vocab import Vocab
from saurus.generation.sampling import Decoding, draw
from saurus.models.optim import Optimizer
from saurus.models.recurrent import CharModel
from saurus.protocol import START

M_WINDOWS, TX, HIDDEN, EPOCHS, LR, DECAY, BATCH, TY = 60, 30, 64, 100, 0.01, 0.01, 32, 50
TEMPO = 130.0
FIRST_CHAR = 0xF0000  # values become private-use characters, as music tokens do


@dataclass(frozen=True)
class JazzSetup:
    epochs: int = EPOCHS
    hidden: int = HIDDEN
    all_targets: bool = False  # the fix: 30 real targets per window instead of 29
    seed: int = 0  # the weights' initialisation and the batch order


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float  # Keras's: summed cross-entropy per window, averaged over the windows


def value_vocab(values: list[str]) -> tuple[Vocab, list[str]]:
    """A vocabulary of one character per distinct value, and the values in its order."""
    distinct = sorted(set(values))
    return Vocab(tuple(chr(FIRST_CHAR + i) for i in range(len(distinct)))), distinct


def parameter_count(values: int, hidden: int) -> int:
    """LSTM 4H(V+H+1) plus the head V(H+1): 41,678 for V = 78 and H = 64."""
    return 4 * hidden * (values + hidden + 1) + values * (hidden + 1)


def windows(ids: np.ndarray, all_targets: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (Tx, m), targets (Tx, m) and the mask of real targets, as the exercise builds
    them: window i starts at RandomState(0).choice(len - Tx); x_0 is the zero vector (START),
    x_j = v_j and y_{j-1} = v_j, so y_{Tx-1} is the zero vector and not a target. With
    `all_targets`, x = (START, v_0..v_{Tx-2}) and y = (v_0..v_{Tx-1})."""
    picker = np.random.RandomState(0)
    starts = [picker.choice(len(ids) - TX) for _ in range(M_WINDOWS)]
    block = np.stack([ids[s : s + TX] for s in starts], axis=1)  # (Tx, m)
    x = np.full_like(block, START)
    y = np.zeros_like(block)
    mask = np.ones(block.shape, dtype=np.float64)
    if all_targets:
        x[1:], y[:] = block[:-1], block
    else:
        x[1:], y[:-1] = block[1:], block[1:]
        mask[-1] = 0.0
    return x, y, mask


def keras_model(vocab: Vocab, hidden: int, seed: int) -> CharModel:
    """LSTM + softmax head with Keras's initialisers (weights ~ Glorot uniform, recurrent
    weights orthogonal, biases zero but the forget gate's, which is 1)."""
    model = CharModel.create(vocab, "stream", hidden=hidden, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    p = model.params
    for name in ("embed", "head.W"):
        fan_in, fan_out = p[name].shape
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        p[name][:] = rng.uniform(-limit, limit, p[name].shape)
    q, r = np.linalg.qr(rng.standard_normal((4 * hidden, hidden)))
    p["l0.Wh"][:] = (q * np.sign(np.diag(r))).T
    p["head.b"][:] = 0.0
    return model


def train_jazz(values: list[str], setup: JazzSetup) -> Iterator[EpochReport | CharModel]:
    """Yield each epoch's report, then the trained model."""
    vocab, distinct = value_vocab(values)
    ids = np.array([distinct.index(v) for v in values])
    x, y, mask = windows(ids, setup.all_targets)
    model = keras_model(vocab, setup.hidden, setup.seed)
    adam = Optimizer("adam", eps=1e-7)
    order_rng = np.random.default_rng(setup.seed)
    updates = 0
    for epoch in range(1, setup.epochs + 1):
        order = order_rng.permutation(M_WINDOWS)
        total = 0.0
        for b in range(0, M_WINDOWS, BATCH):
            cols = order[b : b + BATCH]
            xs, ys, ms = x[:, cols], y[:, cols], mask[:, cols]
            loss, count, _, fwd = model.loss(xs, ys, ms, model.zero_state(len(cols)))
            grads, _ = model.backward(fwd, ys, ms)
            adam.step(model.params, grads, LR / (1.0 + DECAY * updates))
            updates += 1
            total += loss * count  # summed over the batch's targets
        yield EpochReport(epoch, total / M_WINDOWS)
    yield model


def improvise_values(
    model: CharModel,
    distinct: list[str],
    how: Decoding,
    rng: np.random.Generator,
    random_start: bool,
) -> list[str]:
    """TY values from a zero input (or from a random value), each fed back as the next input."""
    state = model.start(1)
    first = int(rng.integers(len(distinct))) if random_start else START
    logits, state = model.step(state, np.array([first]))
    out = [] if first == START else [distinct[first]]
    while len(out) < TY:
        ids = draw(logits, how, rng)
        out.append(distinct[int(ids[0])])
        logits, state = model.step(state, ids)
    return out


def write_improvisation(
    model: CharModel,
    values: list[str],
    chords: list,
    path: Path,
    how: Decoding,
    seed: int,
    random_start: bool,
) -> int:
    """One line of values per measure of chords, turned into notes and written as MIDI at
    130 BPM; the number of melody notes written."""

    _, distinct = value_vocab(values)
    rng = np.random.default_rng(seed)
    lines = [improvise_values(model, distinct, how, rng, random_start) for _ in chords]
    return values_to_midi(lines, chords, path, tempo=TEMPO, rng=random.Random(seed))
