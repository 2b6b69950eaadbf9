"""Per-piece metrics of symbolic music.

Names and definitions follow MusPy 0.5 (Dong, Chen, Dubnov, McAuley & Berg-
Kirkpatrick, "MusPy: A Toolkit for Symbolic Music Generation", ISMIR 2020)
wherever MusPy has the metric, so that numbers are comparable with papers that
report them: pitch_range, n_pitches_used, n_pitch_classes_used, pitch_entropy,
pitch_class_entropy, scale_consistency, pitch_in_scale_rate, polyphony,
polyphony_rate, empty_beat_rate, empty_measure_rate, groove_consistency,
drum_pattern_consistency, drum_in_pattern_rate. That includes MusPy's
conventions, quirks included: drum tracks are ignored by the pitch metrics
but counted by the beat, measure and groove metrics; a note touches beats
``start // q`` to ``end // q`` inclusive and a piece spans ``end // q + 1``
beats; polyphony_rate counts time steps with *more than* ``threshold``
pitches. Time is in ticks, the resolution is the score's ticks per quarter.
Where MusPy returns 0 or a negative range for a piece with no pitched notes,
these functions return NaN.

Added here: ``mean_interval`` (mean absolute interval of the melody, the
top voice), ``note_density`` (notes a quarter and a bar) and ``key_estimate``
(Krumhansl-Schmuckler: the correlation of the duration-weighted pitch-class
profile with the 24 rotated Krumhansl-Kessler key profiles, from
``cadenza.music.theory``).

Polyphony is computed from note intervals, not from a tick-level piano roll
as MusPy does: the same numbers, at a cost that grows with the number of
notes rather than of ticks. Measured on 100 Bach chorales (480 ticks a
quarter, 2 shared cores): about 20-30x faster than MusPy 0.5's ``polyphony``,
each given a parsed piece (the evaluation section of docs/benchmarks.md).

Every measure takes a :class:`Piece` (the notes read once into arrays, with
what several metrics share computed once: the polyphony coverage, the top
voice, the pitch histograms, the key estimate) or a ``symusic.Score``, read
into a Piece on the spot. :func:`piece_metrics` reads each score once.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property

import numpy as np
import symusic

from cadenza.music.theory import Key, estimate_key_strength, signature_key
from cadenza.music.transforms import bar_starts

# --- one piece, read once ---------------------------------------------------------------

def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _skyline(time: np.ndarray, duration: np.ndarray, pitch: np.ndarray) -> dict[str, np.ndarray]:
    """The top voice of notes, as ``cadenza.music.transforms.melody`` takes it, on arrays.

    At every onset the highest note sounding from that onset, cut short where
    the next onset begins; a lower note hidden under a longer, higher one is
    dropped. The notes are sorted by onset, then pitch from the top, stably
    (so ties keep track order, as ``melody``'s ``sorted`` does).
    """
    order = np.lexsort((-pitch, time))
    top_time: list[int] = []
    top_duration: list[int] = []
    top_pitch: list[int] = []
    for t, d, p in zip(time[order].tolist(), duration[order].tolist(), pitch[order].tolist()):
        if top_time:
            last = top_time[-1]
            if last == t:
                continue  # a lower note of the same onset
            last_end = last + top_duration[-1]
            if last_end > t:
                if p < top_pitch[-1] and t + d <= last_end:
                    continue  # hidden under a longer, higher note
                top_duration[-1] = t - last
        top_time.append(t)
        top_duration.append(d)
        top_pitch.append(p)
    time, duration = np.array(top_time, np.int64), np.array(top_duration, np.int64)
    return {"time": _frozen(time), "duration": _frozen(duration), "pitch": _frozen(np.array(top_pitch, np.int64)),
            "end": _frozen(time + duration)}


class Piece:
    """One score's notes as arrays, read from symusic once, and what several measures share.

    Every measure of this module (and the features of ``compare``, ``structure``
    and ``novelty``) takes a Piece or a ``symusic.Score``; given a Score it reads
    a Piece on the spot. To take many measures of one piece, make its Piece once
    and pass that: the notes are read once, and the polyphony coverage, the top
    voice, the pitch histograms, the key estimate and the bar starts are computed
    on first use and kept.

    ``time``, ``duration``, ``end``, ``pitch`` (int64) and ``drum`` (bool: on a
    drum track) hold every note of the score, track after track. The arrays are
    read-only: they are shared.
    """

    def __init__(self, score: symusic.Score):
        self.score = score
        self.ticks_per_quarter = int(score.ticks_per_quarter)
        read = [(track.is_drum, track.notes.numpy()) for track in score.tracks if len(track.notes)]
        sizes = [n["time"].size for _, n in read]
        self._bounds = list(itertools.accumulate(sizes, initial=0))
        self._track_is_drum = [is_drum for is_drum, _ in read]

        def column(key):
            if not read:
                return _frozen(np.zeros(0, np.int64))
            return _frozen(np.concatenate([n[key] for _, n in read]).astype(np.int64))

        self.time, self.duration, self.pitch = column("time"), column("duration"), column("pitch")
        self.end = _frozen(self.time + self.duration)
        self.drum = _frozen(np.repeat(self._track_is_drum, sizes) if any(self._track_is_drum)
                            else np.zeros(self.time.size, bool))
        self._selected: dict[bool | None, dict[str, np.ndarray]] = {}

    @classmethod
    def of(cls, score: symusic.Score | Piece) -> Piece:
        """``score`` itself when it is a Piece, else the Piece read from it."""
        return score if isinstance(score, Piece) else cls(score)

    def notes(self, drums: bool | None = False) -> dict[str, np.ndarray]:
        """``time``, ``duration``, ``pitch`` and ``end`` of the notes of pitched tracks
        (``drums=False``), drum tracks (True) or all tracks (None)."""
        if drums not in self._selected:
            if drums is None or set(self._track_is_drum) <= {drums}:  # every note: the arrays themselves
                self._selected[drums] = self._selected.get(None) or {
                    "time": self.time, "duration": self.duration, "pitch": self.pitch, "end": self.end}
            else:
                mask = self.drum == drums
                self._selected[drums] = {"time": _frozen(self.time[mask]), "duration": _frozen(self.duration[mask]),
                                         "pitch": _frozen(self.pitch[mask]), "end": _frozen(self.end[mask])}
        return self._selected[drums]

    def tracks(self, drums: bool | None = False) -> list[dict[str, np.ndarray]]:
        """The notes of each non-empty track (pitched, drum or all, as :meth:`notes`), in score order."""
        return [{"time": self.time[a:b], "duration": self.duration[a:b], "pitch": self.pitch[a:b],
                 "end": self.end[a:b]}
                for a, b, is_drum in zip(self._bounds[:-1], self._bounds[1:], self._track_is_drum)
                if drums is None or is_drum == drums]

    @cached_property
    def length(self) -> int:
        """The end of the last note, drums included (0 for an empty piece)."""
        return int(self.end.max()) if self.end.size else 0

    @cached_property
    def top_voice(self) -> dict[str, np.ndarray]:
        """The pitched notes' top voice (the skyline ``melody`` takes), as :meth:`notes` arrays."""
        n = self.notes()
        return _skyline(n["time"], n["duration"], n["pitch"])

    @cached_property
    def coverage(self) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise-constant count of sounding pitches: ``(boundaries, counts)``.

        Overlapping notes of one pitch are merged first, as in a piano roll.
        ``counts[i]`` holds on ``[boundaries[i], boundaries[i + 1])``.
        """
        n = self.notes()
        keep = n["duration"] > 0
        t, e, p = n["time"][keep], n["end"][keep], n["pitch"][keep]
        if not t.size:
            return _frozen(np.zeros(1, np.int64)), _frozen(np.zeros(0, np.int64))
        order = np.lexsort((t, p))
        t, e, p = t[order], e[order], p[order]
        # Within a pitch, a note starts a new run when it begins after every earlier note of
        # that pitch ended. Lifting each pitch's ends above every lower pitch's lets one
        # running maximum serve all pitches at once.
        lift = (p - p.min()) * (e.max() - e.min() + 1) - e.min()
        reach = np.maximum.accumulate(e + lift) - lift
        new = np.ones(t.size, bool)
        new[1:] = (p[1:] != p[:-1]) | (t[1:] > reach[:-1])
        first = np.flatnonzero(new)
        last = np.append(first[1:] - 1, t.size - 1)
        # Each run adds one at its start and takes one away at its end; after sorting those
        # changes by time, the running sum at the last change of each time is the count from it.
        times = np.concatenate([t[first], reach[last]])
        order = np.argsort(times, kind="stable")
        times = times[order]
        sounding = np.cumsum(np.where(order < first.size, 1, -1))
        change = np.append(np.flatnonzero(times[1:] != times[:-1]), times.size - 1)
        return _frozen(times[change]), _frozen(sounding[change][:-1])

    @cached_property
    def pitch_counts(self) -> np.ndarray:
        """``[128]``: how many pitched notes have each MIDI pitch."""
        return _frozen(np.bincount(self.notes()["pitch"], minlength=128))

    @cached_property
    def pitch_class_counts(self) -> np.ndarray:
        """``[12]``: how many pitched notes have each pitch class (0 = C)."""
        return _frozen(np.bincount(self.notes()["pitch"] % 12, minlength=12))

    @cached_property
    def key(self) -> tuple[int, str, float]:
        """The Krumhansl-Schmuckler estimate, as :func:`key_estimate`."""
        n = self.notes()
        key, r = estimate_key_strength(n["pitch"], n["duration"])
        return key.tonic, key.mode, r

    @cached_property
    def bar_ticks(self) -> int:
        """Ticks in a bar of the first time signature (:func:`bar_ticks`)."""
        return bar_ticks(self.score)

    @cached_property
    def bar_starts(self) -> np.ndarray:
        """Ticks at which bars begin, up to the last note (``cadenza.music.transforms.bar_starts``)."""
        return _frozen(np.array(bar_starts(self.score, max(self.length - 1, 0)), np.int64))


def _score(score: symusic.Score | Piece) -> symusic.Score:
    return score.score if isinstance(score, Piece) else score


def notes(score: symusic.Score | Piece, drums: bool | None = False) -> dict[str, np.ndarray]:
    """All notes of the score as int64 arrays ``time``, ``duration``, ``pitch``, ``end`` (read-only).

    ``drums``: False for pitched tracks only, True for drum tracks only, None for all.
    """
    return Piece.of(score).notes(drums)


# --- pitch -----------------------------------------------------------------------------

def pitch_range(score: symusic.Score | Piece) -> float:
    used = np.flatnonzero(Piece.of(score).pitch_counts)
    return float(used[-1] - used[0]) if used.size else math.nan


def n_pitches_used(score: symusic.Score | Piece) -> int:
    return int(np.count_nonzero(Piece.of(score).pitch_counts))


def n_pitch_classes_used(score: symusic.Score | Piece) -> int:
    return int(np.count_nonzero(Piece.of(score).pitch_class_counts))


def _entropy(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def pitch_entropy(score: symusic.Score | Piece) -> float:
    """Shannon entropy (bits) of the note-count pitch histogram."""
    return _entropy(Piece.of(score).pitch_counts.astype(float))


def pitch_class_entropy(score: symusic.Score | Piece) -> float:
    return _entropy(Piece.of(score).pitch_class_counts.astype(float))


_MODES = ("major", "minor")


def scale(root: int, mode: str) -> np.ndarray:
    """``[12]`` booleans: the pitch classes of the major or natural minor scale on ``root``, as MusPy."""
    if mode not in _MODES:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    mask = np.zeros(12, bool)
    mask[list(Key(int(root) % 12, mode).pitch_classes)] = True
    return mask


_SCALES = np.stack([scale(r, m) for m in _MODES for r in range(12)]).astype(np.int64)


def pitch_in_scale_rate(score: symusic.Score | Piece, root: int, mode: str) -> float:
    """Share of pitched notes in the (natural) ``mode`` scale on ``root`` (0 = C)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    counts = Piece.of(score).pitch_class_counts
    total = int(counts.sum())
    in_scale = int(_SCALES[_MODES.index(mode) * 12 + int(root) % 12] @ counts)
    return in_scale / total if total else math.nan


def scale_consistency(score: symusic.Score | Piece) -> float:
    """The largest pitch_in_scale_rate over the 24 major and minor scales."""
    counts = Piece.of(score).pitch_class_counts
    total = int(counts.sum())
    return float((_SCALES @ counts).max()) / total if total else math.nan


def key_estimate(score: symusic.Score | Piece) -> tuple[int, str, float]:
    """``(root, mode, r)``: the Krumhansl-Schmuckler key and its correlation.

    The profile weights each pitch class by its total duration; ``r`` (the
    key-estimate strength, -1..1) is the Pearson correlation with the best of
    the 24 rotated Krumhansl-Kessler profiles (see ``cadenza.music.theory``).
    """
    return Piece.of(score).key


def key_strength(score: symusic.Score | Piece) -> float:
    return key_estimate(score)[2]


def score_key(score: symusic.Score | Piece) -> tuple[int, str] | None:
    """The key of the score's first key signature, or None when it has none."""
    key = signature_key(_score(score))
    return None if key is None else (key.tonic, key.mode)


# --- polyphony ---------------------------------------------------------------------------

def polyphony(score: symusic.Score | Piece) -> float:
    """Mean number of pitches sounding, over the time when at least one sounds."""
    bounds, counts = Piece.of(score).coverage
    widths = np.diff(bounds)
    sounding = widths[counts > 0].sum()
    return float((widths * counts).sum() / sounding) if sounding else math.nan


def polyphony_rate(score: symusic.Score | Piece, threshold: int = 2) -> float:
    """Share of time steps (ticks) with more than ``threshold`` pitches sounding."""
    piece = Piece.of(score)
    if piece.length < 1:
        return math.nan
    bounds, counts = piece.coverage
    widths = np.diff(bounds)
    return float(widths[counts > threshold].sum() / piece.length)


# --- rhythm --------------------------------------------------------------------------------

def _touched(start: np.ndarray, end: np.ndarray, unit: int, n: int) -> np.ndarray:
    """Which of ``n`` units a note spanning ``start // unit .. end // unit`` touches."""
    diff = np.bincount(start // unit, minlength=n + 1) - np.bincount(end // unit + 1, minlength=n + 1)
    return np.cumsum(diff[:n]) > 0


def empty_beat_rate(score: symusic.Score | Piece) -> float:
    """Share of beats (quarter notes) where no note sounds."""
    piece = Piece.of(score)
    return empty_measure_rate(piece, piece.ticks_per_quarter)


def empty_measure_rate(score: symusic.Score | Piece, measure_resolution: int | None = None) -> float:
    """Share of measures of ``measure_resolution`` ticks where no note sounds.

    Without a resolution, the bar length of the score's first time signature.
    """
    piece = Piece.of(score)
    unit = measure_resolution or piece.bar_ticks
    if piece.length < 1:
        return math.nan
    count = piece.length // unit + 1
    return 1.0 - float(_touched(piece.time, piece.end, unit, count).sum()) / count


def bar_ticks(score: symusic.Score | Piece) -> int:
    """Ticks in a bar of the score's first time signature (4/4 when it has none)."""
    score = _score(score)
    if len(score.time_signatures):
        ts = min(score.time_signatures, key=lambda s: s.time)
        return max(1, ts.numerator * score.ticks_per_quarter * 4 // max(ts.denominator, 1))
    return 4 * score.ticks_per_quarter


def groove_consistency(score: symusic.Score | Piece, measure_resolution: int | None = None) -> float:
    """One minus the mean Hamming distance of consecutive bars' onset patterns.

    A bar's pattern marks the ticks of the bar where a note begins. The distance
    between consecutive bars is counted from the onset positions alone: each bar's
    positions, less twice those the next bar repeats.
    """
    piece = Piece.of(score)
    unit = measure_resolution or piece.bar_ticks
    bars = piece.length // unit + 1
    if bars < 2:
        return math.nan
    onsets = np.unique(piece.time)  # bar * unit + position: one a marked tick
    per_bar = np.bincount(onsets // unit, minlength=bars)
    later = onsets + unit  # the same position a bar later
    found = np.minimum(np.searchsorted(onsets, later), onsets.size - 1)
    repeated = np.count_nonzero(onsets[found] == later)
    distance = 2 * onsets.size - per_bar[0] - per_bar[-1] - 2 * repeated
    return 1.0 - int(distance) / (unit * (bars - 1))


def _drum_pattern(resolution: int, meter: str) -> np.ndarray:
    pattern = np.zeros(resolution, bool)
    pattern[0] = True
    if meter == "duple":
        for division in (4, 2):
            if resolution % division == 0:
                pattern[:: resolution // division] = True
    elif meter == "triple":
        if resolution % 3 == 0:
            pattern[:: resolution // 3] = True
    else:
        raise ValueError(f"meter must be 'duple' or 'triple', got {meter!r}")
    return pattern


def drum_in_pattern_rate(score: symusic.Score | Piece, meter: str) -> float:
    """Share of drum onsets on the duple (16th) or triple (8th-triplet) grid of a beat."""
    piece = Piece.of(score)
    onsets = piece.notes(drums=True)["time"]
    if not onsets.size:
        return math.nan
    q = piece.ticks_per_quarter
    return float(_drum_pattern(q, meter)[onsets % q].mean())


def drum_pattern_consistency(score: symusic.Score | Piece) -> float:
    piece = Piece.of(score)
    duple = drum_in_pattern_rate(piece, "duple")
    return duple if math.isnan(duple) else max(duple, drum_in_pattern_rate(piece, "triple"))


# --- melody and density --------------------------------------------------------------------

def mean_interval(score: symusic.Score | Piece) -> float:
    """Mean absolute interval (semitones) between consecutive notes of the top voice."""
    p = Piece.of(score).top_voice["pitch"]
    return float(np.abs(np.diff(p)).mean()) if p.size > 1 else math.nan


def note_density(score: symusic.Score | Piece) -> tuple[float, float]:
    """``(notes a quarter, notes a bar)`` over the piece's length, drums included."""
    piece = Piece.of(score)
    if piece.length < 1:
        return math.nan, math.nan
    count = piece.time.size
    return count * piece.ticks_per_quarter / piece.length, count / max(1, piece.bar_starts.size)


# --- everything --------------------------------------------------------------------------------

METRICS = (
    "pitch_range", "n_pitches_used", "n_pitch_classes_used", "pitch_entropy",
    "pitch_class_entropy", "scale_consistency", "pitch_in_scale_rate", "key_strength",
    "mean_interval", "polyphony", "polyphony_rate", "empty_beat_rate", "empty_measure_rate",
    "groove_consistency", "notes_per_quarter", "notes_per_bar",
    "drum_pattern_consistency", "drum_in_pattern_rate",
)


def piece_metrics(score: symusic.Score | Piece, key: tuple[int, str] | None = None) -> dict[str, float]:
    """Every metric of one piece, NaN where undefined.

    ``pitch_in_scale_rate`` uses ``key`` when given, else the score's key
    signature, else the Krumhansl-Schmuckler estimate; ``empty_measure_rate``
    and ``groove_consistency`` use the bar of the first time signature;
    ``drum_in_pattern_rate`` uses the duple grid unless the first time
    signature is a compound or triple metre (numerator divisible by 3).
    The notes are read once (a :class:`Piece`) and shared by every metric.
    """
    piece = Piece.of(score)
    root, mode, strength = piece.key
    key = key or score_key(piece) or (root, mode)
    per_quarter, per_bar = note_density(piece)
    signatures = piece.score.time_signatures
    numerator = min(signatures, key=lambda s: s.time).numerator if len(signatures) else 4
    values = {
        "pitch_range": pitch_range(piece),
        "n_pitches_used": n_pitches_used(piece),
        "n_pitch_classes_used": n_pitch_classes_used(piece),
        "pitch_entropy": pitch_entropy(piece),
        "pitch_class_entropy": pitch_class_entropy(piece),
        "scale_consistency": scale_consistency(piece),
        "pitch_in_scale_rate": pitch_in_scale_rate(piece, *key),
        "key_strength": strength,
        "mean_interval": mean_interval(piece),
        "polyphony": polyphony(piece),
        "polyphony_rate": polyphony_rate(piece),
        "empty_beat_rate": empty_beat_rate(piece),
        "empty_measure_rate": empty_measure_rate(piece),
        "groove_consistency": groove_consistency(piece),
        "notes_per_quarter": per_quarter,
        "notes_per_bar": per_bar,
        "drum_pattern_consistency": drum_pattern_consistency(piece),
        "drum_in_pattern_rate": drum_in_pattern_rate(piece, "triple" if numerator % 3 == 0 else "duple"),
    }
    return {k: float(v) for k, v in values.items()}


def metric_table(scores) -> dict[str, np.ndarray]:
    """``{metric: array of one value a piece}`` over a sequence of scores (or :class:`Piece` objects)."""
    rows = [piece_metrics(s) for s in scores]
    return {name: np.array([r[name] for r in rows], float) for name in METRICS}
