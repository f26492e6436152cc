"""The classic jazz exercise's grammar (deepjazz, after Gillick, Tang & Keller 2009).

A solo becomes one value per note or rest, "TYPE,duration[,<up,down>]":
TYPE is R (rest), C (chord tone), S (scale tone of the chord's scale), A (approach tone,
a semitone from a chord tone) or X (anything else); duration is in quarter notes ("%.3f");
<up,down> bounds the step from the previous note of the bar (the interval plus and minus
a minor third, as music21 names them). Decoding draws notes of the right type within
those bounds from a passed-in `random.Random`.

The data is the accompanied guitar solo of Pat Metheny's 'And Then I Knew'
(original_metheny.mid): quarter notes 476 to 548 of part 5 (guitar), over the chords of
part 0 (piano), one bar at a time; the first bar is skipped, as in the original.

Deliberate differences from the Python 2 original: bars are matched to chords by their
number, never by position; the two guitar voices (music21 10 makes voices in some bars)
are merged and rests are the silences left between sounding notes, so a bar's durations
sum to 4 (a twelfth more where the voices overlap); the guitar's chords stay, as C values;
decoded notes start where the previous value ends (not where it ends itself), durations
round to the nearest quarter of a beat below or above (never 0.25 up to 0.5), and notes
past the bar line are dropped. Only the two parts the grammar uses are translated from
MIDI: the same parts `converter.parse` makes, in an eighth of its time.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from saurus.atomic import atomic_write_bytes
from saurus.errors import DataError, OptionError, os_reason
from saurus.music.tokens import music_packages

MELODY_PART = 5  # the guitar, as converter.parse numbers the parts that hold notes
CHORD_PART = 0  # the piano: the only accompaniment part with chords
SOLO_START = 476  # quarter notes: the accompanied solo, from bar 119 ...
SOLO_END = 548  # ... up to (without) bar 137, whose resolving chord the original drops
BAR = 4  # quarter notes per bar (4/4 throughout)
GRID = 0.25  # decoded durations are multiples of a sixteenth
LEAD_IN = "C,0.250"  # the course starts each generated bar on a chord tone
FIRST_OCTAVE_FLOOR = 4  # a bar's first note (no <>) is at least in octave 4
OCTAVE_FLOOR = 3  # later notes at least in octave 3
MINOR_THIRD = "m3"
VALUE_RE = re.compile(r"^([RCSAX]),(\d+\.\d{3})(?:,<([^,<>]+),([^,<>]+)>)?$")

Chord = tuple[float, tuple[int, ...]]  # offset in its bar (quarter notes), MIDI pitches


@dataclass(frozen=True)
class JazzData:
    """The grammar corpus of the Metheny solo and the chords each bar's values belong to."""

    values: list[str]  # the whole corpus of grammar values, in order
    measures: list[list[str]]  # values per bar (same content as values, grouped)
    chords: list[list[Chord]]  # per bar, paired with measures: (offset in the bar, MIDI pitches)


@dataclass(frozen=True)
class Harmony:
    """What one chord allows, as pitch classes of the notes' names (C, C#, D, E-, ...)."""

    offset: float
    pitches: tuple[int, ...]
    chord_pcs: frozenset[int]
    scale_pcs: frozenset[int]
    approach_pcs: frozenset[int]

    def kind(self, midi: int) -> str:
        """C, S, A or X: what the MIDI pitch is to this chord."""
        pc = midi % 12
        if pc in self.chord_pcs:
            return "C"
        if pc in self.scale_pcs:
            return "S"
        return "A" if pc in self.approach_pcs else "X"

    def fits(self, kind: str, midi: int) -> bool:
        """Whether the pitch may stand for a value of `kind` (A and X: approach tones)."""
        pcs = {"C": self.chord_pcs, "S": self.scale_pcs}.get(kind, self.approach_pcs)
        return midi % 12 in pcs


@dataclass(frozen=True)
class Sound:
    """One element of the solo: a note (one pitch), a chord (several) or a rest (none)."""

    offset: Fraction
    length: Fraction
    pitches: tuple[int, ...]

    @property
    def end(self) -> Fraction:
        return self.offset + self.length


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


# ---------------------------------------------------------------- reading the MIDI file


def read_midi(path: Path) -> Any:
    """The file as a music21 MidiFile; a missing, unreadable or damaged file is a DataError."""
    with music_packages():
        from music21 import midi

    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a MIDI file") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {os_reason(err)}") from None
    if raw[:4] != b"MThd":
        raise DataError(f"{path} is not a MIDI file (it does not start with 'MThd')")
    mf = midi.MidiFile()
    try:
        mf.readstr(raw)
    except Exception as err:  # music21 reports damage with several exception types
        raise DataError(f"{path} is a damaged MIDI file: {str(err).strip() or type(err).__name__}") from None
    return mf


