"""L-systems: known expansions, stochastic frequencies, contexts, and the musical readings."""

import numpy as np
import pytest
import symusic

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.symbolic.lsystem import LSystemGrammar, parse_rules


def expand(axiom, rules, n, seed=0, ignore="", temperature=1.0):
    return LSystemGrammar(axiom, parse_rules(rules), ignore).expand(n, np.random.default_rng(seed),
                                                             temperature=temperature)


def notes(score):
    return [(n.time / 480, n.duration / 480, n.pitch) for n in score.tracks[0].notes]


def play(axiom, **config):
    return cadenza.create("lsystem", axiom=axiom, **config).generate(1, seed=0)[0]


def test_algae_gives_fibonacci_lengths():
    strings = [expand("A", "A->AB;B->A", n) for n in range(10)]
    assert strings[:5] == ["A", "AB", "ABA", "ABAAB", "ABAABABA"]
    assert [len(s) for s in strings] == [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]


def test_koch_edge_rewriting():
    assert expand("F", "F->F+F-F-F+F", 1) == "F+F-F-F+F"
    assert len(expand("F", "F->F+F-F-F+F", 3)) == 5 ** 3 + 4 * (1 + 5 + 25)


def test_stochastic_frequencies_and_temperature():
    s = expand("A" * 20000, "A->0.7:B|0.3:C", 1, seed=3)
    assert abs(s.count("B") / 20000 - 0.7) < 0.02
    sharp = expand("A" * 20000, "A->0.7:B|0.3:C", 1, seed=3, temperature=0.5)
    assert abs(sharp.count("B") / 20000 - 0.49 / 0.58) < 0.02
    even = expand("A" * 20000, "A->B|C", 1, seed=4)
    assert abs(even.count("B") / 20000 - 0.5) < 0.02
    assert expand("AAAA", "A->0.5:B|0.5:C", 3, seed=9) == expand("AAAA", "A->0.5:B|0.5:C", 3, seed=9)


def test_context_sensitive_signal_propagation():
    # ABOP section 1.8: a signal B travels right along a filament of A's.
    rules = "B<A->B;B->A"
    assert [expand("BAAAA", rules, n) for n in range(4)] == ["BAAAA", "ABAAA", "AABAA", "AAABA"]
    # Right contexts and multi-symbol contexts; context rules win over context-free ones.
    assert expand("ABC", "A>BC->X;A->Y", 1) == "XBC"
    assert expand("ABD", "A>BC->X;A->Y", 1) == "YBD"
    assert expand("CAB", "C<A>B->Z", 1) == "CZB"


def test_contexts_in_bracketed_strings():
    # A left context climbs out of a branch and skips finished sibling branches.
    assert expand("B[A]A", "B<A->X", 1) == "B[X]X"
    assert expand("B[C]A", "B<A->X", 1) == "B[C]X"
    # A right context skips side branches and stops at the end of its own.
    assert expand("A[B]C", "A>C->X", 1) == "X[B]C"
    assert expand("[A]C", "A>C->X", 1) == "[A]C"
    # Ignored symbols are invisible to contexts.
    assert expand("B+A", "B<A->X", 1, ignore="+") == "B+X"
    assert expand("B+A", "B<A->X", 1) == "B+A"


@pytest.mark.parametrize("rules", ["A->0.6:AB|0.3:BA", "A->0.5:AB|BA", "AB", "A->A[B", "A->AB;A->BA",
                                   "A->B:C|0.5:D", "[->A"])
def test_bad_rules_are_clear_errors(rules):
    with pytest.raises(CadenzaError):
        cadenza.create("lsystem", rules=rules)


def test_bad_config_is_a_clear_error():
    for config in ({"axiom": "F]"}, {"key": "H major"}, {"chords": "T:IX"}, {"drums": "K:cowbel"},
                   {"iterations": -1}, {"low": 60, "high": 65}, {"interpretation": "graphics"}):
        with pytest.raises(CadenzaError):
            cadenza.create("lsystem", **config)


def test_expansion_cap():
    model = cadenza.create("lsystem", axiom="A", rules="A->AA", iterations=20, max_symbols=1000)
    with pytest.raises(CadenzaError, match="max_symbols"):
        model.generate(1)


