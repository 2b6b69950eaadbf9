"""The Markov family: Kneser-Ney counts and probabilities, viewpoints, constrained generation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.symbolic.markov_ngram import END, FIRST, START, UNK, KneserNey
from cadenza.models.symbolic.markov_viewpoints import (
    GRID,
    MAX_UNITS,
    REST,
    VIEWPOINTS,
    chord_events,
    melody_events,
    melody_lines,
)
from cadenza.music.suffix_automaton import SuffixAutomaton
from cadenza.music.theory import parse_key
from cadenza.music.transforms import melody


def _melody(pitches, quarters=None, tpq=480):
    score = symusic.Score(tpq)
    track = symusic.Track("Soprano", 0, False)
    time = 0
    for pitch, q in zip(pitches, quarters or [1] * len(pitches)):
        if pitch is not None:
            track.notes.append(symusic.Note(time, int(q * tpq), pitch, 80))
        time += int(q * tpq)
    score.tracks.append(track)
    return score


@pytest.fixture(scope="module")
def chorales():
    return cadenza.corpus("bach", split="train", progress=False)[:40]


@pytest.fixture(scope="module")
def joint2(chorales):
    return cadenza.create("markov", order=2, part="Soprano").fit(chorales)


# --- counts and smoothing: known answers -----------------------------------------------



def _assert_matches(expected: dict, observed: dict, n: int) -> None:
    """Chi-square of observed counts against expected probabilities, the rare cells
    pooled into one so that every cell expects at least 5."""
    big = [k for k in expected if expected[k] * n >= 5]
    f_exp = [expected[k] * n for k in big] + [n - sum(expected[k] * n for k in big)]
    f_obs = [observed.get(k, 0) for k in big] + [n - sum(observed.get(k, 0) for k in big)]
    if f_exp[-1] < 1e-9:
        f_exp, f_obs = f_exp[:-1], f_obs[:-1]
    assert len(f_exp) >= 5
    assert chisquare(f_obs, f_exp).pvalue > 1e-3

def test_order2_transition_table_counted_by_hand():
    # C D E C D and C D C: order-2 contexts are (start, start), (start, C), (C, D), ...
    model = cadenza.create("markov", order=2, viewpoint="pitch").fit(
        [_melody([60, 62, 64, 60, 62]), _melody([60, 62, 60])])
    c, d, e = (60,), (62,), (64,)
    assert model.counts([]) == {c: 2}
    assert model.counts([c]) == {d: 2}
    assert model.counts([c, d]) == {e: 1, "END": 1, c: 1}
    assert model.counts([d, e]) == {c: 1}
    assert model.counts([e, c]) == {d: 1}
    assert model.counts([d, c]) == {"END": 1}
    assert model.counts([e, e]) == {}


def test_kneser_ney_probability_by_hand():
    # C D E C D, order 1. Bigram counts: (s,C) 1, (C,D) 2, (D,E) 1, (D,end) 1, (E,C) 1
    # -> n1 = 4, n2 = 1, D1 = 4/6. Continuation counts: C 2 (s, E), D 1, E 1, end 1
    # -> n1 = 3, n2 = 1, D0 = 3/5. Outcomes: end, unk, C, D, E (uniform 1/5).
    ngram = KneserNey(1, FIRST + 3).fit([[3, 4, 5, 3, 4]])
    assert ngram.discounts[1] == pytest.approx(2 / 3) and ngram.discounts[0] == pytest.approx(3 / 5)
    p0_d = (1 - 0.6) / 5 + 0.6 * 4 / 5 * (1 / 5)
    expected = (2 - 2 / 3) / 2 + (2 / 3) * 1 / 2 * p0_d
    assert ngram.prob((3,), [4])[0] == pytest.approx(expected)  # 0.72533...
    assert expected == pytest.approx(0.725333, abs=1e-6)
    # An unseen context backs off to the unigram level entirely.
    assert ngram.prob((UNK,), [4])[0] == pytest.approx(p0_d)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(FIRST, FIRST + 5), min_size=1, max_size=12), min_size=1, max_size=6),
       st.integers(1, 5), st.lists(st.integers(0, FIRST + 6), min_size=0, max_size=6))
def test_smoothed_rows_sum_to_one_and_unseen_is_finite(sequences, order, history):
    size = FIRST + 7  # one symbol (FIRST + 6) never occurs in training
    ngram = KneserNey(order, size).fit(sequences)
    context = tuple([START] * order + [h for h in history if h != END])[-order:]
    dist = ngram.distribution(context)
    assert dist[START] == 0
    assert dist.sum() == pytest.approx(1.0)
    assert np.all(dist[1:] > 0)  # end, unknown and the unseen symbol included
    assert ngram.prob(context, np.arange(size)) == pytest.approx(dist)


def test_log_prob_is_finite_on_unseen_events_for_every_viewpoint(chorales):
    unseen = _melody([30, 100, None, 31], [0.25, 7, 1, 3])
    for viewpoint in ("pitch", "interval", "duration", "joint", "chord"):
        model = cadenza.create("markov", order=3, viewpoint=viewpoint, part="Soprano").fit(chorales[:10])
        for pieces in ([unseen], [chorales[20]]):
            result = model.log_prob(pieces)
            assert math.isfinite(result.total) and result.total < 0 and result.events > 0
    # Unseen pitches, durations and intervals in a melody.
    model = cadenza.create("markov", order=2, viewpoint="interval").fit([_melody([60, 62, 64])])
    assert math.isfinite(model.log_prob([unseen]).total)


def test_higher_order_and_interval_predict_bach_better(chorales):
    test = cadenza.corpus("bach", split="test", progress=False)[:10]
    bits = {order: cadenza.create("markov", order=order, viewpoint="pitch", part="Soprano")
            .fit(chorales).log_prob(test).bits_per_event for order in (1, 2)}
    assert bits[2] < bits[1] < math.log2(24)


def test_interval_viewpoint_is_transposition_invariant():
    tunes = [[60, 62, 64, 62, 60], [67, 65, 64, 62, 60, 62], [60, 64, 67, 65, 64]]
    held_out = [62, 64, 65, 64, 62, 60]
    up = [[p + 5 for p in t] for t in tunes]
    a = cadenza.create("markov", order=2, viewpoint="interval").fit([_melody(t) for t in tunes])
    b = cadenza.create("markov", order=2, viewpoint="interval").fit([_melody(t) for t in up])
    assert a.log_prob([_melody(held_out)]).total == pytest.approx(
        b.log_prob([_melody([p + 5 for p in held_out])]).total)


def test_viewpoint_symbols_and_chord_events():
    events = [(60, 12), (REST, 6), (62, 6), (67, 24)]
    assert VIEWPOINTS["pitch"].symbols(events) == [(60,), (REST,), (62,), (67,)]
    assert VIEWPOINTS["interval"].symbols(events) == [(0, 60), (2,), (1, 2), (1, 5)]
    assert VIEWPOINTS["duration"].symbols(events) == [(12,), (-6,), (6,), (24,)]
    assert VIEWPOINTS["joint"].symbols(events) == events
    score = symusic.Score(480)
    score.tracks.append(symusic.Track("S", 0, False, [symusic.Note(0, 960, 72, 80), symusic.Note(960, 480, 74, 80)]))
    score.tracks.append(symusic.Track("B", 0, False, [symusic.Note(0, 480, 48, 80), symusic.Note(960, 480, 43, 80)]))
    assert chord_events(score) == [((48, 72), GRID), ((72,), GRID), ((43, 74), GRID)]
    assert melody_events(score) == [(72, 2 * GRID), (74, GRID)]


def _reference_events(score, part):
    """melody_events as first written: one note at a time through transforms.melody's skyline."""
    notes = melody(score, part).tracks[0].notes
    scale = GRID / score.ticks_per_quarter
    events, cursor = [], None
    for note in notes:
        start = round(note.time * scale)
        if cursor is not None and start > cursor:
            events.append((REST, min(start - cursor, MAX_UNITS)))
        units = min(max(1, round(note.duration * scale)), MAX_UNITS)
        events.append((int(note.pitch), units))
        cursor = start + units
    return events


