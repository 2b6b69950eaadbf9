"""The genetic algorithm: operators, fitness terms, harmonisation, the likelihood term."""

from __future__ import annotations

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.symbolic.genetic import plot_history
from cadenza.models.symbolic.genetic_engine import TERMS, fitness_term, one_point, roulette, tournament, uniform
from cadenza.models.symbolic.genetic_fitness import (
    cadence_score,
    contour_score,
    interval_score,
    melodic_cadence_score,
    progression_table,
    scale_score,
    voice_leading_costs,
    voice_leading_score,
)
from cadenza.models.symbolic.genetic_harmony import HARMONY_MUTATIONS, HarmonyProblem, chord_vocabulary
from cadenza.models.symbolic.genetic_melody import HOLD, MELODY_MUTATIONS, MelodyProblem
from cadenza.music.theory import TPQ, Key, parse_key

F_SHARP_MINOR = [66, 68, 69, 71, 73, 71, 69, 68, 69, 66, 65, 66, 73, 74, 73, 71, 69, 68, 66, 65, 66]
F_SHARP_BEATS = [1] * 20 + [4]
B_FLAT_MAJOR = [70, 72, 74, 75, 77, 75, 74, 72, 74, 70, 69, 70, 77, 79, 77, 75, 74, 72, 69, 70]
B_FLAT_BEATS = [1] * 19 + [5]


def _score(pitches, beats, name="Melody") -> symusic.Score:
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, 100))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track(name, 0, False)
    time = 0
    for pitch, q in zip(pitches, beats):
        track.notes.append(symusic.Note(time, int(q * TPQ), pitch, 80))
        time += int(q * TPQ)
    score.tracks.append(track)
    return score


@pytest.fixture(scope="module")
def f_sharp_minor_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("melody") / "f_sharp_minor.mid"
    _score(F_SHARP_MINOR, F_SHARP_BEATS).dump_midi(str(path))
    return path


# --- theory ---------------------------------------------------------------------------

def test_minor_vocabulary_uses_the_leading_tone_for_dominants():
    chords = chord_vocabulary(parse_key("F# minor"))
    by_name = {c.roman: c for c in chords}
    assert chords[0].roman == "i" and chords[0].pcs == (6, 9, 1)
    assert by_name["V"].pcs == (1, 5, 8)  # C# E# G#
    assert by_name["V7"].pcs == (1, 5, 8, 11)
    assert by_name["vii°"].pcs == (5, 8, 11) and by_name["VII"].pcs == (4, 8, 11)
    assert {"iiø7", "vii°7"} <= set(by_name)
    assert all(set(c.pcs) <= parse_key("F# minor").members for c in chords)
    assert len(chord_vocabulary(parse_key("C"), sevenths=False)) == 7
    secondary = [c.roman for c in chord_vocabulary(parse_key("C"), secondary_dominants=True) if c.secondary]
    assert "V/V" in secondary and "V7/IV" in secondary


def test_parallel_fifths_and_octaves_are_penalised():
    # C major (C G E C) up a step to D minor (D A F D): bass-tenor fifths and
    # bass-soprano octaves move in parallel.
    parallel = np.array([[[48, 55, 64, 72], [50, 57, 65, 74]]])
    assert voice_leading_costs(parallel)[0, 0] == 2.0
    assert voice_leading_score(parallel)[0] == pytest.approx(1 / (1 + 2 + 3 / 12))
    # I -> V with the tenor held and the others moving apart: nothing broken.
    good = np.array([[[48, 55, 64, 72], [43, 55, 62, 71]]])
    assert voice_leading_costs(good)[0, 0] == 0.0
    assert voice_leading_score(good)[0] == pytest.approx(1 / (1 + 2 / 12))
    # An octave kept by contrary motion costs half; an inner leap of a sixth costs 1.
    contrary = np.array([[[48, 55, 64, 72], [43, 55, 64, 79]]])
    assert voice_leading_costs(contrary)[0, 0] == 0.5
    leap = np.array([[[48, 55, 64, 72], [48, 64, 67, 72]]])
    assert voice_leading_costs(leap)[0, 0] == 1.0
    # A resting melody (-1) takes part in no interval.
    resting = np.array([[[48, 55, 64, -1], [50, 57, 65, -1]]])
    assert voice_leading_costs(resting)[0, 0] == 1.0


