"""A quick listen: MIDI rendered to a WAV file, 16-bit mono, normalised to -1 dBFS.

With FluidSynth and a General MIDI soundfont installed (`apt-get install fluidsynth
fluid-soundfont-gm`, or $SAURUS_SOUNDFONT naming a .sf2 file), real instruments; without
them, pretty_midi's sine tones (NumPy only; drums are silent). Either way the sound lasts
the piece plus TAIL_SECONDS, for the last notes' release.

>>> wav, renderer = render_wav(midi)      # renderer: "fluidsynth" or "sine"
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import warnings
import wave
from pathlib import Path

import numpy as np

from saurus.atomic import atomic_write_bytes
from saurus.music.tokens import music_packages, score_from_bytes, seconds_of

SAMPLE_RATE = 22050
PEAK = 10 ** (-1 / 20)  # -1 dBFS
TAIL_SECONDS = 1.0  # after the last note ends
FADE_SECONDS = 0.25  # a sound cut at the end (FluidSynth's reverb rings on) fades out over this
GAIN = 0.8  # FluidSynth's master gain (its default, 0.2, is quiet; the result is normalised anyway)
RENDER_TIMEOUT = 60.0  # seconds FluidSynth may take before the sine tones are used instead
SOUNDFONT_ENV = "SAURUS_SOUNDFONT"
SOUNDFONTS = (  # where Debian's and Fedora's packages put a General MIDI soundfont
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
FLUIDSYNTH = "fluidsynth"
SINE = "sine"
INSTALL_HINT = (
    "install them for real instruments (apt-get install fluidsynth fluid-soundfont-gm), "
    f"or set {SOUNDFONT_ENV} to a .sf2 file"
)


def find_soundfont() -> Path | None:
    """$SAURUS_SOUNDFONT when it names a file, else the first General MIDI soundfont found."""
    named = os.environ.get(SOUNDFONT_ENV)
    if named and Path(named).is_file():
        return Path(named)
    return next((p for p in SOUNDFONTS if p.is_file()), None)


def find_fluidsynth() -> tuple[str, Path] | None:
    """The fluidsynth program and a soundfont, when both are installed."""
    program, soundfont = shutil.which(FLUIDSYNTH), find_soundfont()
    return (program, soundfont) if program and soundfont else None


def sine_note() -> str:
    """Why the sound is sine tones, in one line."""
    if find_fluidsynth() is None:
        return f"sine tones: FluidSynth with a General MIDI soundfont was not found; {INSTALL_HINT}"
    return "sine tones: FluidSynth failed on this piece"


def render_wav(midi: bytes, rate: int = SAMPLE_RATE, *, timeout: float = RENDER_TIMEOUT) -> tuple[bytes, str]:
    """`midi` as the bytes of a WAV file, and the renderer that made it: "fluidsynth"
    where it and a soundfont are installed, else "sine". FluidSynth failing, or running
    past `timeout` seconds, falls back to the sine tones with a warning."""
    frames = round((seconds_of(score_from_bytes(midi)) + TAIL_SECONDS) * rate)
    found = find_fluidsynth()
    if found is not None:
        try:
            audio = fluidsynth(midi, rate, *found, timeout=timeout)
            return wav_bytes(fitted(audio, frames, round(FADE_SECONDS * rate)), rate), FLUIDSYNTH
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError, ValueError) as err:
            warnings.warn(f"FluidSynth failed ({err}); rendering sine tones instead", stacklevel=2)
    return wav_bytes(fitted(synthesize(midi, rate), frames, round(FADE_SECONDS * rate)), rate), SINE


def write_wav(midi: bytes, path: Path, rate: int = SAMPLE_RATE) -> tuple[float, str]:
    """Render `midi` to `path` (atomically); its length in seconds, and the renderer."""
    wav, renderer = render_wav(midi, rate)
    atomic_write_bytes(path, wav)
    return wav_seconds(wav), renderer


def synthesize(midi: bytes, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The MIDI as float samples in [-PEAK, PEAK], in sine tones."""
    with music_packages():
        import pretty_midi

    return normalised(pretty_midi.PrettyMIDI(io.BytesIO(midi)).synthesize(fs=rate))


def fluidsynth(midi: bytes, rate: int, program: str, soundfont: Path, *, timeout: float) -> np.ndarray:
    """The MIDI as float samples in [-PEAK, PEAK], played by FluidSynth (mixed to mono)."""
    with tempfile.TemporaryDirectory(prefix="saurus-render-") as folder:
        source, out = Path(folder) / "in.mid", Path(folder) / "out.wav"
        source.write_bytes(midi)
        command = [program, "-ni", "-T", "wav", "-O", "s16", "-F", str(out), "-r", str(rate)]
        command += ["-g", str(GAIN), str(soundfont), str(source)]
        done = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not out.is_file():
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise subprocess.SubprocessError(why[-1] if why else f"exit status {done.returncode}")
        with wave.open(str(out), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError(f"FluidSynth wrote {8 * w.getsampwidth()}-bit samples, not 16")
            channels = w.getnchannels()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    mono = pcm.reshape(-1, channels).astype(np.float64).mean(axis=1)
    return normalised(mono)


def normalised(audio: np.ndarray) -> np.ndarray:
    top = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * (PEAK / top) if top > 0 else audio


def fitted(audio: np.ndarray, frames: int, fade: int) -> np.ndarray:
    """`audio` padded with silence to `frames` samples, or cut there, its last `fade`
    samples then fading out (no click)."""
    if len(audio) <= frames:
        return np.pad(audio, (0, frames - len(audio)))
    cut = audio[:frames].copy()
    fade = min(fade, frames)
    if fade:
        cut[frames - fade :] *= np.linspace(1.0, 0.0, fade)
    return cut


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """Float samples in [-1, 1] as a 16-bit mono WAV file."""
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def wav_seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / w.getframerate()