def translate_parts(mf: Any, path: Path, wanted: Sequence[int]) -> dict[int, Any]:
    """The music21 Parts `wanted` (numbered as converter.parse numbers them: tracks with
    notes, in order), translating only those tracks and the ones without notes."""
    with music_packages():
        from music21.midi import translate

    with_notes = [track for track in mf.tracks if track.hasNotes()]
    if len(with_notes) <= max(wanted):
        raise DataError(
            f"{path} has {len(with_notes)} parts with notes; the jazz grammar needs part {MELODY_PART} "
            f"(the guitar of original_metheny.mid)"
        )
    keep = {id(with_notes[i]) for i in wanted}
    tracks = [track for track in mf.tracks if not track.hasNotes() or id(track) in keep]
    try:
        score = translate.midiTracksToStreams(tracks, ticksPerQuarter=mf.ticksPerQuarterNote)
    except Exception as err:  # music21 raises many types on odd events
        raise DataError(f"{path} is a damaged MIDI file: {str(err).strip() or type(err).__name__}") from None
    if len(score.parts) != len(wanted):
        raise DataError(f"{path}: music21 made {len(score.parts)} parts of {len(wanted)} tracks with notes")
    return dict(zip(sorted(wanted), score.parts, strict=True))


def in_solo(offset: Fraction) -> bool:
    return SOLO_START <= offset < SOLO_END


def sounding(part: Any) -> list[Sound]:
    """The notes and chords of the part in the solo, both voices merged, sorted by offset;
    a note of length 0 gets a sixteenth."""
    with music_packages():
        from music21 import chord, note

    found = []
    for element in part.flatten().getElementsByClass([note.Note, chord.Chord]):
        offset = Fraction(element.offset)
        if not in_solo(offset):
            continue
        length = Fraction(element.quarterLength) or Fraction(1, 4)
        found.append(Sound(offset, length, tuple(p.midi for p in element.pitches)))
    return sorted(found, key=lambda s: (s.offset, s.pitches))


def bar_pieces(start: Fraction, end: Fraction) -> Iterator[tuple[Fraction, Fraction]]:
    """The span [start, end) cut at the bar lines."""
    while start < end:
        stop = min(end, Fraction(math.floor(start / BAR) + 1) * BAR)
        yield start, stop
        start = stop


def silences(sounds: Sequence[Sound]) -> list[Sound]:
    """Rests for the time in the solo where nothing sounds, one per gap and bar."""
    rests, cursor = [], Fraction(SOLO_START)
    for sound in [*sounds, Sound(Fraction(SOLO_END), Fraction(0), ())]:
        for start, stop in bar_pieces(cursor, sound.offset):
            rests.append(Sound(start, stop - start, ()))
        cursor = max(cursor, sound.end)
    return rests


