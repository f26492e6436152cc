"""Hostile and damaged model files: every failure is one plain ModelFileError line, found
without running code, inflating bombs, allocating what a header claims, or hanging."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import random
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model

from saurus.data.corpus import LinesCorpus
from saurus.errors import ModelFileError
from saurus.files import model_file as checkpoint
from saurus.files import models
from saurus.files.model_file import FORMAT, FORMAT_VERSION, META_MEMBER, load_model_file
from saurus.files.outputs import MODEL, check_output
from saurus.models.recurrent import CharModel

# --- building files by hand ----------------------------------------------------------------


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def meta_npy(meta: Any) -> bytes:
    return npy(np.array(json.dumps(meta)))


def classic_members(**replace: bytes) -> dict[str, bytes]:
    """The members of a valid classic model file, some replaced by hand-made ones."""
    meta, arrays = tiny_lines_model().to_file()
    members = {META_MEMBER: meta_npy({"format": FORMAT, "version": FORMAT_VERSION, **meta})}
    members.update({f"param/{name}.npy": npy(value) for name, value in arrays.items()})
    members.update({f"param/{name}.npy": data for name, data in replace.items()})
    return members


def write_zip(
    path: Path, members: dict[str, bytes] | list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED
) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in items:
                archive.writestr(name, data)
    return path


def raw_zip(entries: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip archive from (name, method, stored payload, crc, declared size) with no checks,
    so the directory can say anything."""
    body, central = bytearray(), bytearray()
    for name, method, payload, crc, size in entries:
        encoded, offset = name.encode(), len(body)
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), size, len(encoded), 0
        )
        body += encoded + payload
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            len(payload),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0)
    return bytes(body + central + end)


def deflated_zeros(prefix: bytes, megabytes: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of `prefix` then `megabytes` MiB of zeros, built without compressing
    them all (a fully flushed block can be repeated), with its CRC and uncompressed size."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = head + block * megabytes + compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    return stream, crc, len(prefix) + megabytes * len(zeros)


def refusal(path: Path) -> str:
    """The one-line message with which loading `path` fails."""
    with pytest.raises(ModelFileError) as caught:
        models.load(path)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    assert "allow_pickle" not in message and "pickle.load" not in message, message
    return message


class Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


# --- foreign files and read errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (NAMES.encode(), "text"),
        (pickle.dumps({"a": 1}), "not a model archive"),
        (b"\x93NUMPY\x01\x00garbage", "bare array"),
        (b"PK\x03\x04" + bytes(100), "truncated or corrupt"),
        (b"", "empty"),
    ],
)
def test_foreign_files_get_a_plain_message_without_numpy_advice(
    tmp_path: Path, content: bytes, detail: str
) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(content)
    message = refusal(path)
    assert message.startswith(f"{path} is not a saurus model file (")
    assert detail in message
    assert "pickle" not in message


def test_a_bare_npy_with_objects_is_refused_without_advice(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    path.write_bytes(npy(np.array([{"a": 1}], dtype=object), allow_pickle=True))
    assert "bare array" in refusal(path)


def test_an_unreadable_file_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    real_open = Path.open

    def no_access(self: Path, *args: Any, **kwargs: Any):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", no_access)
    assert refusal(path) == f"cannot read {path}: permission denied"


@pytest.mark.parametrize("code", [errno.EIO, errno.EISDIR, errno.ELOOP])
def test_other_errors_opening_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)

    def broken(self: Path, *args: Any, **kwargs: Any):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "open", broken)
    assert refusal(path).startswith(f"cannot read {path}: ")


def test_a_read_error_midway_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    real_open = Path.open

    class Failing(io.BufferedReader):
        fail_at = 0
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            Failing.reads += 1
            if Failing.reads == Failing.fail_at:
                raise OSError(errno.EIO, "Input/output error")
            return super().read(size)

    def failing_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any):
        if self == path:
            return Failing(io.FileIO(self, "rb"))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing_open)
    models.load(path)  # counts the reads a good load makes
    total = Failing.reads
    assert total > 3
    for fail_at in range(1, total + 1):
        Failing.reads, Failing.fail_at = 0, fail_at
        message = refusal(path)
        assert str(path) in message
    # the last reads fetch the weights: an I/O error there is reported as such
    assert message == f"cannot read {path}: input/output error"


