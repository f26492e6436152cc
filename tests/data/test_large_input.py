"""Large inputs: stream mode reads a file in bounded memory (saurus.data.stream_file), and
gives the same text, the same errors and the same training numbers as reading it whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from saurus.data import stream_file
from saurus.data.corpus import StreamCorpus, read_text, stripped_lines
from saurus.data.stream_file import LineRecord, map_text
from saurus.errors import DataError, OptionError, VocabularyError
from saurus.training.loop import TrainConfig, train_file, train_text

TRICKY = (
    "\ufeffFirst line\r\nΣΟΦΟΣ ΟΔΟΣ\rcafé  crème\n\n  中文 text \t\r\n"
    "ΣΑΣ\nİstanbul\r\rtabs\tand  spaces ΣΣ\nlast line, no newline Σ"
)


def words_text(megabytes: int, seed: int = 0) -> bytes:
    """About `megabytes` MiB of made-up lines of words: one random MiB, repeated."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"etaoinshrdlucmfwypvbgkqjxz", dtype=np.uint8)
    block = bytearray()
    while len(block) < 1 << 20:
        words = [bytes(rng.choice(letters, size=rng.integers(1, 9))) for _ in range(rng.integers(3, 12))]
        block += b" ".join(words).capitalize() + b".\n"
    return bytes(block) * megabytes


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the file every 5 bytes (inside characters, between "\\r" and "\\n") and lines
    after 12 characters, so that every boundary case of the streaming pass happens."""
    monkeypatch.setattr(stream_file, "CHUNK_BYTES", 5)
    monkeypatch.setattr(stream_file, "MAX_CARRY", 12)
    monkeypatch.setattr(stream_file, "IDS_CHUNK", 7)


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("chunks", ["default", "small"])
def test_mapped_text_is_the_text_read_whole(
    tmp_path: Path, lowercase: bool, chunks: str, request: pytest.FixtureRequest
) -> None:
    if chunks == "small":
        request.getfixturevalue("small_chunks")
    path = tmp_path / "t.txt"
    path.write_bytes(TRICKY.encode())
    text = read_text(path)
    text = text.lower() if lowercase else text
    mapped = map_text(path, lowercase=lowercase)
    assert mapped.read() == text and len(mapped) == len(text)
    corpus, whole = StreamCorpus.from_text(mapped, lowercase=lowercase), StreamCorpus(text)
    vocab = whole.vocab()
    assert corpus.vocab() == vocab and mapped.ids.dtype == np.uint8
    assert np.array_equal(corpus.encode(vocab)[0], whole.encode(vocab)[0])
    short = [line for line in stripped_lines(text) if len(line) <= stream_file.MAX_CARRY]
    assert corpus.lines() == tuple(dict.fromkeys(short))  # each once, in order
    for part, same in zip(corpus.split(0.3), whole.split(0.3), strict=True):
        assert part.text.read() == same.text and part.vocab() == same.vocab()
        assert np.array_equal(part.text.counts(), np.bincount(part.encode(vocab)[0], minlength=vocab.size))
        assert set(part.lines()) == {line for line in same.lines() if len(line) <= stream_file.MAX_CARRY}
        assert np.array_equal(part.encode(same.vocab())[0], same.encode(same.vocab())[0])
        assert np.array_equal(np.concatenate(list(part.text.id_chunks(3))), part.text.ids)


def test_wide_vocabularies_take_wider_ids(tmp_path: Path) -> None:
    path = tmp_path / "cjk.txt"
    path.write_text("".join(map(chr, range(0x4E00, 0x4E00 + 300))) * 3 + "\n", encoding="utf-8")
    mapped = map_text(path)
    assert mapped.ids.dtype == np.uint16 and mapped.vocab().size == 301
    assert mapped.read() == read_text(path)
    with pytest.raises(VocabularyError, match=r"U\+4E00.* at position 0"):
        mapped[:5].encode(StreamCorpus("ab").vocab())


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"  \n\r\n", "is empty"), (b"\xff\xfeab", "not UTF-8"), (b"ab\x00cd", "NUL")],
)
def test_unusable_files_fail_as_read_text_fails(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        map_text(path)
    with pytest.raises(DataError, match="no such file"):
        map_text(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="directory"):
        map_text(tmp_path)
    with pytest.raises(DataError, match="too short"):
        path.write_bytes(b"a")
        StreamCorpus.from_text(map_text(path))


def test_a_nul_byte_is_named_only_once_the_file_is_known_to_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "both.txt"
    path.write_bytes(b"ab\x00cd\n" * 1000 + b"\xff")
    with pytest.raises(DataError, match="not UTF-8"):  # as read_text: decoding comes first
        map_text(path)


@pytest.mark.parametrize("chunks", ["default", "small"])
def test_invalid_utf8_is_named_with_its_line_and_column(
    tmp_path: Path, chunks: str, request: pytest.FixtureRequest
) -> None:
    if chunks == "small":
        request.getfixturevalue("small_chunks")
    path = tmp_path / "broken.txt"
    head = "line one\r\nsecond é line\rthird\n"
    path.write_bytes(head.encode() + "ab中c".encode() + b"\xe9 rest\n")
    offset = len(head.encode()) + len("ab中c".encode())
    with pytest.raises(DataError, match=rf"byte 0xe9 at line 4, column 5, offset {offset}\)"):
        map_text(path)


def test_invalid_utf8_deep_in_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.txt"
    block = words_text(1)
    lines_before = 24 * block.count(b"\n")
    with open(path, "wb") as f:
        for _ in range(24):
            f.write(block)
        f.write("naïve \xab".encode())  # U+00AB is two bytes: cut it after the first
        f.seek(-1, os.SEEK_CUR)
        f.write(b" more text\n" + block)
    offset = 24 * len(block) + len("naïve ".encode())
    where = rf"byte 0xc2 at line {lines_before + 1}, column 7, offset {offset}\)"
    with pytest.raises(DataError, match=where):
        map_text(path)
    cli = subprocess.run(
        [sys.executable, "-m", "saurus", "train", str(path), "--mode", "stream", "-o", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1
    assert f"line {lines_before + 1}, column 7" in cli.stderr and "not UTF-8" in cli.stderr
    assert not (tmp_path / "m").exists()


def test_long_lines_are_cut_after_whitespace_and_left_out_of_the_record(
    tmp_path: Path, small_chunks: None
) -> None:
    path = tmp_path / "long.txt"
    text = "short\nΣΣ a much longer line ΣΣ that runs on\nend\n"
    path.write_text(text, encoding="utf-8")
    mapped = map_text(path, lowercase=True)
    assert mapped.read() == text.lower()
    assert mapped.lines() == ("short", "end")


def test_the_line_record_keeps_the_first_distinct_lines() -> None:
    record = LineRecord(limit=3)
    record.add("b\na\n b \n\n", True)
    record.add("c\nd\n", True)
    assert tuple(record.lines) == ("b", "a", "c") and record.full


def test_the_validation_split_is_capped() -> None:
    n = StreamCorpus.MAX_VAL_CHARS * 20
    train, val = StreamCorpus("ab" * (n // 2)).split(0.1)
    assert val.num_chars() == StreamCorpus.MAX_VAL_CHARS and train.num_chars() == n - val.num_chars()
    assert StreamCorpus("a" * 1000).split(0.1)[1].num_chars() == 100  # small texts as before


def test_lowercasing_must_match_the_reading(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Some Text\n", encoding="utf-8")
    with pytest.raises(OptionError, match="not lowercased"):
        StreamCorpus.from_text(map_text(path), lowercase=True)


@pytest.mark.parametrize("batching", ["consecutive", "random"])
def test_mapped_training_equals_training_in_memory(tmp_path: Path, batching: str) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(words_text(1)[:120_000] + TRICKY.encode())
    config = TrainConfig(
        mode="stream",
        hidden=24,
        iterations=12,
        eval_every=4,
        batch_size=8,
        seq_len=16,
        dropout=0.2,
        seed=5,
        lowercase=True,
        batching=batching,
    )
    whole = train_text(read_text(path), config)
    mapped = train_file(path, config)
    assert isinstance(map_text(path, lowercase=True), stream_file.MappedText)
    assert mapped.val is not None and whole.val is not None
    assert (mapped.val.total_nats, mapped.val.chars) == (whole.val.total_nats, whole.val.chars)
    assert [p.train_nats for p in mapped.history] == [p.train_nats for p in whole.history]
    assert mapped.model.params.keys() == whole.model.params.keys()
    for name, weights in whole.model.params.items():
        assert np.array_equal(mapped.model.params[name], weights), name
    assert np.array_equal(mapped.model.seen, whole.model.seen)
    assert mapped.model.vocab == whole.model.vocab and mapped.train_examples == whole.train_examples


def test_torch_trains_on_a_mapped_text(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "t.txt"
    path.write_bytes(words_text(1)[:20_000])
    config = TrainConfig(
        mode="stream", engine="torch", hidden=16, iterations=4, eval_every=2, batch_size=4, seq_len=8, seed=1
    )
    whole, mapped = train_text(read_text(path), config), train_file(path, config)
    assert mapped.val is not None and whole.val is not None
    assert mapped.val.nats == pytest.approx(whole.val.nats, rel=1e-6)


PEAK_RSS = """
import os, resource, subprocess, sys
child = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(child.stderr)
print(child.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def test_a_large_file_trains_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.txt"
    block = words_text(1)
    megabytes = 96
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(block)
    size = path.stat().st_size
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "OPENBLAS_NUM_THREADS": "1"}
    options = [
        "--mode",
        "stream",
        "--engine",
        "numpy",
        "--iterations",
        "3",
        "--eval-every",
        "3",
        "--hidden",
        "16",
    ]
    options += ["--batch-size", "8", "--seq-len", "16"]
    command = [sys.executable, "-m", "saurus", "train", str(path), *options, "-o", str(tmp_path / "m")]
    run = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True, env=env, timeout=240
    )
    code, peak = map(int, run.stdout.split())
    assert code == 0, run.stderr
    assert f"over {StreamCorpus.MAX_VAL_CHARS} characters" in run.stderr  # the capped validation split
    # read whole, the bytes, the str, its lines and the 8-byte ids took more than 10 x the size;
    # mapped, the process holds a few chunks (and the pages of the map it has read, at most 1 x)
    assert peak < 2 * size, f"peak resident memory {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    assert list(scratch.iterdir()) == []  # the ids' file had no name and is gone
