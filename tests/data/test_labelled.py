"""Labelled names: the folder and table layouts read into name<TAB>label lines, duplicates
counted once, the split by distinct name (no name on both sides; every category keeps a
training name), and each damaged input refused in one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saurus.data.labelled import MAX_CATEGORIES, labelled_corpus, read_labelled
from saurus.errors import DataError


def folder(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "names"
    root.mkdir()
    for stem, text in files.items():
        (root / f"{stem}.txt").write_text(text, encoding="utf-8")
    return root


def test_a_folder_gives_one_category_per_file_and_each_pair_once(tmp_path: Path) -> None:
    root = folder(tmp_path, {"Irish": "Kelly\nMurphy\nKelly\n\n", "Italian": " Rossi \nKelly\n"})
    (root / "README.md").write_text("not a category")
    corpus = labelled_corpus(read_labelled(root))
    assert corpus.categories == ("Irish", "Italian")
    assert corpus.examples == ("Kelly", "Murphy", "Rossi", "Kelly")
    assert corpus.labels == (0, 0, 1, 1)
    np.testing.assert_array_equal(corpus.category_counts(), [2, 2])


def test_a_tsv_and_a_csv_with_quotes_and_a_header(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("name\tlabel\nanna\tsv\nbo\tsv\ncarlo\tit\n")
    (tmp_path / "b.csv").write_text('name,category\n"Smith, Jr",en\nRossi,it\n')
    tsv = labelled_corpus(read_labelled(tmp_path / "a.tsv"))
    assert tsv.examples == ("anna", "bo", "carlo") and tsv.categories == ("it", "sv")
    csv = labelled_corpus(read_labelled(tmp_path / "b.csv"), lowercase=True)
    assert csv.examples == ("smith, jr", "rossi") and csv.categories == ("en", "it")


def test_the_split_keeps_a_name_on_one_side_and_every_category_in_training() -> None:
    pairs = [(f"n{i}", "big") for i in range(200)] + [(f"n{i}", "other") for i in range(0, 200, 7)]
    pairs += [("solo", "one-name")]  # a category of one name
    corpus = labelled_corpus("".join(f"{n}\t{c}\n" for n, c in pairs))
    for seed in range(5):
        train, val = corpus.split(0.3, seed)
        assert not set(train.examples) & set(val.examples)
        assert set(train.labels or ()) == set(range(3))  # every category trains
        assert "solo" in train.examples and "solo" not in val.examples
        assert len(train.examples) + len(val.examples) == len(corpus.examples)


@pytest.mark.parametrize(
    "text,message",
    [
        ("anna\tsv\nbo\n", "line 2: expected a name and a label separated by a tab"),
        ("anna\tsv\tx\n", "line 1: expected a name and a label"),
        ("\t\n\n", "is empty"),
        ("name\tlabel\n", "holds no names"),
        ("".join(f"n{i}\tl{i}\n" for i in range(MAX_CATEGORIES + 1)), "distinct labels, over the limit"),
    ],
)
def test_a_damaged_table_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.tsv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_labelled(tmp_path / "t.tsv")


def test_an_empty_folder_or_an_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no \.txt files"):
        read_labelled(tmp_path / "empty")
    root = folder(tmp_path, {"ok": "anna\n"})
    (root / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled(root)
