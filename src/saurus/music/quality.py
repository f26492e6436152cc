"""Musical quality metrics for generated pieces against held-out ones, in NumPy only.

After Yang & Lerch 2020, "On the evaluation of generative models in music" (feature
histograms pooled over a set of pieces, compared by their overlap), and MusPy's metrics
(scale consistency, empty-beat rate, pitch range, polyphony). Times are in beats (quarter
notes). Percussion notes are left out of every pitch metric, and of durations and polyphony
(a drum hit's MIDI length means nothing); rhythm metrics (inter-onset intervals, empty beats,
notes per beat) count them.

Also two copy metrics on token sequences: the longest run of generated tokens found verbatim
in the training tokens, and the share of generated n-grams found there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Key = tuple[int, str]

# Krumhansl & Kessler (1982) key profiles, index 0 = the tonic, then up by semitones.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
MODES = ("major", "minor")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor

# Duration and inter-onset-interval bins, in beats. A value goes to the bin whose centre is
# nearest on a log scale (edges at the geometric means of neighbouring centres); the last bin,
# centred on 8, collects everything from 4·√2 ≈ 5.66 beats up ("long"), the first everything
# up to 1/12 beat (zero included).
RHYTHM_BINS = (1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0)

# Slack for float times: an onset within EPS below a beat line counts in the beat after it.
EPS = 1e-6


@dataclass(frozen=True, eq=False)
class NoteList:
    """Notes of one piece: arrays of equal length, sorted by onset. Times in quarter notes (beats)."""

    pitch: np.ndarray  # int, MIDI 0..127
    onset: np.ndarray  # float, beats from the start
    duration: np.ndarray  # float, beats
    drum: np.ndarray  # bool, True for percussion notes (excluded from pitch metrics)

    def __post_init__(self) -> None:
        for name, dtype in (("pitch", np.int64), ("onset", float), ("duration", float), ("drum", bool)):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype).reshape(-1))
        if not len(self.pitch) == len(self.onset) == len(self.duration) == len(self.drum):
            raise ValueError("pitch, onset, duration and drum must have the same length")
        if np.any((self.pitch < 0) | (self.pitch > 127)):
            raise ValueError("pitches must be MIDI numbers 0..127")
        if np.any(self.duration < 0) or np.any(np.diff(self.onset) < 0):
            raise ValueError("durations must be >= 0 and onsets sorted")

    def __len__(self) -> int:
        return len(self.pitch)

    @staticmethod
    def from_tuples(notes: Iterable[tuple[int, float, float, bool]]) -> NoteList:
        """Notes from (pitch, onset, duration, drum) tuples in any order; sorted by (onset, pitch)."""
        rows = list(notes)
        pitch = np.array([r[0] for r in rows], dtype=np.int64)
        onset = np.array([r[1] for r in rows], dtype=float)
        order = np.lexsort((pitch, onset))
        duration = np.array([r[2] for r in rows], dtype=float)
        drum = np.array([bool(r[3]) for r in rows], dtype=bool)
        return NoteList(pitch[order], onset[order], duration[order], drum[order])


# ---- histograms --------------------------------------------------------------------------


def normalise(counts: np.ndarray) -> np.ndarray:
    """counts / sum(counts); all zeros when the sum is zero."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def histogram_overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Overlap of two normalised histograms: sum_i min(p_i, q_i); 1 = identical, 0 = disjoint."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in shape: {p.shape} and {q.shape}")
    return float(np.minimum(p, q).sum())


def _pitched(notes: NoteList) -> np.ndarray:
    """Pitches of the non-drum notes."""
    return notes.pitch[~notes.drum]


def pitch_class_counts(notes: NoteList) -> np.ndarray:
    """Number of non-drum notes of each pitch class: c_k = #{notes with pitch mod 12 = k}."""
    return np.bincount(_pitched(notes) % 12, minlength=12).astype(float)


def pitch_class_histogram(notes: NoteList) -> np.ndarray:
    """Pitch-class histogram by note count (not duration), drums excluded: c_k / sum(c)."""
    return normalise(pitch_class_counts(notes))


def rhythm_bin(values: np.ndarray) -> np.ndarray:
    """Index into RHYTHM_BINS of each value: the bin centre nearest in log2."""
    centres = np.log2(np.asarray(RHYTHM_BINS))
    edges = (centres[:-1] + centres[1:]) / 2
    logs = np.log2(np.maximum(np.asarray(values, dtype=float), RHYTHM_BINS[0] / 2))
    return np.digitize(logs, edges)


