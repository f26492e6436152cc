"""The notes-as-tokens frame model: a character model over the ids of saurus.music.frame_tokens.

With P pitches the V = P + 1 ids are characters of a fixed Vocab, sorted so that the
vocabulary's id of a character is the token id itself:

    pitch p  -> chr(0x2800 + p)   (Braille patterns, in pitch order)
    FRAME_END = P -> "｜" (U+FF5C, after every pitch character)

A piece of frames is one sequence y_1..y_L (frame_tokens.frames_to_ids). The model reads
x_k = y_{k-1}, with x_1 = FRAME_END (the start of a piece is the start of a frame; the
vocabulary has no "\\n", so the protocol's START would read a zero input instead: feed
FRAME_END), and its masked softmax is

    log q_k = log_softmax(z_k + log_mask[x_k])
    loss = - sum_{k,b} m_kb log q_kb(y_kb) / sum_{k,b} m_kb       (m: 0 on padding)
    d loss / d z_kb = m_kb (q_kb - onehot(y_kb)) / sum m           (masked ids: q = 0)

so CharModel.backward, which reads only fwd.probs, gives the gradient of the masked loss
when fwd.probs holds q. Model files record MUSIC_KEY: {"tokenizer": "frame-notes", ...}.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saurus.data.vocab import Vocab
from saurus.errors import ModelFileError
from saurus.files.models import MUSIC_KEY, load_with_meta, save
from saurus.models.recurrent import CharModel, Forward, Params
from saurus.models.transformer import TransformerModel
from saurus.music.frame_tokens import frames_to_ids, log_mask, previous_ids
from saurus.music.jsb import LOWEST, PITCHES

FIRST_PITCH_CHAR = 0x2800
FRAME_END_CHAR = "\uff5c"
TOKENIZER = "frame-notes"
FrameModel = CharModel | TransformerModel


def frame_vocab(pitches: int = PITCHES) -> Vocab:
    """The fixed vocabulary: id p is pitch p (0..P-1), id P is FRAME_END."""
    return Vocab((*(chr(FIRST_PITCH_CHAR + p) for p in range(pitches)), FRAME_END_CHAR))


def pitches_of(model: FrameModel) -> int:
    """P: the model's vocabulary less FRAME_END."""
    return model.vocab.size - 1


def create_frame_model(pitches: int = PITCHES, **options: Any) -> CharModel:
    """A NumPy CharModel over the frame ids (options: cell, hidden, layers, dropout, seed, dtype)."""
    return CharModel.create(frame_vocab(pitches), "stream", **options)


def piece_ids(pieces: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each (T, P) piece as its ids y_1..y_L."""
    return [frames_to_ids(p) for p in pieces]


def padded_ids(sequences: Sequence[np.ndarray], pitches: int = PITCHES) -> tuple[np.ndarray, ...]:
    """Time-major (L, B) inputs x = previous ids (FRAME_END first), targets y and mask m
    (1 where y is real); padding reads FRAME_END and targets id 0, both masked out."""
    width = max(len(s) for s in sequences)
    inputs = np.full((width, len(sequences)), pitches, dtype=np.int64)
    targets = np.zeros((width, len(sequences)), dtype=np.int64)
    mask = np.zeros((width, len(sequences)), dtype=np.float64)
    for b, y in enumerate(sequences):
        inputs[: len(y), b] = previous_ids(y, pitches)
        targets[: len(y), b] = y
        mask[: len(y), b] = 1.0
    return inputs, targets, mask


def masked_probs(logits: np.ndarray, inputs: np.ndarray, pitches: int) -> np.ndarray:
    """q = softmax(z + log_mask[x]) over the last axis (masked ids exactly 0)."""
    z = logits + log_mask(pitches)[inputs.reshape(-1)].reshape(logits.shape).astype(logits.dtype)
    q = np.exp(z - z.max(axis=-1, keepdims=True))
    return q / q.sum(axis=-1, keepdims=True)


def masked_loss(
    model: CharModel,
    inputs: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | None = None,
) -> tuple[float, Forward]:
    """The mean masked loss (nats per real id) of a padded batch, and the cache whose
    probs are q, ready for CharModel.backward. Dropout is on when `rng` is given."""
    _, _, fwd = model.forward(inputs, model.zero_state(inputs.shape[1]), rng)
    fwd.probs = masked_probs(fwd.logits, inputs, pitches_of(model))
    picked = fwd.probs[np.arange(targets.size), targets.reshape(-1)].astype(np.float64)
    m = mask.reshape(-1)
    nll = -np.log(np.maximum(picked, np.finfo(np.float64).tiny))
    return float(nll @ m / max(m.sum(), 1.0)), fwd


def masked_loss_and_grads(
    model: CharModel,
    inputs: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | None = None,
) -> tuple[float, Params]:
    """The masked loss and its gradient for every weight of `model`."""
    loss, fwd = masked_loss(model, inputs, targets, mask, rng)
    grads, _ = model.backward(fwd, targets, mask)
    return loss, grads


def frame_meta(pitches: int = PITCHES) -> dict[str, Any]:
    """What a frame-notes model's characters stand for, under the music models' key."""
    return {MUSIC_KEY: {"tokenizer": TOKENIZER, "pitches": pitches, "lowest": LOWEST, "frame_end": pitches}}


def is_frame_model(meta: dict[str, Any]) -> bool:
    """Whether a model file's metadata is a frame-notes model's."""
    music = meta.get(MUSIC_KEY)
    return isinstance(music, dict) and music.get("tokenizer") == TOKENIZER


def save_frame_model(model: FrameModel, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write `model` with the frame-notes record (and `extra`, e.g. its NLL per frame)."""
    save(model, path, extra={**(extra or {}), **frame_meta(pitches_of(model))})


def load_frame_model(path: str | Path) -> tuple[FrameModel, dict[str, Any]]:
    """A model saved by save_frame_model and its metadata; any other is a ModelFileError."""
    model, meta = load_with_meta(path)
    if not is_frame_model(meta):
        raise ModelFileError(f"{path} is not a frame-notes model (train one with saurus.music.frame_train)")
    pitches = meta[MUSIC_KEY].get("pitches")
    if not isinstance(model, CharModel | TransformerModel) or model.vocab != frame_vocab(
        pitches if isinstance(pitches, int) and 0 < pitches <= 255 else -1
    ):
        raise ModelFileError(f"{path} is damaged: its vocabulary is not the frame-notes one")
    return model, meta
