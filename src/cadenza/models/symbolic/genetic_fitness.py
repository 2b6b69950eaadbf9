"""The fitness terms of the genetic algorithm, and the rules of harmony and melody they score.

Harmony: Piston's table of usual root progressions (Piston, "Harmony",
1941, ch. 3), cadences, and the voice-leading rules of common-practice
four-part writing. Melody: the features of Towsey, Brown, Wright &
Diederich, "Towards melodic extension using genetic algorithms",
Educational Technology & Society 4(2), 2001 (scale membership, interval
sizes, contour, variety) and a melodic cadence.

Every fitness term is a function ``term(problem, population) -> scores`` that
takes the whole population (an int array, one genome a row) and returns one
score an individual (higher is better). The built-in terms score in [0, 1],
except ``likelihood`` (mean log-probability per event, in nats, <= 0). Terms
live in ``genetic_engine.TERMS``, by task; add one with
``genetic_engine.fitness_term`` and weight it with the model's ``weights`` option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cadenza.models.symbolic.genetic_engine import fitness_term, per_genome
from cadenza.models.symbolic.genetic_melody import melody_notes

if TYPE_CHECKING:
    from cadenza.models.symbolic.genetic_harmony import Chord
    from cadenza.music.theory import Key


# --- harmonic rules ------------------------------------------------------------------

# Piston's table of usual root progressions, by degree: usually, sometimes, less often.
_PISTON = {
    0: ((3, 4), (5,), (1, 2)),
    1: ((4,), (3, 5), (0, 2)),
    2: ((5,), (3,), (0, 1, 4)),
    3: ((4,), (0, 1), (2, 5)),
    4: ((0,), (3, 5), (1, 2)),
    5: ((1, 4), (2, 3), (0,)),
    6: ((0,), (2,), ()),
}
_PISTON_SCORE = (1.0, 0.6, 0.3)
REPEAT_SCORE = 0.5


def progression_table(chords: list[Chord]) -> np.ndarray:
    """``table[a, b]``: how usual chord ``b`` is after chord ``a``, in [0, 1]."""
    def diatonic_degree(c: Chord) -> int:
        # A secondary dominant stands in for the diatonic chord on its own root (V/V for ii).
        return (c.degree + 4) % 7 if c.secondary else c.degree

    n = len(chords)
    table = np.zeros((n, n))
    for i, a in enumerate(chords):
        for j, b in enumerate(chords):
            if a.secondary:
                table[i, j] = 1.0 if (not b.secondary and b.degree == a.degree) else 0.1
                continue
            da, db = a.degree, diatonic_degree(b)
            if i == j or (da == db and not b.secondary):
                table[i, j] = REPEAT_SCORE
                continue
            for rank, targets in enumerate(_PISTON[da]):
                if db in targets:
                    table[i, j] = _PISTON_SCORE[rank]
    return table


def is_dominant(chord: Chord) -> bool:
    """V, V7, vii° or vii°7/ø7 of the key (a major 5th-degree chord or a diminished 7th-degree one)."""
    if chord.secondary:
        return False
    return (chord.degree == 4 and chord.quality in ("maj", "7")) or \
           (chord.degree == 6 and chord.quality in ("dim", "°7", "ø7"))


def cadence_score(last: Chord, last_inversion: int, penult: Chord | None, penult_inversion: int = 0) -> float:
    """Final cadence: 1.0 for a perfect authentic cadence (V(7) -> I, both in root position).

    0.5 for ending on the tonic triad (+0.1 in root position; 0.2 for a tonic
    seventh chord), 0.3 for a dominant before it (+0.1 for V in root position),
    0.15 for a plagal IV -> I.
    """
    score = 0.0
    if last.degree == 0 and not last.secondary:
        score += 0.2 if last.seventh else 0.5 + (0.1 if last_inversion == 0 else 0.0)
    if penult is not None:
        if is_dominant(penult):
            score += 0.3 + (0.1 if penult.degree == 4 and penult_inversion == 0 else 0.0)
        elif penult.degree == 3 and not penult.secondary:
            score += 0.15
    return score


PERFECT = (0, 7)  # unisons/octaves and fifths, as pitch-class intervals
VOICE_PAIRS = [(i, j) for i in range(4) for j in range(i + 1, 4)]


def voice_leading_costs(voices: np.ndarray) -> np.ndarray:
    """Cost of each move between successive chords: ``voices`` is ``[P, S, 4]`` MIDI
    pitches (bass, tenor, alto, soprano; -1 where a voice is silent), the result ``[P, S-1]``.

    1 a parallel fifth or octave (both voices moving the same way into the same
    perfect interval), 0.5 a perfect interval kept by contrary motion; an inner
    voice leap over a major third costs 0.5, over a fifth 1; a bass leap over an
    octave 1.
    """
    voices = np.asarray(voices)
    a, b = voices[:, :-1], voices[:, 1:]
    sounding = (a >= 0) & (b >= 0)
    move = np.where(sounding, b - a, 0)
    cost = np.zeros(a.shape[:2])
    for i, j in VOICE_PAIRS:
        both = sounding[..., i] & sounding[..., j] & (move[..., i] != 0) & (move[..., j] != 0)
        before = (a[..., j] - a[..., i]) % 12
        after = (b[..., j] - b[..., i]) % 12
        same_perfect = both & (before == after) & np.isin(before, PERFECT)
        similar = np.sign(move[..., i]) == np.sign(move[..., j])
        cost += np.where(same_perfect & similar, 1.0, 0.0) + np.where(same_perfect & ~similar, 0.5, 0.0)
    for inner in (1, 2):
        leap = np.abs(move[..., inner])
        cost += np.where(leap > 7, 1.0, np.where(leap > 4, 0.5, 0.0))
    cost += np.where(np.abs(move[..., 0]) > 12, 1.0, 0.0)
    return cost


def voice_leading_score(voices: np.ndarray) -> np.ndarray:
    """Mean over moves of ``1 / (1 + cost + inner motion / 12)``: 1 when nothing moves
    and no rule is broken; ``[P]``."""
    voices = np.asarray(voices)
    if voices.shape[1] < 2:
        return np.ones(voices.shape[0])
    cost = voice_leading_costs(voices)
    a, b = voices[:, :-1], voices[:, 1:]
    inner = np.abs(b[..., 1:3] - a[..., 1:3]).sum(axis=-1)
    return (1.0 / (1.0 + cost + inner / 12.0)).mean(axis=1)


# --- melodic rules (Towsey et al. 2001) -------------------------------------------------

# Score of a melodic interval by its size in semitones: steps best, tritones and
# sevenths worst, an octave leap acceptable.
INTERVAL_SCORE = np.array([0.5, 0.9, 1.0, 0.8, 0.8, 0.6, 0.1, 0.5, 0.3, 0.3, 0.1, 0.0, 0.3])


def scale_score(pitches, key: Key) -> float:
    pitches = np.asarray(pitches)
    return float(np.isin(pitches % 12, list(key.members)).mean()) if len(pitches) else 0.0


def interval_score(pitches) -> float:
    steps = np.abs(np.diff(np.asarray(pitches)))
    if not len(steps):
        return 0.0
    return float(np.where(steps <= 12, INTERVAL_SCORE[np.minimum(steps, 12)], 0.0).mean())


def contour_score(pitches) -> float:
    """Mean of three: leaps (5+ semitones) recovered by a step back (Meyer's gap-fill),
    no run of more than four moves in one direction, a single highest note (a climax)."""
    pitches = np.asarray(pitches)
    if len(pitches) < 3:
        return 0.0
    moves = np.diff(pitches)
    leaps = np.flatnonzero(np.abs(moves[:-1]) >= 5)
    recovered = [np.sign(moves[i + 1]) == -np.sign(moves[i]) and 1 <= abs(moves[i + 1]) <= 2 for i in leaps]
    leap = float(np.mean(recovered)) if len(leaps) else 1.0
    in_runs, run = 0, 0
    for i, m in enumerate(moves):
        run = run + 1 if i and m != 0 and np.sign(m) == np.sign(moves[i - 1]) else (1 if m != 0 else 0)
        if run > 4:
            in_runs += 1
    climax = 1.0 if (pitches == pitches.max()).sum() == 1 else 0.0
    return (leap + (1.0 - in_runs / len(moves)) + climax) / 3.0


def variety_score(pitches, lengths) -> float:
    """Half pitch variety (distinct pitches over 8), half rhythm variety (distinct lengths over 3)."""
    if not len(pitches):
        return 0.0
    pitch = min(1.0, len(set(np.asarray(pitches).tolist())) / min(8, len(pitches)))
    rhythm = min(1.0, (len(set(np.asarray(lengths).tolist())) - 1) / 2) if len(pitches) > 1 else 0.0
    return 0.5 * pitch + 0.5 * rhythm


def melodic_cadence_score(pitches, lengths, key: Key) -> float:
    """0.5 for ending on the tonic, 0.3 for reaching it by step, 0.2 for a held last note."""
    if not len(pitches):
        return 0.0
    score = 0.5 if pitches[-1] % 12 == key.tonic else 0.0
    if len(pitches) > 1 and score and 1 <= abs(int(pitches[-1]) - int(pitches[-2])) <= 2:
        score += 0.3
    if lengths[-1] >= 2:
        score += 0.2
    return score


# Harmonisation terms: ``population`` is [P, S, 3] (chord index, inversion, voicing).

@fitness_term("harmonize", "consonance", 2.0)
def _consonance(problem, population):
    """Share of the melody's time (downbeats counted twice) on chord tones."""
    return problem.consonance[np.arange(problem.slots), population[..., 0]].mean(axis=1)


@fitness_term("harmonize", "voice_leading", 1.0)
def _voice_leading(problem, population):
    """Few parallel fifths/octaves and leaps, little motion in the inner voices."""
    return voice_leading_score(problem.voices(population))


@fitness_term("harmonize", "progression", 1.0)
def _progression(problem, population):
    """How usual each chord is after the one before (Piston's table of root progressions)."""
    chords = population[..., 0]
    if chords.shape[1] < 2:
        return np.ones(len(chords))
    return problem.progression[chords[:, :-1], chords[:, 1:]].mean(axis=1)


@fitness_term("harmonize", "cadence", 1.0)
def _cadence(problem, population):
    """A final authentic cadence: V(7) -> I, both in root position, scores 1."""
    return problem.cadence[population[:, -2, 0] if problem.slots > 1 else np.full(len(population), -1),
                           population[:, -2, 1] if problem.slots > 1 else np.zeros(len(population), int),
                           population[:, -1, 0], population[:, -1, 1]]


@fitness_term("harmonize", "inversions", 0.5)
def _inversions(problem, population):
    """Root position and first inversion; a six-four chord only as a cadential I64 before V."""
    chords, inversions = population[..., 0], population[..., 1]
    score = problem.inversion_score[chords, inversions]
    cadential = (problem.is_tonic_triad[chords[:, :-1]] & (inversions[:, :-1] == 2)
                 & problem.is_dominant[chords[:, 1:]])
    score[:, :-1] = np.where(cadential, 1.0, score[:, :-1])
    return score.mean(axis=1)


@fitness_term("harmonize", "opening", 0.5)
def _opening(problem, population):
    """Starts on the tonic triad: 1 in root position, 0.5 inverted."""
    first = population[:, 0]
    tonic = problem.is_tonic_triad[first[:, 0]]
    return np.where(tonic, np.where(first[:, 1] == 0, 1.0, 0.5), 0.0)


@fitness_term("harmonize", "variety", 0.5)
def _harmonic_variety(problem, population):
    """Half distinct chords (over 7), half chord changes between slots."""
    chords = population[..., 0]
    distinct = np.array([len(np.unique(row)) for row in chords]) / min(7, problem.slots)
    changes = (np.diff(chords, axis=1) != 0).mean(axis=1) if problem.slots > 1 else np.ones(len(chords))
    return 0.5 * np.minimum(1.0, distinct) + 0.5 * changes


@fitness_term("harmonize", "likelihood", 0.0)
def _harmony_likelihood(problem, population):
    """Mean log-probability per event of one voice under another model (nats)."""
    return problem.likelihood(population)


# Melody terms: ``population`` is [P, L], one pitch or HOLD a slot.

@fitness_term("melody", "scale", 1.0)
@per_genome
def _scale(problem, genome):
    """Share of notes in the key (minor also takes the raised 6th and 7th)."""
    return scale_score(melody_notes(genome)[0], problem.key)


@fitness_term("melody", "intervals", 1.0)
@per_genome
def _intervals(problem, genome):
    """Steps and small leaps rather than large or dissonant leaps."""
    return interval_score(melody_notes(genome)[0])


@fitness_term("melody", "contour", 0.5)
@per_genome
def _contour(problem, genome):
    """Leaps recovered by steps, no long runs one way, one climax."""
    return contour_score(melody_notes(genome)[0])


@fitness_term("melody", "variety", 0.5)
@per_genome
def _melodic_variety(problem, genome):
    """Distinct pitches and note lengths."""
    return variety_score(*melody_notes(genome))


@fitness_term("melody", "cadence", 1.0)
@per_genome
def _melodic_cadence(problem, genome):
    """Ends on the tonic, by step, on a held note."""
    return melodic_cadence_score(*melody_notes(genome), problem.key)


@fitness_term("melody", "likelihood", 0.0)
def _melody_likelihood(problem, population):
    """Mean log-probability per event of the melody under another model (nats)."""
    return problem.likelihood(population)
