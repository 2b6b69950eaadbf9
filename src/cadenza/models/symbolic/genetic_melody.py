"""Melody generation by a genetic algorithm: the genome, its mutations and its decoder.

Biles, "GenJam: a genetic algorithm for generating jazz solos", ICMC 1994:
a melody genome of pitches and hold symbols on a fixed grid. A gene is a
MIDI pitch in [low, high] or :data:`HOLD` (the previous note goes on one
more slot); the first gene is a pitch. The mutation operators are musical:
a segment moved diatonically (a sequence) or mirrored about its first note
(inversion), two notes swapped, a note changed or its rhythm (a held slot
becomes a note, a note is tied to the one before). The fitness terms are in
``genetic_fitness.py``; the GA in ``genetic_engine.py``.
"""

from __future__ import annotations

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.symbolic.genetic_engine import Problem
from cadenza.music.theory import Key, make_score, make_track

HOLD = -1  # a melody gene that holds the previous note one more slot
MELODY_MUTATIONS = ("transpose", "invert", "swap", "change")


def melody_notes(genome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pitches and lengths (in slots) of a melody genome: a HOLD extends the previous note."""
    genome = np.asarray(genome)
    onsets = np.flatnonzero(genome != HOLD)
    lengths = np.diff(np.append(onsets, len(genome)))
    return genome[onsets], lengths



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
        pitches, lengths = melody_notes(genome)
        onsets = np.flatnonzero(np.asarray(genome) != HOLD)
        step = self.step_ticks
        return make_track([(int(start) * step, int(length) * step, int(pitch), 80)
                           for pitch, start, length in zip(pitches, onsets, lengths)], name, self.program)

    likelihood_part = track

    def decode(self, genome: np.ndarray) -> symusic.Score:
        return make_score(tracks=[self.track(genome)], tempo=self.tempo, time_signature=(4, 4), key=self.key)
