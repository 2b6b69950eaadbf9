"""Music theory and fitness terms for the genetic algorithm (``genetic.py``).

Keys (parsed by :mod:`cadenza.music.scales`, with key signatures and
spelling added here) and chord vocabularies with their harmonic functions;
key estimation with the Krumhansl-Kessler
profiles (Krumhansl, "Cognitive Foundations of Musical Pitch", 1990, ch. 4);
Piston's table of usual root progressions (Piston, "Harmony", 1941, ch. 3);
the voice-leading rules of common-practice four-part writing; and the melodic
features of Towsey, Brown, Wright & Diederich, "Towards melodic extension
using genetic algorithms", Educational Technology & Society 4(2), 2001
(scale membership, interval sizes, contour, variety).

Every fitness term is a function ``term(problem, population) -> scores`` that
takes the whole population (an int array, one genome a row) and returns one
score an individual (higher is better). The built-in terms score in [0, 1],
except ``likelihood`` (mean log-probability per event, in nats, <= 0). Terms
live in :data:`TERMS`, by task; add one with :func:`fitness_term` and weight
it with the model's ``weights`` option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.music.scales import MODES, parse_scale

HOLD = -1  # a melody gene that holds the previous note one more slot

NAMES_SHARP = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
NAMES_FLAT = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]

# Semitones from a mode's tonic up to the tonic of the major scale with its key
# signature; only seven-note modes, whose chords stack in thirds.
_TO_RELATIVE_MAJOR = {"major": 0, "minor": 3, "dorian": 10, "phrygian": 8, "lydian": 7,
                      "mixolydian": 5, "locrian": 1, "harmonic_minor": 3, "melodic_minor": 3}
MINORS = ("minor", "harmonic_minor", "melodic_minor")

# Krumhansl & Kessler (1982) probe-tone ratings, from the tonic up.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, C = 0
    mode: str = "major"
    spelled: str | None = None  # the tonic as the user wrote it (keeps "Gb" apart from "F#")

    @property
    def scale(self) -> tuple[int, ...]:
        """The mode's seven pitch classes, degree by degree."""
        return tuple((self.tonic + s) % 12 for s in MODES[self.mode])

    @property
    def members(self) -> frozenset[int]:
        """Pitch classes that belong to the key: minor also takes the raised 6th and 7th."""
        if self.mode in MINORS:  # any of natural, harmonic and melodic minor
            return frozenset((self.tonic + s) % 12 for s in MODES["minor"] + (9, 11))
        return frozenset(self.scale)

    @property
    def fifths(self) -> int:
        """Key signature: sharps (positive) or flats (negative)."""
        major = (self.tonic + _TO_RELATIVE_MAJOR[self.mode]) % 12
        f = (7 * major) % 12
        if self.spelled and "b" in self.spelled[1:]:
            return f - 12 if f > 0 else f
        return f - 12 if f > 6 else f

    def pc_name(self, pc: int) -> str:
        return (NAMES_FLAT if self.fifths < 0 else NAMES_SHARP)[pc % 12]

    def __str__(self) -> str:
        return f"{self.spelled or self.pc_name(self.tonic)} {self.mode}"


def parse_key(text: str) -> Key:
    """``"F# minor"``, ``"Bb"``, ``"ebm"``, ``"D dorian"`` -> :class:`Key`; CadenzaError otherwise.

    Any seven-note mode of :mod:`cadenza.music.scales` (its parser reads the text).
    """
    scale = parse_scale(text)
    if scale.mode not in _TO_RELATIVE_MAJOR:
        raise CadenzaError(f"key {text!r}: the {scale.mode} mode has no triads in thirds "
                           f"(use one of {', '.join(_TO_RELATIVE_MAJOR)})")
    spelled = text.strip()[:2] if text.strip()[1:2] in ("#", "b") else text.strip()[:1]
    return Key(scale.tonic, scale.mode, spelled[0].upper() + spelled[1:])


