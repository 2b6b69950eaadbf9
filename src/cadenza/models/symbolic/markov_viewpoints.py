"""What one symbol of a Markov chain is: viewpoints, read from scores and written back (helper of ``markov``).

Conklin & Witten, "Multiple viewpoint systems for music prediction", J. New
Music Research 24(1), 1995. A melody is read as events ``(pitch or REST,
duration units)`` on a grid of :data:`GRID` units a quarter note (rests fill
the gaps; chords keep their top note), or, for the chord viewpoint, as the
sets of pitches sounding between consecutive note starts or ends. A
:class:`Viewpoint` turns events into symbols (tuples of ints, so that every
viewpoint stores alike), each symbol into one integer code (so that a whole
corpus is encoded with numpy), and generated symbols back into notes. One
small class a viewpoint:

- ``pitch``: the MIDI pitch of each event (or a rest);
- ``interval``: semitones from the previous note (transposition-invariant;
  the first note is its absolute pitch, rests are a symbol of their own);
- ``duration``: the length of each event (notes and rests apart);
- ``joint``: (pitch, duration) pairs, the whole melody;
- ``chord``: the set of pitches sounding, all parts, on a sixteenth grid.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import symusic

from cadenza.models.symbolic.markov_ngram import FIRST, UNK, find
from cadenza.music.theory import TPQ, make_score
from cadenza.music.transforms import melody

GRID = 12  # duration units a quarter note
MAX_UNITS = 8 * GRID  # longer notes and rests are cut to two whole notes
CHORD_STEP = 3  # chord boundaries snap to sixteenths
REST = -1
ABSOLUTE, STEP, PAUSE = 0, 1, 2  # kinds of interval symbols
NO_PITCH = -1  # an interval chain's pitch before its first note
UNTRACKED = -2  # an interval chain's pitch once its first note is out, when no constraint needs its value


# --- reading scores ---------------------------------------------------------------------------

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



# --- writing scores ---------------------------------------------------------------------------

def events_to_score(events, program: int = 0, tempo: float = 100.0,
                    time_signature: tuple[int, int] = (4, 4)) -> symusic.Score:
    """A one-track score from ``(pitch, REST or a tuple of pitches, duration units)`` events."""
    step, time, notes = TPQ // GRID, 0, []
    for pitch, units in events:
        for p in (pitch if isinstance(pitch, tuple) else () if pitch == REST else (pitch,)):
            notes.append((time, units * step, p, 80))
        time += units * step
    return make_score(notes, program=program, tempo=tempo, time_signature=time_signature)


def line_score(pitches, units, program, tempo, time_signature) -> symusic.Score:
    """A one-track score of a monophonic line (REST pitches are silences), built from arrays."""
    step = TPQ // GRID
    time = np.concatenate([[0], np.cumsum(units)[:-1]]) * step
    sounding = pitches != REST
    notes = np.stack([time[sounding], units[sounding] * step, pitches[sounding],
                      np.full(int(sounding.sum()), 80)], axis=1)
    return make_score(notes, program=program, tempo=tempo, time_signature=time_signature)


# --- viewpoints -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SymbolTable:
    """Per-id lookups used while generating (index = symbol id; reserved ids get -1 or 0)."""

    vocabulary: list[tuple]  # symbol id FIRST + i is vocabulary[i]
    top: np.ndarray  # highest pitch a symbol sounds, -1 for none
    bass: np.ndarray  # lowest pitch a symbol sounds, -1 for none
    kind: np.ndarray  # interval symbols: ABSOLUTE, STEP or PAUSE
    value: np.ndarray  # interval symbols: the pitch or the step; duration symbols: the signed length
    units: np.ndarray  # joint symbols: the length


class Viewpoint:
    """What one symbol of the chain is. The base class reads melodies (pitch, duration units)."""

    name: ClassVar[str] = ""
    rhythm: ClassVar[bool] = False  # a second, independent duration chain gives the rhythm
    pitched: ClassVar[bool] = True  # pitch constraints (key, range, notes, cadence) apply
    seen_pairs: ClassVar[bool] = False  # at order 1, the generating chain keeps to symbol pairs seen in training
    relative: ClassVar[bool] = False  # symbols are steps from the previous note: the pitch is carried in the state

    def symbols(self, events) -> list[tuple]:
        """The symbol of each ``(pitch, duration units)`` event."""
        raise NotImplementedError

    def codes(self, pitches: np.ndarray, units: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """One integer per event, ordered as the symbol tuples are (``lengths``: events a piece)."""
        raise NotImplementedError

    def code(self, symbol: tuple) -> int:
        """The integer code of one symbol (inverse of :meth:`decode`)."""
        raise NotImplementedError

    def decode(self, code: int) -> tuple:
        """The symbol of an integer code."""
        raise NotImplementedError

    def encode(self, pieces, part: str | None, vocabulary: list[tuple] | None = None):
        """``(ids, lengths, units, pitches, vocabulary)``: symbol ids of every piece, flat, the pieces'
        lengths, each event's duration units, the pitches played, and the vocabulary (made from these
        pieces when none is given; a symbol outside it is UNK)."""
        pitches, units, lengths = melody_lines(pieces, part)
        lengths = lengths[lengths > 0]
        codes = self.codes(pitches, units, lengths)
        if vocabulary is None:
            known, ids = np.unique(codes, return_inverse=True)
            ids = ids.reshape(-1) + FIRST
            vocabulary = [self.decode(int(c)) for c in known]
        else:
            at = find(np.array([self.code(s) for s in vocabulary], np.int64), codes)
            ids = np.where(at >= 0, at + FIRST, UNK)
        return ids, lengths, units, pitches[pitches != REST], vocabulary

    def sounding(self, symbol: tuple) -> tuple[int, ...]:
        """The pitches a symbol plays (none for a rest, or when the symbol does not know its pitch)."""
        return ()

    def allowed(self, symbol: tuple, low: int, high: int, classes) -> bool:
        """Whether a constrained chain may play ``symbol``: every pitch it sounds in [low, high] and
        in the pitch classes ``classes`` (None: any); a rest always may."""
        return all(low <= p <= high and (classes is None or p % 12 in classes) for p in self.sounding(symbol))

    def table(self, vocabulary: list[tuple]) -> SymbolTable:
        size = len(vocabulary) + FIRST
        table = SymbolTable(list(vocabulary), np.full(size, -1), np.full(size, -1), np.full(size, -1),
                            np.zeros(size, np.int64), np.zeros(size, np.int64))
        for i, s in enumerate(vocabulary, FIRST):
            pitches = self.sounding(s)
            if pitches:
                table.top[i], table.bass[i] = max(pitches), min(pitches)
            self._fill(table, i, s)
        return table

    def _fill(self, table: SymbolTable, i: int, symbol: tuple) -> None:
        """Set what the viewpoint's own lookups hold for symbol id ``i``."""

    def cadence(self, masks: list[np.ndarray], tops: np.ndarray, bass: np.ndarray, tonic: int) -> None:
        """Narrow the last masks to a final cadence: the melody steps to the tonic from the 2nd or
        the leading tone."""
        masks[-1] &= (tops >= 0) & (tops % 12 == tonic)
        if len(masks) > 1:
            masks[-2] &= (tops >= 0) & np.isin(tops % 12, [(tonic + 2) % 12, (tonic + 11) % 12])

    def line(self, table: SymbolTable, ids: np.ndarray, units, carried: np.ndarray, median_pitch: int):
        """Pitches (REST for silence) and duration units of a generated path of symbol ids; ``units``
        is the rhythm chain's (None without one), ``carried`` the pitch each state carries."""
        raise NotImplementedError

    def score(self, table: SymbolTable, ids: np.ndarray, units, carried: np.ndarray, median_pitch: int,
              program: int, tempo: float, time_signature: tuple[int, int]) -> symusic.Score:
        pitches, units = self.line(table, ids, units, carried, median_pitch)
        return line_score(pitches, units, program, tempo, time_signature)


