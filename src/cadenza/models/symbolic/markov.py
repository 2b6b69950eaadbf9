"""Variable-order Markov chains over musical viewpoints, with constrained generation.

The chain: the next event depends on the ``order`` events before it
(Pinkerton, "Information theory and melody", Scientific American 194(2),
1956; Brooks, Hopkins, Neumann & Wright, "An experiment in musical
composition", IRE Trans. Electronic Computers EC-6(3), 1957), for orders 1
to 8. Probabilities are interpolated Kneser-Ney estimates (Kneser & Ney,
ICASSP 1995; Chen & Goodman, TR-10-98, 1998; see ``markov_ngram.py``), so
every held-out event, even one never seen in training, gets a finite
log-probability, and rows sum to 1.

Viewpoints (Conklin & Witten, "Multiple viewpoint systems for music
prediction", J. New Music Research 24(1), 1995): what one symbol of the
chain is.

- ``pitch``: the MIDI pitch of each event (or a rest);
- ``interval``: semitones from the previous note (transposition-invariant;
  the first note is its absolute pitch, rests are a symbol of their own),
  so ``pitch`` and ``interval`` predict the same sequence and their bits
  per note compare;
- ``duration``: the length of each event (notes and rests apart); it
  generates rhythm on one pitch;
- ``joint``: (pitch, duration) pairs, the whole melody;
- ``chord``: the set of pitches sounding (all parts), between consecutive
  note starts or ends snapped to sixteenths (polyphonic states for the
  chorales).

``pitch``, ``interval`` and ``chord`` chains take their rhythm from a second,
independent duration chain of the same order trained alongside them.

Generation: with a length, or any constraint, the chain is unrolled over L
positions and conditioned exactly on the constraints (first/last note, key,
range, a final cadence, a copy limit) by backward filtering, after Pachet,
Roy & Barbieri, "Finite-length Markov processes with constraints", IJCAI
2011 (see ``markov_constraints.py``); no sample is ever rejected, and an
impossible set of constraints is reported as such. To keep the unrolled
problem the size of the model, a generated chain only moves to contexts
(the last ``order`` symbols) seen in training; the smoothed probabilities
are renormalised over those moves, temperature is applied to them, and
"the unconstrained chain" means this chain. (At order 1 every symbol is a
seen context; the chord viewpoint, whose vocabulary runs to thousands of
chords, also requires a seen chord pair there.) An interval chain carries
its absolute pitch in the state only when a pitch constraint needs it.

Changes from the papers: the chain of Pachet & Roy is first order; ours is
order k over seen contexts, with an end state, so an exact length means
"conditioned on not ending before L events" (and, with ``natural_end``, on
ending right after them). Without a length and without constraints the
chain runs until it chooses to end (at most ``max_length`` events).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.base import (
    Generator,
    LogProb,
    Sampling,
    build_dataclass,
    option,
    register,
)
from cadenza.models.symbolic.markov_constraints import (
    SuffixAutomaton,
    backward,
    build_lattice,
    key_pitch_classes,
    sample_path,
)
from cadenza.models.symbolic.markov_ngram import END, FIRST, START, UNK, KneserNey
from cadenza.music.transforms import melody

GRID = 12  # duration units a quarter note
MAX_UNITS = 8 * GRID  # longer notes and rests are cut to two whole notes
CHORD_STEP = 3  # chord boundaries snap to sixteenths
REST = -1
TPQ = 480
MAX_ORDER = 8

Viewpoint = Literal["pitch", "interval", "duration", "joint", "chord"]
WITH_DURATIONS = ("pitch", "interval", "chord")  # viewpoints that need a rhythm chain beside them
ABSOLUTE, STEP, PAUSE = 0, 1, 2  # kinds of interval symbols
UNTRACKED = -1  # an interval chain's pitch once its first note is out, when no constraint needs its value


@dataclass
class MarkovConfig:
    order: int = option(2, "How many previous events the next one depends on (1-8).")
    viewpoint: Viewpoint = option("joint",  # noqa: RUF009 (option builds a plain dataclass field) "What one symbol is: pitch, interval (transposition-invariant), "
                                           "duration, joint (pitch and duration) or chord (all parts).")
    part: str | None = option(None, "Track to learn from (e.g. Soprano); default: the top voice of all tracks. "
                                    "The chord viewpoint always uses every part.")
    max_length: int = option(256, "Longest piece generated when no length is asked for, in events.")
    program: int = option(0, "General MIDI program of the generated track (0 = piano).")

    def __post_init__(self):
        if not 1 <= self.order <= MAX_ORDER:
            raise ValueError(f"order must be between 1 and {MAX_ORDER}, got {self.order}")
        if not 1 <= self.max_length <= 100_000:
            raise ValueError(f"max_length must be between 1 and 100000, got {self.max_length}")
        if not 0 <= self.program <= 127:
            raise ValueError(f"program must be between 0 and 127, got {self.program}")


@dataclass
class MarkovSampling(Sampling):
    first_note: int | None = option(None, "MIDI pitch the first event must have (the top note of a chord).")
    last_note: int | None = option(None, "MIDI pitch the last event must have (the top note of a chord).")
    key: str | None = option(None, "Every pitch in this key, e.g. 'D minor' or 'G major' "
                                   "(minor keys also allow the raised leading tone).")
    low: int | None = option(None, "Lowest MIDI pitch allowed.")
    high: int | None = option(None, "Highest MIDI pitch allowed.")
    cadence: bool = option(False, "End on the tonic of the key, approached from the 2nd or 7th degree "
                                  "(chords: bass moves dominant to tonic). Needs a key.")
    max_copy: int | None = option(None, "Longest run of events that may be copied verbatim from one training "
                                        "piece (in the viewpoint's symbols).")
    natural_end: bool = option(False, "With a length: also condition on the chain choosing to end right there.")

    def __post_init__(self):
        for name in ("first_note", "last_note", "low", "high"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 127:
                raise ValueError(f"{name} must be a MIDI pitch 0-127, got {value}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.max_copy is not None and self.max_copy < 1:
            raise ValueError(f"max_copy must be at least 1, got {self.max_copy}")
        if self.key is not None:
            key_pitch_classes(self.key)  # a bad key fails here, before any work
        if self.cadence and self.key is None:
            raise ValueError("cadence needs a key (e.g. key='D minor')")

    def pitch_constrained(self) -> bool:
        return any(v not in (None, False) for v in (self.first_note, self.last_note, self.key, self.low,
                                                     self.high, self.cadence))

    def constrained(self) -> bool:
        return self.pitch_constrained() or self.max_copy is not None


def melody_events(score: symusic.Score, part: str | None = None) -> list[tuple[int, int]]:
    """``(pitch or REST, duration units)`` of the melody, rests filling the gaps."""
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


def chord_events(score: symusic.Score) -> list[tuple[tuple[int, ...], int]]:
    """``(pitches sounding, duration units)`` between consecutive note starts or ends, on a sixteenth grid."""
    scale = GRID / score.ticks_per_quarter / CHORD_STEP
    changes: dict[int, list] = {}
    for track in score.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            start = round(note.time * scale)
            end = max(round(note.end * scale), start + 1)
            changes.setdefault(start, []).append((1, int(note.pitch)))
            changes.setdefault(end, []).append((-1, int(note.pitch)))
    sounding, events = Counter(), []
    times = sorted(changes)
    for now, then in itertools.pairwise(times):
        for sign, pitch in changes[now]:
            sounding[pitch] += sign
        chord = tuple(sorted(p for p, c in sounding.items() if c > 0))
        events.append((chord, min((then - now) * CHORD_STEP, MAX_UNITS)))
    return events


def events_to_score(events, program: int = 0, tempo: float = 100.0,
                    time_signature: tuple[int, int] = (4, 4)) -> symusic.Score:
    """A one-track score from ``(pitch, REST or a tuple of pitches, duration units)`` events."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, tempo))
    score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    track = symusic.Track("Melody", program, False)
    step, time = TPQ // GRID, 0
    for pitch, units in events:
        for p in (pitch if isinstance(pitch, tuple) else () if pitch == REST else (pitch,)):
            track.notes.append(symusic.Note(time, units * step, p, 80))
        time += units * step
    score.tracks.append(track)
    return score