def test_vectorised_melodies_and_symbols_match_the_reference(chorales):
    # Soprano: monophonic parts read with numpy; None: the skyline of four overlapping parts.
    overlapping = _melody([60, 64, 62], [2, 1, 1])
    overlapping.tracks[0].notes.append(symusic.Note(240, 480, 67, 80))  # starts inside a note, above it
    overlapping.tracks[0].notes.append(symusic.Note(0, 240, 55, 80))  # under the first note's onset
    for part, scores in (("Soprano", chorales[:12]), (None, chorales[:6]), (None, [overlapping, chorales[0]])):
        pitches, units, lengths = melody_lines(scores, part)
        expected = [_reference_events(score, part) for score in scores]
        assert lengths.tolist() == [len(e) for e in expected]
        assert list(zip(pitches.tolist(), units.tolist())) == [ev for e in expected for ev in e]
        for viewpoint in ("pitch", "interval", "duration", "joint"):
            codes = VIEWPOINTS[viewpoint].codes(pitches, units, lengths)
            decoded = [VIEWPOINTS[viewpoint].decode(int(c)) for c in codes]
            assert decoded == [s for e in expected for s in VIEWPOINTS[viewpoint].symbols(e)]
            order = np.argsort(codes, kind="stable")  # codes sort as the symbol tuples do
            assert [decoded[i] for i in order] == sorted(decoded)