def test_folders_and_fifos_are_refused_without_hanging(tmp_path: Path) -> None:
    assert refusal(tmp_path) == f"{tmp_path} is not a file"
    fifo = tmp_path / "pipe.saurus"
    os.mkfifo(fifo)
    assert refusal(fifo) == f"{fifo} is not a file"


# --- memory: sizes are checked before anything is allocated or inflated --------------------


def test_a_header_claiming_ten_trillion_floats_is_refused_at_once(tmp_path: Path) -> None:
    huge = npy_header("<f8", (10**13,)) + bytes(16)
    path = write_zip(tmp_path / "m.saurus", classic_members(Wax=huge))
    tracemalloc.start()
    try:
        message = refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024**2, peak  # refused from the header, nothing allocated
    assert "10000000000000 values" in message and "80000000000000 bytes" in message
    assert "'param/Wax.npy'" in message


def test_a_header_that_disagrees_with_the_member_size(tmp_path: Path) -> None:
    short = npy_header("<f8", (8, 8))[:-1] + b"\n" + bytes(8)  # claims 512 bytes, holds 8
    path = write_zip(tmp_path / "m.saurus", classic_members(Wax=short))
    assert "does not match its own header" in refusal(path)


def test_the_total_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    monkeypatch.setattr(checkpoint, "MAX_MODEL_BYTES", 1000)
    assert "over the limit of 1000 bytes" in refusal(path)


def test_a_compressed_gigabyte_of_zeros_is_refused_before_inflating(tmp_path: Path) -> None:
    count = 1 << 27  # 2**27 float64 zeros: 1 GiB
    stream, crc, size = deflated_zeros(npy_header("<f8", (count,)), 1024)
    meta = meta_npy({"format": FORMAT, "version": FORMAT_VERSION, "kind": "classic-rnn"})
    data = raw_zip(
        [
            (META_MEMBER, zipfile.ZIP_STORED, meta, zlib.crc32(meta), len(meta)),
            ("param/Wax.npy", zipfile.ZIP_DEFLATED, stream, crc, size),
        ]
    )
    assert len(data) < 2 * 1024**2
    path = tmp_path / "bomb.saurus"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        message = refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024**2, peak
    assert "'param/Wax.npy'" in message and "fold" in message


def test_a_directory_that_understates_a_deflated_member_is_refused(tmp_path: Path) -> None:
    """The directory claims a small member, the stream inflates to a GiB: we read only what the
    directory allows and stop at the mismatch with the npy header."""
    stream, _, _ = deflated_zeros(npy_header("<f8", (1 << 27,)), 1024)
    claimed = zlib.decompressobj(-15).decompress(stream, 4096)  # a CRC true to what is claimed
    data = raw_zip([("param/Wax.npy", zipfile.ZIP_DEFLATED, stream, zlib.crc32(claimed), 4096)])
    meta = classic_members()[META_MEMBER]
    path = tmp_path / "m.saurus"
    path.write_bytes(data)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(META_MEMBER, meta)
    tracemalloc.start()
    try:
        message = refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "does not match its own header" in message
    assert peak < 32 * 1024**2, peak  # read only what the directory allows


# --- metadata ------------------------------------------------------------------------------


def test_deeply_nested_metadata(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "m.saurus", {META_MEMBER: npy(np.array("[" * 100_000))})
    assert "nested too deeply" in refusal(path)


def test_oversized_metadata_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    monkeypatch.setattr(checkpoint, "MAX_META_BYTES", 100)
    assert "its metadata is" in refusal(path) and "over the limit of 100 bytes" in refusal(path)


@pytest.mark.parametrize(
    "member",
    [
        npy_header("<U1", ()) + b"\xff\xff\xff\xff",  # not a code point (numpy itself crashes)
        npy_header("<U1", ()) + b"\x00\xd8\x00\x00",  # a lone surrogate
        npy(np.array(["{}", "{}"])),  # not 0-d
        npy(np.array(3.0)),  # not text
        npy(np.array("not json")),
        npy(np.array(json.dumps([1, 2]))),
        npy(np.array(json.dumps({"format": FORMAT, "version": True}))),
    ],
)
def test_malformed_metadata(tmp_path: Path, member: bytes) -> None:
    path = write_zip(tmp_path / "m.saurus", {**classic_members(), META_MEMBER: member})
    refusal(path)


def test_big_endian_metadata_is_read(tmp_path: Path) -> None:
    members = classic_members()
    text = np.load(io.BytesIO(members[META_MEMBER]))
    path = write_zip(
        tmp_path / "m.saurus", {**members, META_MEMBER: npy(text.astype(text.dtype.newbyteorder(">")))}
    )
    assert models.load(path).vocab == tiny_lines_model().vocab


