"""Model files: one .npz archive holding the weights plus a JSON metadata entry.

Nothing in a model file can run code: object arrays are refused from their npy header and
the metadata is plain JSON. Loading treats every file as hostile: the zip directory and each
member's npy header are checked against the limits below before any data is read or
inflated, and every failure is one ModelFileError line in our own words. Files are written
atomically, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from saurus.atomic import atomic_write_with
from saurus.errors import ModelFileError, os_reason

FORMAT = "saurus-model"
FORMAT_VERSION = 1
META_KEY = "__saurus__"
PARAM_PREFIX = "param/"
META_MEMBER = META_KEY + ".npy"

# Limits on what a model file may make us read: a hostile file is refused before it costs more.
MAX_MODEL_BYTES = 2 * 1024**3  # all members together, uncompressed (the npy files' sizes)
MAX_META_BYTES = 64 * 1024**2  # the JSON metadata member
MAX_MEMBERS = 10_000  # a 100-layer recurrent model has about 300
MAX_COMPRESSION_RATIO = 100  # deflate reaches ~1000 only on degenerate data such as zeros
RATIO_FREE_BYTES = 1024**2  # members up to this size may compress any amount (zero biases)
MAX_NPY_HEADER_BYTES = 10_000  # numpy's own default limit for the header's text
MAX_DIMS = 32

_PARAM_MEMBER = re.compile(r"param/([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\.npy")
_PARAM_KINDS = "fiu"  # float weights; uint64 seen-name hashes; ints do no harm
_ENCRYPTED_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption
_READ_CHUNK = 4 * 1024**2
_END_RECORD = struct.Struct("<4s4H2LH")  # the zip's end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_ENTRY = b"PK\x01\x02"
_CORRUPT = "it is truncated or corrupt"
# What zipfile and zlib raise on damaged archives (OSError is handled on its own).
_CORRUPTION = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    NotImplementedError,
    OverflowError,
)


@dataclass(frozen=True)
class ModelFile:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def save_model_file(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` and `meta` (JSON-serialisable) to `path` atomically."""
    record = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    payload = {PARAM_PREFIX + k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload[META_KEY] = np.array(json.dumps(record, ensure_ascii=False))
    try:
        atomic_write_with(path, lambda handle: np.savez(handle, **payload))
    except OSError as err:
        raise ModelFileError(f"cannot write {path}: {os_reason(err)}") from None


def load_model_file(path: str | Path) -> ModelFile:
    """Read and check a model file; anything but an intact saurus model is a ModelFileError.

    The file is treated as hostile: the zip directory and each array's npy header are checked
    (names, sizes, compression, data types) before any data is read or decompressed, so a
    crafted file can neither run code nor make us allocate more than MAX_MODEL_BYTES."""
    path = Path(path)
    with _open_for_reading(path) as handle:
        try:
            return _read_model(handle, path)
        except _NotAModelError as why:
            raise ModelFileError(f"{path} is not a saurus model file ({why})") from None
        except OSError as err:
            raise ModelFileError(f"cannot read {path}: {os_reason(err)}") from None
        except MemoryError:
            raise ModelFileError(f"cannot load {path}: not enough memory") from None


class _NotAModelError(Exception):
    """Why a file is not an intact saurus model, in plain words (no library text)."""


def _open_for_reading(path: Path) -> BinaryIO:
    """Open a regular file for reading; a missing, special or unreadable path is a ModelFileError.
    Special files (FIFOs, devices) are refused before opening, so reading cannot hang."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ModelFileError(f"{path} is not a file")
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError):
        raise ModelFileError(f"no model file at {path}") from None
    except OSError as err:
        raise ModelFileError(f"cannot read {path}: {os_reason(err)}") from None
    return handle


def _read_model(handle: BinaryIO, path: Path) -> ModelFile:
    """Check the archive's directory, then read the metadata, then the weights."""
    size = os.fstat(handle.fileno()).st_size
    _check_member_count(handle, size)
    archive = _open_archive(handle)
    with archive, _corruption_is_refused():
        members = _check_directory(archive, size)
        meta = _read_meta(archive, members)
        _check_format(meta, path)
        arrays = {}
        for name, info in members.items():
            if name == META_MEMBER:
                continue
            match = _PARAM_MEMBER.fullmatch(name)
            if match is None:
                raise _NotAModelError(f"it holds an unexpected member {_shown(name)}")
            arrays[match.group(1)] = _read_array(archive, info, _PARAM_KINDS, MAX_MODEL_BYTES)
    return ModelFile(meta, arrays)


@contextlib.contextmanager
def _corruption_is_refused() -> Iterator[None]:
    """Turn the zip and decompression libraries' errors into one plain 'corrupt' reason."""
    try:
        yield
    except _CORRUPTION:
        raise _NotAModelError(_CORRUPT) from None
    except OSError as err:
        if err.errno == errno.EINVAL:  # a seek to a nonsensical offset
            raise _NotAModelError(_CORRUPT) from None
        raise


def _check_member_count(handle: BinaryIO, size: int) -> None:
    """Refuse a zip directory of more than MAX_MEMBERS entries before zipfile parses it: that
    costs some 30 us an entry, so a 30 MB file of empty members would take 20 s. The entries'
    signatures are counted (in C, chunk by chunk) in the bytes where zipfile will look for the
    directory, an upper bound on the entries it can parse; a damaged end record is left to
    zipfile to refuse."""
    tail_size = min(size, _END_RECORD.size + 0xFFFF)  # the end record and the longest comment
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = len(tail) - _END_RECORD.size  # zipfile looks there first, for a file without a comment
    if not (at >= 0 and tail.startswith(b"PK\x05\x06", at) and tail.endswith(b"\0\0")):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END_RECORD.size:
        return
    directory_size = _END_RECORD.unpack_from(tail, at)[5]
    end = size - tail_size + at
    locator = end - _ZIP64_LOCATOR.size
    if locator >= 0:
        handle.seek(locator)
        if handle.read(4) == b"PK\x06\x07":  # zip64: the sizes are in the zip64 end record
            record = locator - _ZIP64_END.size
            if record < 0:
                return
            handle.seek(record)
            data = handle.read(_ZIP64_END.size)
            if len(data) != _ZIP64_END.size or not data.startswith(b"PK\x06\x06"):
                return
            directory_size, end = _ZIP64_END.unpack(data)[8], record
    start = max(0, end - directory_size)
    handle.seek(start)
    count, carry = 0, b""
    while start < end and count <= MAX_MEMBERS:
        chunk = handle.read(min(_READ_CHUNK, end - start))
        if not chunk:
            break
        start += len(chunk)
        chunk = carry + chunk
        count += chunk.count(_DIRECTORY_ENTRY)
        carry = chunk[-3:]  # a signature cut in two by the chunks
    if count > MAX_MEMBERS:
        raise _NotAModelError(f"its zip directory lists more than the {MAX_MEMBERS} members a model may have")


def _open_archive(handle: BinaryIO) -> zipfile.ZipFile:
    """Parse the zip directory; a file that is no zip archive is refused with a guess at what it is."""
    handle.seek(0)
    head = handle.read(512)
    handle.seek(0)
    try:
        return zipfile.ZipFile(handle)
    except _CORRUPTION:
        pass
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
    raise _NotAModelError(_what_it_is(head))


def _what_it_is(head: bytes) -> str:
    """Describe a file that zipfile could not open, from its first bytes."""
    if not head:
        return "it is empty"
    if head.startswith(b"PK"):
        return _CORRUPT
    if head.startswith(b"\x93NUMPY"):
        return "it holds a bare array, not a model archive"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "it is not a model archive"
    return "it is a text file, not a model archive" if b"\0" not in head else "it is not a model archive"


def _check_directory(archive: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """Check every member's entry in the zip directory before anything is read or decompressed."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _NotAModelError(f"it has {len(infos)} members, more than the {MAX_MEMBERS} a model may have")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if info.filename in members:
            raise _NotAModelError(f"it holds two members named {_shown(info.filename)}")
        _check_entry(info, file_size)
        members[info.filename] = info
    total = sum(info.file_size for info in infos)
    if total > MAX_MODEL_BYTES:
        raise _NotAModelError(f"its members add up to {total} bytes, {_over(MAX_MODEL_BYTES)}")
    if sum(info.compress_size for info in infos) > file_size:
        raise _NotAModelError(_CORRUPT)  # members overlap: a zip bomb trick
    return members


def _check_entry(info: zipfile.ZipInfo, file_size: int) -> None:
    """One member: a plain name, no encryption, stored or deflated, inside the file, and for a
    deflated member no more expansion than real weights show."""
    name = _shown(info.filename)
    if info.orig_filename != info.filename or "\\" in info.filename:
        raise _NotAModelError(f"it holds a member with an odd name {_shown(info.orig_filename)}")
    if info.flag_bits & _ENCRYPTED_FLAGS:
        raise _NotAModelError(f"its member {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _NotAModelError(f"its member {name} uses an unsupported compression method")
    if info.header_offset < 0 or info.header_offset + info.compress_size > file_size:
        raise _NotAModelError(_CORRUPT)
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise _NotAModelError(_CORRUPT)
    if (
        info.compress_type == zipfile.ZIP_DEFLATED
        and info.file_size > RATIO_FREE_BYTES
        and info.file_size > info.compress_size * MAX_COMPRESSION_RATIO
    ):
        ratio = info.file_size // max(info.compress_size, 1)
        raise _NotAModelError(
            f"its member {name} would expand {ratio}-fold when decompressed, "
            f"more than the {MAX_COMPRESSION_RATIO}-fold limit"
        )


def _read_meta(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> Any:
    """The JSON metadata, from a 0-d unicode array of at most MAX_META_BYTES."""
    info = members.get(META_MEMBER)
    if info is None:
        raise _NotAModelError("no saurus metadata")
    if info.file_size > MAX_META_BYTES:
        raise _NotAModelError(f"its metadata is {info.file_size} bytes, {_over(MAX_META_BYTES)}")
    with archive.open(info) as stream:
        dtype, shape, _ = _read_npy_header(stream, info.filename)
        if dtype.kind != "U" or shape != ():
            raise _NotAModelError("no saurus metadata")
        raw = _read_data(stream, info, dtype.itemsize, MAX_META_BYTES)
    try:
        # numpy stores unicode as UTF-32 padded with NULs; Python's codec rejects invalid code points
        text = bytes(raw).decode("utf-32-be" if dtype.str[0] == ">" else "utf-32-le").rstrip("\0")
    except UnicodeDecodeError:
        raise _NotAModelError("its metadata is not readable text") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise _NotAModelError("its metadata is nested too deeply") from None
    except ValueError:
        raise _NotAModelError("its metadata is not valid JSON") from None


def _check_format(meta: Any, path: Path) -> None:
    """The metadata names our format, in a version we can read."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _NotAModelError("unknown format")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _NotAModelError("its format version is missing")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer saurus (format version {version}); upgrade saurus"
        )


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kinds: str, limit: int) -> np.ndarray:
    """One npy member as a writable, native-endian, C-ordered array; header checked before reading."""
    with archive.open(info) as stream:
        dtype, shape, fortran = _read_npy_header(stream, info.filename)
        if dtype.kind not in kinds:
            raise _NotAModelError(f"its member {_shown(info.filename)} has an unsupported data type")
        count = math.prod(shape)
        data = _read_data(stream, info, count * dtype.itemsize, limit, count)
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return np.ascontiguousarray(array)