def test_unigram_is_order_zero_kneser_ney():
    # C D E C D: counts C 2, D 2, E 1, END 1 -> n1 = 2, n2 = 2, D = 1/3; outcomes END, UNK, C, D, E.
    ngram = KneserNey(0, FIRST + 3).fit([[3, 4, 5, 3, 4]])
    p_c = (2 - 1 / 3) / 6 + (1 / 3) * 4 / 6 / 5
    p_e = (1 - 1 / 3) / 6 + (1 / 3) * 4 / 6 / 5
    assert ngram.log_prob(np.array([3, 5]), np.array([2])) == pytest.approx(math.log(p_c) + math.log(p_e))


def test_sampling_tables_match_next_probabilities(joint2, chorales):
    # The sampler's rows are computed for every context at once; next_probabilities one at a time.
    interval = cadenza.create("markov", order=2, viewpoint="interval", part="Soprano").fit(chorales)
    for model, temperature in ((joint2, 1.0), (joint2, 0.7), (interval, 1.0)):
        options = model.Sampling(temperature=temperature)
        lattice, paths, _ = model._sample([np.random.default_rng(s) for s in range(3)], options)
        last = model._chain.last
        for path in paths:
            history, state = [], 0
            for nxt in path[:10].tolist():
                lo, hi = lattice.indptr[state], lattice.indptr[state + 1]
                row = {model.vocabulary_[last[lattice.context[c]] - FIRST]: p
                       for c, p in zip(lattice.cols[lo:hi], lattice.probs[lo:hi])}
                row[None] = lattice.end[state]
                expected = model.next_probabilities(history, temperature)
                assert row.keys() == expected.keys()
                assert [row[k] for k in expected] == pytest.approx(list(expected.values()))
                history.append(model.vocabulary_[last[lattice.context[nxt]] - FIRST])
                state = nxt


@pytest.mark.parametrize("viewpoint", ["pitch", "interval", "joint"])
def test_pieces_drawn_together_do_not_depend_on_n(viewpoint, chorales):
    model = cadenza.create("markov", order=3, viewpoint=viewpoint, part="Soprano").fit(chorales)
    for options in ({}, {"length": 20, "key": "C major"}):
        many = [s.dumps_midi() for s in model.generate(n=6, seed=7, **options)]
        assert [s.dumps_midi() for s in model.generate(n=2, seed=7, **options)] == many[:2]
        assert [s.dumps_midi() for s in model.generate(n=1, seed=7, **options)] == many[:1]
        assert len(set(many)) == 6


# --- constrained generation ------------------------------------------------------------------


def _pitches(score):
    return [n.pitch for n in sorted(score.tracks[0].notes, key=lambda n: (n.time, n.pitch))]


def test_every_constraint_holds_in_1000_samples(joint2):
    allowed = parse_key("D minor").melody_classes
    pieces = joint2.generate(n=1000, seed=0, length=16, key="D minor", low=60, high=76,
                             first_note=62, last_note=62, cadence=True)
    for score in pieces:
        pitches = _pitches(score)
        events = melody_events(score)
        assert len(events) == 16
        assert all(p % 12 in allowed and 60 <= p <= 76 for p in pitches)
        assert pitches[0] == 62 and pitches[-1] == 62
        assert events[-2][0] % 12 in (4, 1)  # E or C#, a step above or below D
    assert len({s.dumps_midi() for s in pieces}) > 500


