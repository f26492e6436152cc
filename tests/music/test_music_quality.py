"""Musical quality metrics: hand-computed numbers, and the copy metrics against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saurus.music.quality import (
    RHYTHM_BINS,
    NoteList,
    _found,
    beat_count,
    compare,
    copy_rate,
    duration_histogram,
    empty_beat_rate,
    estimate_key,
    histogram_overlap,
    inter_onset_intervals,
    ioi_histogram,
    longest_shared_run,
    notes_per_beat,
    pitch_class_histogram,
    pitch_range,
    polyphony,
    rhythm_bin,
    scale_consistency,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
A_MINOR = [57, 59, 60, 62, 64, 65, 67, 69, 64, 60, 57]


def melody(pitches: list[int], step: float = 1.0, start: float = 0.0) -> NoteList:
    """One note per `step` beats, each lasting `step`."""
    return NoteList.from_tuples((p, start + i * step, step, False) for i, p in enumerate(pitches))


def with_drums(notes: NoteList, drums: list[tuple[int, float]]) -> NoteList:
    rows = list(
        zip(
            notes.pitch.tolist(),
            notes.onset.tolist(),
            notes.duration.tolist(),
            notes.drum.tolist(),
            strict=True,
        )
    )
    return NoteList.from_tuples(rows + [(p, t, 0.1, True) for p, t in drums])


def bin_of(value: float) -> int:
    return RHYTHM_BINS.index(value)


# ---- NoteList ----------------------------------------------------------------------------


def test_from_tuples_sorts_by_onset_then_pitch() -> None:
    notes = NoteList.from_tuples([(64, 1.0, 1.0, False), (67, 0.0, 2.0, False), (60, 0.0, 1.0, True)])
    assert notes.onset.tolist() == [0.0, 0.0, 1.0]
    assert notes.pitch.tolist() == [60, 67, 64]
    assert notes.drum.tolist() == [True, False, False]
    assert notes.duration.tolist() == [1.0, 2.0, 1.0]
    assert len(notes) == 3 and len(NoteList.from_tuples([])) == 0


@pytest.mark.parametrize(
    "pitch, onset, duration",
    [
        ([60, 62], [0.0], [1.0, 1.0]),
        ([128], [0.0], [1.0]),
        ([60], [0.0], [-1.0]),
        ([60, 62], [1.0, 0.0], [1, 1]),
    ],
)
def test_notelist_rejects_bad_arrays(pitch: list[int], onset: list[float], duration: list[float]) -> None:
    with pytest.raises(ValueError):
        NoteList(np.array(pitch), np.array(onset), np.array(duration), np.zeros(len(pitch), bool))


# ---- pitch -------------------------------------------------------------------------------


def test_pitch_class_histogram_counts_notes() -> None:
    hist = pitch_class_histogram(melody(C_MAJOR))  # C twice among 8 notes
    expected = np.zeros(12)
    expected[[0, 2, 4, 5, 7, 9, 11]] = 1 / 8
    expected[0] = 2 / 8
    np.testing.assert_allclose(hist, expected)
    long_c = NoteList.from_tuples([(60, 0.0, 7.0, False), (67, 7.0, 1.0, False)])
    np.testing.assert_allclose(pitch_class_histogram(long_c)[[0, 7]], [0.5, 0.5])  # count, not duration


def test_histogram_overlap() -> None:
    p = np.array([0.2, 0.3, 0.5])
    assert histogram_overlap(p, p) == pytest.approx(1.0)
    assert histogram_overlap([1.0, 0.0, 0.0], [0.0, 0.4, 0.6]) == 0.0
    assert histogram_overlap(p, [0.4, 0.4, 0.2]) == pytest.approx(0.2 + 0.3 + 0.2)
    with pytest.raises(ValueError):
        histogram_overlap([1.0], [0.5, 0.5])


def test_c_major_scale() -> None:
    notes = melody(C_MAJOR)
    assert estimate_key(notes) == (0, "major")
    assert scale_consistency(notes) == 1.0
    assert scale_consistency(notes, (0, "major")) == 1.0
    assert scale_consistency(notes, (9, "minor")) == 1.0  # the relative minor has the same notes
    assert scale_consistency(notes, (2, "major")) == pytest.approx(5 / 8)  # C (twice) and F: not in D major


@pytest.mark.parametrize("shift", [2, 7, -5])
def test_transposing_moves_the_tonic(shift: int) -> None:
    assert estimate_key(melody([p + shift for p in C_MAJOR])) == (shift % 12, "major")
    assert estimate_key(melody([p + shift for p in A_MINOR])) == ((9 + shift) % 12, "minor")


def test_a_natural_minor_melody() -> None:
    notes = melody(A_MINOR)
    assert estimate_key(notes) == (9, "minor")
    assert scale_consistency(notes, (9, "minor")) == 1.0


def test_scale_consistency_default_is_best_of_24_keys() -> None:
    notes = melody([60, 62, 64, 66])  # C D E F#: all in G major, not all in C major
    assert scale_consistency(notes) == 1.0
    assert scale_consistency(notes, (0, "major")) == pytest.approx(0.75)
    chromatic = melody(list(range(60, 72)))
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)
    assert math.isnan(scale_consistency(NoteList.from_tuples([])))
    with pytest.raises(ValueError):
        scale_consistency(notes, (0, "dorian"))


def test_drums_are_left_out_of_pitch_metrics() -> None:
    plain = melody(C_MAJOR)
    drummed = with_drums(plain, [(37, 0.5), (42, 1.5), (42, 2.5), (49, 3.5), (39, 4.5)])  # C#, F#, C#, D#
    np.testing.assert_array_equal(pitch_class_histogram(drummed), pitch_class_histogram(plain))
    assert estimate_key(drummed) == (0, "major")
    assert scale_consistency(drummed) == 1.0
    assert pitch_range(drummed) == 12.0
    assert polyphony(drummed) == polyphony(plain) == 1.0
    np.testing.assert_array_equal(duration_histogram(drummed), duration_histogram(plain))
    with pytest.raises(ValueError):
        estimate_key(with_drums(NoteList.from_tuples([]), [(36, 0.0)]))


# ---- rhythm ------------------------------------------------------------------------------


def test_rhythm_bins() -> None:
    assert rhythm_bin(np.array(RHYTHM_BINS)).tolist() == list(range(len(RHYTHM_BINS)))
    values = np.array([0.0, 0.05, 0.26, 0.48, 1.1, 5.0, 6.0, 100.0])
    expected = [1 / 12, 1 / 12, 1 / 4, 1 / 2, 1.0, 4.0, 8.0, 8.0]
    assert rhythm_bin(values).tolist() == [bin_of(v) for v in expected]


def test_ioi_of_steady_eighths_is_all_half_beats() -> None:
    notes = melody([60, 62, 64, 65] * 4, step=0.5)
    expected = np.zeros(len(RHYTHM_BINS))
    expected[bin_of(0.5)] = 1.0
    np.testing.assert_array_equal(ioi_histogram(notes), expected)
    np.testing.assert_array_equal(duration_histogram(notes), expected)


def test_ioi_uses_distinct_onsets_and_counts_drums() -> None:
    chords = NoteList.from_tuples([(p, t, 1.0, False) for t in (0.0, 1.0, 3.0) for p in (60, 64, 67)])
    np.testing.assert_allclose(inter_onset_intervals(chords), [1.0, 2.0])
    drummed = with_drums(chords, [(36, 2.0)])
    np.testing.assert_allclose(inter_onset_intervals(drummed), [1.0, 1.0, 1.0])


def test_empty_beat_rate() -> None:
    # Notes start on beats 0 and 2 of a 4-beat piece; beats 1 and 3 are sustained but start
    # nothing, so they count as empty (MusPy's convention).
    notes = NoteList.from_tuples([(60, 0.0, 2.0, False), (64, 2.0, 2.0, False)])
    assert beat_count(notes) == 4
    assert empty_beat_rate(notes) == 0.5
    off_beat = NoteList.from_tuples([(60, 0.5, 0.5, False), (64, 2.25, 1.75, False)])
    assert empty_beat_rate(off_beat) == 0.5  # starts in beats 0 and 2 of 4
    drum_fill = with_drums(notes, [(38, 1.0), (38, 3.5)])
    assert empty_beat_rate(drum_fill) == 0.0
    assert empty_beat_rate(melody([60] * 8)) == 0.0
    assert math.isnan(empty_beat_rate(NoteList.from_tuples([])))


def test_descriptive_numbers() -> None:
    # A C major triad held 2 beats, E5 entering at beat 1 for 1 beat, a zero-length G at beat 3.
    notes = NoteList.from_tuples(
        [
            *[(p, 0.0, 2.0, False) for p in (60, 64, 67)],
            (76, 1.0, 1.0, False),
            (55, 3.0, 0.0, False),
            (42, 3.0, 0.5, True),
        ]
    )
    assert pitch_range(notes) == 76 - 55
    assert polyphony(notes) == pytest.approx((3 + 4 + 1) / 3)  # at onsets 0, 1 and 3
    assert beat_count(notes) == 4
    assert notes_per_beat(notes) == pytest.approx(6 / 4)  # drums count
    empty = NoteList.from_tuples([])
    for metric in (pitch_range, polyphony, notes_per_beat, empty_beat_rate):
        assert math.isnan(metric(empty))


# ---- compare -----------------------------------------------------------------------------


def test_compare_identical_sets() -> None:
    pieces = [melody(C_MAJOR, step=0.5), melody(A_MINOR), with_drums(melody([60, 64, 67]), [(36, 0.25)])]
    result = compare(pieces, list(pieces))
    for name in ("pitch_class_overlap", "duration_overlap", "ioi_overlap"):
        assert result[name] == pytest.approx(1.0)
    for name in ("scale_consistency", "empty_beat_rate", "pitch_range", "polyphony", "notes_per_beat"):
        assert result[f"{name}_generated"] == result[f"{name}_reference"]
    assert result["scale_consistency_generated"] == 1.0
    assert result["pitch_range_generated"] == pytest.approx((12 + 12 + 7) / 3)


def test_compare_pools_histograms_over_pieces() -> None:
    generated = [melody([60] * 3), melody([62])]  # pooled: C 3/4, D 1/4
    reference = [melody([62] * 3, step=2.0)]  # D only, half notes
    result = compare(generated, reference)
    assert result["pitch_class_overlap"] == pytest.approx(0.25)
    assert result["duration_overlap"] == 0.0
    assert result["ioi_overlap"] == 0.0
    assert math.isnan(compare([melody([60])], [melody([62])])["ioi_overlap"])  # no intervals at all
    with pytest.raises(ValueError):
        compare([], reference)


# ---- copying -----------------------------------------------------------------------------


def brute_longest_shared_run(generated: list, training: list) -> int:
    best = 0
    for i in range(len(generated)):
        for j in range(len(training)):
            k = 0
            while i + k < len(generated) and j + k < len(training) and generated[i + k] == training[j + k]:
                k += 1
            best = max(best, k)
    return best


def brute_copy_rate(generated: list, training: list, n: int) -> float:
    grams = {tuple(training[j : j + n]) for j in range(len(training) - n + 1)}
    windows = [tuple(generated[i : i + n]) for i in range(len(generated) - n + 1)]
    return sum(w in grams for w in windows) / len(windows)


def test_longest_shared_run_by_hand() -> None:
    assert longest_shared_run([1, 2, 3], [4, 5, 6]) == 0
    assert longest_shared_run([], [1, 2]) == 0
    assert longest_shared_run([1, 2], []) == 0
    training = [5, 1, 2, 3, 4, 9, 9]
    assert longest_shared_run([1, 2, 3, 4], training) == 4  # a full copy
    assert longest_shared_run(training, training) == len(training)
    assert longest_shared_run([7, 7, 9, 9], training) == 2  # a run at the very end of both
    assert longest_shared_run([3, 4, 0, 1, 2, 3, 8], training) == 3
    assert longest_shared_run([2, 1, 3], training) == 1
    assert longest_shared_run(list("xyzabc"), list("abcdxyz")) == 3
    assert longest_shared_run(["C4", "E4", "G4", "C5"], ["D4", "C4", "E4", "G4", "B4"]) == 3


def test_longest_shared_run_token_kinds_agree() -> None:
    rng = np.random.default_rng(7)
    training = rng.integers(0, 5, 300)
    generated = np.concatenate([rng.integers(0, 5, 40), training[100:130], [99, 98]])
    expected = brute_longest_shared_run(generated.tolist(), training.tolist())
    assert expected >= 30
    assert longest_shared_run(generated, training) == expected
    assert longest_shared_run(generated.tolist(), training.tolist()) == expected
    assert longest_shared_run([str(x) for x in generated], [str(x) for x in training]) == expected
    assert longest_shared_run(generated.astype(np.uint8), training.astype(np.uint8)) == expected
    assert longest_shared_run([1, 2], ["1", "2"]) == 0  # no conversion between ints and strings


@pytest.mark.parametrize("seed", range(50))
def test_longest_shared_run_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    alphabet = int(rng.integers(1, 5))
    training = rng.integers(0, alphabet, int(rng.integers(0, 60))).tolist()
    generated = rng.integers(0, alphabet + 1, int(rng.integers(0, 30))).tolist()
    if training and generated and seed % 2:  # plant a copied run somewhere
        start = int(rng.integers(0, len(training)))
        run = training[start : start + int(rng.integers(1, 20))]
        at = int(rng.integers(0, len(generated) + 1))
        generated = generated[:at] + run + generated[at:]
    assert longest_shared_run(generated, training) == brute_longest_shared_run(generated, training)
    n = int(rng.integers(1, 6))
    if len(generated) >= n:
        assert copy_rate(generated, training, n) == pytest.approx(brute_copy_rate(generated, training, n))


def test_copy_rate_by_hand() -> None:
    training = [1, 2, 3, 4, 5]
    # 2-grams of generated: (1,2) (2,3) (3,9) (9,4) (4,5) (5,1): three of six occur in training.
    assert copy_rate([1, 2, 3, 9, 4, 5, 1], training, n=2) == pytest.approx(3 / 6)
    assert copy_rate(training, training, n=5) == 1.0
    assert copy_rate([1, 2, 1, 2], [1, 2], n=2) == pytest.approx(2 / 3)  # repeats count
    assert copy_rate(list(range(20)), list(range(10, 30)), n=8) == pytest.approx(3 / 13)
    assert math.isnan(copy_rate([1, 2, 3], training, n=4))  # too short for one 4-gram
    assert copy_rate([1, 2, 3], [1, 2], n=3) == 0.0
    with pytest.raises(ValueError):
        copy_rate([1, 2], training, n=0)


def test_shared_windows_are_confirmed_token_by_token() -> None:
    # With every hash equal (all collide) the answer must still be exact.
    generated = np.array([1, 2, 3, 4, 2, 3])
    training = np.array([9, 2, 3, 9, 3, 4])
    zeros_g, zeros_t = np.zeros(len(generated) - 1, np.uint64), np.zeros(len(training) - 1, np.uint64)
    found = _found(generated, training, zeros_g, zeros_t, 2)
    assert found.tolist() == [False, True, True, False, True]


def test_longest_shared_run_on_a_long_training_sequence() -> None:
    rng = np.random.default_rng(3)
    training = rng.integers(0, 200, 200_000)
    generated = np.concatenate(
        [rng.integers(0, 200, 900), [-1], training[5000:5257], [-2], rng.integers(0, 200, 800)]
    )
    assert longest_shared_run(generated, training) == 257
    assert copy_rate(generated, training, n=8) == pytest.approx(250 / (len(generated) - 7))
