"""A text file too large to hold as a str: read in chunks and kept as memory-mapped ids.

`map_text(path)` reads the file twice, CHUNK_BYTES at a time, and never holds more than a
few chunks of it:

1. decode the UTF-8 incrementally (an invalid byte is named with its line, column and
   byte offset), drop a leading byte-order mark, turn "\\r\\n" and "\\r" into "\\n",
   lowercase when asked, count every character (the vocabulary) and note the distinct
   lines (what a model file remembers of its data);
2. decode it again and write each character's id (uint8 when the vocabulary has at most
   256 characters, else uint16 or uint32) to an unnamed temporary file in $TMPDIR, which
   is then memory-mapped read-only.

The result, a MappedText, stands in for the text of a StreamCorpus: its length, slices
(views of the same map), vocabulary, ids, character counts and lines give what the same
text read into memory would, so training on it gives the same numbers. Text is always
cut at the end of a line (or, inside a line of more than MAX_CARRY characters, after a
whitespace character), so lowercasing a piece at a time equals lowercasing the whole
(Python's only context-dependent rule, the final sigma, never looks across either).

The record of lines keeps the first MAX_RECORDED_LINES distinct lines, each once (a
model file holds one 8-byte hash per line); a line of more than MAX_CARRY characters may
be left out of it (when it is cut).
"""

from __future__ import annotations

import codecs
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from saurus.data.vocab import EOS, Vocab, describe_char
from saurus.errors import DataError, OptionError, VocabularyError, os_reason
from saurus.resources import human

CHUNK_BYTES = 1 << 20  # bytes read at a time
MAX_CARRY = 1 << 20  # characters of an unfinished line held back before it is cut
MAX_RECORDED_LINES = 1 << 17  # distinct lines a model file records (8 bytes each)
IDS_CHUNK = 1 << 20  # ids decoded, counted or read at a time
LARGE_FILE = 64 << 20  # a file this large is announced before it is read (it takes seconds)
WHITESPACE_CUT = (" ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029")