def test_interval_and_chord_constraints_hold(chorales):
    interval = cadenza.create("markov", order=2, viewpoint="interval", part="Soprano").fit(chorales)
    for score in interval.generate(n=300, seed=1, length=20, key="G major", low=62, high=74, last_note=67):
        pitches = _pitches(score)
        assert all(p % 12 in (7, 9, 11, 0, 2, 4, 6) and 62 <= p <= 74 for p in pitches)
        assert pitches[-1] == 67
    chords = cadenza.create("markov", order=2, viewpoint="chord").fit(chorales)
    for score in chords.generate(n=100, seed=2, length=12, key="C major", cadence=True):
        notes = score.tracks[0].notes
        starts = sorted({n.time for n in notes})
        last = [n.pitch for n in notes if n.time == starts[-1]]
        before = [n.pitch for n in notes if n.time == starts[-2]]
        assert min(last) % 12 == 0 and min(before) % 12 == 7
        assert all(n.pitch % 12 in (0, 2, 4, 5, 7, 9, 11) for n in notes)


def _training_substrings(model, limit):
    seen = set()
    for seq in model.sequences_:
        symbols = [model.vocabulary_[w - FIRST] for w in seq]
        for i in range(len(symbols)):
            for j in range(i + 1, min(i + limit, len(symbols)) + 1):
                seen.add(tuple(symbols[i:j]))
    return seen


def _longest_copy(sequence, seen):
    return max((j - i for i in range(len(sequence)) for j in range(i + 1, len(sequence) + 1)
                if tuple(sequence[i:j]) in seen), default=0)


def test_max_copy_is_respected(joint2):
    seen = _training_substrings(joint2, 12)
    free = joint2.generate_symbols(n=100, seed=4, length=24)
    assert max(_longest_copy(s, seen) for s in free) > 4  # the limit below binds
    limited = joint2.generate_symbols(n=200, seed=4, length=24, max_copy=4)
    assert all(len(s) == 24 for s in limited)
    assert max(_longest_copy(s, seen) for s in limited) <= 4
    with pytest.raises(CadenzaError, match="max_copy must be at least the order"):
        joint2.generate(n=1, seed=0, length=24, max_copy=1)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=10), min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=1, max_size=10))
def test_suffix_automaton_longest_run_matches_brute_force(corpus, query):
    seen = {tuple(s[i:j]) for s in corpus for i in range(len(s)) for j in range(i + 1, len(s) + 1)}
    assert SuffixAutomaton(corpus).longest_run(query) == _longest_copy(query, seen)


def _enumerate(model, length, keep, natural_end=False):
    """Exact P(sequence | constraints) of the generating chain, by enumeration."""
    probs = {}
    symbols = [s for s in model.vocabulary_]
    for seq in itertools.product(symbols, repeat=length):
        p = 1.0
        for t in range(length):
            p *= model.next_probabilities(seq[:t]).get(seq[t], 0.0)
            if p == 0:
                break
        if natural_end:
            p *= model.next_probabilities(seq)[None]
        if p > 0 and keep(seq):
            probs[seq] = p
    total = sum(probs.values())
    return {s: p / total for s, p in probs.items()}


@pytest.mark.parametrize("order,natural_end", [(1, False), (2, True)])
def test_constrained_chain_equals_conditioned_chain(order, natural_end):
    tunes = [[60, 62, 64, 65, 64, 62, 60], [64, 62, 60, 62, 64, 64], [60, 64, 65, 62, 60], [65, 64, 62, 64]]
    model = cadenza.create("markov", order=order, viewpoint="pitch").fit([_melody(t) for t in tunes])
    length, n = 4, 3000
    expected = _enumerate(model, length, lambda s: s[-1] == (64,) and max(s)[0] <= 64, natural_end)
    samples = model.generate_symbols(n=n, seed=5, length=length, last_note=64, high=64, natural_end=natural_end)
    observed = {}
    for s in samples:
        observed[tuple(s)] = observed.get(tuple(s), 0) + 1
    assert set(observed) <= set(expected)  # never a sequence the constraints forbid
    _assert_matches(expected, observed, n)


