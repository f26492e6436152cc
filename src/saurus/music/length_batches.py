"""Batches for scoring whole pieces: indices cut from the pieces sorted by length, so a
padded batch holds pieces of near one length. Unsorted, one long piece pads its whole
batch: MuseData's validation pieces (38 to 19,514 ids) took 14.5 s to score in file
order against 4.2 s sorted (1 x 256 LSTM, 2 threads). Callers put the results back in
the pieces' own order by the indices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized


def length_batches(pieces: Sequence[Sized], size: int) -> Iterator[list[int]]:
    """Index lists of at most `size` pieces each, shortest pieces first."""
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    for start in range(0, len(order), size):
        yield order[start : start + size]
