"""Genetic algorithms: melody generation and four-part harmonisation of a melody.

A population of genomes evolves by selection, crossover and mutation towards
a fitness that is a weighted sum of named terms (Holland, "Adaptation in
Natural and Artificial Systems", 1975; Goldberg, "Genetic Algorithms in
Search, Optimization and Machine Learning", 1989). The musical use follows
Horner & Goldberg, "Genetic algorithms and computer-assisted music
composition", ICGA 1991; Biles, "GenJam: a genetic algorithm for generating
jazz solos", ICMC 1994 (a melody genome of pitches and hold symbols);
McIntyre, "Bach in a box: the evolution of four part baroque harmony using
the genetic algorithm", IEEE ICEC 1994, and Phon-Amnuaisuk & Wiggins, "The
four-part harmonisation problem: a comparison between genetic algorithms and
a rule-based system", AISB 1999 (harmonisation scored by rules of harmony
and voice leading); Towsey et al. 2001 (melodic fitness features). The terms
themselves are in ``genetic_fitness.py``.

Reproduces: generational GA with tournament or roulette-wheel (fitness
proportional, Goldberg's windowing: the worst gets no share) selection,
elitism, one-point or uniform crossover and musical mutation operators
(diatonic transposition and inversion of a segment, swaps, changed notes or
chords, re-voicing). ``task="melody"`` evolves a melody of pitches and holds
on a fixed grid; ``task="harmonize"`` evolves one chord a slot (chord of the
key, inversion, voicing) under a given melody, and writes the melody plus
alto, tenor and bass voices.
Changes: a chord's voicing is not free: each (chord, inversion, soprano note)
has a few precomputed SATB voicings within the voices' ranges, ranked by
spacing and doubling, and the genome picks one; this keeps every individual
a correct chord and lets whole populations be scored at once with numpy.
A term may score by another model's likelihood (``likelihood_model``, any
run directory with ``log_prob``), standing in for the human critic of
interactive GAs. ``fit`` is optional: it trains that likelihood term, a
first-order Markov chain (``markov``) on the corpus's melodies (task melody)
or lowest parts (task harmonize), saved with the run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.base import Generator, Sampling, create, load, option, register
from cadenza.models.symbolic.genetic_fitness import (
    HOLD,
    TERMS,
    Key,
    cadence_score,
    chord_vocabulary,
    estimate_key,
    is_dominant,
    melody_notes,
    parse_key,
    parse_weights,
    progression_table,
)
from cadenza.music.transforms import bar_starts
from cadenza.music.transforms import melody as top_voice

TPQ = 480
VOICES = ("Bass", "Tenor", "Alto")
# Ranges (MIDI) and centres of the voices under the melody, from SATB practice.
RANGES = {"Bass": (36, 62), "Tenor": (48, 69), "Alto": (53, 76)}
CENTRES = np.array([48, 57, 64])
VOICINGS = 3  # voicings kept for each (chord, inversion, soprano note)
MELODY_MUTATIONS = ("transpose", "invert", "swap", "change")
HARMONY_MUTATIONS = ("transpose", "invert", "swap", "change", "revoice")


@dataclass
class GeneticConfig:
    task: Literal["melody", "harmonize"] = option("melody", "melody: evolve a new melody; harmonize: "
                                                            "evolve chords under the melody file given by melody.")
    melody: str | None = option(None, "Melody to harmonise: a MIDI or MusicXML file (task harmonize).")
    part: str | None = option(None, "Part of the melody file to take (default: its top voice).")
    key: str | None = option(None, "Key, e.g. 'F# minor', 'Bb major', 'D dorian'; default: estimated "
                                   "from the melody (harmonize) or C major (melody).")
    chords_per_bar: int = option(2, "Chords a bar when harmonising.")
    sevenths: bool = option(True, "Allow the key's seventh chords (V7, ii7, vii°7, ...).")
    secondary_dominants: bool = option(False, "Allow secondary dominants (V/ii, V/V, V7/IV, ...).")
    bars: int = option(4, "Bars of 4/4 in a generated melody (task melody) when no length is asked for.")
    step: float = option(0.5, "Length of a melody slot in quarter notes (0.5 = eighth notes).")
    low: int = option(60, "Lowest pitch of a generated melody (MIDI).")
    high: int = option(81, "Highest pitch of a generated melody (MIDI); at least an octave above low.")
    population: int = option(64, "Individuals in the population.")
    generations: int = option(150, "Generations to evolve.")
    selection: Literal["tournament", "roulette"] = option("tournament", "Parent selection.")
    tournament_size: int = option(3, "Contestants in each tournament.")
    elitism: int = option(2, "Best individuals copied unchanged into the next generation.")
    crossover: Literal["one-point", "uniform"] = option("one-point", "Crossover operator.")
    crossover_rate: float = option(0.9, "Probability that two parents are crossed.")
    mutation_rate: float = option(0.5, "Probability that a child is mutated (once, then again with "
                                       "this probability, and so on).")
    mutations: list[str] = option([], "Mutation operators to use (default all: transpose, invert, swap, "
                                      "change, and revoice when harmonising).")
    weights: str = option("", "Fitness weights, e.g. 'consonance=2,cadence=1' (others keep their defaults).")
    likelihood_model: str | None = option(None, "A trained run directory whose log_prob becomes the "
                                                "likelihood term (weight 1 unless weights says otherwise).")
    likelihood_voice: Literal["bass", "tenor", "alto"] = option("bass", "Voice the likelihood term scores "
                                                                        "when harmonising.")
    tempo: float = option(100.0, "Tempo of a generated melody, in quarter notes a minute.")
    program: int = option(0, "General MIDI program of the generated tracks (0 = piano).")

    def __post_init__(self):
        if self.task == "harmonize" and not self.melody:
            raise ValueError("task harmonize needs melody=PATH (a MIDI or MusicXML file)")
        if self.key is not None:
            parse_key(self.key)
        checks = [("chords_per_bar", 1, 16), ("bars", 1, 256), ("low", 0, 127), ("high", 0, 127),
                  ("population", 2, 100_000), ("generations", 0, 1_000_000), ("tournament_size", 1, 1000),
                  ("program", 0, 127)]
        for name, lo, hi in checks:
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name} must be between {lo} and {hi}, got {getattr(self, name)}")
        if self.high - self.low < 12:
            raise ValueError(f"high must be at least an octave above low, got low={self.low} high={self.high}")
        if not 0 <= self.elitism < self.population:
            raise ValueError(f"elitism must be between 0 and population - 1, got {self.elitism}")
        for name in ("crossover_rate", "mutation_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.mutation_rate >= 1.0:
            raise ValueError("mutation_rate must be below 1 (it is also the chance of one more mutation)")
        if not 0 < self.step <= 8 or (self.step * TPQ) % 1:
            raise ValueError(f"step must be a positive number of quarters on a 1/{TPQ} grid, got {self.step}")
        if not 1 <= self.tempo <= 1000:
            raise ValueError(f"tempo must be between 1 and 1000, got {self.tempo}")
        known = HARMONY_MUTATIONS if self.task == "harmonize" else MELODY_MUTATIONS
        for name in self.mutations:
            if name not in known:
                raise ValueError(f"unknown mutation {name!r} for task {self.task} (known: {', '.join(known)})")
        parse_weights(self.weights, self.task)


# --- the GA --------------------------------------------------------------------------

def tournament(fitness: np.ndarray, k: int, rng: np.random.Generator, size: int = 3) -> np.ndarray:
    """``k`` parent indices, each the fittest of ``size`` drawn with replacement."""
    contestants = rng.integers(0, len(fitness), size=(k, size))
    return contestants[np.arange(k), np.argmax(fitness[contestants], axis=1)]


def roulette(fitness: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` parent indices drawn with probability proportional to fitness minus the worst."""
    shares = fitness - fitness.min()
    total = shares.sum()
    p = shares / total if total > 0 else np.full(len(fitness), 1.0 / len(fitness))
    return rng.choice(len(fitness), size=k, p=p)


