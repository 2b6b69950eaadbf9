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

Implementation, for speed (a student can read the same steps one at a time
in ``next_probabilities``, ``KneserNey.prob`` and ``markov_constraints``):
melodies are read and encoded as integer arrays, n-grams are counted with
numpy sorts (``markov_ngram.py``), the generating chain's transitions are
computed for every context at once (``KneserNey.chain``, ``_table``), the key
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
    Lattice,
    SuffixAutomaton,
    backward,
    build_lattice,
    closure,
    key_pitch_classes,
    possible,
    sample_paths,
    sample_until_end,
)
from cadenza.models.symbolic.markov_ngram import (
    END,
    FIRST,
    START,
    UNK,
    KneserNey,
    find,
    ragged,
)
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
NO_PITCH = -1  # an interval chain's pitch before its first note
UNTRACKED = -2  # an interval chain's pitch once its first note is out, when no constraint needs its value


@dataclass
class MarkovConfig:
    order: int = option(2, "How many previous events the next one depends on (1-8).")
    viewpoint: Viewpoint = option("joint", "What one symbol is: pitch, interval (transposition-invariant), "
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


def melody_lines(pieces, part: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch (or REST) and duration units of every event of every piece's melody, rests filling
    the gaps, flat, with each piece's number of events: ``melody(score, part)`` for all pieces at once.

    A line that is already monophonic once each onset keeps its highest note
    (the Essen tunes, the chorale parts) is read directly with numpy; other
    scores go through ``melody``'s skyline.
    """
    columns, counts, scales = {"time": [], "duration": [], "pitch": []}, np.zeros(len(pieces), np.int64), \
        np.zeros(len(pieces))
    for i, score in enumerate(pieces):
        scales[i] = GRID / score.ticks_per_quarter
        tracks = [t for t in score.tracks if not t.is_drum]
        if part is not None:
            tracks = [t for t in tracks if t.name.strip().lower() == part.strip().lower()][:1] or \
                [melody(score, part).tracks[0]]  # no such part: melody says so
        for track in tracks:
            notes = track.notes.numpy()
            for name, column in columns.items():
                column.append(notes[name])
            counts[i] += len(notes["time"])
    time, duration, pitch = (np.concatenate(c).astype(np.int64) if c else np.zeros(0, np.int64)
                             for c in columns.values())
    owner = np.repeat(np.arange(len(pieces)), counts)
    order = np.lexsort((-pitch, time, owner))
    time, duration, pitch, owner = time[order], duration[order], pitch[order], owner[order]
    first = np.ones(len(time), dtype=bool)  # the highest note of each onset
    first[1:] = (time[1:] != time[:-1]) | (owner[1:] != owner[:-1])
    time, duration, pitch, owner = time[first], duration[first], pitch[first], owner[first]
    overlap = (owner[1:] == owner[:-1]) & (time[:-1] + duration[:-1] > time[1:])
    bad = np.unique(owner[:-1][overlap])
    if len(bad):  # voices overlap: take the skyline
        keep = ~np.isin(owner, bad)
        lines = [melody(pieces[i], part).tracks[0].notes.numpy() for i in bad]
        time, duration, pitch, owner = _splice(time, duration, pitch, owner, keep, bad, lines)
    scale = scales[owner]
    start = np.round(time * scale).astype(np.int64)
    units = np.clip(np.round(duration * scale), 1, MAX_UNITS).astype(np.int64)
    gap = np.zeros(len(start), np.int64)
    gap[1:] = np.where(owner[1:] == owner[:-1], start[1:] - start[:-1] - units[:-1], 0)
    rest = gap > 0
    where = np.arange(len(start)) + np.cumsum(rest)  # each note's place once the rests are in
    pitches = np.full(len(start) + int(rest.sum()), REST, np.int64)
    lengths = np.zeros(len(pitches), np.int64)
    pitches[where], lengths[where] = pitch, units
    lengths[where[rest] - 1] = np.minimum(gap[rest], MAX_UNITS)
    return pitches, lengths, np.bincount(owner, minlength=len(pieces)) + np.bincount(owner[rest], minlength=len(pieces))


def _splice(time, duration, pitch, owner, keep, bad, lines):
    """Replace the notes of the pieces ``bad`` by their skylines ``lines``, in piece order."""
    parts = [np.stack([time[keep], duration[keep], pitch[keep], owner[keep]])]
    for i, line in zip(bad, lines):
        parts.append(np.stack([line["time"], line["duration"], line["pitch"],
                               np.full(len(line["time"]), i)]).astype(np.int64))
    time, duration, pitch, owner = np.concatenate(parts, axis=1)
    order = np.lexsort((time, owner))
    return time[order], duration[order], pitch[order], owner[order]


def melody_arrays(score: symusic.Score, part: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (or REST) and duration units of each event of the melody, rests filling the gaps."""
    pitches, units, _ = melody_lines([score], part)
    return pitches, units


def melody_events(score: symusic.Score, part: str | None = None) -> list[tuple[int, int]]:
    """``(pitch or REST, duration units)`` of the melody, rests filling the gaps."""
    pitches, units = melody_arrays(score, part)
    return list(zip(pitches.tolist(), units.tolist()))


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


def symbol_codes(pitches: np.ndarray, units: np.ndarray, lengths: np.ndarray, viewpoint: str) -> np.ndarray:
    """One integer per event, ordered as the viewpoint's symbol tuples (see ``to_symbols``) are."""
    if viewpoint == "pitch":
        return pitches.copy()
    if viewpoint == "duration":
        return np.where(pitches == REST, -units, units)
    if viewpoint == "joint":
        return (pitches + 1) * (MAX_UNITS + 1) + units
    # interval: (ABSOLUTE, pitch) for a piece's first note, (STEP, semitones) after it, (PAUSE,) for rests
    piece = np.repeat(np.arange(len(lengths)), lengths)
    notes = np.flatnonzero(pitches != REST)
    new = np.ones(len(notes), dtype=bool)
    new[1:] = piece[notes[1:]] != piece[notes[:-1]]
    step = np.zeros(len(notes), np.int64)
    step[1:] = pitches[notes[1:]] - pitches[notes[:-1]]
    codes = np.full(len(pitches), PAUSE * 1000 + 500, np.int64)
    codes[notes] = np.where(new, ABSOLUTE * 1000 + 500 + pitches[notes], STEP * 1000 + 500 + step)
    return codes


def decode_symbol(code: int, viewpoint: str) -> tuple:
    """The symbol tuple of a ``symbol_codes`` value."""
    if viewpoint in ("pitch", "duration"):
        return (code,)
    if viewpoint == "joint":
        return (code // (MAX_UNITS + 1) - 1, code % (MAX_UNITS + 1))
    kind = code // 1000
    return (kind,) if kind == PAUSE else (kind, code % 1000 - 500)


@register
class MarkovChain(Generator):
    """Order-k Markov chain of one viewpoint, Kneser-Ney smoothed; see the module docstring."""

    name = "markov"
    Config = MarkovConfig
    Sampling = MarkovSampling
    tiny_config: ClassVar[dict] = {"order": 2}
    tiny_sampling: ClassVar[dict] = {"length": 16}

    # --- training ---------------------------------------------------------------

    def _symbols(self, pieces, vocabulary=None):
        """Symbol ids of every piece, flat, with the pieces' lengths and their events' duration units.

        Without ``vocabulary`` the vocabulary is made from these pieces and returned too.
        """
        viewpoint = self.config.viewpoint
        if viewpoint == "chord":
            events = [e for e in (chord_events(p) for p in pieces) if e]
            lengths = np.array([len(e) for e in events], np.int64)
            symbols = [s for e in events for s, _ in e]
            units = np.array([u for e in events for _, u in e], np.int64)
            if vocabulary is None:
                vocabulary = sorted(set(symbols))
                self.index_ = {s: i + FIRST for i, s in enumerate(vocabulary)}
            ids = np.array([self.index_.get(s, UNK) for s in symbols], np.int64)
            pitches = np.array([p for s in symbols for p in s], np.int64)
            return ids, lengths, units, pitches, vocabulary
        pitches, units, lengths = melody_lines(pieces, self.config.part)
        lengths = lengths[lengths > 0]
        codes = symbol_codes(pitches, units, lengths, viewpoint)
        if vocabulary is None:
            self._codes, ids = np.unique(codes, return_inverse=True)
            ids = ids.reshape(-1) + FIRST
            vocabulary = [decode_symbol(int(c), viewpoint) for c in self._codes]
        else:
            ids = find(self._codes, codes)
            ids = np.where(ids >= 0, ids + FIRST, UNK)
        return ids, lengths, units, pitches[pitches != REST], vocabulary

    def _fit(self, pieces):
        ids, lengths, units, pitches, vocabulary = self._symbols(pieces)
        if not len(lengths):
            raise CadenzaError(f"{self.name}: no notes in the training pieces")
        durations, duration_ids = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.config.viewpoint in WITH_DURATIONS:
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
        order, viewpoint = self.config.order, self.config.viewpoint
        self.vocabulary_ = [tuple(s) for s in vocabulary]
        self.index_ = {s: i + FIRST for i, s in enumerate(self.vocabulary_)}
        if viewpoint != "chord":
            self._codes = np.array([_encode(s, viewpoint) for s in self.vocabulary_], np.int64)
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
        # Per-id lookups used while generating (index = symbol id; reserved ids get -1).
        size = len(self.vocabulary_) + FIRST
        self._top, self._bass = np.full(size, -1), np.full(size, -1)
        self._kind, self._value = np.full(size, -1), np.zeros(size, np.int64)
        self._units = np.zeros(size, np.int64)
        for i, s in enumerate(self.vocabulary_, FIRST):
            if viewpoint == "chord" and s:
                self._top[i], self._bass[i] = max(s), min(s)
            elif viewpoint in ("pitch", "joint") and s[0] != REST:
                self._top[i] = self._bass[i] = s[0]
            elif viewpoint == "interval":
                self._kind[i], self._value[i] = s[0], s[-1]
            if viewpoint == "joint":
                self._units[i] = s[1]
        self._sequences = None
        self._automaton = None
        self._cache = {}

    @property
    def sequences_(self) -> list[list[int]]:
        """The training pieces as symbol ids."""
        if self._sequences is None:
            self._sequences = [s.tolist() for s in np.split(self._ids, np.cumsum(self._lengths)[:-1])] \
                if len(self._lengths) else []
        return self._sequences

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
        ids, lengths, _, _, _ = self._symbols(pieces, self.vocabulary_)
        return LogProb(self.ngram_.log_prob(ids, lengths), int(lengths.sum()))

    # --- the generating chain -----------------------------------------------------

    def next_probabilities(self, history=(), temperature: float = 1.0) -> dict:
        """The generating chain's ``P(next symbol | history)``; the key ``None`` is the end.

        Computed here one context at a time, straight from the definition; the
        sampler uses the same numbers from ``_table``, computed for every context at once.
        """
        self._check_fitted()
        context = self._context(history)
        ws = self.ngram_.successors(context, seen_pairs=self.config.viewpoint == "chord")
        if self.config.viewpoint == "interval":  # an absolute pitch first, steps after it
            known = any(s[0] != PAUSE for s in history)
            kinds = self._kind[ws]
            ws = ws[(kinds == PAUSE) | (kinds == (STEP if known else ABSOLUTE))]
        p = self.ngram_.prob(context, np.append(ws, END)) ** (1.0 / float(temperature))
        p = p / p.sum()
        out = {self.vocabulary_[w - FIRST]: float(q) for w, q in zip(ws, p)}
        out[None] = float(p[-1])
        return out

    def _last(self, durations=False) -> np.ndarray:
        """Each context's newest symbol (contexts numbered as in ``KneserNey.chain``)."""
        ngram = self.duration_ngram_ if durations else self.ngram_
        return ngram.chain(seen_pairs=self.config.viewpoint == "chord")["last"]

    def _table(self, temperature: float, durations: bool = False, known: bool | None = None) -> Lattice:
        """The tempered generating chain over seen contexts (for an interval chain: before/after its first note)."""
        key = ("table", durations, temperature, known)
        if key not in self._cache:
            ngram = self.duration_ngram_ if durations else self.ngram_
            chain = ngram.chain(seen_pairs=self.config.viewpoint == "chord")
            src, dst, p, end = chain["src"], chain["dst"], chain["p"], chain["end"]
            if known is not None:
                kinds = self._kind[chain["last"][dst]]
                keep = (kinds == PAUSE) | (kinds == (STEP if known else ABSOLUTE))
                src, dst, p = src[keep], dst[keep], p[keep]
            if temperature != 1.0:
                p, end = p ** (1.0 / temperature), end ** (1.0 / temperature)
            total = np.bincount(src, p, minlength=len(end)) + end
            n = len(end)
            self._cache[key] = Lattice.from_edges(src, dst, p / total[src], end / total, np.arange(n),
                                                  np.full(n, NO_PITCH))
        return self._cache[key]

    def _interval_chain(self, temperature: float) -> Lattice:
        """Interval chain that knows whether its first note is out (states doubled), not its pitch."""
        first, later = self._table(temperature, known=False), self._table(temperature, known=True)
        n, last = len(first), self._last()
        absolute = self._kind[last[first.cols]] == ABSOLUTE
        return Lattice.from_edges(
            np.concatenate([first.sources(), later.sources() + n]),
            np.concatenate([first.cols + n * absolute, later.cols + n]),
            np.concatenate([first.probs, later.probs]), np.concatenate([first.end, later.end]),
            np.tile(np.arange(n), 2), np.repeat([NO_PITCH, UNTRACKED], n))

    def _tracked_chain(self, temperature: float, low: int, high: int, classes) -> Lattice:
        """Interval chain that carries its absolute pitch, kept in [low, high] and in the key.

        State code ``slot * n + context``: slot 0 before the first note, slot i at pitch ``low + i - 1``.
        """
        tables = self._table(temperature, known=False), self._table(temperature, known=True)
        n, last = len(tables[0]), self._last()
        allowed = np.array([classes is None or p % 12 in classes for p in range(low, high + 1)])

        def expand(codes):
            slot, context = codes // n, codes % n
            owners, nexts, probs = [], [], []
            for table, rows in zip(tables, (slot == 0, slot > 0)):
                at = np.flatnonzero(rows)
                lo = table.indptr[context[at]]
                degree = table.indptr[context[at] + 1] - lo
                edge = ragged(lo, degree)
                owner = np.repeat(at, degree)
                dst = table.cols[edge]
                kind, value = self._kind[last[dst]], self._value[last[dst]]
                pitch = low + slot[owner] - 1
                after = np.where(kind == ABSOLUTE, value, np.where(kind == STEP, pitch + value, pitch))
                inside = (after >= low) & (after <= high)
                ok = (kind == PAUSE) | (inside & allowed[np.clip(after - low, 0, high - low)])
                after_slot = np.where(kind == PAUSE, slot[owner], after - low + 1)
                owners.append(owner[ok])
                nexts.append((after_slot * n + dst)[ok])
                probs.append(table.probs[edge][ok])
            end = np.where(slot == 0, tables[0].end[context], tables[1].end[context])
            return np.concatenate(owners), np.concatenate(nexts), np.concatenate(probs), end

        codes, src, dst, p, end = closure(expand, (high - low + 2) * n)
        slot = codes // n
        return Lattice.from_edges(src, dst, p, end, codes % n, np.where(slot == 0, NO_PITCH, low + slot - 1))

    def _copy_limited(self, lattice: Lattice, limit: int) -> Lattice:
        """The lattice times the suffix automaton: states whose copied run would exceed ``limit`` go."""
        if self._automaton is None:
            self._automaton = SuffixAutomaton(self.sequences_)
        step, symbol = self._automaton.step, self._last()[lattice.context].tolist()
        indptr, cols, probs, end = lattice.indptr.tolist(), lattice.cols.tolist(), lattice.probs, lattice.end

        def expand(state):
            i, node, run = state
            lo, hi = indptr[i], indptr[i + 1]
            return [(j, *step(node, run, symbol[j])) for j in cols[lo:hi]], probs[lo:hi], end[i]

        states, indptr, cols, probs, end = build_lattice((0, 0, 0), expand, lambda s: s[2] <= limit)
        index = np.array([s[0] for s in states], np.int64)
        return Lattice(indptr, cols, probs, end, lattice.context[index], lattice.pitch[index])

    def _allowed(self, low: int, high: int, classes) -> np.ndarray:
        """Per symbol id: every pitch it sounds is in [low, high] and in the key."""
        ok = np.ones(len(self._top), dtype=bool)
        for i, s in enumerate(self.vocabulary_, FIRST):
            pitches = s if self.config.viewpoint == "chord" else () if s[0] == REST else (s[0],)
            ok[i] = all(low <= p <= high and (classes is None or p % 12 in classes) for p in pitches)
        return ok

    def _lattice(self, options, durations: bool = False):
        """The chain under the global constraints (key, range, copy limit), with each state's top and bass."""
        key = ("lattice", durations, options.temperature, options.key, options.low, options.high,
               options.max_copy if not durations else None)
        if key in self._cache:
            return self._cache[key]
        temperature = float(options.temperature)
        if durations:
            self._cache[key] = (self._table(temperature, durations=True), None, None)
            return self._cache[key]
        interval = self.config.viewpoint == "interval"
        classes = key_pitch_classes(options.key)[1] if options.key else None
        low = options.low if options.low is not None else (self.pitch_range_[0] if interval else 0)
        high = options.high if options.high is not None else (self.pitch_range_[1] if interval else 127)
        if interval and options.pitch_constrained():
            # The pitch must be in the state for a constraint to see it: that multiplies the
            # states by the range, so without one it is summed afterwards.
            lattice = self._tracked_chain(temperature, low, high, classes)
        elif interval:
            lattice = self._interval_chain(temperature)
        else:
            table = self._table(temperature)
            lattice = table.restrict(self._allowed(low, high, classes)[self._last()[table.context]])
        if options.max_copy is not None:
            lattice = self._copy_limited(lattice, options.max_copy)
        symbol = self._last()[lattice.context]
        if interval:
            tops = np.where((lattice.pitch >= 0) & (self._kind[symbol] != PAUSE), lattice.pitch, -1)
            bass = tops
        else:
            tops, bass = self._top[symbol], self._bass[symbol]
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

    def _sample_exact(self, rngs, options, lengths, durations=False):
        """Paths (lattice states) of the given lengths from the chain conditioned on every constraint."""
        lattice, tops, bass = self._lattice(options, durations)
        lengths = np.asarray(lengths, np.int64)
        longest = int(lengths.max())
        key = ("beta", durations, options.temperature, options.key, options.low, options.high,
               None if durations else options.max_copy, longest, options.natural_end,
               *(() if durations else (options.first_note, options.last_note, options.cadence)))
        cached = self._cache.get(("beta", durations))  # only the last one: it is length x states
        if cached is None or cached[0] != key:
            masks = [np.arange(len(lattice)) > 0] * longest if durations else \
                self._masks(longest, tops, bass, options)
            cached = self._cache["beta", durations] = (key, backward(lattice, masks, options.natural_end))
        beta = cached[1]
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
        lattice = self._interval_chain(temperature) if self.config.viewpoint == "interval" else \
            self._table(temperature)
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
        if self.config.viewpoint == "duration" and options.pitch_constrained():
            raise CadenzaError("the duration viewpoint generates rhythm only: pitch constraints need "
                               "viewpoint pitch, interval, joint or chord")
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
        if self.duration_ngram_ is not None:
            rhythm, beats = self._sample_exact(rngs, options, [len(p) for p in paths], durations=True)
            values = np.array([0] * FIRST + self.durations_, np.int64)
            units = [values[self._last(durations=True)[rhythm.context[b]]] for b in beats]
        return lattice, paths, units

    def _piece(self, lattice, path, units) -> symusic.Score:
        symbols = self._last()[lattice.context[path]]
        viewpoint = self.config.viewpoint
        if viewpoint == "chord":
            events = [(self.vocabulary_[w - FIRST], u) for w, u in zip(symbols.tolist(), units.tolist())]
            score = events_to_score(events, self.config.program, self.tempo_, self.time_signature_)
            score.tracks[0].name = "Chords"
            return score
        if viewpoint == "joint":
            pitches, units = self._top[symbols], self._units[symbols]
        elif viewpoint == "pitch":
            pitches = self._top[symbols]
        elif viewpoint == "duration":
            values = np.array([self.vocabulary_[w - FIRST][0] for w in symbols.tolist()], np.int64)
            pitches, units = np.where(values < 0, REST, self.median_pitch_), np.abs(values)
        else:
            pitches = np.where(self._kind[symbols] == PAUSE, REST, lattice.pitch[path])
            if lattice.pitch[path[-1]] == UNTRACKED:  # sum the intervals; fold by octaves into MIDI
                last = None
                for i, w in enumerate(symbols.tolist()):
                    kind, value = self._kind[w], int(self._value[w])
                    if kind == PAUSE:
                        continue
                    last = value if kind == ABSOLUTE else last + value
                    pitches[i] = last - 12 * ((last - 116) // 12) if last > 127 else \
                        last + 12 * ((11 - last) // 12) if last < 0 else last
        return _score(pitches, units, self.config.program, self.tempo_, self.time_signature_)

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
        last = self._last()
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

    def _load_state(self, arrays, extra):
        def check(flat, lengths, size):
            if lengths.sum() != len(flat) or (len(flat) and not (FIRST <= flat.min() and flat.max() < size)):
                raise ValueError("stored symbols do not match the vocabulary")
            return flat.astype(np.int64), lengths.astype(np.int64)
        vocabulary = [tuple(int(v) for v in s) for s in extra["vocabulary"]]
        durations = [int(u) for u in extra["duration_values"]]
        ids, lengths = check(arrays["symbols"], arrays["lengths"], len(vocabulary) + FIRST)
        duration_ids, duration_lengths = check(arrays["durations"], arrays["duration_lengths"],
                                               len(durations) + FIRST)
        self._learn(vocabulary, ids, lengths, durations, duration_ids, duration_lengths, extra)


def _encode(symbol: tuple, viewpoint: str) -> int:
    """Inverse of ``decode_symbol``."""
    if viewpoint in ("pitch", "duration"):
        return symbol[0]
    if viewpoint == "joint":
        return (symbol[0] + 1) * (MAX_UNITS + 1) + symbol[1]
    return symbol[0] * 1000 + 500 + (symbol[1] if len(symbol) > 1 else 0)


def _score(pitches, units, program, tempo, time_signature) -> symusic.Score:
    """A one-track score of a monophonic line (REST pitches are silences), built from arrays."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, tempo))
    score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    step = TPQ // GRID
    time = np.concatenate([[0], np.cumsum(units)[:-1]]) * step
    sounding = pitches != REST
    track = symusic.Track("Melody", program, False)
    track.notes = symusic.Note.from_numpy(time[sounding].astype(np.int32), (units[sounding] * step).astype(np.int32),
                                          pitches[sounding].astype(np.int8), np.full(int(sounding.sum()), 80, np.int8))
    score.tracks.append(track)
    return score
