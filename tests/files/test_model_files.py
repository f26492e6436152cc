"""Model files: round trips, atomic writes, and refusing damaged or foreign files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_lines_model, tiny_stream_model

from saurus.errors import ModelFileError
from saurus.files import models
from saurus.files.model_file import META_KEY, load_model_file, save_model_file
from saurus.generation.sampling import generate_lines


def test_round_trip_keeps_weights_vocab_and_settings(tmp_path: Path) -> None:
    for model in (tiny_lines_model(), tiny_stream_model()):
        path = tmp_path / f"{model.mode}.saurus"
        models.save(model, path, extra={"training": {"seed": 3}})
        loaded = models.load(path)
        assert (loaded.vocab, loaded.mode, loaded.lowercase) == (model.vocab, model.mode, model.lowercase)
        for key, value in model.params.items():
            np.testing.assert_array_equal(loaded.params[key], value)
        assert load_model_file(path).meta["training"] == {"seed": 3}


def test_a_loaded_model_samples_the_same_names(tmp_path: Path) -> None:
    model = tiny_lines_model()
    models.save(model, tmp_path / "m.saurus")
    again = models.load(tmp_path / "m.saurus")
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert generate_lines(model, 8, rng_a) == generate_lines(again, 8, rng_b)


def test_a_failed_save_leaves_the_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(seed=1), path)
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(ModelFileError, match=r"cannot write .*disk full"):
        models.save(tiny_lines_model(seed=2), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.saurus"], "no temporary file is left behind"


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no model file"):
        models.load(tmp_path / "none.saurus")


def test_truncated_model(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="not a saurus model"):
            models.load(path)


def test_corrupted_bytes_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    models.save(tiny_lines_model(hidden=32), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the weights; the zip CRC catches it
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        models.load(path)


@pytest.mark.parametrize("content", [b"just some text\n", b"", b"\x93NUMPY garbage"])
def test_foreign_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "foreign.saurus"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a saurus model"):
        models.load(path)


def test_plain_npz_and_npy_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    np.save(tmp_path / "plain.npy", np.zeros(3))
    for name in ("plain.npz", "plain.npy"):
        with pytest.raises(ModelFileError, match="not a saurus model"):
            models.load(tmp_path / name)


class Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_pickled_model_file_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    meta = np.array(json.dumps({"format": "saurus-model", "version": 1, "kind": "classic-rnn"}))
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit(marker)
    np.savez(tmp_path / "evil.saurus", **{META_KEY: meta, "param/Wax": payload})
    os.replace(tmp_path / "evil.saurus.npz", tmp_path / "evil.saurus")
    with pytest.raises(ModelFileError):
        models.load(tmp_path / "evil.saurus")
    assert not marker.exists()


def test_newer_format_and_unknown_kind(tmp_path: Path) -> None:
    path = tmp_path / "m.saurus"
    save_model_file(path, {"version": 99}, {})
    with pytest.raises(ModelFileError, match="newer saurus"):
        models.load(path)
    save_model_file(path, {"kind": "transformer-xl"}, {})
    with pytest.raises(ModelFileError, match="unknown kind"):
        models.load(path)


def test_wrong_shapes_or_nan_weights_are_damage(tmp_path: Path) -> None:
    model = tiny_lines_model()
    meta, arrays = model.to_file()
    path = tmp_path / "m.saurus"
    save_model_file(path, meta, {**arrays, "Waa": np.zeros((3, 3))})
    with pytest.raises(ModelFileError, match=r"damaged.*Waa"):
        models.load(path)
    save_model_file(path, meta, {**arrays, "by": np.full_like(arrays["by"], np.nan)})
    with pytest.raises(ModelFileError, match="NaN"):
        models.load(path)
