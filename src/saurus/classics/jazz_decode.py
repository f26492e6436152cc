"""Decoding the classic jazz exercise's grammar (jazz_grammar.py) back into notes.

Each value "TYPE,duration[,<up,down>]" becomes a note of that type (R rest, C chord tone,
S scale tone, A approach tone, X anything) drawn from a passed-in `random.Random` within
the step bounds, starting where the previous value ends; durations round to the nearest
quarter of a beat below or above, and notes past the bar line are dropped. The bars and
the piano's chords are then written as a MIDI file.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from saurus.atomic import atomic_write_bytes
from saurus.classics.jazz_grammar import BAR, Chord, Harmony, harmonies, harmony_at
from saurus.errors import DataError, OptionError
from saurus.music.tokens import music_packages

GRID = 0.25  # decoded durations are multiples of a sixteenth


LEAD_IN = "C,0.250"  # the course starts each generated bar on a chord tone


FIRST_OCTAVE_FLOOR = 4  # a bar's first note (no <>) is at least in octave 4


OCTAVE_FLOOR = 3  # later notes at least in octave 3


VALUE_RE = re.compile(r"^([RCSAX]),(\d+\.\d{3})(?:,<([^,<>]+),([^,<>]+)>)?$")


@dataclass(frozen=True)
class Value:
    """A parsed grammar value; `steps` bounds the step from the previous note, in semitones."""

    kind: str
    length: float
    steps: tuple[int, int] | None


@dataclass(frozen=True)
class Placed:
    """A decoded element of a bar: offset and length in quarter notes, pitch (None: rest)."""

    offset: float
    length: float
    midi: int | None


def parse_value(text: str) -> Value:
    """A grammar value's type, length and step bounds; a malformed value is a DataError."""
    from music21 import interval

    match = VALUE_RE.match(text)
    if match is None:
        raise DataError(f"{text!r} is not a jazz grammar value (TYPE,duration[,<up,down>])")
    kind, length, up, down = match.groups()
    if up is None:
        return Value(kind, float(length), None)
    try:
        a, b = interval.Interval(up).semitones, interval.Interval(down).semitones
    except Exception:  # music21 raises IntervalException and friends
        raise DataError(f"{text!r} holds an interval music21 cannot read") from None
    return Value(kind, float(length), (min(a, b), max(a, b)))


def course_values(values: Sequence[str]) -> list[str]:
    """The course's post-processing: a chord tone leads in, A and X after it become C."""
    out = [LEAD_IN]
    for value in values:
        out.append("C" + value[1:] if value[:1] in ("A", "X") else value)
    return out


def round_length(length: float, rng: random.Random) -> float:
    """The length rounded down or up (at random) to a multiple of a sixteenth."""
    units = length / GRID
    return GRID * (math.floor(units + 1e-9) if rng.choice((-1, 1)) < 0 else math.ceil(units - 1e-9))


def floor_octave(midi: int, octave: int) -> int:
    """The pitch moved into `octave` (keeping its name) when it lies below it; never above 127."""
    floor = 12 * (octave + 1)
    midi = floor + midi % 12 if midi < floor else midi
    while midi > 127:
        midi -= 12
    return midi