def _read_npy_header(stream: IO[bytes], member: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    """Parse an npy header (format 1.0 or 2.0) without reading the data; refuse object dtypes,
    structured dtypes and nonsensical shapes here, so nothing is ever unpickled or allocated."""
    not_array = f"its member {_shown(member)} is not a valid array"
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream, MAX_NPY_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream, MAX_NPY_HEADER_BYTES)
        else:
            raise _NotAModelError(not_array)
    except (_NotAModelError, OSError, zipfile.BadZipFile, zlib.error, EOFError):
        raise
    except Exception:  # numpy's header parser raises many exception types on hostile input
        raise _NotAModelError(not_array) from None
    if dtype.hasobject:
        raise _NotAModelError(f"its member {_shown(member)} holds Python objects, which a model never does")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise _NotAModelError(f"its member {_shown(member)} has an unsupported data type")
    if len(shape) > MAX_DIMS or any(n < 0 for n in shape):
        raise _NotAModelError(not_array)
    return dtype, tuple(int(n) for n in shape), bool(fortran)


def _read_data(
    stream: IO[bytes], info: zipfile.ZipInfo, nbytes: int, limit: int, count: int | None = None
) -> bytearray:
    """Exactly the `nbytes` the header declares, which must be within `limit` and fill the rest
    of the member (its size in the zip directory); read in chunks, so the zip CRC is checked."""
    if nbytes > limit:
        values = f"{count} values, " if count is not None else ""
        raise _NotAModelError(
            f"its member {_shown(info.filename)} declares {values}{nbytes} bytes, {_over(limit)}"
        )
    if stream.tell() + nbytes != info.file_size:
        raise _NotAModelError(f"its member {_shown(info.filename)} does not match its own header")
    data = bytearray(nbytes)
    view, filled = memoryview(data), 0
    while filled < nbytes:
        chunk = stream.read(min(_READ_CHUNK, nbytes - filled))
        if not chunk:
            raise _NotAModelError(_CORRUPT)
        view[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    if stream.read(1):
        raise _NotAModelError(_CORRUPT)
    return data


def _over(limit: int) -> str:
    return f"over the limit of {limit} bytes"


def _shown(name: str) -> str:
    """A member name from the file, quoted and cut short, safe to put in a one-line message."""
    return repr(name if len(name) <= 80 else name[:77] + "...")
