"""A piece as a piano roll in SVG: time across, pitch up, one rectangle per note.

Each track (program) has its colour, drums grey; thin lines mark the bars, fainter ones
each C. The picture is WIDTH pixels wide whatever the piece's length, and ROW pixels per
semitone of the range the notes span.

>>> svg = piano_roll_svg(score)        # a symusic Score
"""

from __future__ import annotations

from typing import Any

from saurus.music.tokens import bar_ticks, notes_of

WIDTH = 720.0
ROW = 4.0  # pixels per semitone
MIN_HEIGHT = 96.0
PAD = 2  # semitones of room above and below the notes
COLOURS = ("#3b6ea5", "#d1495b", "#2e933c", "#edae49", "#7b4b94", "#00798c", "#a0522d", "#c2185b")
DRUMS = "#888888"
SVG_NS = "http://www.w3.org/2000/svg"


def num(value: float) -> str:
    """A coordinate, short: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def piano_roll_svg(score: Any) -> str:
    """The notes of `score` as an SVG document (a string), one <rect> per note."""
    notes = notes_of(score)
    if not notes:
        return (
            f'<svg xmlns="{SVG_NS}" width="{num(WIDTH)}" height="{num(MIN_HEIGHT)}" '
            f'viewBox="0 0 {num(WIDTH)} {num(MIN_HEIGHT)}"><title>piano roll: no notes</title>'
            f'<text x="{num(WIDTH / 2)}" y="{num(MIN_HEIGHT / 2)}" text-anchor="middle" '
            'font-family="sans-serif" font-size="12" fill="#888">no notes</text></svg>'
        )
    bar = bar_ticks(score) / score.ticks_per_quarter  # beats per bar
    end = max(onset + duration for *_, onset, duration in notes)
    bars = max(1, int(-(-end // bar)))  # whole bars, rounded up
    beat = WIDTH / (bars * bar)  # pixels per beat
    low = min(pitch for _, _, pitch, *_ in notes) - PAD
    high = max(pitch for _, _, pitch, *_ in notes) + PAD
    height = max(MIN_HEIGHT, (high - low + 1) * ROW)
    row = height / (high - low + 1)

    def y(pitch: int) -> float:
        return (high - pitch) * row

    grid = " ".join(f"M{num(b * bar * beat)} 0V{num(height)}" for b in range(1, bars))
    octaves = " ".join(f"M0 {num(y(p) + row)}H{num(WIDTH)}" for p in range(low, high + 1) if p % 12 == 0)
    parts = [
        f'<svg xmlns="{SVG_NS}" width="{num(WIDTH)}" height="{num(height)}" '
        f'viewBox="0 0 {num(WIDTH)} {num(height)}">',
        f"<title>piano roll: {len(notes)} notes in {bars} bars</title>",
    ]
    if octaves:
        parts.append(f'<path d="{octaves}" stroke="#eee" stroke-width="1"/>')
    if grid:
        parts.append(f'<path d="{grid}" stroke="#ccc" stroke-width="1"/>')
    tracks = list(dict.fromkeys((program, drum) for program, drum, *_ in notes))
    for i, track in enumerate(tracks):
        colour = DRUMS if track[1] else COLOURS[i % len(COLOURS)]
        label = "drums" if track[1] else f"program {track[0]}"
        parts.append(f'<g fill="{colour}" fill-opacity="0.85"><title>{label}</title>')
        parts.extend(
            f'<rect x="{num(onset * beat)}" y="{num(y(pitch))}" '
            f'width="{num(max(duration * beat, 1.0))}" height="{num(row)}"/>'
            for program, drum, pitch, onset, duration in notes
            if (program, drum) == track
        )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
