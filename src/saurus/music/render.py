"""A quick listen: MIDI rendered to a WAV file with pretty_midi's sine-tone synthesis
(NumPy only; drums are silent), normalised to -1 dBFS, 16-bit mono."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from saurus.atomic import atomic_writer
from saurus.music.tokens import music_packages

SAMPLE_RATE = 22050
PEAK = 10 ** (-1 / 20)  # -1 dBFS


def synthesize(midi: bytes, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The MIDI as float samples in [-PEAK, PEAK]."""
    with music_packages():
        import pretty_midi

    audio = pretty_midi.PrettyMIDI(io.BytesIO(midi)).synthesize(fs=rate)
    top = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * (PEAK / top) if top > 0 else audio


def write_wav(midi: bytes, path: Path, rate: int = SAMPLE_RATE) -> float:
    """Render `midi` to `path` (atomically); return its length in seconds."""
    pcm = np.round(synthesize(midi, rate) * 32767).astype("<i2")
    with atomic_writer(path) as handle, wave.open(handle, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return len(pcm) / rate