class PitchViewpoint(Viewpoint):
    name = "pitch"
    rhythm = True

    def symbols(self, events):
        return [(p,) for p, _ in events]

    def codes(self, pitches, units, lengths):
        return pitches.copy()

    def code(self, symbol):
        return symbol[0]

    def decode(self, code):
        return (code,)

    def sounding(self, symbol):
        return () if symbol[0] == REST else (symbol[0],)

    def line(self, table, ids, units, carried, median_pitch):
        return table.top[ids], units


class DurationViewpoint(Viewpoint):
    """Rhythm only: a rest is its length negated; it generates on one pitch (the training median)."""

    name = "duration"
    pitched = False

    def symbols(self, events):
        return [(-u if p == REST else u,) for p, u in events]

    def codes(self, pitches, units, lengths):
        return np.where(pitches == REST, -units, units)

    def code(self, symbol):
        return symbol[0]

    def decode(self, code):
        return (code,)

    def _fill(self, table, i, symbol):
        table.value[i] = symbol[0]

    def line(self, table, ids, units, carried, median_pitch):
        values = table.value[ids]
        return np.where(values < 0, REST, median_pitch), np.abs(values)


class JointViewpoint(Viewpoint):
    name = "joint"

    def symbols(self, events):
        return [(p, u) for p, u in events]

    def codes(self, pitches, units, lengths):
        return (pitches + 1) * (MAX_UNITS + 1) + units

    def code(self, symbol):
        return (symbol[0] + 1) * (MAX_UNITS + 1) + symbol[1]

    def decode(self, code):
        return (code // (MAX_UNITS + 1) - 1, code % (MAX_UNITS + 1))

    def sounding(self, symbol):
        return () if symbol[0] == REST else (symbol[0],)

    def _fill(self, table, i, symbol):
        table.units[i] = symbol[1]

    def line(self, table, ids, units, carried, median_pitch):
        return table.top[ids], table.units[ids]


class IntervalViewpoint(Viewpoint):
    """``(ABSOLUTE, pitch)`` for a piece's first note, ``(STEP, semitones)`` after it, ``(PAUSE,)`` for rests.

    A symbol knows no pitch: the chain carries it in its state when a
    constraint needs it, and the pitches are summed from the steps otherwise.
    """

    name = "interval"
    rhythm = True
    relative = True

    def symbols(self, events):
        symbols, last = [], None
        for p, _ in events:
            if p == REST:
                symbols.append((PAUSE,))
            else:
                symbols.append((ABSOLUTE, p) if last is None else (STEP, p - last))
                last = p
        return symbols

    def codes(self, pitches, units, lengths):
        piece = np.repeat(np.arange(len(lengths)), lengths)
        notes = np.flatnonzero(pitches != REST)
        new = np.ones(len(notes), dtype=bool)
        new[1:] = piece[notes[1:]] != piece[notes[:-1]]
        step = np.zeros(len(notes), np.int64)
        step[1:] = pitches[notes[1:]] - pitches[notes[:-1]]
        codes = np.full(len(pitches), PAUSE * 1000 + 500, np.int64)
        codes[notes] = np.where(new, ABSOLUTE * 1000 + 500 + pitches[notes], STEP * 1000 + 500 + step)
        return codes

    def code(self, symbol):
        return symbol[0] * 1000 + 500 + (symbol[1] if len(symbol) > 1 else 0)

    def decode(self, code):
        kind = code // 1000
        return (kind,) if kind == PAUSE else (kind, code % 1000 - 500)

    def _fill(self, table, i, symbol):
        table.kind[i], table.value[i] = symbol[0], symbol[-1]

    def line(self, table, ids, units, carried, median_pitch):
        pitches = np.where(table.kind[ids] == PAUSE, REST, carried)
        if len(carried) and carried[-1] == UNTRACKED:  # sum the intervals; fold by octaves into MIDI
            last = None
            for i, w in enumerate(ids.tolist()):
                kind, value = table.kind[w], int(table.value[w])
                if kind == PAUSE:
                    continue
                last = value if kind == ABSOLUTE else last + value
                pitches[i] = last - 12 * ((last - 116) // 12) if last > 127 else \
                    last + 12 * ((11 - last) // 12) if last < 0 else last
        return pitches, units


class ChordViewpoint(Viewpoint):
    """The set of pitches sounding (all parts); the cadence is in the bass (dominant to tonic)."""

    name = "chord"
    rhythm = True
    seen_pairs = True  # thousands of chords: at order 1 only chord pairs seen in training

    def symbols(self, events):
        return [tuple(p) for p, _ in events]

    def encode(self, pieces, part, vocabulary=None):
        events = [e for e in (chord_events(p) for p in pieces) if e]
        lengths = np.array([len(e) for e in events], np.int64)
        symbols = [s for e in events for s, _ in e]
        units = np.array([u for e in events for _, u in e], np.int64)
        if vocabulary is None:
            vocabulary = sorted(set(symbols))
        index = {s: i + FIRST for i, s in enumerate(vocabulary)}
        ids = np.array([index.get(s, UNK) for s in symbols], np.int64)
        pitches = np.array([p for s in symbols for p in s], np.int64)
        return ids, lengths, units, pitches, vocabulary

    def sounding(self, symbol):
        return tuple(symbol)

    def cadence(self, masks, tops, bass, tonic):
        masks[-1] &= (bass >= 0) & (bass % 12 == tonic)
        if len(masks) > 1:
            masks[-2] &= (bass >= 0) & (bass % 12 == (tonic + 7) % 12)

    def score(self, table, ids, units, carried, median_pitch, program, tempo, time_signature):
        events = [(table.vocabulary[w - FIRST], u) for w, u in zip(ids.tolist(), units.tolist())]
        score = events_to_score(events, program, tempo, time_signature)
        score.tracks[0].name = "Chords"
        return score


VIEWPOINTS: dict[str, Viewpoint] = {v.name: v for v in (PitchViewpoint(), IntervalViewpoint(), DurationViewpoint(),
                                                        JointViewpoint(), ChordViewpoint())}
