"""Where frame models' music comes from: the registered `jsb` dataset, a JSB-style .mat
file (saurus.music.jsb), or anyone's MIDI files quantised to a grid (saurus.music.frames).

JSB brings its own train, valid and test splits. MIDI files are one split, "files";
training holds out whole pieces for validation: a seeded choice of

    k = min(n - 1, max(1, ceil(fraction * n)))    of the n pieces

so at least one piece is trained on and one validates (two pieces at the least).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saurus.data.datasets import dataset_path
from saurus.errors import DataError, OptionError
from saurus.music.frames import QUARTER, check_step, midi_frames
from saurus.music.jsb import SPLITS, load_jsb
from saurus.music.tokens import MIDI_SUFFIXES, midi_files

JSB = "jsb"
MIDI_SPLIT = "files"  # the one split of MIDI sources


@dataclass(frozen=True)
class FrameSource:
    """Pieces of (T, 88) bool frames by split, the files they came from, and the grid."""

    name: str
    splits: dict[str, list[np.ndarray]]
    paths: tuple[Path, ...]
    step: float

    @property
    def is_jsb(self) -> bool:
        return set(self.splits) == set(SPLITS)


def is_jsb_source(source: str | Path) -> bool:
    """Whether `source` names JSB-style splits: the `jsb` dataset or a .mat file."""
    return str(source) == JSB or str(source).lower().endswith(".mat")


def read_frame_source(
    sources: Sequence[str | Path], *, step: float | None = None, limit: int | None = None
) -> FrameSource:
    """`jsb`, one .mat file, or MIDI files and folders of them (searched recursively) as
    frames of `step` quarter notes (default one; JSB's grid is fixed at one quarter)."""
    if not sources:
        raise DataError("give the music to read: jsb, a .mat file, or MIDI files or folders")
    if any(is_jsb_source(s) for s in sources):
        if len(sources) > 1:
            raise OptionError("jsb or a .mat file is a whole data set; give it alone")
        if step is not None and step != QUARTER:
            raise OptionError("--step applies to MIDI files; JSB's frames are quarter notes")
        path = dataset_path(JSB) if str(sources[0]) == JSB else Path(sources[0])
        return FrameSource(str(sources[0]), load_jsb(path), (path,), QUARTER)
    step = QUARTER if step is None else step
    check_step(step)
    paths = midi_paths(sources)[:limit]
    pieces = []
    for path in paths:
        try:
            pieces.append(midi_frames(path, step=step))
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
    name = str(sources[0]) if len(sources) == 1 else f"{len(paths)} MIDI files"
    return FrameSource(name, {MIDI_SPLIT: pieces}, tuple(paths), step)


def midi_paths(sources: Sequence[str | Path]) -> list[Path]:
    """The MIDI files named, and those under the folders named; none is a DataError."""
    found: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            inside = midi_files(source)
            if not inside:
                raise DataError(f"no MIDI files ({', '.join(MIDI_SUFFIXES)}) in {source}")
            found.extend(inside)
        elif source.is_file():
            if source.suffix.lower() not in MIDI_SUFFIXES:
                raise DataError(f"{source} is not a MIDI file ({' or '.join(MIDI_SUFFIXES)}) or a .mat file")
            found.append(source)
        else:
            raise DataError(f"{source}: no such file or folder (nor a dataset; frame models read jsb)")
    return found


def held_out(
    pieces: Sequence[np.ndarray], fraction: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training and validation pieces: a seeded choice of whole pieces held out (module)."""
    if not 0 < fraction < 1:
        raise OptionError("frame models validate on held-out pieces; give --val-fraction above 0 and below 1")
    n = len(pieces)
    if n < 2:
        raise DataError(f"{n} piece{'' if n == 1 else 's'}: training needs 2 or more (one is held out)")
    k = min(n - 1, max(1, math.ceil(fraction * n)))
    held = set(np.random.default_rng(seed).permutation(n)[:k].tolist())
    return [p for i, p in enumerate(pieces) if i not in held], [p for i, p in enumerate(pieces) if i in held]


def training_splits(
    source: FrameSource, fraction: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """JSB's train and valid splits, or MIDI pieces split by `held_out`."""
    if source.is_jsb:
        return source.splits["train"], source.splits["valid"]
    return held_out(source.splits[MIDI_SPLIT], fraction, seed)
