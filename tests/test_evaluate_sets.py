"""Set comparison (Yang & Lerch), novelty (suffix automaton) and structure (self-similarity)."""

from __future__ import annotations

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.evaluate import metrics
from cadenza.evaluate.compare import FEATURES, compare_sets, feature_matrix, features, kde
from cadenza.evaluate.metrics import metric_table
from cadenza.evaluate.novelty import NoveltyIndex, events
from cadenza.evaluate.structure import bar_features, plot_self_similarity, self_similarity, structure
from cadenza.evaluate.suite import PieceSet, Reference, evaluate_set
from cadenza.music.suffix_automaton import SuffixAutomaton
from cadenza.music.transforms import bar_starts


def tune(pitches, dur=480, tpq=480):
    s = symusic.Score(tpq)
    s.tracks.append(symusic.Track("Melody", 0, False,
                                  [symusic.Note(i * dur, dur, p, 80) for i, p in enumerate(pitches)]))
    return s


def random_tunes(n, length, seed, low=55, high=80):
    rng = np.random.default_rng(seed)
    return [tune(rng.integers(low, high, size=length).tolist()) for _ in range(n)]


# --- set comparison --------------------------------------------------------------------------

def test_features_by_hand():
    f = features(tune([60, 64, 67, 72], dur=240))
    assert f["total_used_pitch"][0] == 4 and f["pitch_range"][0] == 12 and f["note_count"][0] == 4
    assert f["avg_pitch_interval"][0] == pytest.approx(4.0)
    assert f["avg_ioi"][0] == pytest.approx(0.5)
    assert f["pitch_class_histogram"][0] == pytest.approx(0.5)
    pctm = f["pitch_class_transition_matrix"].reshape(12, 12)
    assert pctm[0, 4] == pytest.approx(1 / 3) and pctm[7, 0] == pytest.approx(1 / 3)
    assert f["note_length_histogram"][3] == 1.0  # all eighth notes (class 3)


def test_kde_integrates_to_one():
    grid = np.linspace(-5, 15, 2001)
    density = kde(np.random.default_rng(0).normal(5, 1, 500), grid, floor=0.01)
    assert density.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, abs=1e-3)


def test_same_distribution_overlaps_and_different_does_not():
    a, b = random_tunes(30, 24, 0), random_tunes(30, 24, 1)
    same = compare_sets(a, b)
    assert set(same) == set(FEATURES)
    assert same["pitch_class_histogram"].oa > 0.8 and same["pitch_class_histogram"].kl < 0.1
    far = compare_sets(random_tunes(30, 8, 2, 40, 50), b)  # short, low, narrow tunes
    for name in ("note_count", "total_used_pitch"):
        assert far[name].oa < 0.3 < same[name].oa, name
        assert far[name].kl > same[name].kl >= 0, name


def test_identical_pieces_still_compare():
    result = compare_sets([tune([60, 62])] * 3, [tune([60, 62])] * 3)
    assert result["note_count"].oa == pytest.approx(1.0, abs=1e-6)


# --- novelty -----------------------------------------------------------------------------------

def brute_matches(train, query):
    runs = []
    for i in range(len(query)):
        best = 0
        for k in range(1, i + 2):
            piece = query[i - k + 1:i + 1]
            if any(any(seq[j:j + k] == piece for j in range(len(seq) - k + 1)) for seq in train):
                best = k
        runs.append(best)
    return runs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_suffix_automaton_matching_statistics(train, query):
    runs, source = SuffixAutomaton(train).matches(query)
    assert runs.tolist() == brute_matches(train, query)
    for i, (run, seq) in enumerate(zip(runs, source)):
        if run:  # the named source really holds the match
            assert any(train[seq][j:j + run] == query[i - run + 1:i + 1] for j in range(len(train[seq])))


def test_copies_are_found_and_new_music_is_not():
    train = random_tunes(20, 40, 3)
    ids = [f"t{i}" for i in range(20)]
    index = NoveltyIndex(train, ids=ids)
    copy = index.measure(train[7])
    assert copy.longest_run == 39 and copy.copy_rate == {4: 1.0, 8: 1.0, 16: 1.0}
    assert copy.near_copy and copy.nearest_id == "t7"
    # A transposed copy is still a copy of intervals, but not of pitches.
    moved = train[7].copy()
    moved.tracks[0].shift_pitch(2, inplace=True)
    assert index.measure(moved).near_copy
    assert not NoveltyIndex(train, kind="pitch-duration").measure(moved).near_copy
    # Half a training tune glued to new material: a 20-note run, nearest piece found.
    fresh = tune([train[4].tracks[0].notes[i].pitch for i in range(21)] + [30, 90, 31, 89] * 5)
    found = index.measure(fresh)
    assert found.longest_run >= 20 and found.nearest_id == "t4"
    novel = index.measure(random_tunes(1, 40, 99)[0])
    assert novel.longest_run < 8 and not novel.near_copy and novel.copy_rate[16] == 0


