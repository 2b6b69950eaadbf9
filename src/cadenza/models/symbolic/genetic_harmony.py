"""Four-part harmonisation of a melody by a genetic algorithm: chords, voicings, the genome.

McIntyre, "Bach in a box: the evolution of four part baroque harmony using
the genetic algorithm", IEEE ICEC 1994; Phon-Amnuaisuk & Wiggins, "The
four-part harmonisation problem: a comparison between genetic algorithms and
a rule-based system", AISB 1999: one chord a slot under a given melody,
scored by rules of harmony and voice leading (``genetic_fitness.py``).

The chord vocabulary of a key (its triads and sevenths, with their Roman
numerals and harmonic functions; optionally secondary dominants) is built
here. A gene is ``(chord, inversion, voicing)``; a chord's voicing is not
free: each (chord, inversion, soprano note) has a few precomputed SATB
voicings within the voices' ranges, ranked by spacing and doubling, and the
genome picks one. That keeps every individual a correct chord and lets
whole populations be scored at once with numpy. The decoder writes the
melody plus alto, tenor and bass voices, and the chord names as markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.symbolic.genetic_engine import Problem
from cadenza.models.symbolic.genetic_fitness import cadence_score, is_dominant, progression_table
from cadenza.music.theory import TPQ, Key, make_score, make_track
from cadenza.music.transforms import bar_starts

VOICES = ("Bass", "Tenor", "Alto")
# Ranges (MIDI) and centres of the voices under the melody, from SATB practice.
RANGES = {"Bass": (36, 62), "Tenor": (48, 69), "Alto": (53, 76)}
CENTRES = np.array([48, 57, 64])
VOICINGS = 3  # voicings kept for each (chord, inversion, soprano note)
HARMONY_MUTATIONS = ("transpose", "invert", "swap", "change", "revoice")


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


class HarmonyProblem(Problem):
    """One gene a slot: (chord index into ``chords``, inversion, voicing)."""

    task = "harmonize"
    mutations = HARMONY_MUTATIONS

    def __init__(self, melody: symusic.Score, key: Key, chords_per_bar: int = 2, sevenths: bool = True,
                 secondary_dominants: bool = False, program: int = 0, **kwargs):
        super().__init__(key, **kwargs)
        self.melody, self.program = melody, program
        self.chords = chord_vocabulary(key, sevenths, secondary_dominants)
        self.sizes = np.array([len(c.pcs) for c in self.chords])
        notes = melody.tracks[0].notes
        self.bounds = _slots(melody, chords_per_bar)
        if not self.bounds:
            raise CadenzaError("the melody has no notes to harmonise")
        self.slots = len(self.bounds)
        self.soprano = np.full(self.slots, -1)
        self.consonance = np.ones((self.slots, len(self.chords)))
        members = np.zeros((len(self.chords), 12), dtype=bool)
        for c, chord in enumerate(self.chords):
            members[c, list(chord.pcs)] = True
        for s, (start, end) in enumerate(self.bounds):
            inside = [n for n in notes if n.time < end and n.end > start]
            if not inside:
                continue
            sounding = [n for n in inside if n.time <= start] or inside
            self.soprano[s] = sounding[0].pitch
            # Overlap with the slot, and the note on the slot's first beat counted twice.
            weight = np.array([min(n.end, end) - max(n.time, start) for n in inside], dtype=float)
            weight += np.array([(end - start) if n.time <= start < n.end else 0 for n in inside])
            pcs = np.array([n.pitch % 12 for n in inside])
            self.consonance[s] = (members[:, pcs] * weight).sum(axis=1) / weight.sum()
        self.progression = progression_table(self.chords)
        self.is_tonic_triad = np.array([c.degree == 0 and not c.secondary and not c.seventh for c in self.chords])
        self.is_dominant = np.array([is_dominant(c) for c in self.chords])
        # Triads: root position and 6 fine, 6/4 not; sevenths: inversions a little less usual.
        self.inversion_score = np.array([[1.0, 0.75, 0.75, 0.75] if c.seventh else [1.0, 1.0, 0.0, 0.0]
                                         for c in self.chords])
        n = len(self.chords)
        self.cadence = np.zeros((n + 1, 4, n, 4))  # [penult or n = none, inversion, last, inversion]
        for p in range(n + 1):
            for pi in range(4):
                for last in range(n):
                    for li in range(4):
                        self.cadence[p, pi, last, li] = cadence_score(
                            self.chords[last], li, self.chords[p] if p < n else None, pi)
        self.table = self._voicings()
        # Moving a chord's root by scale steps (for the transpose operator), or -1.
        self.shift = np.full((n, 5), -1)
        for c, chord in enumerate(self.chords):
            for k in (-2, -1, 1, 2):
                for d, other in enumerate(self.chords):
                    if (not other.secondary and not chord.secondary and other.seventh == chord.seventh
                            and other.degree == (chord.degree + k) % 7):
                        self.shift[c, k + 2] = d
                        break

    def _voicings(self) -> np.ndarray:
        """``[S, chords, 4 inversions, VOICINGS, 3]`` pitches of bass, tenor and alto."""
        table = np.zeros((self.slots, len(self.chords), 4, VOICINGS, 3), dtype=np.int64)
        cache: dict[tuple, np.ndarray] = {}
        for s in range(self.slots):
            for c, chord in enumerate(self.chords):
                for inv in range(4):
                    key = (c, inv % len(chord.pcs), int(self.soprano[s]))
                    if key not in cache:
                        cache[key] = _voice(chord, key[1], key[2])
                    table[s, c, inv] = cache[key]
        return table

    def valid(self, genome: np.ndarray) -> bool:
        genome = np.asarray(genome)
        if genome.shape != (self.slots, 3):
            return False
        chords, inversions, voicings = genome.T
        return bool((chords >= 0).all() and (chords < len(self.chords)).all() and (inversions >= 0).all()
                    and (inversions < self.sizes[np.clip(chords, 0, len(self.chords) - 1)]).all()
                    and (voicings >= 0).all() and (voicings < VOICINGS).all())

    def random_population(self, rng, size):
        chords = rng.integers(0, len(self.chords), size=(size, self.slots))
        # Mostly root position at first: inversions are for the GA to find where they help.
        inversions = np.where(rng.random((size, self.slots)) < 0.7, 0,
                              rng.integers(0, 3, size=(size, self.slots)))
        voicings = rng.integers(0, VOICINGS, size=(size, self.slots))
        return np.stack([chords, inversions, voicings], axis=-1)

    def mutate(self, genome: np.ndarray, operator: str, rng) -> np.ndarray:
        genome = genome.copy()
        s = int(rng.integers(self.slots))
        if operator == "change":
            genome[s, 0] = rng.integers(len(self.chords))
        elif operator == "transpose":
            # A segment of chords moved by the same number of scale steps: a harmonic sequence.
            k = int(rng.choice([-2, -1, 1, 2]))
            for t in range(s, min(self.slots, s + int(rng.integers(1, 5)))):
                target = self.shift[genome[t, 0], k + 2]
                if target >= 0:
                    genome[t, 0] = target
        elif operator == "invert":
            size = self.sizes[genome[s, 0]]
            genome[s, 1] = (genome[s, 1] + rng.integers(1, size)) % size
        elif operator == "swap":
            if self.slots > 1:
                s = min(s, self.slots - 2)
                genome[[s, s + 1]] = genome[[s + 1, s]]
        elif operator == "revoice":
            genome[s, 2] = (genome[s, 2] + rng.integers(1, VOICINGS)) % VOICINGS
        else:
            raise CadenzaError(f"unknown mutation {operator!r}")
        return self.repair(genome)

    def repair(self, genome: np.ndarray) -> np.ndarray:
        # A new chord may have fewer notes than the old one had inversions.
        genome[:, 1] %= self.sizes[genome[:, 0]]
        return genome

    def voices(self, population: np.ndarray) -> np.ndarray:
        """``[P, S, 4]`` pitches: bass, tenor, alto and the melody (-1 where it rests)."""
        population = np.asarray(population)
        slots = np.arange(self.slots)
        lower = self.table[slots, population[..., 0], population[..., 1], population[..., 2]]
        soprano = np.broadcast_to(self.soprano, population.shape[:-1])[..., None]
        return np.concatenate([lower, soprano], axis=-1)

    def _voice_track(self, genome: np.ndarray, voice: int, name: str) -> symusic.Track:
        pitches = self.voices(genome[None])[0, :, voice]
        return make_track([(int(start), int(end - start), int(pitch), 70)
                           for (start, end), pitch in zip(self.bounds, pitches)], name, self.program)

    def likelihood_part(self, genome):
        voice = {"bass": 0, "tenor": 1, "alto": 2}[self.likelihood_voice]
        return self._voice_track(genome, voice, VOICES[voice])

    likelihood_voice = "bass"

    def chord_names(self, genome: np.ndarray) -> list[str]:
        """Roman numerals with figured-bass inversions: I, I6, I64, V7, V65, V43, V42."""
        names = []
        for c, i in genome[:, :2]:
            chord = self.chords[c]
            if chord.seventh:
                names.append(chord.roman.replace("7", ("7", "65", "43", "42")[i], 1))
            else:
                head, _, tail = chord.roman.partition("/")
                names.append(head + ("", "6", "64")[i] + ("/" + tail if tail else ""))
        return names

    def decode(self, genome: np.ndarray) -> symusic.Score:
        tracks = [self.melody.tracks[0].copy()] + [self._voice_track(genome, voice, VOICES[voice])
                                                   for voice in (2, 1, 0)]
        score = make_score(tracks=tracks, tpq=TPQ, like=self.melody,
                           key=None if len(self.melody.key_signatures) else self.key)
        for (start, _), name, c in zip(self.bounds, self.chord_names(genome), genome[:, 0]):
            score.markers.append(symusic.TextMeta(int(start), f"{self.chords[c].symbol(self.key)} ({name})"))
        return score


def _slots(melody: symusic.Score, per_bar: int) -> list[tuple[int, int]]:
    """``(start, end)`` ticks of each harmonic slot from the first to the last note of the melody."""
    notes = melody.tracks[0].notes
    if not len(notes):
        return []
    first, last = min(n.time for n in notes), max(n.end for n in notes)
    starts = bar_starts(melody, last)
    starts = [t for t in starts if t < last]
    bounds = []
    for i, bar in enumerate(starts):
        length = starts[i + 1] - bar if i + 1 < len(starts) else (starts[i] - starts[i - 1] if i else last - bar)
        edges = [bar + round(k * length / per_bar) for k in range(per_bar + 1)]
        bounds += [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > first and a < last and b > a]
    return bounds


def _voice(chord, inversion: int, soprano: int) -> np.ndarray:
    """Up to ``VOICINGS`` (bass, tenor, alto) voicings of a chord under a soprano note, best first.

    Rules: voices within their ranges, bass < tenor < alto < soprano, at most an
    octave between upper neighbours, the root and third (and seventh) present.
    Ranked by distance from the voices' centres, with doubled thirds and a
    doubled leading tone (the dominant's third) penalised and a missing fifth
    costing a little.
    """
    top = soprano if soprano >= 0 else RANGES["Alto"][1] + 1
    pcs = set(chord.pcs)
    needed = {chord.pcs[0], chord.pcs[1]} | ({chord.pcs[3]} if len(chord.pcs) == 4 else set())
    bass_pc = chord.pcs[inversion]
    found = []
    for b in range(*RANGES["Bass"]):
        if b % 12 != bass_pc:
            continue
        for t in range(max(b + 1, RANGES["Tenor"][0]), RANGES["Tenor"][1] + 1):
            if t % 12 not in pcs or t - b > 19:
                continue
            for a in range(max(t + 1, RANGES["Alto"][0]), min(top - 1, RANGES["Alto"][1]) + 1):
                if a % 12 not in pcs or a - t > 12 or top - a > 12:
                    continue
                sounding = [b % 12, t % 12, a % 12] + ([soprano % 12] if soprano >= 0 else [])
                if not needed <= set(sounding):
                    continue
                cost = np.abs(np.array([b, t, a]) - CENTRES).sum() / 12.0
                cost += 0.5 * max(0, sounding.count(chord.pcs[1]) - 1)
                if len(pcs) == 3 and chord.pcs[2] not in sounding:
                    cost += 0.3
                found.append((cost, b, t, a))
    found.sort()
    if not found:
        # No rule-abiding voicing (a very low or high melody): close position under the melody.
        below = top - 1
        a = max(p for p in range(below - 11, below + 1) if p % 12 in pcs)
        t = max(p for p in range(a - 12, a) if p % 12 in pcs)
        b = max(p for p in range(t - 12, t) if p % 12 == bass_pc)
        found = [(0.0, max(b, 0), t, a)]
    rows = [f[1:] for f in found[:VOICINGS]]
    rows += [rows[-1]] * (VOICINGS - len(rows))
    return np.array(rows, dtype=np.int64)
