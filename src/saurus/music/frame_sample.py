"""New frames from a frame-notes model, drawn one id at a time under the grammar.

Starting from x = FRAME_END (or after a prime's ids), each step draws

    y ~ softmax((z + log_mask[x]) / T)       (generation.decoding.draw: masked ids have p = 0)

and feeds it back; every FRAME_END closes a frame. A frame has at most P + 1 ids (after
pitch P-1 only FRAME_END is allowed), so n frames take at most n (P + 1) steps. The draw
is seeded by the generator passed in: the same seed gives the same frames.
"""

from __future__ import annotations

import numpy as np

from saurus.generation.decoding import Decoding, draw
from saurus.music.frame_model import FrameModel, pitches_of
from saurus.music.frame_tokens import frames_to_ids, ids_to_frames, log_mask


def sample_frames(
    model: FrameModel,
    frames: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    prime: np.ndarray | None = None,
) -> np.ndarray:
    """(frames, P) bool: `frames` new frames (after `prime`'s (T, P) frames, not included)."""
    how = Decoding.from_options(temperature)
    pitches = pitches_of(model)
    mask = log_mask(pitches)
    state = model.start(1)
    logits, state = model.step(state, np.array([pitches]))
    if prime is not None:
        for y in frames_to_ids(prime):
            logits, state = model.step(state, np.array([y]))
    previous, drawn = pitches, []
    while sum(1 for y in drawn if y == pitches) < frames:
        y = int(draw((logits + mask[previous]).astype(np.float64), how, rng)[0])
        drawn.append(y)
        previous = y
        logits, state = model.step(state, np.array([y]))
    return ids_to_frames(np.array(drawn, dtype=np.int64), pitches)
