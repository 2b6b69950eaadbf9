"""The generating chain of a Markov model as lattices (helper of ``markov``).

From the Kneser-Ney counts (``markov_ngram.py``) to the chain a sampler
walks: a generated chain only moves to contexts (the last ``order`` symbols)
seen in training, so the smoothed probabilities of those moves (and of the
end) are renormalised over them, and a temperature is applied to them
(:meth:`GeneratingChain.tempered`). The chain's transitions are computed for
every context at once and held as a :class:`~markov_constraints.Lattice`.

An interval chain needs more: its first symbol is an absolute pitch and the
others are steps, so its states are doubled to know whether the first note
is out (:meth:`GeneratingChain.interval_chain`), and when a pitch constraint
needs the pitch, each state carries it (:meth:`GeneratingChain.tracked_chain`,
states ``context x pitch``). A copy limit multiplies the states by a suffix
automaton's (:func:`copy_limited`).

Lattices are derived from the counts alone; they are computed once and kept,
under a lock, so that generations running at the same time share them.
"""

from __future__ import annotations

import threading

import numpy as np

from cadenza.models.symbolic.markov_constraints import Lattice, build_lattice, closure
from cadenza.models.symbolic.markov_ngram import KneserNey, ragged
from cadenza.models.symbolic.markov_viewpoints import ABSOLUTE, NO_PITCH, PAUSE, STEP, UNTRACKED, SymbolTable
from cadenza.music.suffix_automaton import SuffixAutomaton


class GeneratingChain:
    """The chain of one n-gram model over its seen contexts; ``table`` holds its symbols' lookups."""

    def __init__(self, ngram: KneserNey, table: SymbolTable | None = None, seen_pairs: bool = False):
        self.ngram, self.table, self.seen_pairs = ngram, table, seen_pairs
        self._cache: dict = {}
        self._latest: tuple | None = None
        self._lock = threading.RLock()

    def cached(self, key, make):
        """``make()`` once for ``key``; later calls (from any thread) get the same value."""
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def latest(self, key, make):
        """Like :meth:`cached`, keeping only the latest key's value (for values too large to keep many)."""
        with self._lock:
            if self._latest is None or self._latest[0] != key:
                self._latest = (key, make())
            return self._latest[1]

    def _chain(self) -> dict:
        return self.cached("chain", lambda: self.ngram.chain(seen_pairs=self.seen_pairs))

    @property
    def last(self) -> np.ndarray:
        """Each context's newest symbol (contexts numbered as in ``KneserNey.chain``)."""
        return self._chain()["last"]

    def tempered(self, temperature: float, known: bool | None = None) -> Lattice:
        """The tempered chain over seen contexts (for an interval chain: before/after its first note)."""
        return self.cached(("tempered", temperature, known), lambda: self._tempered(temperature, known))

    def _tempered(self, temperature: float, known: bool | None) -> Lattice:
        chain = self._chain()
        src, dst, p, end = chain["src"], chain["dst"], chain["p"], chain["end"]
        if known is not None:
            kinds = self.table.kind[chain["last"][dst]]
            keep = (kinds == PAUSE) | (kinds == (STEP if known else ABSOLUTE))
            src, dst, p = src[keep], dst[keep], p[keep]
        if temperature != 1.0:
            p, end = p ** (1.0 / temperature), end ** (1.0 / temperature)
        total = np.bincount(src, p, minlength=len(end)) + end
        n = len(end)
        return Lattice.from_edges(src, dst, p / total[src], end / total, np.arange(n), np.full(n, NO_PITCH))

    def interval_chain(self, temperature: float) -> Lattice:
        """Interval chain that knows whether its first note is out (states doubled), not its pitch."""
        return self.cached(("interval", temperature), lambda: self._interval_chain(temperature))

    def _interval_chain(self, temperature: float) -> Lattice:
        first, later = self.tempered(temperature, known=False), self.tempered(temperature, known=True)
        n, last = len(first), self.last
        absolute = self.table.kind[last[first.cols]] == ABSOLUTE
        return Lattice.from_edges(
            np.concatenate([first.sources(), later.sources() + n]),
            np.concatenate([first.cols + n * absolute, later.cols + n]),
            np.concatenate([first.probs, later.probs]), np.concatenate([first.end, later.end]),
            np.tile(np.arange(n), 2), np.repeat([NO_PITCH, UNTRACKED], n))

    def tracked_chain(self, temperature: float, low: int, high: int, classes) -> Lattice:
        """Interval chain that carries its absolute pitch, kept in [low, high] and in the pitch classes.

        State code ``slot * n + context``: slot 0 before the first note, slot i at pitch ``low + i - 1``.
        """
        tables = self.tempered(temperature, known=False), self.tempered(temperature, known=True)
        n, last, kinds, values = len(tables[0]), self.last, self.table.kind, self.table.value
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
                kind, value = kinds[last[dst]], values[last[dst]]
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


def copy_limited(lattice: Lattice, symbols: np.ndarray, automaton: SuffixAutomaton, limit: int) -> Lattice:
    """The lattice times the suffix automaton: states whose copied run would exceed ``limit`` go.

    ``symbols[c]`` is the symbol context ``c`` plays (its newest).
    """
    step, symbol = automaton.step, symbols[lattice.context].tolist()
    indptr, cols, probs, end = lattice.indptr.tolist(), lattice.cols.tolist(), lattice.probs, lattice.end

    def expand(state):
        i, node, run = state
        lo, hi = indptr[i], indptr[i + 1]
        return [(j, *step(node, run, symbol[j])) for j in cols[lo:hi]], probs[lo:hi], end[i]

    states, indptr, cols, probs, end = build_lattice((0, 0, 0), expand, lambda s: s[2] <= limit)
    index = np.array([s[0] for s in states], np.int64)
    return Lattice(indptr, cols, probs, end, lattice.context[index], lattice.pitch[index])
