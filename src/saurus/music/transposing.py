"""Transposition augmentation's draw, shared by the frame models' training.

Each pass, a piece keeps its own key with probability `keep`, and otherwise moves by a
shift k uniform over the allowed ones [lo, hi] (those that keep every note on the keys,
0 among them):

    P(k = 0) = keep + (1 - keep) / (hi - lo + 1),   P(k) = (1 - keep) / (hi - lo + 1) else

Keeping some pieces where they were keeps the keys the music is really written in likely
(the first frame of a piece has nothing else to go on), while the shifted ones teach the
intervals whatever the key.
"""

from __future__ import annotations

import numpy as np

# The share of pieces left in their own key each pass, chosen on JSB's validation split
# (NLL per frame, all frames, 2 cores): the notes model at 120 s 5.247 with every piece
# shifted, 4.830 with half kept. The roll model is a wash: at 120 s (1 x 384) none kept
# 8.17 to 8.21, a quarter 8.19 to 8.21, half 8.26 to 8.29; at 600 s (2 x 384) none kept
# 8.11 (stopped at 301 s), a quarter 8.06 (stopped at 160 s). With the first frame fit
# apart and the weights averaged (saurus.music.roll_train), two seeds each: at 600 s none
# kept 7.965 and 7.888, a quarter 7.928 twice; at 120 s none 8.054 and 8.049 (the whole
# budget), a quarter 8.062 and 8.056 (stopped by patience at 69 s). None, the simpler.
NOTES_KEEP = 0.5
ROLL_KEEP = 0.0


def draw_shift(lo: int, hi: int, keep: float, rng: np.random.Generator) -> int:
    """A shift in [lo, hi] (lo <= 0 <= hi): 0 with probability `keep`, else uniform."""
    if hi <= lo or rng.random() < keep:
        return 0
    return int(rng.integers(lo, hi + 1))