def test_progression_follows_pistons_table():
    chords = chord_vocabulary(parse_key("C"), sevenths=True, secondary_dominants=True)
    index = {c.roman: i for i, c in enumerate(chords)}
    table = progression_table(chords)
    assert table[index["V"], index["I"]] == 1.0
    assert table[index["ii"], index["V7"]] == 1.0
    assert table[index["V"], index["vi"]] == 0.6  # the deceptive cadence: "sometimes"
    assert table[index["I"], index["I"]] == 0.5
    assert table[index["V"], index["iii"]] == 0.3
    assert table[index["iii"], index["vii°"]] == 0.0
    assert table[index["V/V"], index["V"]] == 1.0 and table[index["V/V"], index["I"]] == 0.1
    assert table[index["I"], index["V/V"]] == table[index["I"], index["ii"]]


def test_cadence_rewards_v_i():
    chords = {c.roman: c for c in chord_vocabulary(parse_key("C"))}
    assert cadence_score(chords["I"], 0, chords["V"], 0) == pytest.approx(1.0)
    assert cadence_score(chords["I"], 0, chords["V7"], 0) == pytest.approx(1.0)
    assert cadence_score(chords["I"], 0, chords["V"], 1) == pytest.approx(0.9)
    assert cadence_score(chords["I"], 0, chords["IV"], 0) == pytest.approx(0.75)
    assert cadence_score(chords["I"], 1, chords["ii"], 0) == pytest.approx(0.5)
    assert cadence_score(chords["V"], 0, chords["I"], 0) == 0.0
    assert cadence_score(chords["I"], 0, None) == pytest.approx(0.6)


def test_melodic_terms_known_answers():
    c_major = Key(0)
    assert scale_score([60, 61, 62, 64], c_major) == 0.75
    assert scale_score([69, 71, 68, 66], Key(9, "minor")) == 1.0  # raised 6th and 7th belong to minor
    assert interval_score([60, 62, 64]) == 1.0
    assert interval_score([60, 66]) == pytest.approx(0.1)
    assert interval_score([60, 80]) == 0.0
    # A leap up recovered by a step down, no runs, one climax.
    assert contour_score([60, 67, 65, 64]) == 1.0
    # An unrecovered leap (0), no long runs (1), two highest notes (0).
    assert contour_score([60, 67, 67, 60]) == pytest.approx(1 / 3)
    assert melodic_cadence_score(np.array([64, 62, 60]), np.array([1, 1, 2]), c_major) == pytest.approx(1.0)
    assert melodic_cadence_score(np.array([64, 67, 60]), np.array([1, 1, 1]), c_major) == pytest.approx(0.5)
    assert melodic_cadence_score(np.array([64, 62]), np.array([1, 4]), c_major) == pytest.approx(0.2)


def test_consonance_counts_chord_tones_with_downbeats_twice():
    # One bar, one chord: C (a beat, on the downbeat), D, E, G.
    problem = HarmonyProblem(_score([60, 62, 64, 67], [1, 1, 1, 1]), Key(0), chords_per_bar=1)
    index = {c.roman: i for i, c in enumerate(problem.chords)}
    # Weights: C 1 + 4 (downbeat), D 1, E 1, G 1 = 8.
    assert problem.consonance[0, index["I"]] == pytest.approx(7 / 8)
    assert problem.consonance[0, index["V"]] == pytest.approx(2 / 8)
    assert problem.consonance[0, index["ii"]] == pytest.approx(1 / 8)


def test_six_four_chords_only_as_cadential():
    problem = HarmonyProblem(_score([72, 71, 72, 72], [1, 1, 1, 1]), Key(0), chords_per_bar=4)
    index = {c.roman: i for i, c in enumerate(problem.chords)}
    term = TERMS["harmonize"]["inversions"].fn
    tonic, subdominant, dominant, dominant7 = index["I"], index["IV"], index["V"], index["V7"]
    cadential = np.array([[[tonic, 0, 0], [tonic, 2, 0], [dominant, 0, 0], [tonic, 0, 0]]])
    assert term(problem, cadential)[0] == 1.0
    plain = np.array([[[tonic, 0, 0], [subdominant, 2, 0], [dominant7, 1, 0], [tonic, 1, 0]]])  # IV64 0, V65 0.75, I6 1
    assert term(problem, plain)[0] == pytest.approx((1 + 0 + 0.75 + 1) / 4)
    assert problem.chord_names(plain[0]) == ["I", "IV64", "V65", "I6"]