def _rhythm_counts(values: np.ndarray) -> np.ndarray:
    return np.bincount(rhythm_bin(values), minlength=len(RHYTHM_BINS)).astype(float)


def duration_counts(notes: NoteList) -> np.ndarray:
    """Number of non-drum notes whose duration falls in each of RHYTHM_BINS."""
    return _rhythm_counts(notes.duration[~notes.drum])


def duration_histogram(notes: NoteList) -> np.ndarray:
    """Normalised histogram of non-drum note durations over RHYTHM_BINS."""
    return normalise(duration_counts(notes))


def inter_onset_intervals(notes: NoteList) -> np.ndarray:
    """Gaps between successive distinct onsets of all notes (drums included): diff(unique(onset))."""
    return np.diff(np.unique(notes.onset))


def ioi_counts(notes: NoteList) -> np.ndarray:
    """Number of inter-onset intervals in each of RHYTHM_BINS."""
    return _rhythm_counts(inter_onset_intervals(notes))


def ioi_histogram(notes: NoteList) -> np.ndarray:
    """Normalised histogram of inter-onset intervals over RHYTHM_BINS."""
    return normalise(ioi_counts(notes))


# ---- key and scale -----------------------------------------------------------------------


def _key_profiles() -> np.ndarray:
    """24 x 12 rows: the major profile rotated to tonics 0..11, then the minor ones."""
    return np.array(
        [np.roll(profile, tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE) for tonic in range(12)]
    )


def key_correlations(histogram: np.ndarray) -> np.ndarray:
    """Pearson r of a 12-bin histogram with each of the 24 profiles (0 where either is constant)."""
    profiles = _key_profiles()
    x = np.asarray(histogram, dtype=float) - np.mean(histogram)
    y = profiles - profiles.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x) * np.linalg.norm(y, axis=1)
    return np.divide(y @ x, norms, out=np.zeros(24), where=norms > 0)