def check_regular_file(path: Path) -> int:
    """The size of `path`, a regular file; a DataError as read_text gives one otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {os_reason(err)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path} is a directory, not a text file")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path} is not a regular file (a device or a pipe); give a text file")
    return info.st_size


@dataclass
class Place:
    """Where the reader is in the normalised text: completed lines, and the column after."""

    lines: int = 0
    column: int = 0

    def advance(self, text: str) -> None:
        newlines = text.count("\n")
        if newlines:
            self.lines += newlines
            self.column = len(text) - text.rfind("\n") - 1
        else:
            self.column += len(text)


def normalised_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decoded_text(path: Path) -> Iterator[tuple[str, bool]]:
    """The file's text in pieces with "\\n" newlines and no byte-order mark, each
    (piece, complete): complete pieces end a line (or the file); an incomplete one is a
    cut inside a line longer than MAX_CARRY, after a whitespace character. A NUL
    character is reported (as read_text does) once the whole file is known to be UTF-8."""
    name = str(path)
    pending = b""  # bytes of a character cut by the chunk boundary
    offset = 0  # file offset of pending[0]
    held_cr = False  # a "\r" at the end of a chunk: its "\n" may start the next one
    started = False
    nul = False
    place = Place()
    tail = ""  # the unfinished last line
    try:
        with open(path, "rb") as f:
            while True:
                raw = f.read(CHUNK_BYTES)
                final = not raw
                data = pending + raw if pending else raw
                try:
                    text, used = codecs.utf_8_decode(data, "strict", final)
                except UnicodeDecodeError as err:
                    raise not_utf8(name, data, err.start, offset, place, held_cr, started) from None
                pending, offset = data[used:], offset + used
                if not started and text:
                    text, started = text.removeprefix("\ufeff"), True
                nul = nul or "\x00" in text
                if held_cr:
                    text, held_cr = "\r" + text, False
                if text.endswith("\r") and not final:
                    text, held_cr = text[:-1], True
                text = normalised_newlines(text)
                place.advance(text)
                tail = tail + text if tail else text
                if final:
                    break
                end = tail.rfind("\n") + 1
                if end:
                    yield tail[:end], True
                    tail = tail[end:]
                while len(tail) > MAX_CARRY:
                    cut = max(tail.rfind(ch, 0, MAX_CARRY) for ch in WHITESPACE_CUT) + 1 or MAX_CARRY
                    yield tail[:cut], False
                    tail = tail[cut:]
    except OSError as err:
        raise DataError(f"cannot read {path}: {os_reason(err)}") from None
    if nul:
        raise DataError(f"{name} holds NUL bytes: it looks like a binary file, not text")
    if tail:
        yield tail, True


def not_utf8(
    name: str, data: bytes, start: int, offset: int, place: Place, held_cr: bool, started: bool
) -> DataError:
    """The error for the invalid byte data[start], which is at file offset offset + start."""
    before = data[:start].decode("utf-8")
    if not started:
        before = before.removeprefix("\ufeff")
    at = Place(place.lines, place.column)
    at.advance(normalised_newlines("\r" + before if held_cr else before))
    return DataError(
        f"{name} is not UTF-8 text (byte 0x{data[start]:02x} at line {at.lines + 1}, "
        f"column {at.column + 1}, offset {offset + start}); convert it to UTF-8 first"
    )


def code_points(piece: str) -> np.ndarray:
    """The code points of `piece`: uint8 for ASCII text, else uint32."""
    if piece.isascii():
        return np.frombuffer(piece.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)


class LineRecord:
    """The distinct non-empty stripped lines, in order of first appearance, up to `limit`."""

    def __init__(self, limit: int = MAX_RECORDED_LINES) -> None:
        self.limit = limit
        self.lines: dict[str, None] = {}
        self.in_long_line = False  # the line going on was cut: too long to record
        self.full = False

    def add(self, piece: str, complete: bool) -> None:
        if self.full:
            return
        lines = piece.split(EOS)
        if self.in_long_line:
            lines = lines[1:]  # the end of the long line
            self.in_long_line = len(lines) == 0 and not complete
        if not complete and lines:
            lines.pop()  # the start of a long line
            self.in_long_line = True
        for line in lines:
            line = line.strip()
            if line and line not in self.lines:
                if len(self.lines) == self.limit:
                    self.full = True
                    return
                self.lines[line] = None


@dataclass
class Scan:
    """What the first pass learns: every character's count and the distinct lines."""

    counts: np.ndarray  # by code point
    chars: int
    lines: tuple[str, ...]


def scan(path: Path, lowercase: bool) -> Scan:
    counts = np.zeros(128, dtype=np.int64)
    chars = 0
    record = LineRecord()
    for piece, complete in decoded_text(path):
        if lowercase:
            piece = piece.lower()
        codes = code_points(piece)
        found = np.bincount(codes)
        if len(found) > len(counts):
            counts = np.concatenate([counts, np.zeros(len(found) - len(counts), dtype=np.int64)])
        counts[: len(found)] += found
        chars += len(codes)
        record.add(piece, complete)
    return Scan(counts, chars, tuple(record.lines))


def id_dtype(size: int) -> np.dtype:
    """The narrowest unsigned type that holds ids 0..size-1."""
    for dtype in (np.uint8, np.uint16):
        if size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint32)


def check_room(folder: str, needed: int, path: Path) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise OptionError(
            f"training on {path} in stream mode writes its characters' ids ({human(needed)}) to "
            f"{folder}, which has {human(free)} free; set TMPDIR to a folder with more room"
        )


