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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from saurus.errors import DataError, os_reason
from saurus.music.tokens import music_packages

MELODY_PART = 5  # the guitar, as converter.parse numbers the parts that hold notes
CHORD_PART = 0  # the piano: the only accompaniment part with chords
SOLO_START = 476  # quarter notes: the accompanied solo, from bar 119 ...
SOLO_END = 548  # ... up to (without) bar 137, whose resolving chord the original drops
BAR = 4  # quarter notes per bar (4/4 throughout)
MINOR_THIRD = "m3"

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


# ---------------------------------------------------------------- writing
