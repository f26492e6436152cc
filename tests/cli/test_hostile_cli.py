"""The command line against hostile and mistaken input: every case ends with exit status 2,
one line on stderr and no traceback, and every file that was there before is unchanged
(same names, same sha256: no model replaced, no lock or temporary file left behind)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, tiny_lines_model, tiny_stream_model

from saurus.files import models


def npy(header: dict[str, object], payload: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


def meta_npy(meta: str) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array(meta))
    return buffer.getvalue()


def crafted_model(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "names.txt").write_text(NAMES * 4)
    (root / "text.txt").write_text("a plain text file that is not a model\n")
    (root / "bigline.txt").write_text("anna\n" + "x" * 1_000_000 + "\n")
    (root / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("José\nZoë\n".encode("latin-1"))
    (root / "empty.txt").write_text("")
    (root / "unknown.txt").write_text("anna\nbob\nw3rd\n")
    (root / "folder").mkdir()
    os.mkfifo(root / "fifo")
    models.save(tiny_lines_model(), root / "model.saurus")
    models.save(tiny_stream_model(), root / "stream.saurus")
    good = (root / "model.saurus").read_bytes()
    (root / "truncated.saurus").write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[len(flipped) // 3] ^= 0xFF
    (root / "flipped.saurus").write_bytes(bytes(flipped))
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        meta = archive.read("__saurus__.npy")
    huge = npy({"descr": "<f4", "fortran_order": False, "shape": (10**13,)}, b"\0" * 64)
    crafted_model(root / "huge_header.saurus", {"__saurus__.npy": meta, "param/head.W.npy": huge})
    crafted_model(root / "deep_json.saurus", {"__saurus__.npy": meta_npy("[" * 100_000)})
    pickled = npy({"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\x80\x04N.")
    crafted_model(root / "object.saurus", {"__saurus__.npy": meta, "param/head.W.npy": pickled})
    record = json.loads(np.load(io.BytesIO(meta)).item())
    record["hidden"] = 10**9
    crafted_model(root / "absurd_meta.saurus", {"__saurus__.npy": meta_npy(json.dumps(record))})
    return root


NEW = ("-o", "new.saurus", "--iterations", "3", "--hidden", "8")
CASES: list[tuple[str, ...]] = [
    # train: outputs that must not be written
    ("train", "names.txt", "-o", "model.saurus", "--iterations", "3"),
    ("train", "names.txt", "-o", "names.txt", "--overwrite"),
    ("train", "names.txt", "-o", "text.txt", "--overwrite"),
    ("train", "names.txt", "-o", "folder"),
    ("train", "names.txt", "-o", "/proc/new.saurus"),
    ("train", "names.txt", *NEW, "--log", "names.txt"),
    ("train", "names.txt", *NEW, "--log", "text.txt", "--overwrite"),
    # train: data that cannot be used
    ("train", "bigline.txt", *NEW, "--val-fraction", "0", "--mode", "lines"),
    ("train", "binary.bin", *NEW),
    ("train", "latin1.txt", *NEW),
    ("train", "empty.txt", *NEW),
    ("train", "folder", *NEW),
    ("train", "no-such-data", *NEW),
    ("train", "missing.txt", *NEW),
    ("train", "/dev/zero", *NEW),
    ("train", "fifo", *NEW),
    ("train", "names.txt", "-o", ""),
    ("train", "names.txt", "-o", "."),
    ("train", "names.txt", "-o", "/"),
    ("train", "names.txt", *NEW, "--log", ".."),
    ("train", "names.txt", *NEW, "--hid", "5"),
    # train: options out of range or meaningless here
    ("train", "names.txt", *NEW, "--seed", "-1"),
    ("train", "names.txt", *NEW, "--split-seed", "-1"),
    ("train", "names.txt", "-o", "new.saurus", "--hidden", "100000"),
    ("train", "names.txt", *NEW, "--layers", "100000"),
    ("train", "names.txt", *NEW, "--lr", "nan"),
    ("train", "names.txt", *NEW, "--epochs", "inf"),
    ("train", "names.txt", *NEW, "--dropout", "1"),
    ("train", "names.txt", *NEW, "--val-fraction", "1"),
    ("train", "names.txt", *NEW, "--seq-len", "8"),
    ("train", "names.txt", *NEW, "--model", "classic", "--layers", "2"),
    ("train", "names.txt", *NEW, "--optimizer", "sgd", "--weight-decay", "0.1"),
    ("train", "names.txt", *NEW, "--bogus"),
    ("train", "names.txt", *NEW, "--threads", "-2"),
    # sample: files that are not models
    ("sample", "names.txt"),
    ("sample", "folder"),
    ("sample", "missing.saurus"),
    ("sample", "truncated.saurus"),
    ("sample", "flipped.saurus"),
    ("sample", "huge_header.saurus"),
    ("sample", "deep_json.saurus"),
    ("sample", "object.saurus"),
    ("sample", "absurd_meta.saurus"),
    # sample: options
    ("sample", "model.saurus", "--seed", "-1"),
    ("sample", "model.saurus", "--temperature", "0"),
    ("sample", "model.saurus", "--temperature", "nan"),
    ("sample", "model.saurus", "-n", "0"),
    ("sample", "model.saurus", "--max-len", "1000000000"),
    ("sample", "model.saurus", "--length", "5"),
    ("sample", "model.saurus", "--prefix", "Ω"),
    ("sample", "model.saurus", "--greedy", "--top-p", "0.5"),
    ("sample", "stream.saurus", "--novel"),
    ("sample", "stream.saurus", "--max-len", "9"),
    # eval and score
    ("eval", "names.txt", "model.saurus"),
    ("eval", "model.saurus", "unknown.txt"),
    ("eval", "model.saurus", "missing.txt"),
    ("eval", "model.saurus", "binary.bin"),
    ("eval", "model.saurus", "/dev/zero"),
    ("eval", "model.saurus", "fifo"),
    ("score", "model.saurus", "Ωmega"),
    ("score", "text.txt", "anna"),
    # reproduce
    ("reproduce", "dinos", "--data", "names.txt", "--hidden", "10000000"),
    ("reproduce", "dinos", "--data", "binary.bin"),
    ("reproduce", "dinos", "--data", "missing.txt"),
    ("reproduce", "dinos", "--data", "/dev/zero"),
    ("reproduce", "dinos", "--data", "names.txt", "--names", "100000000000000000000"),
    # names with line breaks still give one line
    ("sample", "two\nlines.saurus"),
    ("train", "two\nlines.txt", "-o", "x.saurus"),
    ("reproduce", "two\nlines"),
    # no command, unknown command
    (),
    ("fly",),
]


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else str(p.stat().st_mode)
        for p in sorted(root.rglob("*"))
    }


def run(root: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # three run at once: one BLAS thread each, or OpenBLAS threads fight over the cores
    env = {
        **os.environ,
        "PYTHONIOENCODING": "utf-8",
        "SAURUS_DATA_DIR": str(root / "no-data"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "saurus", *args],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_every_hostile_input_ends_in_one_line_and_changes_nothing(workspace: Path) -> None:
    before = snapshot(workspace)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda args: run(workspace, args), CASES))
    failures = []
    for args, result in zip(CASES, results, strict=True):
        lines = result.stderr.strip().splitlines()
        ok = (
            result.returncode == 2
            and "Traceback" not in result.stderr
            and len(lines) == 1
            and "pickle" not in result.stderr
            and result.stdout == ""
        )
        if not ok:
            failures.append(f"saurus {' '.join(args)} -> {result.returncode}: {result.stderr[-400:]!r}")
    assert not failures, "\n".join(failures)
    assert snapshot(workspace) == before