def first_tone(kind: str, h: Harmony, rng: random.Random) -> int:
    """A note without a previous one: a chord tone, or a scale tone in one of the chord's
    octaves (moved a semitone for A and X)."""
    if kind == "C":
        return floor_octave(rng.choice(h.pitches), FIRST_OCTAVE_FLOOR)
    pcs = sorted(h.scale_pcs) or sorted(h.chord_pcs) or sorted({m % 12 for m in h.pitches})
    pc = rng.choice(pcs)
    octave = rng.choice(sorted(m // 12 - 1 for m in h.pitches))
    midi = 12 * (octave + 1) + pc
    if kind not in ("C", "S"):
        midi += rng.choice((1, -1))
    return floor_octave(midi, FIRST_OCTAVE_FLOOR)


def next_tone(kind: str, steps: tuple[int, int], previous: int, h: Harmony, rng: random.Random) -> int:
    """A note of `kind` within the step bounds of the previous one (a whole tone away
    where none fits)."""
    low, high = previous + steps[0], previous + steps[1]
    fitting = [m for m in range(low, high + 1) if 0 <= m <= 127 and h.fits(kind, m)]
    if len(fitting) > 1:
        midi = rng.choice([m for m in fitting if m != previous])
    elif fitting:
        midi = fitting[0]
    else:
        midi = previous + rng.choice((-2, 2))
    return floor_octave(midi, OCTAVE_FLOOR)


def realise(values: Sequence[Value], row: Sequence[Harmony], rng: random.Random) -> list[Placed]:
    """One bar's elements from its parsed values, back to back from the bar's start."""
    placed, cursor, previous = [], 0.0, None
    for value in values:
        if value.kind == "R":
            placed.append(Placed(cursor, value.length, None))
        else:
            h = harmony_at(row, cursor)
            if value.steps is None or previous is None:
                midi = first_tone(value.kind, h, rng)
            else:
                midi = next_tone(value.kind, value.steps, previous, h, rng)
            placed.append(Placed(cursor, value.length, midi))
            previous = midi
        cursor += value.length
    return placed


def drop_repeats(placed: Sequence[Placed]) -> list[Placed]:
    """Without a note that repeats the pitch of the note just before it."""
    kept: list[Placed] = []
    for p in placed:
        if p.midi is not None and kept and kept[-1].midi == p.midi:
            continue
        kept.append(p)
    return kept


def clean_up(placed: Sequence[Placed]) -> list[Placed]:
    """Lengths of 0 become a sixteenth; a note starting with the element before it goes;
    what starts past the bar line goes and what crosses it is cut there."""
    kept: list[Placed] = []
    for p in placed:
        if p.midi is not None and kept and math.isclose(kept[-1].offset, p.offset):
            continue
        if p.offset >= BAR - 1e-9:
            continue
        length = min(p.length or GRID, BAR - p.offset)
        kept.append(Placed(p.offset, length, p.midi))
    return kept


def decode_bar(values: Sequence[str], row: Sequence[Harmony], rng: random.Random) -> list[Placed]:
    """One generated bar as notes (and rests) over its chords, as the course decodes it."""
    parsed = [parse_value(v) for v in course_values(values)]
    pruned = [Value(v.kind, round_length(v.length, rng), v.steps) for v in parsed]
    return clean_up(drop_repeats(realise(pruned, row, rng)))


def quarter(value: float) -> Fraction:
    """A float offset or length as an exact fraction of a quarter note (thirds kept)."""
    return Fraction(value).limit_denominator(48)


def build_score(bars: Sequence[Sequence[Placed]], chords: Sequence[Sequence[Chord]], bpm: float) -> Any:
    """A two-part music21 Score: the melody (guitar, with the tempo) and the chords (piano)."""
    from music21 import chord, instrument, note, pitch, stream
    from music21 import tempo as m21tempo

    melody, comp = stream.Part(), stream.Part()
    melody.insert(0, instrument.ElectricGuitar())
    melody.insert(0, m21tempo.MetronomeMark(number=bpm))
    comp.insert(0, instrument.Piano())
    for i, (bar, bar_chords) in enumerate(zip(bars, chords, strict=True)):
        start = Fraction(i * BAR)
        for p in bar:
            if p.midi is not None:
                n = note.Note(p.midi, quarterLength=quarter(p.length))
                melody.insert(start + quarter(p.offset), n)
        ends = [offset for offset, _ in bar_chords[1:]] + [float(BAR)]
        for (offset, pitches), end in zip(bar_chords, ends, strict=True):
            if pitches and end > offset:
                notes = [pitch.Pitch(midi=m) for m in pitches]  # ints would be respelled, slowly
                c = chord.Chord(notes, quarterLength=quarter(end - offset))
                comp.insert(start + quarter(offset), c)
    score = stream.Score()
    score.insert(0, melody)
    score.insert(0, comp)
    return score


def values_to_midi(
    measures: list[list[str]],
    chords: list[list[Chord]],
    path: Path,
    *,
    tempo: float = 130.0,
    rng: random.Random,
) -> int:
    """Turn generated values (one list per measure, paired with that measure's chords) into notes,
    add the chords, write MIDI; return the number of melody notes written."""
    if len(measures) != len(chords):
        raise ValueError(f"{len(measures)} bars of values but {len(chords)} bars of chords")
    if not (math.isfinite(tempo) and tempo > 0):
        raise OptionError(f"the tempo must be a positive number of beats per minute, not {tempo}")
    with music_packages():
        from music21.midi import translate

    rows = harmonies(chords)
    bars = [decode_bar(values, row, rng) for values, row in zip(measures, rows, strict=True)]
    score = build_score(bars, chords, tempo)
    atomic_write_bytes(Path(path), translate.streamToMidiFile(score).writestr())
    return sum(p.midi is not None for bar in bars for p in bar)