def estimate_key(pitches, durations, fifths: int | None = None) -> Key:
    """Krumhansl-Schmuckler: the major or minor key whose profile best correlates
    with the duration-weighted pitch-class histogram. With a key signature
    (``fifths``), only its major key and relative minor are candidates."""
    histogram = np.zeros(12)
    np.add.at(histogram, np.asarray(pitches, dtype=int) % 12, np.asarray(durations, dtype=float))
    best, best_r = Key(0), -np.inf
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            key = Key(tonic, mode)
            if fifths is not None and key.fifths != fifths and not (abs(fifths) == 6 and abs(key.fifths) == 6):
                continue
            r = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1] if histogram.std() > 0 else 0.0
            if r > best_r:
                best, best_r = key, r
    return best


# --- chords --------------------------------------------------------------------------

QUALITIES = {  # intervals above the root -> quality name
    (0, 4, 7): "maj", (0, 3, 7): "min", (0, 3, 6): "dim", (0, 4, 8): "aug",
    (0, 4, 7, 10): "7", (0, 4, 7, 11): "maj7", (0, 3, 7, 10): "m7", (0, 3, 6, 10): "ø7",
    (0, 3, 6, 9): "°7", (0, 3, 7, 11): "mmaj7", (0, 4, 8, 11): "+maj7",
}
NUMERALS = ["I", "II", "III", "IV", "V", "VI", "VII"]
FUNCTION = {0: "T", 1: "S", 2: "T", 3: "S", 4: "D", 5: "T", 6: "D"}


@dataclass(frozen=True)
class Chord:
    root: int  # pitch class
    pcs: tuple[int, ...]  # root position: root, third, fifth (, seventh)
    degree: int  # scale degree of the root, 0 = tonic (a secondary dominant takes its target's)
    quality: str
    secondary: bool = False  # V or V7 of ``degree``
    target: str = ""  # a secondary dominant's target, e.g. "vi"

    @property
    def seventh(self) -> bool:
        return len(self.pcs) == 4

    @property
    def function(self) -> str:
        return "D" if self.secondary else FUNCTION[self.degree]

    @property
    def roman(self) -> str:
        if self.secondary:
            return ("V7" if self.seventh else "V") + "/" + self.target
        numeral = NUMERALS[self.degree]
        if self.quality in ("min", "dim", "m7", "ø7", "°7", "mmaj7"):
            numeral = numeral.lower()
        suffix = {"maj": "", "min": "", "dim": "°", "aug": "+", "7": "7", "maj7": "maj7", "m7": "7",
                  "ø7": "ø7", "°7": "°7", "mmaj7": "maj7", "+maj7": "+maj7"}[self.quality]
        return numeral + suffix

    def symbol(self, key: Key) -> str:
        suffix = {"maj": "", "min": "m", "dim": "dim", "aug": "+", "7": "7", "maj7": "maj7", "m7": "m7",
                  "ø7": "m7b5", "°7": "dim7", "mmaj7": "mMaj7", "+maj7": "+maj7"}[self.quality]
        return key.pc_name(self.root) + suffix


def _stack(scale: tuple[int, ...], degree: int, size: int) -> tuple[int, ...]:
    return tuple(scale[(degree + 2 * i) % 7] for i in range(size))


def _chord(pcs: tuple[int, ...], degree: int, target: str = "") -> Chord:
    intervals = tuple((p - pcs[0]) % 12 for p in pcs)
    return Chord(pcs[0], pcs, degree, QUALITIES.get(intervals, "other"), bool(target), target)