def melody_bars(part: Any) -> dict[int, list[Sound]]:
    """The solo's notes, chords and rests, by bar number, in order."""
    notes = sounding(part)
    bars: dict[int, list[Sound]] = {n: [] for n in range(SOLO_START // BAR, SOLO_END // BAR)}
    for sound in sorted([*notes, *silences(notes)], key=lambda s: (s.offset, len(s.pitches) == 0)):
        bars[int(sound.offset // BAR)].append(sound)
    return bars


def chord_bars(part: Any) -> dict[int, list[Chord]]:
    """The piano's chords in the solo, by bar number: (offset in the bar, MIDI pitches, low to high)."""
    with music_packages():
        from music21 import chord

    bars: dict[int, list[Chord]] = {n: [] for n in range(SOLO_START // BAR, SOLO_END // BAR)}
    for element in part.flatten().getElementsByClass(chord.Chord):
        offset = Fraction(element.offset)
        if in_solo(offset):
            pitches = tuple(sorted(p.midi for p in element.pitches))
            bars[int(offset // BAR)].append((float(offset % BAR), pitches))
    return bars


# ---------------------------------------------------------------- harmony


def pitch_name(midi: int) -> str:
    """music21's name for a MIDI pitch, as it spells notes read from MIDI (C#, E-, ...)."""
    from music21 import pitch

    return str(pitch.Pitch(midi=midi).name)


def pcs_named(names: set[str]) -> frozenset[int]:
    """The pitch classes whose MIDI spelling is among `names` (the original compares names)."""
    return frozenset(pc for pc in range(12) if pitch_name(60 + pc) in names)


def chord_scale_names(m21_chord: Any) -> set[str]:
    """Names of the scale music21 derives from the chord: major for a major chord, else Dorian."""
    from music21 import scale

    kind = scale.MajorScale() if m21_chord.quality == "major" else scale.DorianScale()
    return {p.name for p in kind.derive(m21_chord).getPitches()}


def approach_names(m21_chord: Any) -> set[str]:
    """Names a semitone above or below a chord tone, enharmonic spellings included."""
    names = set()
    for p in m21_chord.pitches:
        for step in (1, -1):
            moved = p.transpose(step)
            names.update((moved.name, moved.getEnharmonic().name))
    return names


def harmony(pitches: tuple[int, ...], offset: float = 0.0) -> Harmony:
    """The chord tones, scale tones and approach tones of one chord."""
    with music_packages():
        from music21 import chord, pitch

    m21_chord = chord.Chord([pitch.Pitch(midi=m) for m in pitches])  # spelled as read from MIDI
    return Harmony(
        offset=float(offset),
        pitches=tuple(pitches),
        chord_pcs=pcs_named(set(m21_chord.pitchNames)),
        scale_pcs=pcs_named(chord_scale_names(m21_chord)),
        approach_pcs=pcs_named(approach_names(m21_chord)),
    )


def harmonies(chords: Sequence[Sequence[Chord]]) -> list[list[Harmony]]:
    """Each bar's harmonies; a bar without chords keeps the last chord heard before it
    (moved to its start), or the first chord of all where none came before."""
    out: list[list[Harmony]] = []
    cache: dict[tuple[int, ...], Harmony] = {}
    every = [c for bar in chords for c in bar]
    if not every:
        raise DataError("there are no chords to build the melody on")
    last = every[0]
    for bar in chords:
        held = list(bar) or [(0.0, last[1])]
        row = []
        for offset, pitches in held:
            if not pitches:
                raise DataError("a chord without pitches")
            key = tuple(sorted(pitches))
            if key not in cache:
                cache[key] = harmony(key)
            row.append(dataclasses.replace(cache[key], offset=float(offset)))
        out.append(row)
        last = held[-1]
    return out


def harmony_at(row: Sequence[Harmony], offset: float) -> Harmony:
    """The last chord struck at or before `offset`; before the first, the first."""
    before = [h for h in row if h.offset <= offset]
    return before[-1] if before else row[0]


# ---------------------------------------------------------------- encoding


def step_bounds(previous: int, current: int) -> str:
    """ ",<up,down>": the interval between two notes plus and minus a minor third."""
    from music21 import interval, pitch

    distance = interval.Interval(pitchStart=pitch.Pitch(midi=previous), pitchEnd=pitch.Pitch(midi=current))
    upper = interval.add([distance, MINOR_THIRD])
    lower = interval.subtract([distance, MINOR_THIRD])
    return f",<{upper.directedName},{lower.directedName}>"


def bar_values(sounds: Sequence[Sound], row: Sequence[Harmony], bar_start: int) -> list[str]:
    """The grammar values of one bar's notes, chords and rests."""
    values, previous = [], None
    for sound in sounds:
        length = f"{float(sound.length):.3f}"
        if not sound.pitches:
            values.append(f"R,{length}")
        elif len(sound.pitches) > 1:
            values.append(f"C,{length}")
        else:
            midi = sound.pitches[0]
            kind = harmony_at(row, float(sound.offset - bar_start)).kind(midi)
            steps = "" if previous is None else step_bounds(previous, midi)
            values.append(f"{kind},{length}{steps}")
            previous = midi
    return values


def load_jazz(path: Path) -> JazzData:
    """The grammar values and chords of the Metheny solo, bar by bar (the first bar skipped)."""
    path = Path(path)
    parts = translate_parts(read_midi(path), path, (CHORD_PART, MELODY_PART))
    melody, chords = melody_bars(parts[MELODY_PART]), chord_bars(parts[CHORD_PART])
    if not any(s.pitches for bar in melody.values() for s in bar):
        raise DataError(
            f"{path} has no notes in part {MELODY_PART} between beats {SOLO_START} and {SOLO_END}"
        )
    if not any(chords.values()):
        raise DataError(
            f"{path} has no chords in part {CHORD_PART} between beats {SOLO_START} and {SOLO_END}"
        )
    numbers = sorted(melody)[1:]
    bar_chords = [chords[n] for n in numbers]
    rows = harmonies([chords[n] for n in sorted(chords)])[1:]
    measures = [bar_values(melody[n], row, n * BAR) for n, row in zip(numbers, rows, strict=True)]
    return JazzData(values=[v for bar in measures for v in bar], measures=measures, chords=bar_chords)


# ---------------------------------------------------------------- decoding


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


# ---------------------------------------------------------------- writing


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