@pytest.mark.parametrize("viewpoint", ["pitch", "interval"])
def test_free_chain_matches_next_probabilities(viewpoint):
    # Free sampling (the chain ends by itself, never before its first event): the distribution of
    # the first three events (None once ended) against the one enumerated from next_probabilities.
    tunes = [[60, 62, 64, 65, 64, 62, 60], [64, 62, 60, 62, 64, 64], [60, 64, 65, 62, 60], [65, 64, 62, 64]]
    model = cadenza.create("markov", order=2, viewpoint=viewpoint).fit([_melody(t) for t in tunes])
    expected = {}

    def walk(prefix, p):
        if len(prefix) == 3:
            expected[tuple(prefix)] = expected.get(tuple(prefix), 0) + p
            return
        nxt = model.next_probabilities(prefix)
        end, scale = nxt.pop(None), 1.0
        if not prefix:  # the chain never ends before its first event
            end, scale = 0.0, 1.0 / sum(nxt.values())
        if end:
            key = tuple(prefix) + (None,) * (3 - len(prefix))
            expected[key] = expected.get(key, 0) + p * end
        for symbol, q in nxt.items():
            walk(prefix + [symbol], p * q * scale)
    walk([], 1.0)
    n = 3000
    observed = {}
    for seq in model.generate_symbols(n=n, seed=11):
        key = tuple(seq[:3]) + (None,) * (3 - min(len(seq), 3))
        observed[key] = observed.get(key, 0) + 1
    assert set(observed) <= {k for k, v in expected.items() if v > 0}
    _assert_matches(expected, observed, n)


def test_impossible_and_invalid_constraints_are_clear_errors(joint2):
    with pytest.raises(CadenzaError, match="no 8-event sequence"):
        joint2.generate(n=1, seed=0, length=8, low=60, high=61, key="C major")
    with pytest.raises(CadenzaError, match="cadence needs a key"):
        joint2.generate(n=1, seed=0, length=8, cadence=True)
    with pytest.raises(CadenzaError, match="not a key|unknown mode|not a note"):
        joint2.generate(n=1, seed=0, length=8, key="H major")
    with pytest.raises(CadenzaError, match="low"):
        joint2.generate(n=1, seed=0, length=8, low=70, high=60)
    rhythm = cadenza.create("markov", viewpoint="duration").fit([_melody([60, 62, 64], [1, 0.5, 0.5])])
    with pytest.raises(CadenzaError, match="rhythm only"):
        rhythm.generate(n=1, seed=0, key="C major")
    with pytest.raises(CadenzaError, match="order"):
        cadenza.create("markov", order=9)


def test_temperature_and_free_length(joint2):
    cold = joint2.generate(n=5, seed=3, length=12, temperature=0.05)
    assert len({s.dumps_midi() for s in cold}) <= 2  # nearly deterministic
    free = joint2.generate(n=5, seed=3)  # the chain decides when to end
    assert all(0 < len(melody_events(s)) <= joint2.config.max_length for s in free)
    # Constraints without a length use the typical training length.
    assert len(melody_events(joint2.generate(n=1, seed=0, key="D minor")[0])) == joint2.typical_length_


@pytest.mark.parametrize("viewpoint", ["pitch", "interval", "duration", "joint", "chord"])
def test_save_load_round_trip(viewpoint, chorales, tmp_path):
    model = cadenza.create("markov", order=3, viewpoint=viewpoint, part="Soprano").fit(chorales[:15])
    loaded = cadenza.load(model.save(tmp_path / viewpoint))
    assert loaded.config == model.config and loaded.vocabulary_ == model.vocabulary_
    assert loaded.log_prob(chorales[20:23]).total == model.log_prob(chorales[20:23]).total
    options = {"length": 12, "max_copy": 6} if viewpoint in ("duration", "chord") else \
        {"length": 12, "key": "C major", "max_copy": 6}
    a = [s.dumps_midi() for s in model.generate(n=3, seed=9, **options)]
    assert a == [s.dumps_midi() for s in loaded.generate(n=3, seed=9, **options)]


def test_demo_call_still_works(chorales):
    model = cadenza.create("markov", part="Soprano").fit(chorales)
    pieces = model.generate(n=3, seed=0, length=32)
    assert [len(melody_events(p)) for p in pieces] == [32, 32, 32]
