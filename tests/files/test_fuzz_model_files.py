"""The model-file loader, fuzzed: thousands of damaged copies of real model files of every
kind (classic, engine LSTM/GRU/RNN, transformer with learned and rotary positions; stored
and deflated), truncated, bit-flipped, with members renamed, swapped, dropped, doubled or
taken from another kind of model, with metadata fields replaced by other types, huge or
negative numbers and deep nesting, with npy headers rewritten, and with arrays of Python
objects. Each file either loads into a model that samples and scores, or is refused with
one ModelFileError line; never another exception, never more than a second, never an
unpickling, never a file written. (tests/files/test_model_file_hostile.py holds the hand-made
cases: zip bombs, encryption, overlapping members, read errors.)

The cases come from a fixed seed; the default run tries a quarter of the long tier's
(SAURUS_FUZZ_SCALE=1), and SAURUS_FUZZ_SCALE=20 twenty times as many.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import pickle
import random
import struct
import time
import traceback
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import NAMES, Hang, tiny_lines_model, tiny_stream_model, wall_limit

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.data.vocab import EOS
from saurus.errors import ModelFileError, SaurusError
from saurus.files import model_file as checkpoint
from saurus.files import models
from saurus.files.model_file import FORMAT, FORMAT_VERSION, META_MEMBER
from saurus.generation.novelty import name_hashes
from saurus.generation.sampling import generate_lines, generate_text
from saurus.generation.scoring import score_strings
from saurus.models.recurrent import CharModel
from saurus.models.transformer import TransformerModel
from saurus.protocol import SequenceModel

SCALE = float(os.environ.get("SAURUS_FUZZ_SCALE", "0.25"))  # the long tier: 1
SEED = 20250611
CPU_LIMIT = 1.0  # seconds of CPU time one load (and its sampling) may take
WALL_LIMIT = 20.0  # a case still running after this is a hang: it is stopped and reported

Members = list[tuple[str, bytes, int]]  # (name, npy bytes, zip compression method)


def count(n: int) -> int:
    return max(1, round(n * SCALE))


# --- the files damaged -----------------------------------------------------------------------


def small_models() -> dict[str, SequenceModel]:
    """One small model of every kind, each remembering its data's lines (for --novel)."""
    names = LinesCorpus.from_text(NAMES).vocab()
    text = StreamCorpus("the cat sat on the mat. ").vocab()
    made = {
        "classic lines": tiny_lines_model(),
        "classic stream": tiny_stream_model(),
        "lstm lines": CharModel.create(
            names, "lines", cell="lstm", hidden=6, layers=2, seed=0, lowercase=True
        ),
        "gru lines": CharModel.create(names, "lines", cell="gru", hidden=5, seed=0, convention="torch"),
        "gru stream": CharModel.create(text, "stream", cell="gru", hidden=4, seed=0),
        "rnn stream": CharModel.create(text, "stream", cell="rnn", hidden=4, seed=0, dtype="float64"),
        "transformer lines": TransformerModel.create(
            names, "lines", d_model=8, layers=1, heads=2, context=16, seed=0
        ),
        "transformer stream": TransformerModel.create(
            text, "stream", d_model=8, layers=2, heads=2, context=16, seed=0, tied=True, positions="rotary"
        ),
    }
    for model in made.values():
        lines = NAMES.split() if model.mode == "lines" else ["the cat sat on the mat."]
        model.seen = name_hashes(lines)
    return made


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_header(header: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def zipped(members: Members) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of duplicate names, which are the point
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data, method in members:
                archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def members_of(data: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]


READ_ARRAY = np.lib.format.read_array  # the tests' own reader, kept from the stand-in below


def read_npy(data: bytes, *, allow_pickle: bool = False) -> np.ndarray:
    return READ_ARRAY(io.BytesIO(data), allow_pickle=allow_pickle)


def meta_of(members: Members) -> dict[str, Any]:
    (data,) = [d for name, d, _ in members if name == META_MEMBER]
    return json.loads(read_npy(data).item())


def deep(depth: int) -> str:
    """A stand-in for a list nested `depth` deep, made in the JSON text: Python's own
    recursion (deepcopy, json.dumps) would give out before the loader's does."""
    return f"@deep{depth}@"


def meta_member(meta: Any, *, ascii_only: bool = True) -> bytes:
    text = json.dumps(meta, ensure_ascii=ascii_only)
    for depth in (50, 800, 5000):
        text = text.replace(f'"{deep(depth)}"', "[" * depth + "0" + "]" * depth)
    return npy(np.array(text))


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Valid model files as `saurus train` writes them, and two rewritten deflated."""
    folder = tmp_path_factory.mktemp("bases")
    files = {}
    for name, model in small_models().items():
        models.save(model, folder / "m.saurus", extra={"training": {"seed": 0, "steps": [1, 2]}})
        files[name] = (folder / "m.saurus").read_bytes()
    for name in ("classic lines", "transformer stream"):
        members = [(n, d, zipfile.ZIP_DEFLATED) for n, d, _ in members_of(files[name])]
        files[f"{name}, deflated"] = zipped(members)
    return files


# --- guards: no unpickling, no hang, one line ------------------------------------------------


class Forbidden(BaseException):
    """Raised by the stand-ins for pickle and np.load: a BaseException, so that no
    `except Exception` in the loader can hide that it was called."""


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise Forbidden("the loader unpickled or called np.load")

    for owner, name in (
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (np, "load"),
        (np.lib.format, "read_array"),
    ):
        monkeypatch.setattr(owner, name, forbidden)


def use(model: SequenceModel) -> None:
    """What a loaded model must do without error: sample, and score what it sampled."""
    rng = np.random.default_rng(0)
    if model.mode == "lines":
        names = generate_lines(model, 2, rng, max_len=12)
        generate_lines(model, 2, rng, max_len=12, novel=True, prefix=names[0][:1])
        texts = names
    else:
        texts = [generate_text(model, 12, rng)]
    for text in texts:
        text.encode("utf-8")  # what a model writes can be printed (no lone surrogate)
    for report in score_strings(model, texts):
        assert not math.isnan(report.nats)


class Outcomes:
    """Loads damaged files and keeps what happened; anything but a clean refusal or a
    working model is a failure, kept with the case that caused it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self.failures: dict[str, str] = {}

    def load(self, data: bytes, case: str) -> None:
        self.path.write_bytes(data)
        started = time.process_time()
        try:
            with wall_limit(WALL_LIMIT):
                try:
                    model = models.load(self.path)
                except ModelFileError as err:
                    message = str(err)
                    if message.splitlines() != [message] or "pickle" in message:
                        self.fail(case, f"not one plain line: {message!r}")
                    self.counts["refused"] += 1
                else:
                    try:
                        use(model)
                        self.counts["loaded"] += 1
                    except SaurusError as err:  # allowed: one line
                        if str(err).splitlines() != [str(err)]:
                            self.fail(case, f"not one line: {str(err)!r}")
                        self.counts["loaded, refused to sample"] += 1
        except (Forbidden, Hang) as err:
            self.fail(case, f"{type(err).__name__}: {err}")
        except Exception as err:  # the bug this test is for
            where = traceback.extract_tb(err.__traceback__)[-1]
            self.fail(case, f"{type(err).__name__}: {err} ({Path(where.filename).name}:{where.lineno})")
        spent = time.process_time() - started
        if spent > CPU_LIMIT:
            self.fail(case, f"took {spent:.2f} s of CPU time")
        assert sorted(os.listdir(self.path.parent)) == [self.path.name], "loading wrote a file"

    def fail(self, case: str, why: str) -> None:
        self.counts["failed"] += 1
        self.failures.setdefault(why[:200], case)

    def check(self, at_least: int) -> None:
        shown = "\n".join(f"{why}\n    case: {case}" for why, case in list(self.failures.items())[:20])
        assert not self.failures, f"{self.counts['failed']} failures, {len(self.failures)} kinds:\n{shown}"
        assert sum(self.counts.values()) >= at_least, self.counts


@pytest.fixture
def outcomes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_unpickling: None) -> Outcomes:
    folder = tmp_path / "loading"
    folder.mkdir()
    monkeypatch.chdir(folder)  # a relative write would show in the listing
    return Outcomes(folder / "m.saurus")


