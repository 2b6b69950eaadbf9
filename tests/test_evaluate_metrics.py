"""Per-piece metrics: hand-computed values on tiny pieces, and MusPy 0.5 as an oracle."""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.evaluate import metrics as M


def make(notes, tpq=4, drums=(), time_signature=None):
    score = symusic.Score(tpq)
    if time_signature:
        score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    score.tracks.append(symusic.Track("Piano", 0, False, [symusic.Note(t, d, p, 80) for t, d, p in notes]))
    if drums:
        score.tracks.append(symusic.Track("Drums", 0, True, [symusic.Note(t, 1, 36, 80) for t in drums]))
    return score


# C4+E4 on beat 1, G4 on beat 2, two empty beats, C5 on beat 6 (tpq 4: a beat is 4 ticks).
PIECE = [(0, 4, 60), (0, 4, 64), (4, 4, 67), (20, 2, 72)]


def test_pitch_metrics_by_hand():
    s = make(PIECE)
    assert M.pitch_range(s) == 12
    assert M.n_pitches_used(s) == 4
    assert M.n_pitch_classes_used(s) == 3
    assert M.pitch_entropy(s) == pytest.approx(2.0)  # four equally frequent pitches
    assert M.pitch_class_entropy(s) == pytest.approx(1.5)  # C 1/2, E 1/4, G 1/4
    assert M.scale_consistency(s) == 1.0  # all in C major
    assert M.pitch_in_scale_rate(s, 1, "major") == 0.5  # C# major holds B# = C, not E or G
    assert M.pitch_in_scale_rate(s, 9, "minor") == 1.0


def test_polyphony_and_time_metrics_by_hand():
    s = make(PIECE)
    # 2 pitches for 4 ticks, 1 for 4, 1 for 2: 14 pitch-ticks over 10 sounding ticks.
    assert M.polyphony(s) == pytest.approx(1.4)
    assert M.polyphony_rate(s, threshold=1) == pytest.approx(4 / 22)
    assert M.polyphony_rate(s) == 0.0
    # MusPy's convention: 22 // 4 + 1 = 6 beats; notes touch beats 0-1, 1-2 and 5.
    assert M.empty_beat_rate(s) == pytest.approx(2 / 6)
    assert M.empty_measure_rate(s, 6) == pytest.approx(1 / 4)
    # Bars of 8 ticks: onsets {0, 4}, {}, {4}: Hamming 2 + 1 over 2 * 8.
    assert M.groove_consistency(s, 8) == pytest.approx(1 - 3 / 16)
    assert M.mean_interval(s) == pytest.approx(4.0)  # top voice E4 G4 C5
    per_quarter, per_bar = M.note_density(s)
    assert per_quarter == pytest.approx(4 * 4 / 22)
    assert per_bar == pytest.approx(2.0)  # two 4/4 bars of 16 ticks


def test_drum_metrics_by_hand():
    # tpq 12: the duple grid is every 3 ticks, the triple grid every 4.
    s = make([(0, 12, 60)], tpq=12, drums=[0, 3, 6, 9, 16])
    assert M.drum_in_pattern_rate(s, "duple") == pytest.approx(4 / 5)
    assert M.drum_in_pattern_rate(s, "triple") == pytest.approx(2 / 5)
    assert M.drum_pattern_consistency(s) == pytest.approx(4 / 5)
    assert math.isnan(M.drum_pattern_consistency(make(PIECE)))
    assert M.pitch_range(s) == 0  # drums are not pitches


def test_empty_and_drum_only_pieces_give_nan():
    drums = symusic.Score(4)
    drums.tracks.append(symusic.Track("Drums", 0, True, [symusic.Note(0, 1, 36, 80)]))
    for name in ("pitch_range", "pitch_entropy", "scale_consistency", "polyphony", "mean_interval"):
        assert math.isnan(M.piece_metrics(drums)[name]), name
    assert math.isnan(M.empty_beat_rate(symusic.Score(4)))


def test_key_estimate_finds_major_and_minor():
    c_major = make([(4 * i, 4, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])])
    root, mode, r = M.key_estimate(c_major)
    assert (root, mode) == (0, "major") and 0.7 < r <= 1
    a_minor = make([(4 * i, 4 if p != 57 else 12, p)
                    for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57])])
    assert M.key_estimate(a_minor)[:2] == (9, "minor")
    # Transposing moves the key with it and keeps the strength.
    up = c_major.copy()
    up.tracks[0].shift_pitch(5, inplace=True)
    assert M.key_estimate(up)[0] == 5 and M.key_estimate(up)[2] == pytest.approx(r)


def test_score_key_from_signature():
    s = make(PIECE)
    s.key_signatures.append(symusic.KeySignature(0, 3, 1))  # three sharps, minor: F# minor
    assert M.score_key(s) == (6, "minor")
    s.key_signatures[0] = symusic.KeySignature(0, -2, 0)  # B-flat major
    assert M.score_key(s) == (10, "major")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12), st.integers(40, 80)), min_size=1, max_size=25))
def test_polyphony_matches_a_tick_piano_roll(notes):
    s = make(notes)
    end = max(t + d for t, d, _ in notes)
    roll = np.zeros((max(end, 1), 128), bool)
    for t, d, p in notes:
        roll[t:t + d, p] = True
    active = roll.sum(axis=1)
    expected = roll.sum() / np.count_nonzero(active) if active.any() else math.nan
    got = M.polyphony(s)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)
    if end:
        assert M.polyphony_rate(s, 1) == pytest.approx(np.count_nonzero(active > 1) / end)


def test_agrees_with_muspy_on_bach_chorales(bach):
    muspy = pytest.importorskip("muspy")
    names = ["pitch_range", "n_pitches_used", "n_pitch_classes_used", "pitch_entropy",
             "pitch_class_entropy", "scale_consistency", "polyphony", "polyphony_rate",
             "empty_beat_rate", "empty_measure_rate", "groove_consistency"]
    for score in list(bach)[:6]:
        with tempfile.NamedTemporaryFile(suffix=".mid") as f:
            f.write(score.dumps_midi())
            f.flush()
            music = muspy.read_midi(f.name)
        bar = M.bar_ticks(score)
        mine = M.piece_metrics(score)
        for name in names:
            fn = getattr(muspy, name)
            theirs = fn(music, bar) if name in ("empty_measure_rate", "groove_consistency") else fn(music)
            assert mine[name] == pytest.approx(theirs, abs=1e-9), name
        root, mode = M.score_key(score)
        assert M.pitch_in_scale_rate(score, root, mode) == pytest.approx(
            muspy.pitch_in_scale_rate(music, root, mode))
