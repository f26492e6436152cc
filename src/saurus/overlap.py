"""Whether text to evaluate overlaps the data a model was trained on.

A model file records 64-bit hashes of its training data's lines (saurus.novelty); a loss
measured on lines the model has seen says little about new data, so `saurus eval` warns.
Lines models warn at any overlap; stream models when at least half the lines were seen
(short lines such as speaker names recur in any text of the same kind).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saurus.novelty import hashes_of
from saurus.protocol import SequenceModel

STREAM_WARN_SHARE = 0.5


def overlap(model: SequenceModel, lines: Sequence[str], name: str) -> str:
    """A warning when `lines` (of the evaluated text) occur in the training data, else ""."""
    seen = getattr(model, "seen", None)
    if seen is None or len(seen) == 0 or not lines:
        return ""
    count = int(np.isin(hashes_of(lines), seen).sum())
    what = "names" if model.mode == "lines" else "lines"
    if count == 0 or (model.mode == "stream" and count < STREAM_WARN_SHARE * len(lines)):
        return ""
    return (
        f"warning: {count} of {len(lines)} {what} in {name} occur in the model's training data, "
        "so this loss overstates how well it does on new data"
    )
