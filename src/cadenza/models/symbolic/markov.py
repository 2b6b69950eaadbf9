"""First-order Markov chain over (pitch, duration) events, with add-k smoothing.

The textbook model of melody (Pinkerton, "Information theory and melody",
Scientific American 194(2), 1956; Brooks, Hopkins, Neumann & Wright, "An
experiment in musical composition", IRE Trans. Electronic Computers EC-6(3),
1957): the next note depends on the current one only. A melody is a
sequence of events, each a pitch (or a rest) with a duration on a grid of a
twelfth of a quarter note (sixteenths and eighth-note triplets are exact),
framed by start and end states so that the chain learns how pieces begin and
end.

Reproduces: maximum-likelihood transition counts with add-k (Laplace, k=1;
Lidstone, k<1) smoothing over the training vocabulary plus one slot for
unseen events, so held-out melodies get a finite likelihood.
Changes: nothing beyond adding temperature to sampling. Higher orders,
backoff, other viewpoints and constraints are the Markov family issue's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import symusic

from cadenza.models.base import Generator, LogProb, Sampling, option, register
from cadenza.music.transforms import melody

GRID = 12  # duration units a quarter note
MAX_UNITS = 8 * GRID  # longer notes and rests are cut to two whole notes
REST = -1
TPQ = 480


@dataclass
class MarkovConfig:
    k: float = option(0.1, "Add-k smoothing constant (1 = Laplace); must be positive.")
    part: str | None = option(None, "Track to learn from (e.g. Soprano); default: the top voice of all tracks.")
    max_length: int = option(256, "Longest melody generated when no length is asked for, in events.")
    program: int = option(0, "General MIDI program of the generated track (0 = piano).")

    def __post_init__(self):
        if not self.k > 0:
            raise ValueError(f"k must be positive, got {self.k}")
        if not 1 <= self.max_length <= 100_000:
            raise ValueError(f"max_length must be between 1 and 100000, got {self.max_length}")
        if not 0 <= self.program <= 127:
            raise ValueError(f"program must be between 0 and 127, got {self.program}")


def melody_events(score: symusic.Score, part: str | None = None) -> list[tuple[int, int]]:
    """``(pitch or REST, duration units)`` of the melody, rests filling the gaps."""
    notes = melody(score, part).tracks[0].notes
    scale = GRID / score.ticks_per_quarter
    events, cursor = [], None
    for note in notes:
        start = int(round(note.time * scale))
        if cursor is not None and start > cursor:
            events.append((REST, min(start - cursor, MAX_UNITS)))
        units = min(max(1, int(round(note.duration * scale))), MAX_UNITS)
        events.append((int(note.pitch), units))
        cursor = start + units
    return events


def events_to_score(events, program: int = 0, tempo: float = 100.0,
                    time_signature: tuple[int, int] = (4, 4)) -> symusic.Score:
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, tempo))
    score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    track = symusic.Track("Melody", program, False)
    step, time = TPQ // GRID, 0
    for pitch, units in events:
        if pitch != REST:
            track.notes.append(symusic.Note(time, units * step, pitch, 80))
        time += units * step
    score.tracks.append(track)
    return score


@register
class MarkovChain(Generator):
    """First-order Markov chain of melody events; see the module docstring."""

    name = "markov"
    Config = MarkovConfig
    Sampling = Sampling

    # Row 0 of ``counts_`` is the start context; column 0 the end outcome.
    # Event i (from 0) is row and column i + 1.

    def _fit(self, pieces):
        sequences = [melody_events(p, self.config.part) for p in pieces]
        vocabulary = sorted({e for seq in sequences for e in seq})
        if not vocabulary:
            raise ValueError("no notes in the training pieces")
        self.states_ = vocabulary
        self._index = {e: i + 1 for i, e in enumerate(vocabulary)}
        size = len(vocabulary) + 1
        counts = np.zeros((size, size), dtype=np.int64)
        for seq in sequences:
            ids = [0] + [self._index[e] for e in seq] + [0]
            np.add.at(counts, (ids[:-1], ids[1:]), 1)
        self.counts_ = counts
        signatures = Counter((ts.numerator, ts.denominator) for p in pieces for ts in p.time_signatures[:1])
        self.time_signature_ = signatures.most_common(1)[0][0] if signatures else (4, 4)
        tempos = [p.tempos[0].qpm for p in pieces if len(p.tempos)]
        self.tempo_ = float(np.median(tempos)) if tempos else 100.0

    def transition_probabilities(self) -> np.ndarray:
        """Smoothed ``P(next | current)`` over end + known events (rows sum to 1 with the unseen slot)."""
        counts = self.counts_.astype(np.float64) + self.config.k
        # One extra outcome, "an event never seen in training", takes k too.
        return counts / (counts.sum(axis=1, keepdims=True) + self.config.k)

    def _generate_one(self, rng, options):
        probs = self.transition_probabilities()
        limit = options.length or self.config.max_length
        events, current = [], 0
        while len(events) < limit:
            p = probs[current].copy()
            if options.length is not None or current == 0:
                p[0] = 0.0  # an exact length, or a first event: the piece may not end here
            p = p ** (1.0 / options.temperature)
            current = int(rng.choice(len(p), p=p / p.sum()))
            if current == 0:
                break
            events.append(self.states_[current - 1])
        return events_to_score(events, self.config.program, self.tempo_, self.time_signature_)

    def _log_prob(self, pieces):
        probs = self.transition_probabilities()
        unseen = self.config.k / (self.counts_.sum(axis=1) + self.config.k * (self.counts_.shape[1] + 1))
        total, events = 0.0, 0
        for piece in pieces:
            previous = 0
            for event in melody_events(piece, self.config.part):
                current = self._index.get(event)
                if previous is None:  # an unseen context: every outcome equally likely
                    total -= np.log(self.counts_.shape[1] + 1)
                elif current is None:
                    total += np.log(unseen[previous])
                else:
                    total += np.log(probs[previous, current])
                previous, events = current, events + 1
        return LogProb(float(total), events)

    def _state(self):
        arrays = {"counts": self.counts_, "states": np.asarray(self.states_, dtype=np.int64)}
        return arrays, {"time_signature": list(self.time_signature_), "tempo": self.tempo_}

    def _load_state(self, arrays, extra):
        states = arrays["states"]
        counts = arrays["counts"]
        if states.ndim != 2 or states.shape[1] != 2 or counts.shape != (len(states) + 1,) * 2:
            raise ValueError("counts and states disagree in size")
        self.states_ = [tuple(int(v) for v in row) for row in states]
        self._index = {e: i + 1 for i, e in enumerate(self.states_)}
        self.counts_ = counts
        self.time_signature_ = tuple(extra["time_signature"])
        self.tempo_ = float(extra["tempo"])
