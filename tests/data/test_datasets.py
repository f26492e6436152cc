"""The dataset registry: lookup order, checksums, downloads (from file:// URLs, offline)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from saurus.data import datasets
from saurus.errors import DataError


def test_shared_corpora_match_their_published_checksums(data_dir: Path) -> None:
    for ds in datasets.DATASETS.values():
        path = data_dir / ds.filename
        assert datasets.sha256_bytes(path.read_bytes()) == ds.sha256, ds.name


def test_dataset_path_prefers_the_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(data_dir))
    assert datasets.dataset_path("dinos", download=False) == data_dir / "dinos.txt"
    assert "雨" in datasets.load_dataset_text("jaychou", download=False)


def test_a_file_with_the_wrong_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dinos.txt").write_text("Notadino\n")
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataError, match="sha256"):
        datasets.dataset_path("dinos")


def test_missing_dataset_without_source_says_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(datasets.CACHE_DIR_ENV, str(tmp_path / "cache"))
    with pytest.raises(DataError, match="SAURUS_DATA_DIR"):
        datasets.dataset_path("sonnets")  # no public source
    with pytest.raises(DataError, match="unknown dataset 'dinosaurs'"):
        datasets.dataset_path("dinosaurs")


def test_download_verifies_and_caches(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = data_dir / "names.txt"
    fake = replace(datasets.DATASETS["names"], url=source.as_uri())
    monkeypatch.setitem(datasets.DATASETS, "names", fake)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv(datasets.CACHE_DIR_ENV, str(tmp_path / "cache"))
    path = datasets.dataset_path("names")
    assert path == tmp_path / "cache" / "names.txt"
    assert path.read_bytes() == source.read_bytes()
    corrupt = replace(fake, name="names", sha256="0" * 64)
    monkeypatch.setitem(datasets.DATASETS, "names", corrupt)
    path.unlink()
    with pytest.raises(DataError, match="does not match"):
        datasets.dataset_path("names")
    assert not path.exists()


def test_a_music_dataset_is_no_text(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(data_dir))
    jsb = datasets.get_dataset("jsb")
    assert jsb.kind == "music" and jsb.size == (data_dir / jsb.filename).stat().st_size
    assert datasets.dataset_path("jsb", download=False) == data_dir / "JSB_Chorales.mat"
    with pytest.raises(DataError, match="'jsb' is music, not text"):
        datasets.load_dataset_text("jsb")
    with pytest.raises(DataError, match="load_jsb"):
        datasets.open_source("jsb")
