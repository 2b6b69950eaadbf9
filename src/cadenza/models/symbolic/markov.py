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
chain is, one small class each in ``markov_viewpoints.py``.

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
its absolute pitch in the state only when a pitch constraint needs it
(``markov_chain.py``).

The files: ``markov_viewpoints.py`` (symbols, read from scores and written
back), ``markov_ngram.py`` (the counts and their Kneser-Ney probabilities),
``markov_chain.py`` (the generating chain as lattices), ``markov_constraints.py``
(conditioning and sampling), and this one (options and the model).

Implementation, for speed (a student can read the same steps one at a time
in ``next_probabilities``, ``KneserNey.prob`` and ``markov_constraints``):
melodies are read and encoded as integer arrays, n-grams are counted with
numpy sorts (``markov_ngram.py``), the generating chain's transitions are
computed for every context at once (``KneserNey.chain``, ``GeneratingChain``), the key
and range become boolean masks over the states, and all the pieces asked for
are drawn together, one ``searchsorted`` a step, each from its own random
stream.

Changes from the papers: the chain of Pachet & Roy is first order; ours is
order k over seen contexts, with an end state, so an exact length means
"conditioned on not ending before L events" (and, with ``natural_end``, on
ending right after them). Without a length and without constraints the
chain runs until it chooses to end (at most ``max_length`` events).
"""

from __future__ import annotations

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
from cadenza.models.symbolic.markov_chain import GeneratingChain, copy_limited
from cadenza.models.symbolic.markov_constraints import backward, possible, sample_paths, sample_until_end
from cadenza.models.symbolic.markov_ngram import END, FIRST, START, UNK, KneserNey
from cadenza.models.symbolic.markov_viewpoints import ABSOLUTE, PAUSE, STEP, VIEWPOINTS, Viewpoint
from cadenza.music.suffix_automaton import SuffixAutomaton
from cadenza.music.theory import parse_key

MAX_ORDER = 8

ViewpointName = Literal["pitch", "interval", "duration", "joint", "chord"]


@dataclass
class MarkovConfig:
    order: int = option(2, "How many previous events the next one depends on (1-8).", min=1, max=MAX_ORDER)
    viewpoint: ViewpointName = option("joint", "What one symbol is: pitch, interval (transposition-invariant), "
                                           "duration, joint (pitch and duration) or chord (all parts).")
    part: str | None = option(None, "Track to learn from (e.g. Soprano); default: the top voice of all tracks. "
                                    "The chord viewpoint always uses every part.")
    max_length: int = option(256, "Longest piece generated when no length is asked for, in events.", min=1, max=100_000)
    program: int = option(0, "General MIDI program of the generated track (0 = piano).", min=0, max=127)


@dataclass
class MarkovSampling(Sampling):
    first_note: int | None = option(None, "MIDI pitch the first event must have (the top note of a chord).",
                                    min=0, max=127)
    last_note: int | None = option(None, "MIDI pitch the last event must have (the top note of a chord).",
                                   min=0, max=127)
    key: str | None = option(None, "Every pitch in this key, e.g. 'D minor' or 'G major' "
                                   "(minor keys also allow the raised leading tone).")
    low: int | None = option(None, "Lowest MIDI pitch allowed.", min=0, max=127)
    high: int | None = option(None, "Highest MIDI pitch allowed.", min=0, max=127)
    cadence: bool = option(False, "End on the tonic of the key, approached from the 2nd or 7th degree "
                                  "(chords: bass moves dominant to tonic). Needs a key.")
    max_copy: int | None = option(None, "Longest run of events that may be copied verbatim from one training "
                                        "piece (in the viewpoint's symbols).", min=1, max=100_000)
    natural_end: bool = option(False, "With a length: also condition on the chain choosing to end right there.")

    def __post_init__(self):
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.key is not None:
            parse_key(self.key)  # a bad key fails here, before any work
        if self.cadence and self.key is None:
            raise ValueError("cadence needs a key (e.g. key='D minor')")

    def pitch_constrained(self) -> bool:
        return any(v not in (None, False) for v in (self.first_note, self.last_note, self.key, self.low,
                                                     self.high, self.cadence))

    def constrained(self) -> bool:
        return self.pitch_constrained() or self.max_copy is not None


@register
class MarkovChain(Generator):
    """Order-k Markov chain of one viewpoint, Kneser-Ney smoothed; see the module docstring."""

    name = "markov"
    Config = MarkovConfig
    Sampling = MarkovSampling
    tiny_config: ClassVar[dict] = {"order": 2}
    tiny_sampling: ClassVar[dict] = {"length": 16}

    @property
    def viewpoint(self) -> Viewpoint:
        return VIEWPOINTS[self.config.viewpoint]

    # --- training ---------------------------------------------------------------

    def _fit(self, pieces):
        ids, lengths, units, pitches, vocabulary = self.viewpoint.encode(pieces, self.config.part)
        if not len(lengths):
            raise CadenzaError(f"{self.name}: no notes in the training pieces")
        durations, duration_ids = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.viewpoint.rhythm:
            durations = np.unique(units)
            duration_ids = np.searchsorted(durations, units) + FIRST
        signatures = Counter((ts.numerator, ts.denominator) for p in pieces for ts in p.time_signatures[:1])
        tempos = [p.tempos[0].qpm for p in pieces if len(p.tempos)]
        self._learn(vocabulary, ids, lengths, durations.tolist(), duration_ids,
                    lengths if len(durations) else np.zeros(0, np.int64), {
                        "time_signature": list(signatures.most_common(1)[0][0] if signatures else (4, 4)),
                        "tempo": float(np.median(tempos)) if tempos else 100.0,
                        "typical_length": int(np.median(lengths)),
                        "pitch_range": [int(pitches.min()), int(pitches.max())] if len(pitches) else [60, 72],
                        "median_pitch": int(np.median(pitches)) if len(pitches) else 60,
                    })

    def _learn(self, vocabulary, ids, lengths, durations, duration_ids, duration_lengths, extra):
        """Count both chains; shared by fit and load (a run stores the training symbols, not the counts)."""
        order, viewpoint = self.config.order, self.viewpoint
        self.vocabulary_ = [tuple(s) for s in vocabulary]
        self.index_ = {s: i + FIRST for i, s in enumerate(self.vocabulary_)}
        self._ids, self._lengths = ids, lengths
        self.ngram_ = KneserNey(order, len(vocabulary) + FIRST).fit(ids, lengths)
        self.durations_ = [int(u) for u in durations]
        self._duration_ids, self._duration_lengths = duration_ids, duration_lengths
        self.duration_ngram_ = KneserNey(order, len(durations) + FIRST).fit(duration_ids, duration_lengths) \
            if durations else None
        self.time_signature_ = tuple(extra["time_signature"])
        self.tempo_ = float(extra["tempo"])
        self.typical_length_ = max(1, int(extra["typical_length"]))
        self.pitch_range_ = tuple(int(p) for p in extra["pitch_range"])
        self.median_pitch_ = int(extra["median_pitch"])
        # What generation reads, derived from the above once: never written while generating.
        self._lookups = viewpoint.table(self.vocabulary_)
        self._chain = GeneratingChain(self.ngram_, self._lookups, viewpoint.seen_pairs)
        self._rhythm = GeneratingChain(self.duration_ngram_, seen_pairs=viewpoint.seen_pairs) \
            if self.duration_ngram_ is not None else None

    @property
    def sequences_(self) -> list[list[int]]:
        """The training pieces as symbol ids."""
        return self._chain.cached("sequences", lambda: [
            s.tolist() for s in np.split(self._ids, np.cumsum(self._lengths)[:-1])] if len(self._lengths) else [])

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
        ids, lengths, _, _, _ = self.viewpoint.encode(pieces, self.config.part, self.vocabulary_)
        return LogProb(self.ngram_.log_prob(ids, lengths), int(lengths.sum()))

    # --- the generating chain -----------------------------------------------------

    def next_probabilities(self, history=(), temperature: float = 1.0) -> dict:
        """The generating chain's ``P(next symbol | history)``; the key ``None`` is the end.

        Computed here one context at a time, straight from the definition; the
        sampler uses the same numbers from ``GeneratingChain.tempered``, computed for every context at once.
        """
        self._check_fitted()
        context = self._context(history)
        ws = self.ngram_.successors(context, seen_pairs=self.viewpoint.seen_pairs)
        if self.viewpoint.relative:  # an absolute pitch first, steps after it
            known = any(s[0] != PAUSE for s in history)
            kinds = self._lookups.kind[ws]
            ws = ws[(kinds == PAUSE) | (kinds == (STEP if known else ABSOLUTE))]
        p = self.ngram_.prob(context, np.append(ws, END)) ** (1.0 / float(temperature))
        p = p / p.sum()
        out = {self.vocabulary_[w - FIRST]: float(q) for w, q in zip(ws, p)}
        out[None] = float(p[-1])
        return out

    def _allowed(self, low: int, high: int, classes) -> np.ndarray:
        """Per symbol id: every pitch it sounds is in [low, high] and in the key."""
        ok = np.ones(len(self._lookups.top), dtype=bool)
        for i, s in enumerate(self.vocabulary_, FIRST):
            ok[i] = self.viewpoint.allowed(s, low, high, classes)
        return ok

    def _lattice(self, options, durations: bool = False):
        """The chain under the global constraints (key, range, copy limit), with each state's top and bass."""
        if durations:
            return self._rhythm.tempered(float(options.temperature)), None, None
        key = ("lattice", options.temperature, options.key, options.low, options.high, options.max_copy)
        return self._chain.cached(key, lambda: self._constrained_lattice(options))

    def _constrained_lattice(self, options):
        temperature, chain, lookups = float(options.temperature), self._chain, self._lookups
        relative = self.viewpoint.relative
        classes = parse_key(options.key).melody_classes if options.key else None
        low = options.low if options.low is not None else (self.pitch_range_[0] if relative else 0)
        high = options.high if options.high is not None else (self.pitch_range_[1] if relative else 127)
        if relative and options.pitch_constrained():
            # The pitch must be in the state for a constraint to see it: that multiplies the
            # states by the range, so without one it is summed afterwards.
            lattice = chain.tracked_chain(temperature, low, high, classes)
        elif relative:
            lattice = chain.interval_chain(temperature)
        else:
            table = chain.tempered(temperature)
            lattice = table.restrict(self._allowed(low, high, classes)[chain.last[table.context]])
        if options.max_copy is not None:
            automaton = chain.cached("automaton", lambda: SuffixAutomaton(self.sequences_))
            lattice = copy_limited(lattice, chain.last, automaton, options.max_copy)
        symbol = chain.last[lattice.context]
        if relative:
            tops = np.where((lattice.pitch >= 0) & (lookups.kind[symbol] != PAUSE), lattice.pitch, -1)
            bass = tops
        else:
            tops, bass = lookups.top[symbol], lookups.bass[symbol]
        return lattice, tops, bass

    def _masks(self, length, tops, bass, options):
        base = np.ones(len(tops), dtype=bool)
        base[0] = False  # the start state is never revisited
        masks = [base.copy() for _ in range(length)]
        if options.first_note is not None:
            masks[0] &= tops == options.first_note
        if options.last_note is not None:
            masks[-1] &= tops == options.last_note
        if options.cadence:
            self.viewpoint.cadence(masks, tops, bass, parse_key(options.key).tonic)
        return masks

    # --- sampling ----------------------------------------------------------------

    def _sample_exact(self, rngs, options, lengths, durations=False):
        """Paths (lattice states) of the given lengths from the chain conditioned on every constraint."""
        lattice, tops, bass = self._lattice(options, durations)
        lengths = np.asarray(lengths, np.int64)
        longest = int(lengths.max())
        chain = self._rhythm if durations else self._chain
        key = ("beta", options.temperature, longest, options.natural_end, *(() if durations else (
            options.key, options.low, options.high, options.max_copy, options.first_note, options.last_note,
            options.cadence)))

        def beta():
            masks = [np.arange(len(lattice)) > 0] * longest if durations else \
                self._masks(longest, tops, bass, options)
            return backward(lattice, masks, options.natural_end)
        beta = chain.latest(key, beta)  # only the last one: it is length x states
        offsets = longest - lengths  # shorter paths start later and share the longest one's sums
        for offset in np.unique(offsets):
            if not possible(lattice, beta, offset):
                raise CadenzaError(self._impossible(options, longest - offset, durations))
        uniforms = np.zeros((len(rngs), longest))
        for i, rng in enumerate(rngs):
            uniforms[i, offsets[i]:] = rng.random(lengths[i])
        paths = sample_paths(lattice, beta, uniforms, offsets)
        return lattice, [paths[i, offsets[i]:] for i in range(len(rngs))]

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

    def _sample_free(self, rngs, options):
        """Run the chain until it ends (never before the first event), every piece at once."""
        temperature = float(options.temperature)
        lattice = self._chain.interval_chain(temperature) if self.viewpoint.relative else \
            self._chain.tempered(temperature)
        chunk = min(self.config.max_length, 256)
        draws = np.zeros((len(rngs), chunk))

        def uniforms(live, t):  # each piece draws from its own stream, in chunks, only while it runs
            if t % chunk == 0:
                for i in live:
                    draws[i] = rngs[i].random(chunk)
            return draws[live, t % chunk]
        return lattice, sample_until_end(lattice, len(rngs), uniforms, self.config.max_length)

    def _sample(self, rngs, options):
        """``(lattice, paths, units)``: each piece's lattice states and, beside them, its rhythm."""
        if not self.viewpoint.pitched and options.pitch_constrained():
            raise CadenzaError(f"the {self.viewpoint.name} viewpoint generates rhythm only: pitch constraints "
                               "need viewpoint pitch, interval, joint or chord")
        length = options.length
        if length is None and options.constrained():
            length = self.typical_length_
        if length:
            lattice, paths = self._sample_exact(rngs, options, [length] * len(rngs))
        else:
            lattice, paths = self._sample_free(rngs, options)
        if any(len(p) == 0 for p in paths):
            raise CadenzaError("the chain ended before its first event: train on more data")
        units = [None] * len(paths)
        if self._rhythm is not None:
            rhythm, beats = self._sample_exact(rngs, options, [len(p) for p in paths], durations=True)
            values = np.array([0] * FIRST + self.durations_, np.int64)
            units = [values[self._rhythm.last[rhythm.context[b]]] for b in beats]
        return lattice, paths, units

    def _piece(self, lattice, path, units) -> symusic.Score:
        ids = self._chain.last[lattice.context[path]]
        return self.viewpoint.score(self._lookups, ids, units, lattice.pitch[path], self.median_pitch_,
                                    self.config.program, self.tempo_, self.time_signature_)

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        """``n`` pieces, drawn together (one numpy step moves every piece) but each from its own
        random stream, so piece ``i`` still depends only on ``seed`` and ``i``, not on ``n``."""
        if n < 1:
            raise CadenzaError(f"n must be at least 1, got {n}")
        self._check_fitted()
        options = build_dataclass(self.Sampling, sampling, f"{self.name} sampling option")
        if not options.temperature > 0:
            raise CadenzaError(f"temperature must be positive, got {options.temperature}")
        if options.length is not None and options.length < 1:
            raise CadenzaError(f"length must be at least 1, got {options.length}")
        return self._pieces([np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)], options)

    def _pieces(self, rngs, options):
        lattice, paths, units = self._sample(rngs, options)
        return [self._piece(lattice, p, u) for p, u in zip(paths, units)]

    def _generate_one(self, rng, options):
        return self._pieces([rng], options)[0]

    def generate_symbols(self, n: int = 1, seed: int = 0, **sampling) -> list[list[tuple]]:
        """The viewpoint symbols behind ``generate(n, seed, **sampling)`` (same seeds, same pieces)."""
        self._check_fitted()
        options = build_dataclass(self.Sampling, sampling, f"{self.name} sampling option")
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
        lattice, paths, _ = self._sample(rngs, options)
        last = self._chain.last
        return [[self.vocabulary_[w - FIRST] for w in last[lattice.context[p]].tolist()] for p in paths]

    # --- persistence ------------------------------------------------------------------

    def _state(self):
        arrays = {"symbols": self._ids, "lengths": self._lengths,
                  "durations": self._duration_ids, "duration_lengths": self._duration_lengths}
        extra = {"vocabulary": [list(s) for s in self.vocabulary_], "duration_values": self.durations_,
                 "time_signature": list(self.time_signature_), "tempo": self.tempo_,
                 "typical_length": self.typical_length_, "pitch_range": list(self.pitch_range_),
                 "median_pitch": self.median_pitch_}
        return arrays, extra

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.run_check import INTEGER, ArraySpec, check_fields

        check_fields(extra, {"vocabulary": list[list[int]], "duration_values": list[int], "time_signature": list[int],
                             "tempo": float, "typical_length": int, "pitch_range": list[int], "median_pitch": int},
                     directory, "cadenza.json state")
        # The training symbols, as long as the corpus was: integers, their range checked by _load_state.
        return {name: ArraySpec((None,), INTEGER) for name in ("symbols", "lengths", "durations", "duration_lengths")}

    def _load_state(self, arrays, extra):
        def check(flat, lengths, size):
            if len(lengths) and lengths.min() < 0:
                raise ValueError("stored piece lengths are negative")
            if lengths.sum() != len(flat) or (len(flat) and not (FIRST <= flat.min() and flat.max() < size)):
                raise ValueError("stored symbols do not match the vocabulary")
            return flat.astype(np.int64), lengths.astype(np.int64)
        numerator, denominator = (extra["time_signature"] + [0, 0])[:2]
        low, high = (extra["pitch_range"] + [-1, -1])[:2]
        if len(extra["time_signature"]) != 2 or numerator < 1 or denominator < 1 or not extra["tempo"] > 0 or \
                len(extra["pitch_range"]) != 2 or not 0 <= low <= high <= 127 or not 0 <= extra["median_pitch"] <= 127:
            raise ValueError("time signature, tempo or pitch range out of range")
        vocabulary = [tuple(int(v) for v in s) for s in extra["vocabulary"]]
        durations = [int(u) for u in extra["duration_values"]]
        ids, lengths = check(arrays["symbols"], arrays["lengths"], len(vocabulary) + FIRST)
        duration_ids, duration_lengths = check(arrays["durations"], arrays["duration_lengths"],
                                               len(durations) + FIRST)
        self._learn(vocabulary, ids, lengths, durations, duration_ids, duration_lengths, extra)
