"""The JSB Chorales file: the published counts, and every damaged or foreign file refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy.io import savemat

from saurus.errors import DataError
from saurus.music import jsb
from saurus.music.jsb import load_jsb


@pytest.fixture(scope="module")
def jsb_path(data_dir: Path) -> Path:
    return data_dir / "JSB_Chorales.mat"


def cell(*pieces: np.ndarray) -> np.ndarray:
    out = np.empty((1, len(pieces)), dtype=object)
    for i, piece in enumerate(pieces):
        out[0, i] = piece
    return out


def write_mat(path: Path, compress: bool = True, **variables: np.ndarray) -> Path:
    savemat(path, variables, do_compression=compress)
    return path


def good(t: int = 3) -> np.ndarray:
    x = np.zeros((t, 88), np.uint8)
    x[:, [39, 43, 46]] = 1  # C4 E4 G4
    return x


def three(**override: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "traindata": cell(good(4), good(2)),
        "validdata": cell(good()),
        "testdata": cell(good()),
        **override,
    }


def one_line(err: pytest.ExceptionInfo[DataError]) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_the_published_counts(jsb_path: Path) -> None:
    splits = load_jsb(jsb_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    assert {k: sum(len(p) for p in v) for k, v in splits.items()} == {
        "train": 13807,
        "valid": 4602,
        "test": 4725,
    }
    every = np.concatenate([p for v in splits.values() for p in v])
    assert every.dtype == bool and every.shape[1] == 88
    assert int(every.sum(1).max()) == 4  # four voices
    sounding = np.flatnonzero(every.any(0)) + jsb.LOWEST
    assert (sounding.min(), sounding.max()) == (43, 96)  # G2..C7


def test_the_registered_dataset_is_the_same_file(jsb_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAURUS_DATA_DIR", str(jsb_path.parent))
    splits = jsb.load_jsb_dataset(download=False)
    assert np.array_equal(splits["test"][0], load_jsb(jsb_path)["test"][0])


def test_a_file_of_our_own_reads_back(tmp_path: Path) -> None:
    for compress in (True, False):
        splits = load_jsb(write_mat(tmp_path / f"own{compress}.mat", compress, **three()))
        assert [len(p) for p in splits["train"]] == [4, 2]
        assert np.array_equal(splits["valid"][0], good().astype(bool))


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"traindata": cell(good()), "validdata": cell(good())}, "holds no 'testdata'"),
        (three(testdata=cell(good()[:, :87])), "piece 1 of 'testdata' is (3, 87)"),
        (three(validdata=cell(good(), np.zeros((0, 88)))), "piece 2 of 'validdata' is (0, 88)"),
        (three(traindata=cell(good() * 2)), "values other than 0 and 1"),
        (three(traindata=cell(good() * 0.5)), "values other than 0 and 1"),
        (three(traindata=cell(np.full((2, 88), np.nan))), "values other than 0 and 1"),
        (three(traindata=good()), "not a 1xN cell"),
        (three(testdata=cell(np.array(["chorale"]))), "not (frames, 88)"),
        (three(testdata=np.empty((1, 0), dtype=object)), "holds no pieces"),
    ],
)
def test_a_foreign_file_is_one_clear_line(tmp_path: Path, variables: dict, fragment: str) -> None:
    path = write_mat(tmp_path / "foreign.mat", **variables)
    with pytest.raises(DataError) as err:
        load_jsb(path)
    assert fragment in one_line(err)


def test_not_a_mat_file_truncated_or_another_version(jsb_path: Path, tmp_path: Path) -> None:
    raw = jsb_path.read_bytes()
    cases = {
        "text.mat": (b"traindata,validdata,testdata\n" * 20, "not a MATLAB .mat file"),
        "short.mat": (raw[:100], "not a MATLAB .mat file"),
        "cut.mat": (raw[: len(raw) // 2], "truncated"),
        "cut_tag.mat": (raw[:132], "truncated"),
        "hdf5.mat": (b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM" + raw[128:], "v7.3 (HDF5)"),
        "junk.mat": (raw[:128] + b"\x07\x00\x00\x00\x08\x00\x00\x00" + bytes(8), "type 7"),
    }
    for name, (data, fragment) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError) as err:
            load_jsb(tmp_path / name)
        assert fragment in one_line(err), name
    with pytest.raises(DataError, match="folder"):
        load_jsb(tmp_path)
    with pytest.raises(DataError, match="cannot read"):
        load_jsb(tmp_path / "none.mat")


def test_absurd_sizes_are_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = write_mat(tmp_path / "bomb.mat", **three(traindata=cell(np.zeros((200_000, 88), np.uint8))))
    assert bomb.stat().st_size < 100_000  # 17.6 MB of zeros, compressed
    monkeypatch.setattr(jsb, "MAX_UNPACKED_BYTES", 4 * 1024**2)
    with pytest.raises(DataError, match="unpacks to more than 4,194,304 bytes"):
        load_jsb(bomb)
    monkeypatch.setattr(jsb, "MAX_MAT_BYTES", 1000)
    with pytest.raises(DataError, match="more than 1,000 is refused"):
        load_jsb(bomb)


def test_damaged_bytes_never_escape_as_anything_but_data_errors(jsb_path: Path, tmp_path: Path) -> None:
    raw = jsb_path.read_bytes()
    rng = np.random.default_rng(7)
    path = tmp_path / "damaged.mat"
    for _ in range(40):
        data = bytearray(raw)
        for at in rng.integers(0, len(raw), size=3):
            data[at] = int(rng.integers(256))
        path.write_bytes(bytes(data))
        try:
            splits = load_jsb(path)
        except DataError as err:
            assert "\n" not in str(err)
        else:
            assert all(p.dtype == bool and p.shape[1] == 88 for v in splits.values() for p in v)