def estimate_key(notes: NoteList) -> Key:
    """Krumhansl–Schmuckler: the (tonic, mode) whose rotated Krumhansl–Kessler profile correlates
    best with the pitch-class histogram. Ties go to the lowest tonic, major before minor."""
    histogram = pitch_class_histogram(notes)
    if not histogram.any():
        raise ValueError("no pitched notes: the key is undefined")
    best = int(np.argmax(key_correlations(histogram)))
    return best % 12, MODES[best // 12]


def scale_pitch_classes(key: Key) -> np.ndarray:
    """Pitch classes of a key's scale: (tonic + major or natural-minor steps) mod 12."""
    tonic, mode = key
    if mode not in MODES:
        raise ValueError(f"mode must be 'major' or 'minor', not {mode!r}")
    steps = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    return (int(tonic) + np.asarray(steps)) % 12


def scale_consistency(notes: NoteList, key: Key | None = None) -> float:
    """Share of non-drum notes whose pitch class is in `key`'s scale. With key=None, as MusPy:
    the largest such share over all 24 keys (not the estimated key). NaN without pitched notes."""
    counts = pitch_class_counts(notes)
    total = counts.sum()
    if total == 0:
        return math.nan
    keys = [key] if key is not None else [(t, m) for m in MODES for t in range(12)]
    return max(float(counts[scale_pitch_classes(k)].sum() / total) for k in keys)


# ---- descriptive numbers -----------------------------------------------------------------


def _beat_of(times: np.ndarray) -> np.ndarray:
    """Index of the beat [b, b+1) each time falls in, EPS of slack below a beat line."""
    return np.floor(np.asarray(times, dtype=float) + EPS).astype(np.int64)


def beat_count(notes: NoteList) -> int:
    """Whole beats from 0 to the end of the last note: ceil(max(onset + duration)), and at least
    one more than the beat of the last onset (so zero-length notes count). 0 without notes."""
    if len(notes) == 0:
        return 0
    end = math.ceil(float(np.max(notes.onset + notes.duration)) - EPS)
    return max(end, int(_beat_of(notes.onset).max()) + 1)


def empty_beat_rate(notes: NoteList) -> float:
    """Share of the beat_count() beats in which no note (drums included) starts, as MusPy: a beat
    sustained by an earlier note is still empty. NaN without notes. (MusPy counts
    floor(end) + 1 beats, one more when the piece ends on a beat line; this counts ceil(end).)"""
    n = beat_count(notes)
    if n == 0:
        return math.nan
    return 1.0 - len(np.unique(_beat_of(notes.onset))) / n


def pitch_range(notes: NoteList) -> float:
    """Highest minus lowest non-drum pitch, in semitones; NaN without pitched notes."""
    pitches = _pitched(notes)
    return float(pitches.max() - pitches.min()) if len(pitches) else math.nan


def polyphony(notes: NoteList) -> float:
    """Mean, over the distinct onsets t of non-drum notes, of the number of non-drum notes
    sounding at t: onset <= t < onset + duration (a zero-length note sounds at its onset).
    NaN without pitched notes."""
    onsets = notes.onset[~notes.drum]
    if len(onsets) == 0:
        return math.nan
    ends = onsets + notes.duration[~notes.drum]
    ends = np.where(ends > onsets, ends, np.nextafter(onsets, np.inf))
    times = np.unique(onsets)
    started = np.searchsorted(np.sort(onsets), times, side="right")
    ended = np.searchsorted(np.sort(ends), times, side="right")
    return float(np.mean(started - ended))


def notes_per_beat(notes: NoteList) -> float:
    """Number of notes (drums included) / beat_count(); NaN without notes."""
    n = beat_count(notes)
    return len(notes) / n if n else math.nan


# ---- sets of pieces ----------------------------------------------------------------------


def _pooled_overlap(
    counts: Callable[[NoteList], np.ndarray], generated: list[NoteList], reference: list[NoteList]
) -> float:
    """Overlap of the two sets' histograms, each the normalised sum of its pieces' counts; NaN
    when either set has nothing to count."""
    p = np.sum([counts(piece) for piece in generated], axis=0)
    q = np.sum([counts(piece) for piece in reference], axis=0)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    return histogram_overlap(normalise(p), normalise(q))


def _mean(values: list[float]) -> float:
    """Mean of the values that are not NaN; NaN when none are."""
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def compare(generated: list[NoteList], reference: list[NoteList]) -> dict[str, float]:
    """All metrics for a set of generated pieces against a set of reference pieces.

    `pitch_class_overlap`, `duration_overlap`, `ioi_overlap`: histogram_overlap of the two sets'
    pooled histograms (counts summed over pieces, then normalised). For each of scale_consistency
    (best of 24 keys), empty_beat_rate, pitch_range, polyphony and notes_per_beat, the mean over
    pieces (NaNs skipped) of each set, as `<name>_generated` and `<name>_reference`.
    """
    if not generated or not reference:
        raise ValueError("compare needs at least one generated and one reference piece")
    result = {
        "pitch_class_overlap": _pooled_overlap(pitch_class_counts, generated, reference),
        "duration_overlap": _pooled_overlap(duration_counts, generated, reference),
        "ioi_overlap": _pooled_overlap(ioi_counts, generated, reference),
    }
    metrics: tuple[tuple[str, Callable[[NoteList], float]], ...] = (
        ("scale_consistency", scale_consistency),
        ("empty_beat_rate", empty_beat_rate),
        ("pitch_range", pitch_range),
        ("polyphony", polyphony),
        ("notes_per_beat", notes_per_beat),
    )
    for name, metric in metrics:
        result[f"{name}_generated"] = _mean([metric(piece) for piece in generated])
        result[f"{name}_reference"] = _mean([metric(piece) for piece in reference])
    return result


# ---- copying from the training tokens ----------------------------------------------------


def _token_ids(generated: Sequence[Hashable], training: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Both sequences as int64 ids, equal ids for equal tokens (training's tokens numbered first)."""
    g, t = np.asarray(generated), np.asarray(training)
    if g.ndim == t.ndim == 1 and g.dtype.kind == t.dtype.kind == "i":
        inverse = np.unique(np.concatenate([t, g]).astype(np.int64), return_inverse=True)[1].reshape(-1)
        return inverse[len(t) :], inverse[: len(t)]
    ids: dict[Hashable, int] = {}
    t_ids = np.fromiter((ids.setdefault(tok, len(ids)) for tok in training), np.int64, len(training))
    g_ids = np.fromiter((ids.setdefault(tok, len(ids)) for tok in generated), np.int64, len(generated))
    return g_ids, t_ids


class _WindowHashes:
    """Hashes of all windows of an id sequence x: h(s, L) = sum_{k<L} c[x_{s+k}] B^k mod 2^64,
    from prefix sums P_i = sum_{j<i} c[x_j] B^j as (P_{s+L} - P_s) B^-s (B odd, so invertible).
    Equal windows have equal hashes; unequal ones collide with probability about 2^-64."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray, base: int) -> None:
        n = len(ids)
        powers = np.ones(n, dtype=np.uint64)
        inverse_powers = np.ones(n, dtype=np.uint64)
        if n > 1:
            powers[1:] = np.cumprod(np.full(n - 1, base, dtype=np.uint64))
            inverse_powers[1:] = np.cumprod(np.full(n - 1, pow(base, -1, 2**64), dtype=np.uint64))
        self.prefix = np.zeros(n + 1, dtype=np.uint64)
        self.prefix[1:] = np.cumsum(codes[ids] * powers, dtype=np.uint64)
        self.inverse_powers = inverse_powers

    def windows(self, length: int) -> np.ndarray:
        """h(s, length) for s = 0 .. n - length."""
        count = len(self.prefix) - length
        return (self.prefix[length:] - self.prefix[:count]) * self.inverse_powers[:count]


def _hashers(g_ids: np.ndarray, t_ids: np.ndarray) -> tuple[_WindowHashes, _WindowHashes]:
    """Window hashers for both sequences with the same random token codes and base (fixed seed)."""
    rng = np.random.default_rng(20200101)
    n_ids = int(max(g_ids.max(initial=-1), t_ids.max(initial=-1))) + 1
    codes = rng.integers(0, 2**64 - 1, size=n_ids, dtype=np.uint64, endpoint=True)
    base = int(rng.integers(0, 2**63, dtype=np.uint64)) * 2 + 1
    return _WindowHashes(g_ids, codes, base), _WindowHashes(t_ids, codes, base)


def _found(
    g_ids: np.ndarray, t_ids: np.ndarray, g_hash: np.ndarray, t_hash: np.ndarray, length: int
) -> np.ndarray:
    """For each generated window of `length` tokens: does it occur in training? Candidates by
    hash, each confirmed by comparing the tokens themselves, so the answer is exact."""
    found = np.zeros(len(g_hash), dtype=bool)
    if len(g_hash) == 0 or len(t_hash) == 0:
        return found
    wanted = np.sort(g_hash)
    hit = np.flatnonzero(wanted[np.minimum(np.searchsorted(wanted, t_hash), len(wanted) - 1)] == t_hash)
    starts = hit[np.argsort(t_hash[hit], kind="stable")]  # training windows sharing a hash, by hash
    hashes = t_hash[starts]
    lo = np.searchsorted(hashes, g_hash, side="left")
    hi = np.searchsorted(hashes, g_hash, side="right")
    for g in np.flatnonzero(hi > lo):
        window = g_ids[g : g + length]
        found[g] = any(np.array_equal(window, t_ids[s : s + length]) for s in starts[lo[g] : hi[g]])
    return found


def _longest_true_run(mask: np.ndarray) -> int:
    """Length of the longest stretch of consecutive True values."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max(initial=0))


def longest_shared_run(generated: Sequence[int | str], training: Sequence[int | str]) -> int:
    """Length of the longest contiguous run of generated tokens that also occurs contiguously in
    the training tokens (0 when they share no token). Binary search on the length L: a shared
    run of L implies one of every shorter length; each step hashes all L-grams (exact check)."""
    g_ids, t_ids = _token_ids(generated, training)
    hi = min(_longest_true_run(np.isin(g_ids, t_ids)), len(t_ids))
    if hi <= 1:
        return hi
    g_hashes, t_hashes = _hashers(g_ids, t_ids)
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _found(g_ids, t_ids, g_hashes.windows(mid), t_hashes.windows(mid), mid).any():
            lo = mid
        else:
            hi = mid - 1
    return lo


def copy_rate(generated: Sequence[int | str], training: Sequence[int | str], n: int = 8) -> float:
    """Share of the generated n-grams (every start position, repeats counted) that occur in the
    training tokens. NaN when the generated sequence is shorter than n."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    if len(generated) < n:
        return math.nan
    g_ids, t_ids = _token_ids(generated, training)
    if len(t_ids) < n:
        return 0.0
    g_hashes, t_hashes = _hashers(g_ids, t_ids)
    return float(_found(g_ids, t_ids, g_hashes.windows(n), t_hashes.windows(n), n).mean())
