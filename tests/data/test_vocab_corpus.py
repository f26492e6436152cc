"""Vocabulary and corpora: building, encoding, errors, splits, Unicode."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saurus.data.corpus import LinesCorpus, StreamCorpus, make_corpus, read_text
from saurus.data.vocab import EOS, Vocab
from saurus.errors import DataError, ModelFileError, OptionError, VocabularyError


def test_vocab_is_sorted_distinct_chars_with_eos_first_for_names() -> None:
    corpus = LinesCorpus.from_text("Tyrannosaurus\nAbelisaurus\n", lowercase=True)
    vocab = corpus.vocab()
    assert vocab.chars[0] == EOS and vocab.eos_id == 0
    assert "".join(vocab.chars[1:]) == "abeilnorstuy"
    ids = vocab.encode("saurus")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "saurus"


def test_dinosaur_vocabulary_has_27_entries(dinos_path: Path) -> None:
    text = read_text(dinos_path)
    assert len(text) == 19909
    corpus = LinesCorpus.from_text(text, lowercase=True)
    assert len(corpus.examples) == 1536
    vocab = corpus.vocab()
    assert vocab.chars == tuple("\nabcdefghijklmnopqrstuvwxyz")
    assert vocab.char_to_ix()["a"] == 1 and vocab.ix_to_char()[26] == "z"


def test_unknown_character_error_names_it() -> None:
    vocab = Vocab.from_text("abc\n")
    with pytest.raises(VocabularyError, match=r"'é' \(U\+00E9\) at position 2"):
        vocab.encode("abé")


def test_vocab_json_round_trip_and_bad_json() -> None:
    vocab = Vocab.from_text("héllo wörld\n")
    assert Vocab.from_json(vocab.to_json()) == vocab
    for bad in (None, {"chars": "abc"}, {"chars": ["b", "a"]}, {"chars": ["ab"]}):
        with pytest.raises(ModelFileError):
            Vocab.from_json(bad)


def test_chinese_lyrics_vocabulary_has_1027_characters(data_dir: Path) -> None:
    with zipfile.ZipFile(data_dir / "jaychou_lyrics.txt.zip") as archive:
        text = archive.read("jaychou_lyrics.txt").decode("utf-8")
    text = text.replace("\n", " ").replace("\r", " ")[:10000]
    corpus = StreamCorpus.from_text(text)
    vocab = corpus.vocab()
    assert vocab.size == 1027
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.eos_id is None  # no newline was left in the text


def test_lines_corpus_strips_lines_and_drops_blank_ones() -> None:
    corpus = LinesCorpus.from_text("  Anna \n\n\tBob\n   \nCleo")
    assert corpus.examples == ("Anna", "Bob", "Cleo")
    assert corpus.num_chars() == 4 + 1 + 3 + 1 + 4 + 1


def test_lines_split_is_deterministic_disjoint_and_complete() -> None:
    names = tuple(f"name{i}" for i in range(200))
    corpus = LinesCorpus(names)
    train, val = corpus.split(0.1, seed=42)
    again_train, again_val = corpus.split(0.1, seed=42)
    assert (train, val) == (again_train, again_val)
    assert len(val.examples) == 20 and len(train.examples) == 180
    assert sorted(train.examples + val.examples) == sorted(names)
    assert corpus.split(0.1, seed=43)[1] != val


def test_stream_split_holds_out_the_tail() -> None:
    train, val = StreamCorpus("abcdefghij").split(0.2)
    assert (train.text, val.text) == ("abcdefgh", "ij")


def test_split_rejects_bad_fractions() -> None:
    with pytest.raises(OptionError):
        LinesCorpus(("a", "b")).split(1.0, 0)
    with pytest.raises(DataError, match="too few"):
        LinesCorpus(("a",)).split(0.5, 0)


def test_lowercase_option() -> None:
    assert make_corpus("ABC\nDef", "lines", lowercase=True).examples == ("abc", "def")
    assert make_corpus("ABC", "stream", lowercase=False).text == "ABC"


def test_read_text_normalises_newlines_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffa\r\nb\rc\n".encode())
    assert read_text(path) == "a\nb\nc\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"  \n\n", "is empty"), (b"\xff\xfeab", "not UTF-8"), (b"ab\x00cd", "NUL")],
)
def test_read_text_rejects_unusable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text(path)


def test_read_text_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="directory"):
        read_text(tmp_path)


def test_zip_members_are_not_mistaken_for_text(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.txt", "hello")
    path = tmp_path / "x.zip"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DataError):
        read_text(path)