def chord_vocabulary(key: Key, sevenths: bool = True, secondary_dominants: bool = False) -> list[Chord]:
    """The key's triads (and sevenths), in a fixed order: the tonic triad first.

    Minor takes its chords from the natural minor scale, except on the 5th and
    7th degrees, whose dominant chords use the raised leading tone (V, V7,
    vii°, vii°7), as common-practice minor does; the subtonic VII stays too.
    Seventh chords are those on ii, V and vii (ii7 or iiø7, V7, viiø7 or vii°7).
    """
    natural = key.scale
    harmonic = natural
    if key.mode == "minor":  # harmonic and melodic minor have the raised 7th already
        harmonic = natural[:6] + ((key.tonic + 11) % 12,)
    chords: list[Chord] = []
    sizes = (3, 4) if sevenths else (3,)
    for size in sizes:
        # Sevenths only where common practice uses them most: on ii, V and vii.
        for degree in range(7) if size == 3 else (1, 4, 6):
            scale = harmonic if key.mode == "minor" and degree in (4, 6) else natural
            chords.append(_chord(_stack(scale, degree, size), degree))
            if key.mode == "minor" and degree == 6 and size == 3:
                chords.append(_chord(_stack(natural, degree, size), degree))  # subtonic VII
    if secondary_dominants:
        triads = {c.degree: c for c in chords if not c.seventh}
        for target in (1, 2, 3, 4, 5):
            if triads[target].quality not in ("maj", "min"):
                continue  # no dominant of a diminished chord
            root = (triads[target].root + 7) % 12
            for size in sizes:
                chords.append(_chord(tuple((root + s) % 12 for s in (0, 4, 7, 10)[:size]), target,
                                     triads[target].roman))
    unique: dict[tuple, Chord] = {}
    for chord in chords:
        unique.setdefault((chord.pcs, chord.secondary, chord.degree), chord)
    return list(unique.values())


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


def melody_notes(genome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pitches and lengths (in slots) of a melody genome: a HOLD extends the previous note."""
    genome = np.asarray(genome)
    onsets = np.flatnonzero(genome != HOLD)
    lengths = np.diff(np.append(onsets, len(genome)))
    return genome[onsets], lengths


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


# --- the registry of terms ------------------------------------------------------------

TermFn = Callable[["object", np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Term:
    fn: TermFn
    weight: float  # default weight
    help: str


TERMS: dict[str, dict[str, Term]] = {"melody": {}, "harmonize": {}}


def fitness_term(task: str, name: str, weight: float = 1.0, help: str = ""):
    """Decorator: register ``fn(problem, population) -> [P] scores`` as a term of ``task``.

    ``problem`` is the model's ``MelodyProblem`` or ``HarmonyProblem`` (the key,
    the chord vocabulary, decoders); ``population`` an int array, one genome a row.
    """
    if task not in TERMS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TERMS)})")

    def wrap(fn: TermFn) -> TermFn:
        TERMS[task][name] = Term(fn, float(weight), help or (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return wrap


def parse_weights(text: str, task: str) -> dict[str, float]:
    """``"consonance=2,cadence=1"`` -> ``{"consonance": 2.0, "cadence": 1.0}``; ValueError on bad input."""
    weights = {}
    for item in (text or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"weight {item.strip()!r} is not NAME=NUMBER")
        if name not in TERMS[task]:
            raise ValueError(f"unknown fitness term {name!r} for task {task} "
                             f"(known: {', '.join(sorted(TERMS[task]))})")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} must be a number, got {value.strip()!r}") from None
        if not np.isfinite(number):
            raise ValueError(f"weight of {name!r} must be finite, got {value.strip()!r}")
        weights[name] = number
    return weights


def _per_row(fn):
    def term(problem, population):
        return np.array([fn(problem, row) for row in population], dtype=float)
    term.__doc__ = fn.__doc__
    return term


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
@_per_row
def _scale(problem, genome):
    """Share of notes in the key (minor also takes the raised 6th and 7th)."""
    return scale_score(melody_notes(genome)[0], problem.key)


@fitness_term("melody", "intervals", 1.0)
@_per_row
def _intervals(problem, genome):
    """Steps and small leaps rather than large or dissonant leaps."""
    return interval_score(melody_notes(genome)[0])


@fitness_term("melody", "contour", 0.5)
@_per_row
def _contour(problem, genome):
    """Leaps recovered by steps, no long runs one way, one climax."""
    return contour_score(melody_notes(genome)[0])


@fitness_term("melody", "variety", 0.5)
@_per_row
def _melodic_variety(problem, genome):
    """Distinct pitches and note lengths."""
    return variety_score(*melody_notes(genome))


@fitness_term("melody", "cadence", 1.0)
@_per_row
def _melodic_cadence(problem, genome):
    """Ends on the tonic, by step, on a held note."""
    return melodic_cadence_score(*melody_notes(genome), problem.key)


@fitness_term("melody", "likelihood", 0.0)
def _melody_likelihood(problem, population):
    """Mean log-probability per event of the melody under another model (nats)."""
    return problem.likelihood(population)
