"""Small models for the tests (no shared data needed)."""

from __future__ import annotations

from saurus.classic import ClassicRNN
from saurus.data.corpus import LinesCorpus, StreamCorpus

NAMES = "anna\nbob\ncleo\ndora\nemil\nfrida\ngus\nhana\nivo\njana\nkarl\nlena\n"


def tiny_lines_model(hidden: int = 8, seed: int = 0) -> ClassicRNN:
    vocab = LinesCorpus.from_text(NAMES).vocab()
    return ClassicRNN.create(vocab, "lines", hidden=hidden, seed=seed, lowercase=True)


def tiny_stream_model(text: str = "the cat sat on the mat. ", hidden: int = 8) -> ClassicRNN:
    return ClassicRNN.create(StreamCorpus(text).vocab(), "stream", hidden=hidden, seed=1, lowercase=False)