# --- byte-level damage -----------------------------------------------------------------------


def structure_offsets(data: bytes) -> list[int]:
    """Where the zip's bookkeeping and each member's npy header lie: damage there is not
    simply caught by a CRC."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos, start = archive.infolist(), archive.start_dir
    spots = set(range(start, len(data)))
    for info in infos:
        spots.update(range(info.header_offset, info.header_offset + 30 + len(info.filename) + 140))
    return sorted(o for o in spots if o < len(data))


def boundaries(data: bytes) -> list[int]:
    """Offsets where the file's parts meet (local headers, npy headers, data, directory)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos, start = archive.infolist(), archive.start_dir
    points = {0, start, len(data) - 22, len(data)}
    for info in infos:
        body = info.header_offset + 30 + len(info.filename)
        points.update((info.header_offset, body, body + 10, body + 128, body + info.compress_size))
    return sorted(p + d for p in points for d in (-2, -1, 0, 1, 2) if 0 <= p + d < len(data))


def damaged_bytes(data: bytes, rng: random.Random, n: int) -> Iterator[tuple[bytes, str]]:
    targets, cuts = structure_offsets(data), boundaries(data)
    for i in range(n):
        spot = rng.choice(targets) if i % 2 else rng.randrange(len(data))
        out = bytearray(data)
        match i % 7:
            case 0:
                cut = rng.choice(cuts) if i % 3 else rng.randrange(len(data))
                yield bytes(out[:cut]), f"truncated at {cut}"
                continue
            case 1:
                for _ in range(rng.randint(1, 3)):
                    out[spot] ^= 1 << rng.randrange(8)
                    spot = min(len(out) - 1, spot + rng.randrange(64))
                what = "bits flipped"
            case 2:
                out[spot] = rng.randrange(256)
                what = "byte replaced"
            case 3:
                run = rng.randbytes(rng.randint(1, 12))
                out[spot : spot + len(run)] = run
                what = "bytes overwritten"
            case 4:
                out[spot:spot] = rng.randbytes(rng.randint(1, 8))
                what = "bytes inserted"
            case 5:
                del out[spot : spot + rng.randint(1, 64)]
                what = "bytes deleted"
            case _:
                other = rng.randrange(len(data))
                size = rng.randint(4, 64)
                out[spot : spot + size] = data[other : other + size]
                what = f"bytes copied from {other}"
        yield bytes(out), f"{what} at {spot}"