def to_symbols(events, viewpoint: str) -> list[tuple]:
    """The viewpoint's symbol for each event (tuples of ints, so that every viewpoint stores alike)."""
    if viewpoint == "pitch":
        return [(p,) for p, _ in events]
    if viewpoint == "duration":
        return [(-u if p == REST else u,) for p, u in events]
    if viewpoint == "joint":
        return [(p, u) for p, u in events]
    if viewpoint == "chord":
        return [tuple(p) for p, _ in events]
    symbols, last = [], None
    for p, _ in events:
        if p == REST:
            symbols.append((PAUSE,))
        else:
            symbols.append((ABSOLUTE, p) if last is None else (STEP, p - last))
            last = p
    return symbols


@register
class MarkovChain(Generator):
    """Order-k Markov chain of one viewpoint, Kneser-Ney smoothed; see the module docstring."""

    name = "markov"
    Config = MarkovConfig
    Sampling = MarkovSampling
    tiny_config: ClassVar[dict] = {"order": 2}
    tiny_sampling: ClassVar[dict] = {"length": 16}

    # --- training ---------------------------------------------------------------

    def _events(self, score):
        if self.config.viewpoint == "chord":
            return chord_events(score)
        return melody_events(score, self.config.part)

    def _fit(self, pieces):
        events = [e for e in (self._events(p) for p in pieces) if e]
        if not events:
            raise CadenzaError(f"{self.name}: no notes in the training pieces")
        symbols = [to_symbols(e, self.config.viewpoint) for e in events]
        vocabulary = sorted({s for seq in symbols for s in seq})
        index = {s: i + FIRST for i, s in enumerate(vocabulary)}
        durations, duration_ids = [], []
        if self.config.viewpoint in WITH_DURATIONS:
            durations = sorted({u for e in events for _, u in e})
            where = {u: i + FIRST for i, u in enumerate(durations)}
            duration_ids = [[where[u] for _, u in e] for e in events]
        pitches = [p for e in events for ev, _ in e for p in (ev if isinstance(ev, tuple) else (ev,)) if p != REST]
        signatures = Counter((ts.numerator, ts.denominator) for p in pieces for ts in p.time_signatures[:1])
        tempos = [p.tempos[0].qpm for p in pieces if len(p.tempos)]
        self._learn(vocabulary, [[index[s] for s in seq] for seq in symbols], durations, duration_ids, {
            "time_signature": list(signatures.most_common(1)[0][0] if signatures else (4, 4)),
            "tempo": float(np.median(tempos)) if tempos else 100.0,
            "typical_length": int(np.median([len(e) for e in events])),
            "pitch_range": [int(min(pitches)), int(max(pitches))] if pitches else [60, 72],
            "median_pitch": int(np.median(pitches)) if pitches else 60,
        })

    def _learn(self, vocabulary, ids, durations, duration_ids, extra):
        """Count both chains; shared by fit and load (a run stores the training symbols, not the counts)."""
        order = self.config.order
        self.vocabulary_ = [tuple(s) for s in vocabulary]
        self.index_ = {s: i + FIRST for i, s in enumerate(self.vocabulary_)}
        self.sequences_ = ids
        self.ngram_ = KneserNey(order, len(vocabulary) + FIRST).fit(ids)
        self.durations_ = [int(u) for u in durations]
        self.duration_sequences_ = duration_ids
        self.duration_ngram_ = KneserNey(order, len(durations) + FIRST).fit(duration_ids) if durations else None
        self.time_signature_ = tuple(extra["time_signature"])
        self.tempo_ = float(extra["tempo"])
        self.typical_length_ = max(1, int(extra["typical_length"]))
        self.pitch_range_ = tuple(int(p) for p in extra["pitch_range"])
        self.median_pitch_ = int(extra["median_pitch"])
        # Per-id lookups used while generating (index = symbol id; reserved ids get blanks).
        blank = [()] * FIRST
        viewpoint = self.config.viewpoint
        if viewpoint in ("pitch", "joint"):
            self._pitches = blank + [() if s[0] == REST else (s[0],) for s in self.vocabulary_]
        elif viewpoint == "chord":
            self._pitches = blank + list(self.vocabulary_)
        else:
            self._pitches = [()] * (len(self.vocabulary_) + FIRST)
        kinds = [-1] * FIRST + [s[0] for s in self.vocabulary_] if viewpoint == "interval" else []
        self._kind = np.asarray(kinds, dtype=np.int64)
        self._automaton = None
        self._cache = {}

    def counts(self, history=()) -> dict[tuple, int]:
        """Raw training counts of what followed the last ``order`` symbols of ``history`` (start-padded)."""
        self._check_fitted()
        context = self._context(history)
        names = {END: "END"}
        return {names.get(w) or self.vocabulary_[w - FIRST]: c for w, c in self.ngram_.counts(context).items()}

    def _context(self, history) -> tuple:
        ids = [self.index_.get(tuple(s), UNK) for s in history]
        return tuple([START] * self.config.order + ids)[-self.config.order:]

    # --- likelihood -------------------------------------------------------------

    def _log_prob(self, pieces):
        total, count = 0.0, 0
        for piece in pieces:
            context = (START,) * self.config.order
            for symbol in to_symbols(self._events(piece), self.config.viewpoint):
                w = self.index_.get(symbol, UNK)
                total += float(np.log(self.ngram_.prob(context, [w])[0]))
                context = context[1:] + (w,)
                count += 1
        return LogProb(total, count)

    # --- the generating chain -----------------------------------------------------

    def _successors(self, ngram, context, temperature, known=None):
        """Moves out of a context (to seen contexts only) and END, with their tempered probabilities."""
        key = (id(ngram), context, temperature, known)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ws = ngram.successors(context, seen_pairs=self.config.viewpoint == "chord")
        if known is not None:  # interval chain: an absolute pitch first, steps after it
            kinds = self._kind[ws]
            ws = ws[(kinds == PAUSE) | (kinds == (STEP if known else ABSOLUTE))]
        p = ngram.prob(context, np.append(ws, END))
        if temperature != 1.0:
            p = p ** (1.0 / temperature)
        p = p / p.sum()
        self._cache[key] = hit = (ws, p[:-1], float(p[-1]))
        return hit

    def next_probabilities(self, history=(), temperature: float = 1.0) -> dict:
        """The generating chain's ``P(next symbol | history)``; the key ``None`` is the end."""
        self._check_fitted()
        known = any(s[0] != PAUSE for s in history) if self.config.viewpoint == "interval" else None
        ws, ps, pe = self._successors(self.ngram_, self._context(history), float(temperature), known)
        out = {self.vocabulary_[w - FIRST]: float(p) for w, p in zip(ws, ps)}
        out[None] = pe
        return out

    def _chain(self, options, durations: bool = False):
        """``(start, expand, accept, pitches_of)`` for the melody chain, or the rhythm chain beside it."""
        temperature = float(options.temperature)
        order = self.config.order
        start = ((START,) * order, None, 0, 0)  # (context, last absolute pitch, automaton node, copied run)
        if durations:
            ngram = self.duration_ngram_

            def expand(state):
                ws, ps, pe = self._successors(ngram, state[0], temperature)
                return [(state[0][1:] + (int(w),), None, 0, 0) for w in ws], ps, pe
            return start, expand, lambda state: True, lambda state: ()

        interval = self.config.viewpoint == "interval"
        # An interval chain carries its absolute pitch only when a constraint looks at pitches:
        # that multiplies its states by the range, so without one the pitch is summed afterwards.
        track = interval and options.pitch_constrained()
        limit = options.max_copy
        if limit is not None and self._automaton is None:
            self._automaton = SuffixAutomaton(self.sequences_)
        low = options.low if options.low is not None else (self.pitch_range_[0] if interval else 0)
        high = options.high if options.high is not None else (self.pitch_range_[1] if interval else 127)
        classes = key_pitch_classes(options.key)[1] if options.key else None

        def expand(state):
            context, pitch, node, run = state
            ws, ps, pe = self._successors(self.ngram_, context, temperature,
                                          (pitch is not None) if interval else None)
            nexts = []
            for w in ws.tolist():
                after = pitch
                if track:
                    kind, *value = self.vocabulary_[w - FIRST]
                    after = value[0] if kind == ABSOLUTE else pitch + value[0] if kind == STEP else pitch
                elif interval and pitch is None and self._kind[w] == ABSOLUTE:
                    after = UNTRACKED
                n, r = self._automaton.step(node, run, w) if limit is not None else (0, 0)
                nexts.append((context[1:] + (w,), after, n, r))
            return nexts, ps, pe

        def pitches_of(state):
            context, pitch = state[0], state[1]
            if interval:
                return () if pitch in (None, UNTRACKED) or self._kind[context[-1]] == PAUSE else (pitch,)
            return self._pitches[context[-1]]

        def accept(state):
            if limit is not None and state[3] > limit:
                return False
            if track and state[1] is not None and not low <= state[1] <= high:
                return False
            for p in pitches_of(state):
                if not low <= p <= high or (classes is not None and p % 12 not in classes):
                    return False
            return True
        return start, expand, accept, pitches_of

    def _lattice(self, options, durations: bool = False):
        key = ("lattice", durations, options.temperature, options.key, options.low, options.high,
               options.max_copy if not durations else None)
        if key not in self._cache:
            start, expand, accept, pitches_of = self._chain(options, durations)
            lattice = build_lattice(start, expand, accept)
            tops = np.array([max(pitches_of(s), default=-1) for s in lattice.states])
            bass = np.array([min(pitches_of(s), default=-1) for s in lattice.states])
            self._cache[key] = (lattice, tops, bass)
        return self._cache[key]

    def _masks(self, length, tops, bass, options):
        base = np.ones(len(tops), dtype=bool)
        base[0] = False  # the start state is never revisited
        masks = [base.copy() for _ in range(length)]
        if options.first_note is not None:
            masks[0] &= tops == options.first_note
        if options.last_note is not None:
            masks[-1] &= tops == options.last_note
        if options.cadence:
            tonic = key_pitch_classes(options.key)[0]
            if self.config.viewpoint == "chord":  # the bass moves dominant -> tonic
                masks[-1] &= (bass >= 0) & (bass % 12 == tonic)
                if length > 1:
                    masks[-2] &= (bass >= 0) & (bass % 12 == (tonic + 7) % 12)
            else:  # the melody steps to the tonic from the 2nd or the leading tone
                masks[-1] &= (tops >= 0) & (tops % 12 == tonic)
                if length > 1:
                    masks[-2] &= (tops >= 0) & np.isin(tops % 12, [(tonic + 2) % 12, (tonic + 11) % 12])
        return masks

    def _sample_exact(self, rng, options, length, durations=False):
        """States at t = 0 .. length-1 from the chain conditioned on every constraint."""
        lattice, tops, bass = self._lattice(options, durations)
        key = ("beta", durations, options.temperature, options.key, options.low, options.high,
               None if durations else options.max_copy, length, options.natural_end,
               *(() if durations else (options.first_note, options.last_note, options.cadence)))
        if key not in self._cache:
            masks = self._masks(length, tops, bass, options) if not durations else \
                [np.arange(len(tops)) > 0] * length
            self._cache[key] = backward(lattice, masks, options.natural_end)
        beta = self._cache[key]
        if beta is None:
            raise CadenzaError(self._impossible(options, length, durations))
        return [lattice.states[i] for i in sample_path(lattice, beta, rng)]

    def _impossible(self, options, length, durations):
        if durations:
            return f"the rhythm chain has no {length}-event sequence (train on more data)"
        asked = [f"{name.replace('_', ' ')} {getattr(options, name)}" for name in
                 ("first_note", "last_note", "key", "low", "high", "max_copy") if getattr(options, name) is not None]
        asked += ["a cadence"] if options.cadence else []
        asked += ["a natural end"] if options.natural_end else []
        hint = ""
        if options.max_copy is not None and options.max_copy < self.config.order:
            hint = f"; max_copy must be at least the order ({self.config.order}): the chain only visits " \
                   "contexts seen in training"
        return (f"no {length}-event sequence of this model satisfies the constraints "
                f"({', '.join(asked) or 'length only'}){hint}")

    def _sample_free(self, rng, options):
        """Run the chain until it ends (never before the first event), under the global constraints."""
        start, expand, accept, _ = self._chain(options)
        state, states = start, []
        while len(states) < self.config.max_length:
            nexts, ps, pe = expand(state)
            keep = [i for i, s in enumerate(nexts) if accept(s)]
            weights = np.append(ps[keep], pe if states else 0.0)
            if not weights.sum() > 0:
                break
            choice = int(rng.choice(len(weights), p=weights / weights.sum()))
            if choice == len(keep):
                break
            state = nexts[keep[choice]]
            states.append(state)
        return states

    def _sample(self, rng, options):
        if self.config.viewpoint == "duration" and options.pitch_constrained():
            raise CadenzaError("the duration viewpoint generates rhythm only: pitch constraints need "
                               "viewpoint pitch, interval, joint or chord")
        length = options.length
        if length is None and options.constrained():
            length = self.typical_length_
        states = self._sample_exact(rng, options, length) if length else self._sample_free(rng, options)
        if not states:
            raise CadenzaError("the chain ended before its first event: train on more data")
        units = []
        if self.duration_ngram_ is not None:
            rhythm = self._sample_exact(rng, options, len(states), durations=True)
            units = [self.durations_[s[0][-1] - FIRST] for s in rhythm]
        return states, units

    def _events_of(self, states, units):
        viewpoint, events, last = self.config.viewpoint, [], None
        for i, (context, pitch, _, _) in enumerate(states):
            symbol = self.vocabulary_[context[-1] - FIRST]
            if pitch == UNTRACKED and symbol[0] != PAUSE:  # sum the intervals; fold by octaves into MIDI
                last = symbol[1] if symbol[0] == ABSOLUTE else last + symbol[1]
                pitch = last - 12 * ((last - 116) // 12) if last > 127 else last + 12 * ((11 - last) // 12) \
                    if last < 0 else last
            if viewpoint == "joint":
                events.append(symbol)
            elif viewpoint == "duration":
                events.append((REST, -symbol[0]) if symbol[0] < 0 else (self.median_pitch_, symbol[0]))
            elif viewpoint == "interval":
                events.append((REST if symbol[0] == PAUSE else pitch, units[i]))
            else:
                events.append((symbol if viewpoint == "chord" else symbol[0], units[i]))
        return events

    def _generate_one(self, rng, options):
        states, units = self._sample(rng, options)
        score = events_to_score(self._events_of(states, units), self.config.program, self.tempo_,
                                self.time_signature_)
        if self.config.viewpoint == "chord":
            score.tracks[0].name = "Chords"
        return score

    def generate_symbols(self, n: int = 1, seed: int = 0, **sampling) -> list[list[tuple]]:
        """The viewpoint symbols behind ``generate(n, seed, **sampling)`` (same seeds, same pieces)."""
        self._check_fitted()
        options = build_dataclass(self.Sampling, sampling, f"{self.name} sampling option")
        out = []
        for s in np.random.SeedSequence(seed).spawn(n):
            states, _ = self._sample(np.random.default_rng(s), options)
            out.append([self.vocabulary_[st[0][-1] - FIRST] for st in states])
        return out

    # --- persistence ------------------------------------------------------------------

    def _state(self):
        def flat(seqs):
            return (np.asarray([w for s in seqs for w in s], dtype=np.int64),
                    np.asarray([len(s) for s in seqs], dtype=np.int64))
        symbols, lengths = flat(self.sequences_)
        durations, duration_lengths = flat(self.duration_sequences_)
        arrays = {"symbols": symbols, "lengths": lengths,
                  "durations": durations, "duration_lengths": duration_lengths}
        extra = {"vocabulary": [list(s) for s in self.vocabulary_], "duration_values": self.durations_,
                 "time_signature": list(self.time_signature_), "tempo": self.tempo_,
                 "typical_length": self.typical_length_, "pitch_range": list(self.pitch_range_),
                 "median_pitch": self.median_pitch_}
        return arrays, extra

    def _load_state(self, arrays, extra):
        def split(flat, lengths, size):
            if lengths.sum() != len(flat) or (len(flat) and not (FIRST <= flat.min() and flat.max() < size)):
                raise ValueError("stored symbols do not match the vocabulary")
            return [s.tolist() for s in np.split(flat, np.cumsum(lengths)[:-1])] if len(lengths) else []
        vocabulary = [tuple(int(v) for v in s) for s in extra["vocabulary"]]
        durations = [int(u) for u in extra["duration_values"]]
        ids = split(arrays["symbols"], arrays["lengths"], len(vocabulary) + FIRST)
        duration_ids = split(arrays["durations"], arrays["duration_lengths"], len(durations) + FIRST)
        self._learn(vocabulary, ids, durations, duration_ids, extra)