def write_ids(path: Path, lowercase: bool, vocab: Vocab, chars: int, out: IO[bytes]) -> None:
    """The second pass: each character's id, written to `out`."""
    codes = np.array([ord(c) for c in vocab.chars], dtype=np.int64)
    table = np.full(int(codes.max()) + 1, -1, dtype=np.int32)
    table[codes] = np.arange(vocab.size)
    dtype = id_dtype(vocab.size)
    written = 0
    for piece, _ in decoded_text(path):
        if lowercase:
            piece = piece.lower()
        points = code_points(piece)
        if len(points) and int(points.max()) >= len(table):
            raise changed(path)
        ids = table[points]
        if len(ids) and int(ids.min()) < 0:
            raise changed(path)
        out.write(ids.astype(dtype).tobytes())
        written += len(ids)
    if written != chars:
        raise changed(path)
    out.flush()


def changed(path: Path) -> DataError:
    return DataError(f"{path} changed while it was being read; train again once it is written")


def map_text(path: str | Path, *, lowercase: bool = False, folder: str | None = None) -> MappedText:
    """The text of the UTF-8 file `path` (normalised as read_text does, then lowercased when
    asked) as ids in a temporary memory-mapped file in `folder` (default: $TMPDIR)."""
    path = Path(path)
    check_regular_file(path)
    found = scan(path, lowercase)
    chars = tuple(chr(c) for c in np.flatnonzero(found.counts))
    if not any(not c.isspace() for c in chars):
        raise DataError(f"{path} is empty")
    vocab = Vocab(chars)
    counts = found.counts[[ord(c) for c in chars]]
    folder = folder or tempfile.gettempdir()
    dtype = id_dtype(vocab.size)
    check_room(folder, found.chars * dtype.itemsize, path)
    try:
        # no name: the file is gone once closed (by the last MappedText that shares it)
        out = tempfile.TemporaryFile(prefix="saurus-ids-", dir=folder)  # noqa: SIM115
    except OSError as err:
        raise DataError(f"cannot write the ids of {path} to {folder}: {os_reason(err)}") from None
    try:
        write_ids(path, lowercase, vocab, found.chars, out)
        ids = np.memmap(out, dtype=dtype, mode="r", shape=(found.chars,))
    except OSError as err:
        out.close()
        raise DataError(f"cannot write the ids of {path} to {folder}: {os_reason(err)}") from None
    except BaseException:
        out.close()
        raise
    return MappedText(ids, vocab, counts, found.lines, lowercase, path, out)