# --- member-level damage ---------------------------------------------------------------------

NAME_POOL = [
    META_MEMBER,
    "param/Wax.npy",
    "param/head.W.npy",
    "param/l0.W.npy",
    "param/tok_emb.npy",
    "param/seen_names.npy",
    "param/x.npy",
    "param/.npy",
    "param/a/b.npy",
    "param/../x.npy",
    "/abs.npy",
    "param\\x.npy",
    "param/x.NPY",
    "param/" + "x" * 200 + ".npy",
    "param/ü.npy",
    "param/x\n.npy",
    "param/",
    "x",
]
DESCRS = [
    "<f4",
    ">f8",
    "<f2",
    "<i8",
    "|u1",
    "|b1",
    "<c8",
    "|O",
    "<U3",
    "|S2",
    "|V8",
    "<M8[s]",
    "<f16",
    "f8",
    "zz",
]


def other_arrays(rng: random.Random, array: np.ndarray) -> Iterator[np.ndarray]:
    """Arrays of the wrong type or shape, or with values no weight has."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # casts that overflow: the values are meant to be wrong
        yield array.astype(
            rng.choice([np.float16, np.float32, np.float64, np.int32, np.uint64, np.int8, bool])
        )
    yield array.astype(array.dtype.newbyteorder(">"))
    yield np.asfortranarray(array.reshape(array.shape[::-1])) if array.ndim > 1 else array[:-1]
    yield array.reshape(-1)
    yield array[..., None]
    yield np.zeros((0, *array.shape[1:]), array.dtype)
    yield np.array(rng.random())
    values = array.astype(np.float64)
    if values.size:
        values.flat[rng.randrange(values.size)] = rng.choice([math.nan, math.inf, -math.inf, 1e308])
    yield values
    yield np.zeros(array.shape, rng.choice([np.complex64, "datetime64[s]", "timedelta64[s]", "S3", "U2"]))
    yield np.zeros(array.shape, dtype=[("a", "<f4"), ("b", "<f4")])


def raw_header(rng: random.Random) -> bytes:
    """An npy header saying anything, then some data."""
    shape = rng.choice(
        [(), (0,), (-1,), (3, -4), (2**62,), (2**31, 2**31), (1,) * 40, (5, 5), (10**30,), (2,) * 33]
    )
    header = {"descr": rng.choice(DESCRS), "fortran_order": rng.choice([False, True]), "shape": shape}
    try:
        head = npy_header(header)
    except Exception:  # numpy refuses to write some of these: write them by hand
        text = repr(header).encode("latin1") + b" " * 16 + b"\n"
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text
    return head + rng.randbytes(rng.choice([0, 8, 64]))


def bent_header(data: bytes, rng: random.Random) -> bytes:
    """The npy bytes with their header text edited (a valid CRC: the zip is rebuilt)."""
    if len(data) < 12:
        return data
    length = struct.unpack_from("<H", data, 8)[0] if data[6] == 1 else 0
    head, rest = data[: 10 + length], data[10 + length :]
    edits = [
        (b"'descr': '", b"'descr': '" + rng.choice([b">", b"|", b"O", b"x", b"[("])),
        (b"False", rng.choice([b"True", b"None", b"1", b"'no'"])),
        (b"(", rng.choice([b"(-", b"(99999999999999999999, ", b"[", b"((", b"(1j, "])),
        (b"}", rng.choice([b", 'extra': 1}", b"", b"}}", b"; import os}"])),
    ]
    old, new = rng.choice(edits)
    if rng.random() < 0.3:  # a length field that disagrees with the header
        head = head[:8] + struct.pack("<H", rng.randrange(65536)) + head[10:]
    return head.replace(old, new, 1) + rest


def damaged_members(
    members: Members, donors: list[Members], rng: random.Random, n: int
) -> Iterator[tuple[bytes, str]]:
    for i in range(n):
        out = list(members)
        k = rng.randrange(len(out))
        name, data, method = out[k]
        match i % 10:
            case 0:
                j = rng.randrange(len(out))
                out[k], out[j] = (out[j][0], data, method), (name, out[j][1], out[j][2])
                what = f"{name} and {out[k][0]} swapped"
            case 1:
                out[k] = (rng.choice(NAME_POOL), data, method)
                what = f"{name} renamed {out[k][0]!r}"
            case 2:
                del out[k]
                what = f"{name} dropped"
            case 3:
                out.insert(rng.randrange(len(out) + 1), out[k])
                what = f"{name} twice"
            case 4:
                donor = rng.choice(donors)
                taken = rng.choice(donor)
                same = [j for j, m in enumerate(out) if m[0] == taken[0]]
                if same:
                    out[same[0]] = taken
                else:
                    out.append(taken)
                what = f"{taken[0]} taken from another model"
            case 5:
                array = read_npy(data)
                replacement = rng.choice(list(other_arrays(rng, array))) if name != META_MEMBER else array
                out[k] = (name, npy(replacement), method)
                what = f"{name} replaced by {replacement.dtype} {replacement.shape}"
            case 6:
                out[k] = (name, raw_header(rng), method)
                what = f"{name} replaced by a hand-made header"
            case 7:
                out[k] = (name, bent_header(data, rng), method)
                what = f"{name}'s header edited"
            case 8:  # damage under a valid CRC: the weights or the metadata text themselves
                raw = bytearray(data)
                for _ in range(rng.randint(1, 4)):
                    at = rng.randrange(len(raw))
                    raw[at] ^= 1 << rng.randrange(8)
                out[k] = (name, bytes(raw), method)
                what = f"{name} bit-flipped under a valid CRC"
            case _:
                rng.shuffle(out)
                out = [(m[0], m[1], rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) for m in out]
                what = "members reordered and recompressed"
        yield zipped(out), what


# --- metadata damage -------------------------------------------------------------------------


JSON_POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    7,
    16,
    2**31,
    2**63,
    2**64 + 1,
    10**30,
    -(10**30),
    1.5,
    -0.0,
    1e-320,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "x",
    "lines",
    "stream",
    "lstm",
    "gru",
    "rnn",
    "cho",
    "torch",
    "learned",
    "rotary",
    "classic-rnn",
    "engine",
    "transformer",
    "saurus-model",
    "\ud800",
    "\x00",
    "a" * 5000,
    [],
    {},
    [1, 2],
    ["a", "b"],
    {"chars": []},
    {"chars": ["\n"]},
    {"chars": ["\n", "a", "a"]},
    {"chars": ["b", "a"]},
    {"chars": ["\n", "ab"]},
    {"chars": ["\n", "\ud800"]},
    {"chars": "abc"},
    deep(50),
    deep(800),
    deep(5000),
]
ODD_CHARS = [
    "\ud800",
    "\udfff",
    "\x00",
    "\r",
    "\u2028",
    "\x85",
    "\ufeff",
    "\U0010ffff",
    "\u0301",
    "\t",
    "\x1b",
]
# A meta field left alone because of a bug outside this test's files (see
# test_a_cell_of_the_wrong_type_is_a_model_file_error_not_a_type_error): set it to None
# once that is fixed, and the fuzzing below covers it again.
KNOWN_BUG: tuple[str, tuple[type, ...]] | None = None  # the cell-type bug is fixed


def known_bug(key: Any, value: Any) -> bool:
    deep_list = isinstance(value, str) and value.startswith("@deep")
    return KNOWN_BUG is not None and key == KNOWN_BUG[0] and (isinstance(value, KNOWN_BUG[1]) or deep_list)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON tree: dict keys and list indices."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


def replaced(meta: Any, path: tuple[Any, ...], new: Any) -> Any:
    meta = copy.deepcopy(meta)
    owner = meta
    for key in path[:-1]:
        owner = owner[key]
    if new is DELETE:
        del owner[path[-1]]
    else:
        owner[path[-1]] = new
    return meta


DELETE = object()


def damaged_meta(meta: dict[str, Any], rng: random.Random, n: int) -> Iterator[tuple[bytes, str]]:
    places = [p for p in paths(meta) if p[:2] != ("training", "steps")]
    for i in range(n):
        match i % 7:
            case 0 | 1 | 2:
                path = rng.choice(places)
                new = rng.choice([*JSON_POOL, DELETE])
                if len(path) == 1 and known_bug(path[0], new):
                    new = DELETE
                shown = "deleted" if new is DELETE else repr(new)[:40]
                yield meta_member(replaced(meta, path, new), ascii_only=rng.random() < 0.5), f"{path} {shown}"
            case 3:
                key = rng.choice(["extra", "music", "hidden", "layers", "heads", "version", "format"])
                value = rng.choice(JSON_POOL)
                if known_bug(key, value):
                    continue
                yield meta_member({**meta, key: value}), f"{key} set to {repr(value)[:40]}"
            case 4:  # a vocabulary as good as the old one in form, but with odd characters
                chars = list(meta["vocab"]["chars"])
                at = rng.randrange(len(chars))
                chars[at] = rng.choice(ODD_CHARS)
                vocab = {"chars": sorted(set(chars))}
                yield meta_member({**meta, "vocab": vocab}, ascii_only=rng.random() < 0.5), f"vocab {vocab}"
            case 5:
                text = bytearray(json.dumps(meta).encode())
                at = rng.randrange(len(text))
                text[at : at + 1] = rng.choice([b"", b"{", b"]", b'"', b"\\", b"9" * 400, b"-", b"NaN"])
                yield npy(np.array(text.decode("latin1"))), f"JSON text edited at {at}"
            case _:
                text = json.dumps(meta)
                variants = [
                    np.array(text.encode()),  # bytes, not text
                    np.array([text]),  # not 0-d
                    np.array(text).astype(np.dtype("U").newbyteorder(">")),  # big-endian: valid
                    np.array(text[: rng.randrange(len(text))]),  # cut short
                    np.array(json.dumps([meta])),
                ]
                choice = rng.randrange(len(variants))
                yield npy(variants[choice]), f"metadata variant {choice}"


# --- the tests -------------------------------------------------------------------------------


def test_damaged_bytes(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    rng = random.Random(SEED)
    n = count(250)
    for name, data in bases.items():
        for damaged, what in damaged_bytes(data, rng, n):
            outcomes.load(damaged, f"{name}: {what}")
    outcomes.check(at_least=n * len(bases))
    assert outcomes.counts["refused"] > outcomes.counts["loaded"]


def test_every_truncation_of_a_small_model(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    data = bases["rnn stream"]
    step = max(1, round(1 / SCALE))
    for cut in range(0, len(data), step):
        outcomes.load(data[:cut], f"rnn stream truncated at {cut}")
    outcomes.check(at_least=len(data) // step)
    assert outcomes.counts["refused"] == sum(outcomes.counts.values())


def test_damaged_members(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    rng = random.Random(SEED + 1)
    n = count(150)
    unpacked = {name: members_of(data) for name, data in bases.items()}
    for name, members in unpacked.items():
        donors = [m for other, m in unpacked.items() if other != name]
        for data, what in damaged_members(members, donors, rng, n):
            outcomes.load(data, f"{name}: {what}")
    outcomes.check(at_least=n * len(bases))


def test_damaged_metadata(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    rng = random.Random(SEED + 2)
    n = count(150)
    for name, data in bases.items():
        members = members_of(data)
        meta = meta_of(members)
        for member, what in damaged_meta(meta, rng, n):
            swapped = [(m, member if m == META_MEMBER else d, c) for m, d, c in members]
            outcomes.load(zipped(swapped), f"{name}: {what}")
    outcomes.check(at_least=n * len(bases) * 9 // 10)
    assert outcomes.counts["loaded"] > 0, "some harmless edits (the training figures) load"


def test_metadata_of_another_kind_of_model(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    unpacked = {name: members_of(data) for name, data in bases.items()}
    for name, members in unpacked.items():
        for other, donor in unpacked.items():
            meta = [(m, d, c) for m, d, c in donor if m == META_MEMBER]
            params = [(m, d, c) for m, d, c in members if m != META_MEMBER]
            outcomes.load(zipped(meta + params), f"{name}'s weights under {other}'s metadata")
    outcomes.check(at_least=len(unpacked) ** 2)


class Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Callable[..., object], tuple[Path]]:
        return (Path.touch, (self.target,))


def object_members(marker: Path) -> Iterator[tuple[bytes, str]]:
    exploit = np.empty(2, dtype=object)
    exploit[:] = [Exploit(marker), {"a": 1}]
    yield npy(exploit, allow_pickle=True), "an object array that runs code"
    yield npy(np.array([[1.0, None]], dtype=object), allow_pickle=True), "a 2-d object array"
    fields = np.zeros(2, dtype=[("w", "<f4"), ("o", "O")])
    yield npy(fields, allow_pickle=True), "a structured array with an object field"
    sub = np.zeros(1, dtype=[("o", "O", (2,))])
    yield npy(sub, allow_pickle=True), "a sub-array of objects"
    yield (
        npy_header({"descr": "|O", "fortran_order": False, "shape": (1,)}) + pickle.dumps(Exploit(marker)),
        "a hand-made object header before a pickle",
    )


def test_arrays_of_python_objects_are_refused_without_unpickling(
    bases: dict[str, bytes], outcomes: Outcomes, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = list(object_members(marker))
    for name, data in bases.items():
        members = members_of(data)
        for k, (member, _, method) in enumerate(members):
            for payload, what in evil:
                out = list(members)
                out[k] = (member, payload, method)
                outcomes.load(zipped(out), f"{name}: {member} is {what}")
                assert not marker.exists(), "unpickling ran code"
        # a whole archive as np.savez writes it with objects allowed
        buffer = io.BytesIO()
        arrays = {m.removesuffix(".npy"): read_npy(d) for m, d, _ in members}
        arrays["param/evil"] = np.array([Exploit(marker)], dtype=object)
        np.savez(buffer, **arrays)
        outcomes.load(buffer.getvalue(), f"{name}: np.savez with an object array")
    outcomes.check(at_least=len(bases) * 5)
    assert outcomes.counts["loaded"] == 0 and not marker.exists()


def test_a_cell_of_the_wrong_type_is_a_model_file_error_not_a_type_error(
    bases: dict[str, bytes], tmp_path: Path
) -> None:
    """A damaged 'cell' entry (a list or a dict) must be refused like any other."""
    members = members_of(bases["lstm lines"])
    meta = meta_of(members)
    path = tmp_path / "m.saurus"
    failures = []
    for value in ([], ["lstm"], {}, {"lstm": 1}):
        swapped = [
            (m, meta_member({**meta, "cell": value}) if m == META_MEMBER else d, c) for m, d, c in members
        ]
        path.write_bytes(zipped(swapped))
        try:
            models.load(path)
        except ModelFileError:
            pass
        except Exception as err:
            failures.append(f"cell={value!r}: {type(err).__name__}: {err}")
    if failures and KNOWN_BUG is not None:
        pytest.xfail(
            "known bug in saurus/models/recurrent.py CharModel.from_file: `cell not in CELLS` on an "
            "unhashable value raises TypeError: " + "; ".join(failures)
        )
    assert not failures, failures
    assert KNOWN_BUG is None, "the bug is fixed: set KNOWN_BUG to None, so that the fuzzing covers it"


def at_its_maximum(members: Members, member: str) -> bytes:
    """The file with the first value of one weight set to the largest its type holds."""
    out = []
    for name, data, method in members:
        if name == member:
            array = read_npy(data).copy()
            array.flat[0] = np.finfo(array.dtype).max
            data = npy(array)
        out.append((name, data, method))
    return zipped(out)


def test_huge_finite_weights_sample_and_score_or_are_refused(bases: dict[str, bytes], tmp_path: Path) -> None:
    """A weight at the largest finite value of its type is no NaN, so the loader takes it;
    what the model computes from it must still be names of at least one character and
    scores that are numbers, or a SaurusError."""
    path = tmp_path / "m.saurus"
    failures = []
    for name in ("transformer lines", "transformer stream", "lstm lines", "classic lines"):
        members = members_of(bases[name])
        for member, data, _ in members:
            if member == META_MEMBER or read_npy(data).dtype.kind != "f":
                continue
            path.write_bytes(at_its_maximum(members, member))
            try:
                model = models.load(path)
                with np.errstate(all="ignore"), wall_limit(WALL_LIMIT):
                    rng = np.random.default_rng(0)
                    if model.mode == "lines":
                        texts = generate_lines(model, 4, rng, max_len=8)
                        assert all(texts), f"empty names {texts}"
                    else:
                        texts = [generate_text(model, 8, rng)]
                    scores = [r.nats for r in score_strings(model, texts)]
                    assert not any(map(math.isnan, scores)), f"scores {scores}"
            except SaurusError:
                pass
            except AssertionError as err:
                failures.append(f"{name}, {member} at its maximum: {err}")
    if failures:
        pytest.xfail(
            "known bug outside this file: logits that overflow to inf or NaN are not refused "
            "(saurus/generation: lines sampling gives empty names, score_strings NaN); "
            f"{len(failures)} cases, e.g. {failures[0]}"
        )


def test_novel_names_from_overflowing_weights_do_not_hang(bases: dict[str, bytes], tmp_path: Path) -> None:
    """The same damage, sampled with novel=True (saurus sample --novel): an answer or a
    SaurusError, not a loop."""
    path = tmp_path / "m.saurus"
    path.write_bytes(at_its_maximum(members_of(bases["transformer lines"]), "param/b0.ln1.g.npy"))
    model = models.load(path)
    try:
        with np.errstate(all="ignore"), wall_limit(2):
            generate_lines(model, 2, np.random.default_rng(0), max_len=8, novel=True)
    except SaurusError:
        pass
    except Hang:
        pytest.xfail(
            "known bug in saurus/generation/names.py draw_fenced: with NaN logits the loop that "
            "redraws clashing names never ends (saurus sample --novel hangs)"
        )


def raw_directory(count: int, end_count: int) -> bytes:
    """A zip archive of `count` empty stored members, whose end record claims `end_count`."""
    entries = []
    for i in range(count):
        name = b"%07d" % i
        entries.append(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0)
        )
        entries.append(name)
    directory = b"".join(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, end_count, end_count, len(directory), 0, 0)
    return directory + end


@pytest.mark.parametrize("end_count", [0xFFFF, 1, 0])
def test_a_huge_zip_directory_is_refused_before_it_is_parsed(tmp_path: Path, end_count: int) -> None:
    """200,000 members take zipfile some six seconds to parse; they are counted first, and
    the count in the end record (which zipfile ignores) is not believed."""
    path = tmp_path / "m.saurus"
    path.write_bytes(raw_directory(200_000, end_count))

    def never_parsed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the directory was handed to zipfile")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint.zipfile, "ZipFile", never_parsed)
        with pytest.raises(ModelFileError, match="more than the 10000 members"):
            models.load(path)


def test_the_member_count_agrees_with_zipfile(
    bases: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting the directory's entries neither refuses a file zipfile reads as small enough,
    nor lets through one it reads as too big, comment and zip64 end record included."""
    path = tmp_path / "m.saurus"
    for data in bases.values():
        members = len(members_of(data))
        with_comment = bytearray(data)
        with_comment[-2:] = struct.pack("<H", 300)
        for variant in (data, bytes(with_comment) + b"c" * 300):
            path.write_bytes(variant)
            with path.open("rb") as handle:
                monkeypatch.setattr(checkpoint, "MAX_MEMBERS", members)
                checkpoint._check_member_count(handle, len(variant))
                monkeypatch.setattr(checkpoint, "MAX_MEMBERS", members - 1)
                with pytest.raises(checkpoint._NotAModelError):
                    checkpoint._check_member_count(handle, len(variant))
            monkeypatch.undo()
            assert models.load(path).vocab is not None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # past 65535 members zipfile writes zip64 records
        for i in range(70_000):
            archive.writestr(str(i), b"")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError, match="more than the 10000 members"):
        models.load(path)


def test_every_base_loads_and_samples(bases: dict[str, bytes], outcomes: Outcomes) -> None:
    """The starting points are good files: what fails below fails for its damage."""
    for name, data in bases.items():
        outcomes.load(data, name)
    outcomes.check(at_least=len(bases))
    assert outcomes.counts["loaded"] == len(bases)
    meta = meta_of(members_of(bases["classic lines"]))
    assert meta["format"] == FORMAT and meta["version"] == FORMAT_VERSION and EOS in meta["vocab"]["chars"]