# --- operators --------------------------------------------------------------------------

def test_crossover_known_answers():
    a, b = np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8])
    c, d = one_point(a, b, 1)
    assert c.tolist() == [1, 6, 7, 8] and d.tolist() == [5, 2, 3, 4]
    c, d = uniform(a, b, np.array([True, False, False, True]))
    assert c.tolist() == [1, 6, 7, 4] and d.tolist() == [5, 2, 3, 8]
    # Harmony genomes cross whole slots: a chord keeps its inversion and voicing.
    a2, b2 = np.arange(6).reshape(3, 2), -np.arange(6).reshape(3, 2)
    c, d = one_point(a2, b2, 2)
    assert c.tolist() == [[0, 1], [2, 3], [-4, -5]] and d.tolist() == [[0, -1], [-2, -3], [4, 5]]
    c, _ = uniform(a2, b2, np.array([False, True, False]))
    assert c.tolist() == [[0, -1], [2, 3], [-4, -5]]


def test_selection():
    rng = np.random.default_rng(0)
    fitness = np.array([1.0, 5.0, 3.0, 2.0])
    # A tournament as large as it can be drawn still picks its own best.
    picks = tournament(fitness, 200, rng, size=3)
    assert set(picks) <= {0, 1, 2, 3} and np.bincount(picks, minlength=4)[1] > 100
    # Roulette with windowing: the worst never wins, shares follow fitness minus the worst.
    picks = roulette(fitness, 6000, rng)
    counts = np.bincount(picks, minlength=4) / 6000
    assert counts[0] == 0
    assert counts == pytest.approx([0, 4 / 7, 2 / 7, 1 / 7], abs=0.03)
    assert set(roulette(np.ones(3), 50, rng)) == {0, 1, 2}  # all equal: uniform


SEVEN_NOTE_KEYS = st.builds(Key, st.integers(0, 11), st.sampled_from(["major", "minor", "dorian", "lydian"]))


@st.composite
def melody_genomes(draw):
    slots = draw(st.integers(2, 24))
    low = draw(st.integers(40, 80))
    high = low + draw(st.integers(12, 30))
    genes = [draw(st.integers(low, high))]
    genes += draw(st.lists(st.one_of(st.just(HOLD), st.integers(low, high)), min_size=slots - 1,
                           max_size=slots - 1))
    return np.array(genes), low, high


@settings(max_examples=150, deadline=None)
@given(genome=melody_genomes(), key=SEVEN_NOTE_KEYS, operator=st.sampled_from(MELODY_MUTATIONS),
       seed=st.integers(0, 2**32))
def test_melody_mutations_keep_the_genome_valid(genome, key, operator, seed):
    genes, low, high = genome
    problem = MelodyProblem(key, len(genes), low, high, 240)
    assert problem.valid(genes)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        genes = problem.mutate(genes, operator, rng)
        assert problem.valid(genes), (operator, genes)


_HARMONY = {}


def _harmony_problem(key: str) -> HarmonyProblem:
    if key not in _HARMONY:
        pitches = F_SHARP_MINOR if "#" in key else B_FLAT_MAJOR
        beats = F_SHARP_BEATS if "#" in key else B_FLAT_BEATS
        _HARMONY[key] = HarmonyProblem(_score(pitches, beats), parse_key(key), chords_per_bar=2,
                                       secondary_dominants=True)
    return _HARMONY[key]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), key=st.sampled_from(["F# minor", "Bb major"]),
       operator=st.sampled_from(HARMONY_MUTATIONS), seed=st.integers(0, 2**32))
def test_harmony_mutations_keep_the_genome_valid(data, key, operator, seed):
    problem = _harmony_problem(key)
    chords = data.draw(st.lists(st.integers(0, len(problem.chords) - 1), min_size=problem.slots,
                                max_size=problem.slots))
    genes = np.array([[c, data.draw(st.integers(0, problem.sizes[c] - 1)), data.draw(st.integers(0, 2))]
                      for c in chords])
    assert problem.valid(genes)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        genes = problem.mutate(genes, operator, rng)
        assert problem.valid(genes), (operator, genes)
        voices = problem.voices(genes[None])[0]
        assert (np.diff(voices[:, :3], axis=1) > 0).all()  # bass < tenor < alto