# --- weights -------------------------------------------------------------------------------


def test_an_object_member_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit(marker)
    evil = npy(payload, allow_pickle=True)
    assert np.lib.format.read_array(io.BytesIO(evil), allow_pickle=True) is not None  # the exploit works...
    assert marker.exists()
    marker.unlink()
    for members in (classic_members(Wax=evil), {**classic_members(), META_MEMBER: evil}):
        path = write_zip(tmp_path / "m.saurus", members)
        message = refusal(path)
        assert not marker.exists(), "unpickling ran code"
        assert "Python objects" in message or "no saurus metadata" in message


@pytest.mark.parametrize(
    ("member", "detail"),
    [
        (b"hello", "not a valid array"),
        (b"\x93NUMPY\x09\x00" + bytes(100), "not a valid array"),  # unknown npy version
        (npy_header("<f8", (-5,)), "not a valid array"),
        (npy_header("<f8", (2,) * 40) + bytes(8), "not a valid array"),  # too many dimensions
        (npy(np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")])), "unsupported data type"),
        (npy(np.array(["ab", "cd"])), "unsupported data type"),
        (npy(np.zeros(3, dtype=complex)), "unsupported data type"),
        (npy(np.array(1.0)), "damaged"),  # a 0-d array where a matrix belongs
        (npy(np.zeros((3, 3))), "damaged"),
        (npy(np.full(tiny_lines_model().params["Wax"].shape, np.nan)), "NaN"),
    ],
)
def test_bad_weight_members(tmp_path: Path, member: bytes, detail: str) -> None:
    path = write_zip(tmp_path / "m.saurus", classic_members(Wax=member))
    assert detail in refusal(path)


def test_fortran_order_and_big_endian_weights_load(tmp_path: Path) -> None:
    model = tiny_lines_model()
    _, arrays = model.to_file()
    members = classic_members(
        Wax=npy(np.asfortranarray(arrays["Wax"])),
        Waa=npy(arrays["Waa"].astype(">f8")),
        Wya=npy(np.asfortranarray(arrays["Wya"]).astype(">f4")),
    )
    path = write_zip(tmp_path / "m.saurus", members)
    loaded = models.load(path)
    for name in ("Wax", "Waa"):
        np.testing.assert_array_equal(loaded.params[name], model.params[name])
    np.testing.assert_allclose(loaded.params["Wya"], model.params["Wya"], rtol=1e-6)
    raw = load_model_file(path).arrays
    assert all(a.dtype.isnative and a.flags.c_contiguous and a.flags.writeable for a in raw.values())


def test_a_deflated_model_loads(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "m.saurus", classic_members(), zipfile.ZIP_DEFLATED)
    assert models.load(path).vocab == tiny_lines_model().vocab


# --- archive structure ---------------------------------------------------------------------


def renamed(old: str, new: str) -> list[tuple[str, bytes]]:
    return [(new if name == old else name, data) for name, data in classic_members().items()]


@pytest.mark.parametrize(
    ("members", "detail"),
    [
        (
            [*classic_members().items(), ("param/Wax.npy", npy(np.zeros(2)))],
            "two members named 'param/Wax.npy'",
        ),
        ([*classic_members().items(), (META_MEMBER, meta_npy({}))], "two members named"),
        (renamed("param/Wax.npy", "param/Wax.bin"), "unexpected member 'param/Wax.bin'"),
        (renamed("param/Wax.npy", "param/sub/Wax.npy"), "unexpected member"),
        (renamed("param/Wax.npy", "/etc/Wax.npy"), "unexpected member"),
        (renamed("param/Wax.npy", "param/../../Wax.npy"), "unexpected member"),
        (renamed("param/Wax.npy", "param/.npy"), "unexpected member"),
        (renamed("param/Wax.npy", "param/Wax\n.npy"), r"'param/Wax\n.npy'"),
        (renamed("param/Wax.npy", "param\\Wax.npy"), "odd name"),
        ([*classic_members().items(), ("param/", b"")], "unexpected member 'param/'"),
        (
            [(name, data) for name, data in classic_members().items() if name != META_MEMBER],
            "no saurus metadata",
        ),
    ],
)
def test_hostile_archive_layouts(tmp_path: Path, members: list[tuple[str, bytes]], detail: str) -> None:
    path = write_zip(tmp_path / "m.saurus", members)
    assert detail in refusal(path)


def test_encrypted_members_are_refused(tmp_path: Path) -> None:
    data = bytearray(write_zip(tmp_path / "m.saurus", classic_members()).read_bytes())
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and directory entries
        at = data.find(signature)
        while at >= 0:
            data[at + flags] |= 0x1
            at = data.find(signature, at + 1)
    (tmp_path / "m.saurus").write_bytes(bytes(data))
    assert "encrypted" in refusal(tmp_path / "m.saurus")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_are_refused(tmp_path: Path, method: int) -> None:
    path = write_zip(tmp_path / "m.saurus", classic_members(), method)
    assert "unsupported compression method" in refusal(path)


def test_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    monkeypatch.setattr(checkpoint, "MAX_MEMBERS", 3)
    assert "more than the 3" in refusal(path)


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    data = npy(np.zeros(1000))
    entry = ("param/a.npy", zipfile.ZIP_STORED, data, zlib.crc32(data), len(data))
    archive = bytearray(raw_zip([entry, entry]))
    # point the second directory entry at the first member's data
    second = archive.rindex(b"PK\x01\x02")
    archive[second + 42 : second + 46] = struct.pack("<L", 0)
    path = tmp_path / "m.saurus"
    path.write_bytes(bytes(archive))
    refusal(path)


def test_truncations_and_bit_flips_say_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(hidden=32), path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 22, len(data) // 2, 30, 4):
        path.write_bytes(data[:cut])
        assert "truncated or corrupt" in refusal(path)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(flipped))
    assert "truncated or corrupt" in refusal(path)


def test_train_outputs_still_recognise_a_model(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    check_output(path, MODEL, overwrite=True)
    path.write_text(NAMES)
    with pytest.raises(ModelFileError, match="refusing to overwrite"):
        check_output(path, MODEL, overwrite=True)


# --- fuzzing -------------------------------------------------------------------------------


def engine_model() -> CharModel:
    vocab = LinesCorpus.from_text(NAMES).vocab()
    return CharModel.create(vocab, "lines", cell="lstm", hidden=6, layers=2, seed=0, lowercase=True)


def structure_offsets(data: bytes) -> list[int]:
    """Byte offsets of the zip's bookkeeping (local headers, directory, end record), where a
    flip is not simply caught by a CRC."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        start = archive.start_dir
    offsets = list(range(start, len(data)))
    for info in infos:
        offsets += range(info.header_offset, info.header_offset + 30 + len(info.filename) + 128)
    return [o for o in offsets if o < len(data)]


def variants(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Truncated, bit-flipped and byte-replaced copies of `data`, half of the damage aimed at
    the zip bookkeeping."""
    targets = structure_offsets(data)
    out = []
    for i in range(count):
        spot = rng.choice(targets) if i % 2 else rng.randrange(len(data))
        damaged = bytearray(data)
        match i % 4:
            case 0:
                damaged = damaged[: rng.randrange(len(data))]
            case 1:
                damaged[spot] ^= 1 << rng.randrange(8)
            case 2:
                damaged[spot] = rng.randrange(256)
            case _:
                run = rng.randbytes(rng.randrange(1, 9))
                damaged[spot : spot + len(run)] = run
        out.append(bytes(damaged))
    return out


def fuzz_bases(folder: Path) -> list[bytes]:
    """Valid model files: a classic and an engine model as saved, and a deflated classic one."""
    bases = []
    for model in (tiny_lines_model(), engine_model()):
        models.save(model, folder / "good.saurus")
        bases.append((folder / "good.saurus").read_bytes())
    bases.append(write_zip(folder / "good.saurus", classic_members(), zipfile.ZIP_DEFLATED).read_bytes())
    (folder / "good.saurus").unlink()
    return bases


def test_fuzzed_model_files_load_or_fail_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20240611)
    monkeypatch.chdir(tmp_path)
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "m.saurus"
    for data in fuzz_bases(tmp_path):
        for damaged in variants(data, rng, 250):
            path.write_bytes(damaged)
            try:
                models.load(path)
            except ModelFileError as err:
                message = str(err)
                assert "\n" not in message and "\r" not in message, message
                assert "allow_pickle" not in message, message
                outcomes["refused"] += 1
            else:
                outcomes["loaded"] += 1
            assert os.listdir(tmp_path) == ["m.saurus"], "loading created a file"
    assert outcomes["refused"] > 500, outcomes
