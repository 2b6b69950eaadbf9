"""Novelty: how much of a generated piece is copied from the training set.

A model that memorises its corpus scores well on likelihood and on feature
statistics; these measures catch it. Each pitched track (voice) of a piece
becomes a sequence of events, either pitch intervals (``"interval"``:
transposition-invariant, catches a tune copied in another key) or
``"pitch-duration"`` pairs (exact copies). For each generated piece:

- ``longest_run``: the longest run of consecutive events that occurs
  somewhere in the training set (the longest common substring);
- ``copy_rate[n]``: the share of the piece's n-grams (n = 4, 8, 16) that
  occur in the training set;
- ``nearest``: the training piece sharing the most distinct 8-grams with it
  (falls back to the source of the longest run);
- ``near_copy``: True when ``copy_rate[8]`` reaches ``near_copy_threshold``
  (default 0.5) or the longest run covers at least half of the piece's
  longest voice (and is at least 8 events long).

Speed comes from a suffix automaton (``cadenza.music.suffix_automaton``)
built once over all training sequences: walking a generated sequence through
it gives, in one pass, the length of the longest training match ending at
every position (the "matching statistics"), from which both the longest run
and every n-gram copy rate follow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import symusic

from cadenza.evaluate.metrics import Piece
from cadenza.music.suffix_automaton import SuffixAutomaton
from cadenza.music.theory import TPQ

EVENTS = ("interval", "pitch-duration")
NGRAMS = (4, 8, 16)
NEAREST_N = 8


def voices(score: symusic.Score | Piece) -> list[np.ndarray]:
    """One ``[notes, 3]`` (time, pitch, duration) array a pitched track, chords reduced to their top note."""
    piece = Piece.of(score)
    out = []
    for n in piece.tracks():
        order = np.lexsort((-n["pitch"], n["time"]))
        t = n["time"][order]
        keep = np.ones(t.size, bool)
        keep[1:] = t[1:] != t[:-1]  # the first of each onset is its highest pitch
        dur = n["duration"][order][keep] * TPQ // piece.ticks_per_quarter
        out.append(np.stack([t[keep], n["pitch"][order][keep], dur], axis=1))
    return out


def events(score: symusic.Score | Piece, kind: str = "interval") -> list[list[int]]:
    """The event sequences (one a voice) of a piece, as integer symbols."""
    if kind not in EVENTS:
        raise ValueError(f"events must be one of {', '.join(EVENTS)}, got {kind!r}")
    out = []
    for v in voices(score):
        if kind == "interval":
            out.append(np.diff(v[:, 1]).tolist())
        else:
            out.append((v[:, 1] * 100_000 + np.minimum(v[:, 2], 99_999)).tolist())
    return out


@dataclass
class Novelty:
    """Copying measures of one generated piece against a training set."""

    longest_run: int
    copy_rate: dict[int, float]
    nearest: int  # index of the nearest training piece, -1 when nothing is shared
    nearest_id: str | None
    shared_ngrams: int  # distinct 8-grams shared with the nearest piece
    near_copy: bool
    events: int = field(default=0)

    def as_dict(self) -> dict:
        return {"longest_run": self.longest_run,
                **{f"copy_rate_{n}": r for n, r in self.copy_rate.items()},
                "nearest": self.nearest_id if self.nearest_id is not None else self.nearest,
                "shared_8grams": self.shared_ngrams, "near_copy": self.near_copy, "events": self.events}


class NoveltyIndex:
    """Index a training set once, then measure any number of pieces against it.

    ``training`` and the pieces measured are scores or :class:`~cadenza.evaluate.metrics.Piece` objects.
    """

    def __init__(self, training, kind: str = "interval", ids: list[str] | None = None,
                 ngrams: tuple[int, ...] = NGRAMS, near_copy_threshold: float = 0.5):
        self.kind, self.ngrams, self.threshold = kind, tuple(ngrams), near_copy_threshold
        self.ids = list(ids) if ids is not None else list(getattr(training, "ids", []) or [])
        sequences, owner = [], []
        for index, score in enumerate(training):
            for seq in events(score, kind):
                sequences.append(seq)
                owner.append(index)
        self.owner = np.array(owner, np.int64)
        self.automaton = SuffixAutomaton(sequences)
        # Which training pieces hold each 8-gram, for the nearest-piece vote.
        self.postings: dict[tuple, set[int]] = {}
        for seq, piece in zip(sequences, owner):
            for gram in _grams(seq, NEAREST_N):
                self.postings.setdefault(gram, set()).add(piece)

    def measure(self, score: symusic.Score | Piece) -> Novelty:
        seqs = events(score, self.kind)
        hits = {n: 0 for n in self.ngrams}
        totals = {n: 0 for n in self.ngrams}
        longest, longest_source = 0, -1
        for seq in seqs:
            runs, source = self.automaton.matches(seq)
            for n in self.ngrams:
                tail = runs[n - 1:]
                hits[n] += int((tail >= n).sum())
                totals[n] += tail.size
            if runs.size and runs.max() > longest:
                at = int(runs.argmax())
                longest, longest_source = int(runs[at]), int(self.owner[source[at]])
        votes = Counter()
        for gram in {g for seq in seqs for g in _grams(seq, NEAREST_N)}:
            votes.update(self.postings.get(gram, ()))
        if votes:
            nearest, shared = max(votes.items(), key=lambda kv: (kv[1], kv[0] == longest_source, -kv[0]))
        else:
            nearest, shared = longest_source, 0
        rates = {n: hits[n] / totals[n] if totals[n] else 0.0 for n in self.ngrams}
        voice_length = max((len(s) for s in seqs), default=0)
        near = bool(rates.get(8, 0.0) >= self.threshold or
                    (longest >= 8 and longest >= 0.5 * voice_length))
        nearest_id = self.ids[nearest] if 0 <= nearest < len(self.ids) else None
        return Novelty(longest, rates, int(nearest), nearest_id, int(shared), near, sum(map(len, seqs)))

    def measure_all(self, scores) -> list[Novelty]:
        return [self.measure(s) for s in scores]


def _grams(seq: list[int], n: int):
    return (tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def summarise(results: list[Novelty]) -> dict[str, float]:
    """Means over pieces, and the share flagged as near copies."""
    if not results:
        return {}
    out = {"longest_run": float(np.mean([r.longest_run for r in results]))}
    for n in results[0].copy_rate:
        out[f"copy_rate_{n}"] = float(np.mean([r.copy_rate[n] for r in results]))
    out["near_copy_share"] = float(np.mean([r.near_copy for r in results]))
    return out
