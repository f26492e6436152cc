"""Where music comes from: a MIDI file, a folder of them, the Metheny piece, or Bach.

`bach` is music21's bundled corpus of Bach chorales, read from the installed package at
run time (never copied into saurus). music21 needs about a quarter of a second per
chorale, so each chorale's tokens are cached, keyed by music21's version and the
tokenizer, in the user cache folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from saurus.atomic import atomic_write_bytes
from saurus.data.datasets import Dataset, cache_dir, verified_path
from saurus.errors import DataError
from saurus.music.tokens import (
    TOKENIZER,
    TOKENIZER_PARAMS,
    encode_midi,
    encode_score,
    midi_files,
    music_packages,
    read_score,
    score_from_bytes,
)

BACH = "bach"
METHENY = Dataset(
    "metheny",
    "original_metheny.mid",
    "0da8322ceab36b036682b5ece0c315193f7b701a3340a0ca5a523b107c6f428d",
    "https://raw.githubusercontent.com/jisungk/deepjazz/master/midi/original_metheny.mid",
    "stream",
    "Pat Metheny, 'And Then I Knew': the classic jazz exercise's MIDI file (deepjazz)",
    size=92549,
)
MUSIC_SOURCES = f"a MIDI file, a folder of MIDI files, {METHENY.name} or {BACH}"
CACHE_EVERY = 50  # chorales converted between two saves of the cache
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")  # the chorales; not the roman-numeral analyses


@dataclass(frozen=True)
class Piece:
    name: str
    tokens: tuple[str, ...]
    path: Path | None  # the file it was read from (never written over), None for bach

    @property
    def notes(self) -> int:
        return sum(1 for t in self.tokens if t.startswith("Pitch"))


def load_pieces(
    source: str | Path,
    *,
    limit: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[Piece]:
    """The pieces of `source` as token lists: a MIDI file, a folder (searched recursively),
    `metheny` or `bach`. `limit` keeps the first pieces only."""
    path = Path(source)
    if not path.exists() and str(source) == BACH:
        return bach_pieces(limit, on_progress)
    if not path.exists() and str(source) == METHENY.name:
        path = verified_path(METHENY)
    if path.is_dir():
        files = midi_files(path)[:limit]
        if not files:
            raise DataError(f"{path} holds no MIDI files (*.mid, *.midi)")
        return [Piece(str(f.relative_to(path)), tuple(encode_midi(f)), f) for f in files]
    if not path.exists():
        raise DataError(f"no such MIDI file or folder: {str(source)!r} (give {MUSIC_SOURCES})")
    return [Piece(path.name, tuple(encode_midi(path)), path)]


def bach_cache_path() -> Path:
    """One cache file per music21 version and tokenizer configuration."""
    with music_packages():
        import music21
    key = json.dumps([music21.__version__, TOKENIZER, repr(sorted(TOKENIZER_PARAMS.items()))])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "music" / f"bach-chorales-{digest}.json"


def bach_pieces(limit: int | None, on_progress: Callable[[str], None] | None) -> list[Piece]:
    """music21's Bach chorales as tokens, converting (and caching) those not cached yet."""
    with music_packages():
        from music21 import corpus

    paths = sorted((p for p in corpus.getComposer(BACH) if p.suffix in SCORE_SUFFIXES), key=lambda p: p.name)
    paths = paths[:limit]
    cache_path = bach_cache_path()
    cached = read_cache(cache_path)
    missing = [p for p in paths if p.name not in cached]
    say = on_progress or (lambda line: None)
    if missing:
        say(f"converting {len(missing)} Bach chorales from music21 (once; cached in {cache_path})")
    for done, p in enumerate(missing, 1):
        cached[p.name] = chorale_tokens(p)
        if done % CACHE_EVERY == 0 or done == len(missing):  # an interrupted conversion keeps its work
            atomic_write_bytes(cache_path, json.dumps(cached).encode())
            say(f"converted {done} of {len(missing)}")
    unusable = [p.name for p in paths if not cached[p.name]]
    if unusable:
        what = "chorale" if len(unusable) == 1 else "chorales"
        say(f"left out {len(unusable)} {what} music21 cannot turn into MIDI (e.g. {unusable[0]})")
    return [Piece(p.stem, tuple(cached[p.name]), None) for p in paths if cached[p.name]]


def read_cache(path: Path) -> dict[str, list[str]]:
    """The cached tokens, or nothing when the cache is missing or damaged (it is rebuilt)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in data.values()
    )
    return data if ok else {}


def chorale_tokens(path: Path) -> list[str]:
    """One chorale through music21 to MIDI, then to tokens ([] if it holds no notes, or if
    music21 cannot export it: one of its files has repeats it cannot expand)."""
    from music21 import corpus, midi

    try:
        score = corpus.parse(path)
        raw = midi.translate.music21ObjectToMidiFile(score).writestr()
    except Exception:  # music21 raises many kinds (ExpanderException, MidiException, ...)
        return []
    parsed = score_from_bytes(raw)
    return encode_score(parsed) if parsed.note_num() else []


def read_prime(path: Path) -> list[str]:
    """The tokens of a MIDI file given as an opening to continue."""
    return encode_score(read_score(path))
