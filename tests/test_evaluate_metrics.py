"""Per-piece metrics: hand-computed values on tiny pieces, and MusPy 0.5 as an oracle.

The metrics share one ``Piece`` a score (its notes read once, its polyphony
coverage, top voice and pitch histograms computed once); the tests here hold
that sharing to the straightforward computations it replaced: the notes read
track by track, ``music.transforms.melody``, a tick piano roll, a bar-by-tick
onset pattern, and each metric called on its own.
"""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.evaluate import metrics as M
from cadenza.music.transforms import melody


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


# --- one Piece shared by the metrics ------------------------------------------------------------

def tracks_read_one_by_one(score, drums):
    """The notes as the metrics read them before a Piece: each track's arrays, concatenated."""
    parts = [t.notes.numpy() for t in score.tracks if len(t.notes) and (drums is None or t.is_drum == drums)]
    if not parts:
        return {k: np.zeros(0, np.int64) for k in ("time", "duration", "pitch", "end")}
    out = {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in ("time", "duration", "pitch")}
    return {**out, "end": out["time"] + out["duration"]}


def band():
    """Two pitched tracks, an empty one and a drum track between them, in 6/8."""
    score = make([(0, 18, 67), (18, 9, 69), (27, 9, 71), (36, 36, 72)], tpq=12, drums=[0, 3, 4, 6, 8, 12, 16, 20],
                 time_signature=(6, 8))
    score.tracks.append(symusic.Track("Empty", 0, False, []))
    score.tracks.append(symusic.Track("Bass", 32, False, [symusic.Note(0, 36, 43, 70), symusic.Note(36, 36, 38, 70)]))
    return score


def test_piece_reads_the_notes_as_the_tracks_hold_them():
    score = band()
    piece = M.Piece(score)
    for drums in (False, True, None):
        expected = tracks_read_one_by_one(score, drums)
        got = piece.notes(drums)
        for key in expected:
            assert got[key].tolist() == expected[key].tolist(), (drums, key)
    assert [t["pitch"].tolist() for t in piece.tracks()] == [[67, 69, 71, 72], [43, 38]]
    assert [t["time"].tolist() for t in piece.tracks(drums=True)] == [[0, 3, 4, 6, 8, 12, 16, 20]]
    assert M.Piece.of(piece) is piece
    with pytest.raises(ValueError):  # shared by every metric, so nobody may write to it
        piece.notes()["pitch"][0] = 0
    empty = M.Piece(symusic.Score(480))
    assert empty.length == 0 and empty.notes()["pitch"].size == 0 and empty.top_voice["pitch"].size == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10), st.integers(50, 60)), max_size=12),
                min_size=1, max_size=3),
       st.booleans())
def test_top_voice_is_the_melody_skyline(parts, first_is_drum):
    score = symusic.Score(4)
    for i, notes in enumerate(parts):
        score.tracks.append(symusic.Track(f"t{i}", 0, i == 0 and first_is_drum,
                                          [symusic.Note(t, d, p, 80) for t, d, p in notes]))
    expected = tracks_read_one_by_one(melody(score), False)
    got = M.Piece(score).top_voice
    for key in ("time", "duration", "pitch"):
        assert got[key].tolist() == expected[key].tolist(), key


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 70), st.integers(0, 9), st.integers(40, 80)), min_size=1, max_size=25),
       st.integers(3, 16))
def test_rhythm_metrics_match_a_dense_bar_pattern(notes, unit):
    s = make(notes)
    end = max(t + d for t, d, _ in notes)
    bars = end // unit + 1
    pattern = np.zeros((bars, unit), bool)  # MusPy's construction: a row a bar, a column a tick
    touched = np.zeros(bars, bool)
    for t, d, _ in notes:
        pattern[t // unit, t % unit] = True
        touched[t // unit:(t + d) // unit + 1] = True
    groove = 1 - np.count_nonzero(pattern[:-1] != pattern[1:]) / (unit * (bars - 1)) if bars > 1 else math.nan
    got = M.groove_consistency(s, unit)
    assert (math.isnan(got) and math.isnan(groove)) or got == pytest.approx(groove)
    if end:
        assert M.empty_measure_rate(s, unit) == pytest.approx(1 - touched.sum() / bars)


def alone(score):
    """Every metric of piece_metrics, each called on its own with the score (nothing shared)."""
    key = M.score_key(score) or M.key_estimate(score)[:2]
    signatures = score.time_signatures
    numerator = min(signatures, key=lambda x: x.time).numerator if len(signatures) else 4
    per_quarter, per_bar = M.note_density(score)
    plain = ("pitch_range", "n_pitches_used", "n_pitch_classes_used", "pitch_entropy", "pitch_class_entropy",
             "scale_consistency", "key_strength", "mean_interval", "polyphony", "polyphony_rate",
             "empty_beat_rate", "empty_measure_rate", "groove_consistency", "drum_pattern_consistency")
    return {**{name: float(getattr(M, name)(score)) for name in plain},
            "pitch_in_scale_rate": M.pitch_in_scale_rate(score, *key),
            "notes_per_quarter": per_quarter, "notes_per_bar": per_bar,
            "drum_in_pattern_rate": M.drum_in_pattern_rate(score, "triple" if numerator % 3 == 0 else "duple")}


def same_values(a, b):
    return set(a) == set(b) and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_one_shared_piece_gives_every_metric_as_computed_alone(bach):
    scores = [*list(bach)[:30], band(), make(PIECE), symusic.Score(4)]
    table = M.metric_table([M.Piece(s) for s in scores])
    for i, score in enumerate(scores):
        shared = M.piece_metrics(M.Piece(score))
        assert same_values(shared, alone(score)), i
        assert same_values(shared, {k: table[k][i] for k in M.METRICS}), i
    # The drum and 6/8 paths are exercised, not only NaN.
    drums = M.piece_metrics(band())
    # tpq 12: the triple grid (6/8) is ticks 0, 4, 8 of a beat, the duple grid ticks 0, 3, 6, 9.
    assert drums["drum_in_pattern_rate"] == pytest.approx(6 / 8)
    assert M.drum_in_pattern_rate(band(), "duple") == pytest.approx(4 / 8)
    assert drums["drum_pattern_consistency"] == pytest.approx(6 / 8)
    assert drums["polyphony"] == pytest.approx(2.0) and drums["mean_interval"] == pytest.approx(5 / 3)