class MappedText:
    """Text as ids in a memory map: the whole file, or a slice [start, stop) of it (a view).

    `vocab` and `counts` belong to the whole file; the methods give what the same text as a
    str would (vocabulary, ids, lines) for this slice."""

    def __init__(
        self,
        ids: np.ndarray,
        vocab: Vocab,
        counts: np.ndarray,
        lines: tuple[str, ...],
        lowercase: bool,
        source: Path,
        file: IO[bytes] | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self.all_ids, self.file_vocab, self.file_counts = ids, vocab, counts
        self.file_lines, self.lowercase, self.source = lines, lowercase, source
        self.file = file  # the file behind the map (closed, and so deleted, with the last slice)
        self.start, self.stop = start, len(ids) if stop is None else stop

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.stop == len(self.all_ids)

    def __len__(self) -> int:
        return self.stop - self.start

    def __repr__(self) -> str:
        return f"MappedText({str(self.source)!r}, {self.start}:{self.stop})"

    def __getitem__(self, key: slice) -> MappedText:
        if not isinstance(key, slice):
            raise TypeError("a MappedText is sliced with [start:stop] only")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("a MappedText is sliced with [start:stop] only")
        return self.span(self.start + start, self.start + max(start, stop))

    def span(self, start: int, stop: int) -> MappedText:
        """The ids from `start` to `stop` of the whole file (a view)."""
        return MappedText(
            self.all_ids,
            self.file_vocab,
            self.file_counts,
            self.file_lines,
            self.lowercase,
            self.source,
            self.file,
            start,
            stop,
        )

    @property
    def ids(self) -> np.ndarray:
        """This slice's ids in the file's vocabulary (a view of the map)."""
        return self.all_ids[self.start : self.stop]

    def id_chunks(self, size: int = IDS_CHUNK) -> Iterator[np.ndarray]:
        """This slice's ids (as `ids` has them), `size` at a time, read from the file behind
        the map rather than through it: reading them all this way leaves no page of the map
        resident, where reading `ids` would make the whole slice count as the process's
        memory (page cache that the kernel may drop, but resident all the same)."""
        if self.file is None:
            for at in range(0, len(self), size):
                yield np.array(self.ids[at : at + size])
            return
        item = self.all_ids.dtype.itemsize
        fd = self.file.fileno()
        for at in range(self.start, self.stop, size):
            count = min(size, self.stop - at)
            raw = os.pread(fd, count * item, at * item)
            if len(raw) != count * item:
                raise DataError(f"the temporary file of ids of {self.source} was cut short")
            yield np.frombuffer(raw, dtype=self.all_ids.dtype)

    def counts(self) -> np.ndarray:
        """How often each character of the file's vocabulary occurs in this slice (int64)."""
        if self.whole:
            return self.file_counts.copy()
        inside = len(self)
        if inside <= len(self.all_ids) - inside:
            return self.bincount(self.start, self.stop)
        return self.file_counts - self.bincount(0, self.start) - self.bincount(self.stop, len(self.all_ids))

    def bincount(self, start: int, stop: int) -> np.ndarray:
        counts = np.zeros(self.file_vocab.size, dtype=np.int64)
        for ids in self.span(start, stop).id_chunks():
            counts += np.bincount(ids, minlength=len(counts))
        return counts

    def vocab(self) -> Vocab:
        """The distinct characters of this slice, as Vocab.from_text gives them."""
        if self.whole:
            return self.file_vocab
        present = self.counts() > 0
        return Vocab(tuple(c for c, there in zip(self.file_vocab.chars, present, strict=True) if there))

    def encode(self, vocab: Vocab) -> np.ndarray:
        """The ids of this slice in `vocab`: a view of the map when it is the file's own
        vocabulary, else an int64 array (an unknown character is an error, as Vocab.encode
        makes it)."""
        if vocab == self.file_vocab:
            return self.ids
        index = vocab.char_to_ix()
        table = np.array([index.get(c, -1) for c in self.file_vocab.chars], dtype=np.int64)
        out = np.empty(len(self), dtype=np.int64)
        for at in range(0, len(self), IDS_CHUNK):
            part = table[self.ids[at : at + IDS_CHUNK]]
            if len(part) and int(part.min()) < 0:
                pos = at + int(np.argmax(part < 0))
                ch = self.file_vocab.chars[int(self.ids[pos])]
                raise VocabularyError(
                    f"text has the character {describe_char(ch)} at position {pos}, which is "
                    f"not among the model's {vocab.size} characters"
                )
            out[at : at + len(part)] = part
        return out

    def pieces(self) -> Iterator[str]:
        """This slice's text, IDS_CHUNK characters at a time."""
        codes = np.array([ord(c) for c in self.file_vocab.chars], dtype=np.uint32)
        for at in range(0, len(self), IDS_CHUNK):
            yield codes[self.ids[at : at + IDS_CHUNK]].astype("<u4").tobytes().decode("utf-32-le")

    def read(self) -> str:
        """The whole slice as a str (as much memory as the text needs, up to 4 bytes a character)."""
        return "".join(self.pieces())

    def lines(self) -> tuple[str, ...]:
        """The distinct non-empty stripped lines, each once, in order of first appearance,
        at most MAX_RECORDED_LINES: the record a model file keeps (as hashes) of its data."""
        if self.whole:
            return self.file_lines
        record, tail = LineRecord(), ""
        for piece in self.pieces():
            tail += piece
            end = tail.rfind(EOS) + 1
            if end:
                record.add(tail[:end], True)
                tail = tail[end:]
            while len(tail) > MAX_CARRY:
                record.add(tail[:MAX_CARRY], False)
                tail = tail[MAX_CARRY:]
            if record.full:
                break
        record.add(tail, True)
        return tuple(record.lines)