def test_transpose_moves_chords_by_scale_steps():
    problem = _harmony_problem("Bb major")
    index = {c.roman: i for i, c in enumerate(problem.chords)}
    assert problem.chords[problem.shift[index["I"], 2 + 1]].roman == "ii"
    assert problem.chords[problem.shift[index["vi"], 2 - 2]].roman == "IV"
    # Sevenths stay sevenths: V7 up a third is viiø7; there is no IV7 to step down to.
    assert problem.chords[problem.shift[index["V7"], 2 + 2]].roman == "viiø7"
    assert problem.shift[index["V7"], 2 - 1] == -1
    assert problem.shift[index["V/V"]].tolist() == [-1] * 5


# --- the GA ---------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["melody", "harmonize"])
@pytest.mark.parametrize("selection,crossover", [("tournament", "one-point"), ("roulette", "uniform")])
def test_elitism_never_lets_the_best_drop(task, selection, crossover, f_sharp_minor_file):
    extra = {"melody": str(f_sharp_minor_file)} if task == "harmonize" else {"bars": 2}
    model = cadenza.create("genetic", task=task, population=16, generations=25, elitism=1,
                           selection=selection, crossover=crossover, **extra)
    histories = [e.history for e in model.evolve(n=4, seed=11)]
    assert len(histories) == 4
    for history in histories:
        best = np.array(history["best"])
        assert len(best) == 26
        assert (np.diff(best) >= -1e-12).all()
        assert best[-1] > best[0]
        assert all(b >= m for b, m in zip(history["best"], history["mean"]))


def test_harmonisation_in_f_sharp_minor_uses_its_chords_and_ends_on_the_tonic(f_sharp_minor_file):
    model = cadenza.create("genetic", task="harmonize", melody=str(f_sharp_minor_file), generations=120)
    assert str(model.key()) == "F# minor"  # estimated from the melody
    evolved = model.evolve(n=1, seed=0)[0]
    score = evolved.score
    assert [t.name for t in score.tracks] == ["Melody", "Alto", "Tenor", "Bass"]
    assert [n.pitch for n in score.tracks[0].notes] == F_SHARP_MINOR
    members = parse_key("F# minor").members
    voices = [[n.pitch for n in t.notes] for t in score.tracks[1:]]
    assert len({len(v) for v in voices}) == 1 and len(voices[0]) == 12  # 6 bars, 2 chords a bar
    for chord in zip(*voices):
        assert {p % 12 for p in chord} <= members
    alto, tenor, bass = (v[-1] for v in voices)
    assert bass % 12 == 6 and {alto % 12, tenor % 12} <= {6, 9, 1}
    assert score.markers[-1].text.startswith("F#m (i)")
    assert evolved.history["terms"]["cadence"] == pytest.approx(1.0)
    assert score.end() == sum(F_SHARP_BEATS) * TPQ


def test_harmonisation_in_b_flat_major_from_musicxml(tmp_path):
    from cadenza.music.io import write_musicxml

    path = write_musicxml(_score(B_FLAT_MAJOR, B_FLAT_BEATS), tmp_path / "b_flat.musicxml")
    model = cadenza.create("genetic", task="harmonize", melody=str(path), key="Bb major", generations=120,
                           chords_per_bar=1)
    score = model.generate(n=1, seed=1)[0]
    voices = [[n.pitch for n in t.notes] for t in score.tracks[1:]]
    members = parse_key("Bb").members
    assert all({p % 12 for p in chord} <= members for chord in zip(*voices))
    assert voices[2][-1] % 12 == 10 and {voices[0][-1] % 12, voices[1][-1] % 12} <= {10, 2, 5}
    assert score.key_signatures[0].key == -2


def test_same_seed_same_harmonisation(f_sharp_minor_file):
    model = cadenza.create("genetic", task="harmonize", melody=str(f_sharp_minor_file), generations=10)
    a = model.generate(n=2, seed=3)
    b = model.generate(n=2, seed=3)
    assert [p.dumps_midi() for p in a] == [p.dumps_midi() for p in b]