def one_point(a: np.ndarray, b: np.ndarray, point: int) -> tuple[np.ndarray, np.ndarray]:
    """Children ``a[:point] + b[point:]`` and ``b[:point] + a[point:]`` (along the slots)."""
    return (np.concatenate([a[:point], b[point:]]), np.concatenate([b[:point], a[point:]]))


def uniform(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot ``i`` of the first child from ``a`` where ``mask[i]``, else from ``b``; the second the other way."""
    mask = np.asarray(mask, dtype=bool).reshape((-1,) + (1,) * (a.ndim - 1))
    return np.where(mask, a, b), np.where(mask, b, a)


def evolve(problem, config: GeneticConfig, weights: dict[str, float], rng: np.random.Generator):
    """Run the GA; returns the best genome and its history (best/mean fitness a generation)."""
    size, elite = config.population, config.elitism
    operators = config.mutations or problem.mutations
    population = problem.random_population(rng, size)
    fitness, _ = problem.fitness(population, weights)
    history = {"best": [], "mean": []}
    for generation in range(config.generations + 1):
        history["best"].append(float(fitness.max()))
        history["mean"].append(float(fitness.mean()))
        if generation == config.generations:
            break
        order = np.argsort(-fitness, kind="stable")
        children = [population[i].copy() for i in order[:elite]]
        while len(children) < size:
            if config.selection == "tournament":
                i, j = tournament(fitness, 2, rng, config.tournament_size)
            else:
                i, j = roulette(fitness, 2, rng)
            a, b = population[i].copy(), population[j].copy()
            if rng.random() < config.crossover_rate and problem.slots > 1:
                if config.crossover == "one-point":
                    a, b = one_point(a, b, int(rng.integers(1, problem.slots)))
                else:
                    a, b = uniform(a, b, rng.random(problem.slots) < 0.5)
            for child in (a, b):
                while rng.random() < config.mutation_rate:
                    child = problem.mutate(child, operators[int(rng.integers(len(operators)))], rng)
                children.append(problem.repair(child))
        population = np.stack(children[:size])
        fitness, _ = problem.fitness(population, weights)
    best = population[int(np.argmax(fitness))]
    _, terms = problem.fitness(best[None], weights)
    history["terms"] = {name: float(values[0]) for name, values in terms.items()}
    return best, history


class Problem:
    """What a task evolves: genomes, their operators and their fitness."""

    task = ""
    mutations: tuple[str, ...] = ()
    slots = 0

    def __init__(self, key: Key, likelihood_model=None, likelihood_track: str = "Melody"):
        self.key = key
        self.likelihood_model = likelihood_model
        self.likelihood_track = likelihood_track
        self._likelihood_cache: dict[bytes, float] = {}

    def fitness(self, population: np.ndarray, weights: dict[str, float]):
        """Weighted sum of the terms (``[P]``) and each term's scores."""
        terms = {name: np.asarray(TERMS[self.task][name].fn(self, population), dtype=float)
                 for name, w in weights.items() if w != 0}
        total = np.zeros(len(population))
        for name, values in terms.items():
            total += weights[name] * values
        return total, terms

    def likelihood(self, population: np.ndarray) -> np.ndarray:
        if self.likelihood_model is None:
            raise CadenzaError("the likelihood term needs likelihood_model=RUN (or fit the genetic model first)")
        out = np.empty(len(population))
        for i, genome in enumerate(population):
            key = genome.tobytes()
            if key not in self._likelihood_cache:
                score = symusic.Score(TPQ)
                track = self.likelihood_part(genome)
                track.name = self.likelihood_track
                score.tracks.append(track)
                lp = self.likelihood_model.log_prob([score])
                self._likelihood_cache[key] = lp.total / max(1, lp.events)
            out[i] = self._likelihood_cache[key]
        return out

    def repair(self, genome: np.ndarray) -> np.ndarray:
        return genome


def _scale_steps(key: Key) -> list[int]:
    """The key's scale as semitones above the tonic, ascending."""
    return sorted((p - key.tonic) % 12 for p in key.scale)


class MelodyProblem(Problem):
    """A melody of ``slots`` genes, each a MIDI pitch in [low, high] or HOLD; the first is a pitch."""

    task = "melody"
    mutations = MELODY_MUTATIONS

    def __init__(self, key: Key, slots: int, low: int, high: int, step_ticks: int, tempo: float = 100.0,
                 program: int = 0, **kwargs):
        super().__init__(key, **kwargs)
        self.slots, self.low, self.high = slots, low, high
        self.step_ticks, self.tempo, self.program = step_ticks, tempo, program
        self._scale = np.array(_scale_steps(key))

    def valid(self, genome: np.ndarray) -> bool:
        genome = np.asarray(genome)
        pitched = genome != HOLD
        return (genome.shape == (self.slots,) and bool(pitched[0])
                and bool(((genome[pitched] >= self.low) & (genome[pitched] <= self.high)).all()))

    def random_population(self, rng, size):
        pitches = rng.integers(self.low, self.high + 1, size=(size, self.slots))
        holds = rng.random((size, self.slots)) < 0.25
        holds[:, 0] = False
        return np.where(holds, HOLD, pitches)

    def _fold(self, pitch: int) -> int:
        while pitch > self.high:
            pitch -= 12
        while pitch < self.low:
            pitch += 12
        return pitch

    def _degree(self, pitch: int) -> tuple[int, int]:
        """Diatonic number (7 an octave) of the scale note at or below ``pitch``, and the chromatic rest."""
        rel = pitch - self.key.tonic
        octave, within = divmod(rel, 12)
        index = int(np.searchsorted(self._scale, within, side="right")) - 1
        return 7 * octave + index, within - int(self._scale[index])

    def _pitch(self, number: int, offset: int) -> int:
        octave, index = divmod(number, 7)
        return self.key.tonic + 12 * octave + int(self._scale[index]) + offset

    def mutate(self, genome: np.ndarray, operator: str, rng) -> np.ndarray:
        genome = genome.copy()
        onsets = np.flatnonzero(genome != HOLD)
        if operator in ("transpose", "invert"):
            # A segment of the melody, moved diatonically (a sequence) or mirrored about its first note.
            start = int(rng.integers(self.slots))
            end = min(self.slots, start + int(rng.integers(2, 9)))
            notes = [i for i in onsets if start <= i < end]
            if not notes:
                return genome
            steps = int(rng.choice([-2, -1, 1, 2]))
            axis = self._degree(int(genome[notes[0]]))[0]
            for i in notes:
                number, offset = self._degree(int(genome[i]))
                number = number + steps if operator == "transpose" else 2 * axis - number
                genome[i] = self._fold(self._pitch(number, offset))
        elif operator == "swap":
            if len(onsets) >= 2:
                i, j = rng.choice(onsets, size=2, replace=False)
                genome[i], genome[j] = genome[j], genome[i]
        elif operator == "change":
            i = int(rng.integers(self.slots))
            if i > 0 and rng.random() < 0.3:
                # Rhythm: a held slot becomes a new note, or a note is tied to the one before.
                if genome[i] == HOLD:
                    previous = int(genome[onsets[onsets < i][-1]])
                    genome[i] = self._fold(previous + int(rng.choice([-2, -1, 1, 2])))
                else:
                    genome[i] = HOLD
            elif genome[i] != HOLD:
                genome[i] = self._fold(int(genome[i]) + int(rng.choice([-1, 1]) * rng.choice([1, 2, 3, 4, 5, 7])))
        else:
            raise CadenzaError(f"unknown mutation {operator!r}")
        return genome

    def track(self, genome: np.ndarray, name: str = "Melody") -> symusic.Track:
        track = symusic.Track(name, self.program, False)
        pitches, lengths = melody_notes(genome)
        onsets = np.flatnonzero(np.asarray(genome) != HOLD)
        for pitch, start, length in zip(pitches, onsets, lengths):
            track.notes.append(symusic.Note(int(start) * self.step_ticks, int(length) * self.step_ticks,
                                            int(pitch), 80))
        return track

    likelihood_part = track

    def decode(self, genome: np.ndarray) -> symusic.Score:
        score = symusic.Score(TPQ)
        score.tempos.append(symusic.Tempo(0, self.tempo))
        score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
        if self.key.mode in ("major", "minor"):
            score.key_signatures.append(symusic.KeySignature(0, self.key.fifths, int(self.key.mode == "minor")))
        score.tracks.append(self.track(genome))
        return score


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
        track = symusic.Track(name, self.program, False)
        for (start, end), pitch in zip(self.bounds, pitches):
            track.notes.append(symusic.Note(int(start), int(end - start), int(pitch), 70))
        return track

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
        score = symusic.Score(TPQ)
        score.tempos = self.melody.tempos.copy()
        score.time_signatures = self.melody.time_signatures.copy()
        score.key_signatures = self.melody.key_signatures.copy()
        if not len(score.key_signatures) and self.key.mode in ("major", "minor"):
            score.key_signatures.append(symusic.KeySignature(0, self.key.fifths, int(self.key.mode == "minor")))
        score.tracks.append(self.melody.tracks[0].copy())
        for voice in (2, 1, 0):
            score.tracks.append(self._voice_track(genome, voice, VOICES[voice]))
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


# --- the model -----------------------------------------------------------------------

@register
class GeneticAlgorithm(Generator):
    """Genetic algorithm: evolve a melody, or chords under a given melody, by weighted fitness terms."""

    name = "genetic"
    needs_fit = False
    Config = GeneticConfig
    Sampling = Sampling
    tiny_config = {"population": 12, "generations": 5, "bars": 2}

    def __init__(self, **config):
        super().__init__(**config)
        self.likelihood_: Generator | None = None  # trained by fit
        self.history_: list[dict] = []
        self._melody: tuple[symusic.Score, Key] | None = None
        self._loaded: Generator | None = None

    # --- fit: the likelihood term ---------------------------------------------------------

    def _fit(self, pieces):
        if self.config.task == "harmonize":
            pieces = [_lowest_part(p) for p in pieces]
        self.likelihood_ = create("markov").fit(pieces)

    def _state(self):
        if self.likelihood_ is None:
            return {}, {}
        arrays, extra = self.likelihood_._state()
        return ({f"likelihood.{k}": v for k, v in arrays.items()},
                {"likelihood": {"model": self.likelihood_.name, "config": dataclasses.asdict(self.likelihood_.config),
                                "state": extra, "data": self.likelihood_.data_spec_}})

    def _load_state(self, arrays, extra):
        if "likelihood" in extra:
            record = extra["likelihood"]
            model = create(record["model"], **record["config"])
            model._load_state({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("likelihood.")},
                              record["state"])
            model.data_spec_ = record.get("data") or {}
            self.likelihood_ = model

    # --- generate ------------------------------------------------------------------------

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        self.history_ = []
        return super().generate(n=n, seed=seed, **sampling)

    def likelihood_model(self) -> Generator | None:
        """The model behind the likelihood term: ``likelihood_model`` if given, else the one ``fit`` trained."""
        if self.config.likelihood_model:
            if self._loaded is None:
                self._loaded = load(self.config.likelihood_model)
            return self._loaded
        return self.likelihood_

    def weights(self) -> dict[str, float]:
        """Every term's weight: defaults, then the likelihood at 1 if there is a model, then ``weights``."""
        task = self.config.task
        weights = {name: term.weight for name, term in TERMS[task].items()}
        if self.config.likelihood_model or self.likelihood_ is not None:
            weights["likelihood"] = 1.0
        try:
            weights.update(parse_weights(self.config.weights, task))
        except ValueError as exc:
            raise CadenzaError(str(exc)) from None
        return weights

    def key(self) -> Key:
        if self.config.key:
            return parse_key(self.config.key)
        if self.config.task == "harmonize":
            return self._read_melody()[1]
        return Key(0, "major")

    def _read_melody(self) -> tuple[symusic.Score, Key]:
        if self._melody is None:
            from cadenza.music.io import read_score

            score = read_score(self.config.melody)
            line = top_voice(score, self.config.part)
            if line.ticks_per_quarter != TPQ:
                line = line.resample(TPQ)
            notes = line.tracks[0].notes
            if not len(notes):
                raise CadenzaError(f"{self.config.melody}: the melody has no notes")
            fifths = line.key_signatures[0].key if len(line.key_signatures) else None
            key = estimate_key([n.pitch for n in notes], [n.duration for n in notes], fifths)
            self._melody = (line, key)
        return self._melody

    def problem(self, length: int | None = None) -> Problem:
        """The task as a :class:`Problem` (its terms, operators and decoder), for this config."""
        model = self.likelihood_model()
        if self.config.task == "harmonize":
            line, _ = self._read_melody()
            lm_part = getattr(getattr(model, "config", None), "part", None)
            problem = HarmonyProblem(line, self.key(), self.config.chords_per_bar, self.config.sevenths,
                                     self.config.secondary_dominants, self.config.program,
                                     likelihood_model=model,
                                     likelihood_track=lm_part or self.config.likelihood_voice.title())
            problem.likelihood_voice = self.config.likelihood_voice
            return problem
        step = int(round(self.config.step * TPQ))
        slots = length or max(2, int(round(self.config.bars * 4 / self.config.step)))
        lm_part = getattr(getattr(model, "config", None), "part", None)
        return MelodyProblem(self.key(), slots, self.config.low, self.config.high, step, self.config.tempo,
                             self.config.program, likelihood_model=model, likelihood_track=lm_part or "Melody")

    def _generate_one(self, rng, options):
        weights = self.weights()
        if weights.get("likelihood", 0) != 0 and self.likelihood_model() is None:
            raise CadenzaError("the likelihood term needs likelihood_model=RUN (or fit the genetic model first)")
        problem = self.problem(options.length if self.config.task == "melody" else None)
        best, history = evolve(problem, self.config, weights, rng)
        self.history_.append(history)
        return problem.decode(best)

    def plot_history(self, path) -> Path:
        return plot_history(self.history_, path)


def _lowest_part(score: symusic.Score) -> symusic.Score:
    """The pitched track with the lowest mean pitch, as a one-track score (a bass line to learn)."""
    tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    out = symusic.Score(score.ticks_per_quarter)
    out.tempos, out.time_signatures = score.tempos.copy(), score.time_signatures.copy()
    if tracks:
        out.tracks.append(min(tracks, key=lambda t: np.mean([n.pitch for n in t.notes])).copy())
    return out


def plot_history(history, path) -> Path:
    """Best and mean fitness per generation, to a PNG; ``history`` is one history or a list of them."""
    from matplotlib.figure import Figure

    from cadenza.utils import atomic_path

    histories = [history] if isinstance(history, dict) else list(history)
    if not histories:
        raise CadenzaError("no fitness history to plot: generate first")
    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    for i, h in enumerate(histories):
        label = f" (piece {i + 1})" if len(histories) > 1 else ""
        line, = axes.plot(h["best"], label="best" + label)
        axes.plot(h["mean"], linestyle="--", color=line.get_color(), label="mean" + label)
    axes.set_xlabel("generation")
    axes.set_ylabel("fitness")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
