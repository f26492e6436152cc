"""MIDI <-> tokens, through symusic (reading and writing) and miditok's REMI.

One token stream per piece holds every track: `Bar_None`, `TimeSig_4/4`, `Position_p`
(p in 1/8 beats), `Tempo_t`, then per note `Program_k`, `Pitch_n`, `Velocity_v`,
`Duration_b.f.r` (b beats + f/r). Onsets land on a grid of 1/8 beat, so an onset moves
by at most 1/16 beat; pitches, programs and the tempo (to 1 BPM) are kept exactly.
Tracks that share a program share one track on the way back (drum kits become one kit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from saurus.atomic import atomic_write_bytes
from saurus.errors import DataError, SaurusError

GRID_PER_BEAT = 8  # onset positions per quarter note
# The pinned tokenizer: a change here changes every token, so model files record it.
TOKENIZER = "REMI"
TOKENIZER_PARAMS: dict[str, Any] = {
    "pitch_range": (0, 127),
    "drums_pitch_range": (0, 127),
    "beat_res": {(0, 4): GRID_PER_BEAT, (4, 12): 4},
    "num_velocities": 32,
    "use_programs": True,
    "one_token_stream_for_programs": True,
    "use_tempos": True,
    "num_tempos": 211,  # 40..250 BPM in steps of 1
    "tempo_range": (40, 250),
    "use_time_signatures": True,
    "remove_duplicated_notes": False,
}
MIDI_SUFFIXES = (".mid", ".midi")
MAX_MIDI_BYTES = 64 * 1024**2  # the largest MIDI files in public collections are a few MB


class MusicExtraMissingError(SaurusError):
    """The optional music packages are not installed."""


def music_extra_missing(err: ImportError) -> MusicExtraMissingError:
    return MusicExtraMissingError(
        f"music needs the 'music' extra ({err.name} is missing): pip install 'saurus[music]'"
    )


@contextlib.contextmanager
def music_packages() -> Iterator[None]:
    """Turn a missing optional package into one clear line."""
    try:
        yield
    except ImportError as err:
        raise music_extra_missing(err) from None


@cache
def tokenizer() -> Any:
    """The pinned REMI tokenizer (built once per process)."""
    with music_packages():
        from miditok import REMI, TokenizerConfig

    return REMI(TokenizerConfig(**TOKENIZER_PARAMS))


def read_score(path: str | Path) -> Any:
    """A MIDI file as a symusic Score (ticks); a file that is not MIDI is a DataError."""
    with music_packages():
        import symusic

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a MIDI file")
    size = path.stat().st_size
    if size > MAX_MIDI_BYTES:
        raise DataError(f"{path} is {size:,} bytes; a MIDI file of more than {MAX_MIDI_BYTES:,} is refused")
    raw = path.read_bytes()
    if raw[:4] != b"MThd":
        raise DataError(f"{path} is not a MIDI file (it does not start with 'MThd')")
    try:
        return symusic.Score.from_midi(raw)
    except Exception as err:  # symusic reports damage with bare RuntimeErrors
        raise DataError(f"{path} is a damaged MIDI file: {str(err).strip() or type(err).__name__}") from None


def encode_score(score: Any) -> list[str]:
    """The tokens of a symusic Score."""
    if score.note_num() == 0:
        raise DataError("the MIDI file holds no notes")
    return list(tokenizer().encode(score).tokens)


def encode_midi(path: str | Path) -> list[str]:
    """The tokens of a MIDI file (all tracks in one stream, tempo and metre included)."""
    return encode_score(read_score(path))


def tokens_to_score(tokens: Sequence[str], tempo: float | None = None) -> Any:
    """A symusic Score from tokens; unknown tokens are a DataError. `tempo` (BPM) replaces
    every tempo the tokens hold."""
    tok = tokenizer()
    unknown = sorted({t for t in tokens if t not in tok.vocab})
    if unknown:
        raise DataError(
            f"{len(unknown)} tokens are not REMI tokens of this configuration, e.g. {unknown[0]!r}"
        )
    with music_packages():
        from miditok import TokSequence

    score = tok.decode(TokSequence(tokens=list(tokens)))
    if tempo is not None:
        import symusic

        score.tempos.clear()
        score.tempos.append(symusic.Tempo(time=0, qpm=tempo))
    return score


def midi_bytes(score: Any) -> bytes:
    """A Score as the bytes of a standard MIDI file."""
    return bytes(score.dumps_midi())


def decode_tokens(tokens: Sequence[str], path: str | Path, *, tempo: float | None = None) -> int:
    """Write the tokens as a MIDI file (atomically); return the number of notes written."""
    return write_score(tokens_to_score(tokens, tempo), path)


def write_score(score: Any, path: str | Path) -> int:
    """Write a Score as a MIDI file (atomically); return the number of notes written."""
    atomic_write_bytes(Path(path), midi_bytes(score))
    return int(score.note_num())


def bar_ticks(score: Any) -> int:
    """Ticks per bar in the first time signature (4/4 when there is none)."""
    sig = score.time_signatures[0] if len(score.time_signatures) else None
    beats = 4.0 if sig is None else sig.numerator * 4 / sig.denominator
    return round(beats * score.ticks_per_quarter)


def bars_in(score: Any) -> int:
    """Bars up to the last onset (a bar for an opening that ends on a bar line is not added)."""
    onsets = [n.time for track in score.tracks for n in track.notes]
    return 0 if not onsets else max(onsets) // bar_ticks(score) + 1


def clip_to_bars(score: Any, bars: int) -> Any:
    """The first `bars` bars: later notes dropped, notes ringing past the end cut there."""
    return score.clip(0, bars * bar_ticks(score), clip_end=True)


def notes_of(score: Any) -> list[tuple[int, bool, int, float, float]]:
    """(program, drum, pitch, onset beats, duration beats) of every note, sorted."""
    tpq = float(score.ticks_per_quarter)
    rows = [
        (int(track.program), bool(track.is_drum), int(n.pitch), n.time / tpq, n.duration / tpq)
        for track in score.tracks
        for n in track.notes
    ]
    return sorted(rows)


def score_from_bytes(raw: bytes) -> Any:
    with music_packages():
        import symusic

    return symusic.Score.from_midi(raw)


def midi_files(folder: Path) -> list[Path]:
    """The MIDI files under `folder`, sorted, searched recursively."""
    found = [p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()]
    return sorted(found)


def seconds_of(score: Any) -> float:
    """Seconds from the start to the end of the last note, at the score's tempos."""
    return float(score.to("second").end())


class ScoredPiece:
    """What a drawn piece holding a symusic Score in `score` offers: its note count, its
    length in seconds and its MIDI bytes (mixed into the pieces' dataclasses)."""

    score: Any

    @property
    def notes(self) -> int:
        return int(self.score.note_num())

    @property
    def seconds(self) -> float:
        """From the start to the end of the last note."""
        return seconds_of(self.score)

    def midi(self) -> bytes:
        return midi_bytes(self.score)


def tempo_of(score: Any) -> float:
    """The first tempo in BPM (120 when the file sets none)."""
    return float(score.tempos[0].qpm) if len(score.tempos) else 120.0