def test_generated_melody_scores_well(tmp_path):
    model = cadenza.create("genetic", key="D minor", bars=2, generations=60, population=40)
    evolved = model.evolve(n=1, seed=5, length=16)
    score = evolved[0].score
    pitches = [n.pitch for n in score.tracks[0].notes]
    assert score.end() == 16 * 240
    assert scale_score(pitches, parse_key("D minor")) >= 0.9
    assert pitches[-1] % 12 == 2
    assert evolved[0].history["best"][-1] > evolved[0].history["best"][0]
    assert plot_history([e.history for e in evolved], tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_history(evolved, tmp_path / "m.png").is_file()


# --- fitness terms: weights, extension, likelihood ------------------------------------------

def _chromatic_corpus():
    # Melodies of rising semitones in eighths: what the likelihood model will expect.
    return [_score(list(range(start, start + 12)), [0.5] * 12) for start in (60, 62, 64, 65, 67)]


@pytest.fixture(scope="module")
def markov_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "markov"
    cadenza.create("markov", order=1).fit(_chromatic_corpus()).save(run)
    return run


def test_likelihood_weight_changes_the_ranking(markov_run):
    scale_run = np.array([60, 62, 64, 65, 67, 69, 71, 72])
    chromatic = np.array([60, 61, 62, 63, 64, 65, 66, 67])
    ranks = {}
    for weight in (0, 10):
        model = cadenza.create("genetic", likelihood_model=str(markov_run), weights=f"likelihood={weight}")
        problem = model.problem(length=8)
        total, terms = problem.fitness(np.stack([scale_run, chromatic]), model.weights())
        ranks[weight] = np.argsort(-total).tolist()
    assert terms["likelihood"][1] > terms["likelihood"][0]
    assert ranks[0] == [0, 1]  # theory alone prefers the scale
    assert ranks[10] == [1, 0]  # a heavy likelihood prefers what the Markov chain learned


def test_fit_trains_the_likelihood_and_save_keeps_it(tmp_path):
    model = cadenza.create("genetic", bars=1, generations=8, population=10)
    assert model.weights()["likelihood"] == 0.0
    assert model.fit(_chromatic_corpus()) is model
    assert model.weights()["likelihood"] == 1.0
    first, = model.evolve(n=1, seed=2)
    assert "likelihood" in first.history["terms"]
    first = first.score
    loaded = cadenza.load(model.save(tmp_path / "run"))
    assert loaded.likelihood_ is not None
    assert loaded.generate(n=1, seed=2)[0].dumps_midi() == first.dumps_midi()


def test_a_user_term_can_be_registered_and_weighted():
    @fitness_term("melody", "high_register", weight=0.0)
    def high_register(problem, population):
        """Mean pitch, scaled to [0, 1] over the range."""
        notes = np.where(population == HOLD, problem.low, population)
        return (notes.mean(axis=1) - problem.low) / (problem.high - problem.low)

    try:
        plain = cadenza.create("genetic", bars=1, generations=30, population=20)
        high = cadenza.create("genetic", bars=1, generations=30, population=20, weights="high_register=20")
        mean = [np.mean([n.pitch for n in m.generate(n=1, seed=0)[0].tracks[0].notes]) for m in (plain, high)]
        assert mean[1] > mean[0] + 3
    finally:
        del TERMS["melody"]["high_register"]


@pytest.mark.parametrize("options,match", [
    ({"key": "H major"}, "key"),
    ({"weights": "consonance=2"}, "unknown fitness term"),
    ({"weights": "scale=lots"}, "number"),
    ({"task": "harmonize"}, "melody=PATH"),
    ({"mutations": ["revoice"]}, "unknown mutation"),
    ({"low": 60, "high": 65}, "octave"),
    ({"elitism": 64}, "elitism"),
    ({"selection": "rank"}, "selection"),
])
def test_bad_options_are_clear_errors(options, match):
    with pytest.raises(CadenzaError, match=match):
        cadenza.create("genetic", **options)


def test_missing_melody_file_and_likelihood_are_clear_errors(tmp_path):
    model = cadenza.create("genetic", task="harmonize", melody=str(tmp_path / "missing.mid"))
    with pytest.raises(CadenzaError, match="no such file"):
        model.generate(n=1)
    with pytest.raises(CadenzaError, match="likelihood_model"):
        cadenza.create("genetic", weights="likelihood=1", generations=1).generate(n=1)
    with pytest.raises(CadenzaError, match="no such run"):
        cadenza.create("genetic", likelihood_model=str(tmp_path / "nope"), generations=1).generate(n=1)
