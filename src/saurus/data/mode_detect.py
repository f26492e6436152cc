"""--mode auto: is a file a list (one example a line) or running text?

A list is made of short lines of a word or two: names, words, titles. Measured on the
first SAMPLE_CHARS characters (lines stripped, blank ones skipped):

  lines   when at least 2 lines, 90% of them at most SHORT_LINE characters, and at most
          MAX_WORDS words a line on average (dinos: 15 characters, 1 word; names: 8, 1;
          the word lists alike);
  stream  otherwise: prose and verse (sonnets: 48 characters, 8.2 words), code (66, 4.6),
          a file of one long line (one short line is a list of one).

Chinese and Japanese write no spaces between words, so each Han character or kana counts
IDEOGRAPH_WORDS of a word: a four-character name is 3 words (a list), a five-character line
of verse 3.75 and jaychou's lyrics (9 characters a line) about 7 (running text).
"""

from __future__ import annotations

import re

from saurus.data.corpus import Mode

SAMPLE_CHARS = 1 << 20
SHORT_LINE = 40
MAX_WORDS = 3.0
IDEOGRAPH_WORDS = 0.75
IDEOGRAPHS = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def words_in(line: str) -> float:
    """Words separated by spaces, and IDEOGRAPH_WORDS for each Han character or kana."""
    ideographs = len(IDEOGRAPHS.findall(line))
    if not ideographs:
        return len(line.split())
    rest = IDEOGRAPHS.sub(" ", line).split()
    return len(rest) + IDEOGRAPH_WORDS * ideographs


def detect_mode(text: str) -> tuple[Mode, str]:
    """The mode that fits `text`, and why, in words."""
    head = text[:SAMPLE_CHARS]
    if len(text) > SAMPLE_CHARS and "\n" in head:
        head = head[: head.rindex("\n")]  # whole lines only
    lines = [s for s in (line.strip() for line in head.split("\n")) if s]
    if len(lines) < 2:
        if lines and len(lines[0]) <= SHORT_LINE and words_in(lines[0]) <= MAX_WORDS:
            return "lines", "a single short line: a list of one"
        return "stream", "a single line: running text"
    lengths = sorted(len(s) for s in lines)
    p90 = lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))]
    words = sum(map(words_in, lines)) / len(lines)
    shape = f"{len(lines):,} lines, 90% of them at most {p90} characters, {words:.1f} words a line"
    if p90 <= SHORT_LINE and words <= MAX_WORDS:
        return "lines", f"{shape}: a list, one example a line"
    return "stream", f"{shape}: running text"