def test_turtle_steps_in_the_scale():
    assert notes(play("F+F+F-F", tie=False)) == [(0, 0.5, 60), (0.5, 0.5, 62), (1, 0.5, 64), (1.5, 0.5, 62)]
    assert [p for *_, p in notes(play("F+F+F", key="D dorian"))] == [62, 64, 65]
    assert [p for *_, p in notes(play("F^F&&F", tie=False))] == [60, 72, 48]
    assert [d for _, d, _ in notes(play("*F/F/F+F", tie=False))] == [1, 0.5, 0.25, 0.25]
    assert notes(play("FfF.F", tie=False, step=1.0)) == [(0, 1, 60), (2, 1, 60), (4, 1, 60)]
    assert notes(play("FXF+F")) == [(0, 1, 60), (1, 0.5, 62)]  # X is silent and takes no time; ties join


def test_push_pop_restores_state():
    # sequence: pitch and duration come back, time goes on.
    assert notes(play("F[+/F+F]F", tie=False)) == [(0, 0.5, 60), (0.5, 0.25, 62), (0.75, 0.25, 64), (1, 0.5, 60)]
    # parallel: the branch sounds over what follows it.
    assert notes(play("F[+F+F]F", tie=False, branches="parallel")) == \
        [(0, 0.5, 60), (0.5, 0.5, 60), (0.5, 0.5, 62), (1, 0.5, 64)]


def test_notes_fold_into_range():
    pitches = [n.pitch for n in play("F" + "+F" * 30, low=55, high=79).tracks[0].notes]
    assert min(pitches) >= 55 and max(pitches) <= 79
    assert all(p % 12 in {0, 2, 4, 5, 7, 9, 11} for p in pitches)


def test_chords_in_any_key_and_mode():
    score = play("145", interpretation="chords", step=2.0)
    by_time = {}
    for n in score.tracks[0].notes:
        by_time.setdefault(n.time, set()).add(n.pitch % 12)
    assert [by_time[t] for t in sorted(by_time)] == [{0, 4, 7}, {5, 9, 0}, {7, 11, 2}]
    minor = play("TD", interpretation="chords", key="A minor", chords="T:i;D:V7")
    pcs = {}
    for n in minor.tracks[0].notes:
        pcs.setdefault(n.time, set()).add(n.pitch % 12)
    assert list(pcs.values()) == [{9, 0, 4}, {4, 8, 11, 2}]


def test_rhythm_is_a_general_midi_drum_track():
    score = play("K.S.", interpretation="rhythm")
    track = score.tracks[0]
    assert track.is_drum
    assert [(n.time, n.pitch) for n in track.notes] == [(0, 36), (0, 42), (240, 38), (240, 42)]
    soft = play("Ks", interpretation="rhythm").tracks[0].notes
    assert soft[-1].pitch == 38 and soft[-1].velocity < soft[0].velocity


def test_defaults_are_musical_and_seeded():
    for interpretation in ("notes", "chords", "rhythm"):
        model = cadenza.create("lsystem", interpretation=interpretation)
        a, b = model.generate(2, seed=1)
        assert len(a.tracks[0].notes) >= 16 and a.end() >= 480 * 16
        assert a.dumps_midi() != b.dumps_midi()
        assert model.generate(1, seed=1)[0].dumps_midi() == a.dumps_midi()
    short = cadenza.create("lsystem").generate(1, seed=0, length=5)[0]
    assert len(short.tracks[0].notes) <= 5


def test_fit_is_accepted_and_save_load_round_trips(tmp_path):
    model = cadenza.create("lsystem", interpretation="chords", key="D dorian")
    tune = symusic.Score(480)
    tune.tracks.append(symusic.Track("t", 0, False))
    tune.tracks[0].notes.append(symusic.Note(0, 480, 60, 80))
    before = model.generate(1, seed=5)[0].dumps_midi()
    assert model.fit([tune]) is model
    assert model.generate(1, seed=5)[0].dumps_midi() == before
    model.save(tmp_path / "run")
    assert cadenza.load(tmp_path / "run").generate(1, seed=5)[0].dumps_midi() == before