def test_events_one_sequence_a_voice_top_note_of_chords():
    s = tune([60, 62, 64])
    s.tracks[0].notes.append(symusic.Note(0, 480, 55, 80))  # a lower note under the first
    s.tracks.append(symusic.Track("Bass", 0, False, [symusic.Note(0, 960, 48, 80), symusic.Note(960, 480, 43, 80)]))
    assert events(s, "interval") == [[2, 2], [-5]]
    assert events(s, "pitch-duration")[1] == [48 * 100_000 + 960, 43 * 100_000 + 480]


# --- structure -----------------------------------------------------------------------------------

def test_self_similarity_of_abab(tmp_path):
    a, b = [60, 64, 67, 72], [62, 65, 69, 65]
    s = tune(a + b + a + b)  # four 4/4 bars of quarter notes
    ssm = self_similarity(s)
    assert ssm.shape == (4, 4)
    assert np.allclose(np.diag(ssm), 1) and ssm[0, 2] == pytest.approx(1) and ssm[1, 3] == pytest.approx(1)
    assert ssm[0, 1] < 0.9
    scores = structure(s)
    assert scores["repetition_rate"] == pytest.approx(2 / 3)
    assert scores["max_lag_score"] == pytest.approx(1.0)
    path = plot_self_similarity(s, tmp_path / "ssm.png") and tmp_path / "ssm.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 120), st.integers(0, 50), st.integers(40, 80)), min_size=1, max_size=20),
       st.sampled_from([(4, 4), (3, 4), (6, 8)]), st.integers(0, 60))
def test_bar_chroma_splits_each_note_over_its_bars(notes, signature, change):
    s = symusic.Score(8)
    s.time_signatures.append(symusic.TimeSignature(0, *signature))
    s.time_signatures.append(symusic.TimeSignature(change // 8 * 8 + 8, 2, 4))  # a later change of metre
    s.tracks.append(symusic.Track("P", 0, False, [symusic.Note(t, d, p, 80) for t, d, p in notes]))
    end = max(t + d for t, d, _ in notes)
    starts = bar_starts(s, max(end - 1, 0))
    bounds = [*starts, max(end, starts[-1] + 1)]
    expected = np.zeros((len(starts), 12))
    for t, d, p in notes:  # note by note, bar by bar
        for b in range(len(starts)):
            expected[b, p % 12] += max(0, min(t + d, bounds[b + 1]) - max(t, bounds[b]))
    assert bar_features(s, "chroma").tolist() == expected.tolist()


def test_evaluate_set_reads_each_piece_once_and_matches_each_measure_alone(bach, monkeypatch):
    chorales = list(bach)
    train, test, generated = chorales[:24], chorales[24:30], chorales[30:40]
    reference = Reference("bach", PieceSet("train", [f"t{i}" for i in range(24)], train),
                          PieceSet("test", [f"s{i}" for i in range(6)], test))
    reference.prepare()
    reads = []
    read = metrics.Piece.__init__
    monkeypatch.setattr(metrics.Piece, "__init__", lambda self, score: reads.append(score) or read(self, score))
    result = evaluate_set(PieceSet("generated", [f"g{i}" for i in range(10)], generated), reference)
    assert len(reads) == len(generated)  # one Piece a piece, shared by metrics, features, novelty, structure
    monkeypatch.undo()

    alone = metric_table(generated)
    for name, values in result.metrics.items():
        np.testing.assert_array_equal(values, alone[name], err_msg=name)
    assert result.structure == [structure(s) for s in generated]
    index = NoveltyIndex(train, ids=reference.train.names)
    assert [n.as_dict() for n in result.novelty] == [index.measure(s).as_dict() for s in generated]
    expected = compare_sets(generated, train)
    for name in FEATURES:
        assert (result.comparison[name].oa, result.comparison[name].kl) == (expected[name].oa, expected[name].kl)
    for name, matrix in feature_matrix(generated).items():
        np.testing.assert_array_equal(matrix, np.stack([features(s)[name] for s in generated]), err_msg=name)
