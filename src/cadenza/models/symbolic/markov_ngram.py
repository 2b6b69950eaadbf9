"""Interpolated Kneser-Ney n-gram estimates over integer symbols (helper of ``markov``).

Kneser & Ney, "Improved backing-off for M-gram language modeling", ICASSP
1995, in the interpolated form of Chen & Goodman, "An empirical study of
smoothing techniques for language modeling", Harvard TR-10-98, 1998 (eq. 17),
with one absolute discount per context length, ``D = n1 / (n1 + 2 n2)``
(Ney, Essen & Kneser 1994; n1, n2 = how many n-grams occur once, twice).

For a context ``h`` of length j (the last j symbols):

    P_j(w | h) = max(c_j(h w) - D_j, 0) / c_j(h) + D_j N1+(h .) / c_j(h) * P_{j-1}(w | h[1:])

where ``c_j`` is the raw count at the highest order and, below it, the
continuation count N1+(. h w): the number of distinct symbols seen just
before ``h w``. A context never seen at length j leaves ``P_{j-1}``
unchanged. The recursion ends in the uniform distribution over every
outcome (the vocabulary, END and UNK), so an event never seen in training
still has a positive probability and every row sums to 1.

Storage (so that counting and lookups are numpy sorts and binary searches,
not Python dictionaries): the contexts of length j are numbered, and a
context is coded by its oldest symbol and the number of the rest,
``code_j(a h) = a * (number of contexts of length j-1) + id_{j-1}(h)``;
``keys[j]`` holds those codes sorted, so ``id_j`` is a position in it. An
n-gram ``(h, w)`` is coded ``id_j(h) * size + w``, sorted in ``grams[j]``
beside its count ``counts[j]`` (raw at the top order, continuation below).

Changes from the paper: the discounts are clipped to [0.05, 0.95] so that a
tiny corpus (no n-gram seen twice) still leaves mass for the lower orders.
"""

from __future__ import annotations

import numpy as np

START, END, UNK = 0, 1, 2  # reserved ids; the vocabulary starts at FIRST
FIRST = 3


def find(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Position of each code in ``sorted_codes``, or -1 where it is absent."""
    at = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
    return np.where(sorted_codes[at] == codes, at, -1)


def ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ranges ``starts[i] .. starts[i] + counts[i] - 1``, concatenated."""
    offsets = starts - np.cumsum(counts) + counts
    return np.repeat(offsets, counts) + np.arange(int(counts.sum()))


def pad(sequences) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, lengths)`` of a list of id sequences."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    parts = [np.asarray(s, dtype=np.int64) for s in sequences]
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), lengths


class KneserNey:
    """Counts of an order-``order`` chain (``order`` previous symbols) and its smoothed probabilities."""

    def __init__(self, order: int, size: int):
        self.order = order
        self.size = size  # ids 0 .. size-1, START included (it never is an outcome)
        self.discounts = np.full(order + 1, 0.5)
        self.keys: list[np.ndarray] = []
        self.grams: list[np.ndarray] = []
        self.counts_: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []  # grams of context i: grams[j][rows[j][i]:rows[j][i+1]]
        self.totals: list[np.ndarray] = []  # c_j(h)
        self.distinct: list[np.ndarray] = []  # N1+(h .)
        self._chain = None

    # --- counting -------------------------------------------------------------------

    def fit(self, sequences, lengths: np.ndarray | None = None) -> KneserNey:
        """Count ``sequences`` (a list of id lists, or one flat array with ``lengths``)."""
        flat, lengths = pad(sequences) if lengths is None else (np.asarray(sequences, np.int64), lengths)
        k, size = self.order, self.size
        # Each piece becomes k STARTs, its symbols, END; a target is every position after the STARTs.
        starts = np.cumsum(lengths + k + 1) - (lengths + k + 1)
        padded = np.full(int((lengths + k + 1).sum()), START, dtype=np.int64)
        inside = ragged(starts + k, lengths)
        padded[inside] = flat
        padded[starts + k + lengths] = END
        targets = ragged(starts + k, lengths + 1)
        symbol = padded[targets]
        ids = [np.zeros(len(targets), np.int64)]  # ids[j][i]: number of the j symbols before target i
        self.keys = [np.zeros(1, np.int64)]
        for j in range(1, k + 1):
            keys, inverse = np.unique(padded[targets - j] * len(self.keys[j - 1]) + ids[j - 1], return_inverse=True)
            self.keys.append(keys)
            ids.append(inverse.reshape(-1))
        # Raw counts at the top order; below it, N1+(. h w): how many distinct (j+1)-grams end in
        # (h, w). The (j+1)-grams are those of level j+1 (the same set, raw or continuation),
        # and dropping their oldest symbol maps their context to its suffix: keys % contexts.
        levels = [None] * (k + 1)
        levels[k] = np.unique(ids[k] * size + symbol, return_counts=True)
        for j in range(k - 1, -1, -1):
            grams = levels[j + 1][0]
            suffix = self.keys[j + 1][grams // size] % len(self.keys[j])
            levels[j] = np.unique(suffix * size + grams % size, return_counts=True)
        self.grams, self.counts_, self.rows, self.totals, self.distinct = [], [], [], [], []
        for j, (grams, counts) in enumerate(levels):
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            d = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.5
            self.discounts[j] = min(max(d, 0.05), 0.95)
            context = grams // size
            contexts = len(self.keys[j])
            self.grams.append(grams)
            self.counts_.append(counts.astype(np.float64))
            self.rows.append(np.searchsorted(context, np.arange(contexts + 1)))
            self.totals.append(np.bincount(context, weights=counts, minlength=contexts))
            self.distinct.append(np.bincount(context, minlength=contexts).astype(np.float64))
        self._chain = None
        return self

    # --- lookups ----------------------------------------------------------------------

    def context_ids(self, contexts) -> list[np.ndarray]:
        """Numbers of the last j symbols of each context (rows of ``contexts``), for j = 0 .. width; -1: unseen."""
        contexts = np.atleast_2d(np.asarray(contexts, dtype=np.int64))
        n, width = contexts.shape
        ids = [np.zeros(n, np.int64)]
        for j in range(1, min(width, self.order) + 1):
            prev = ids[-1]
            here = find(self.keys[j], contexts[:, width - j] * len(self.keys[j - 1]) + np.maximum(prev, 0))
            ids.append(np.where(prev >= 0, here, -1))
        return ids

    def _count(self, j: int, context: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        at = find(self.grams[j], context * self.size + symbols)
        return np.where(at >= 0, self.counts_[j][at], 0.0)

    def probs(self, ids: list[np.ndarray], symbols: np.ndarray) -> np.ndarray:
        """``P(symbols[i] | context i)``, the contexts given by ``context_ids``."""
        symbols = np.asarray(symbols, dtype=np.int64)
        p = np.full(len(symbols), 1.0 / (self.size - 1))
        p[symbols == START] = 0.0
        for j, h in enumerate(ids):
            seen = h >= 0  # a longer context containing an unseen one is unseen too
            h = np.maximum(h, 0)
            c, total, d = self._count(j, h, symbols), self.totals[j][h], self.discounts[j]
            p = np.where(seen, np.maximum(c - d, 0.0) / total + d * self.distinct[j][h] / total * p, p)
        return p

    def prob(self, context: tuple, symbols) -> np.ndarray:
        """``P(w | context)`` for each ``w`` in ``symbols`` (context: the last ``order`` ids)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        ids = [np.repeat(i, len(symbols)) for i in self.context_ids([tuple(context)])]
        return self.probs(ids, symbols)

    def log_prob(self, flat: np.ndarray, lengths: np.ndarray) -> float:
        """Sum of ``log P`` of every symbol of the sequences (END not scored)."""
        k = self.order
        starts = np.cumsum(lengths + k) - (lengths + k)
        padded = np.full(int((lengths + k).sum()), START, dtype=np.int64)
        targets = ragged(starts + k, lengths)
        padded[targets] = flat
        contexts = np.stack([padded[targets - k + i] for i in range(k)], axis=1) if k else \
            np.zeros((len(targets), 0), np.int64)  # order 0: the unigram
        return float(np.log(self.probs(self.context_ids(contexts), flat)).sum())

    def distribution(self, context: tuple) -> np.ndarray:
        """``P(. | context)`` over every id (index 0, START, is always 0)."""
        p = np.full(self.size, 1.0 / (self.size - 1))
        p[START] = 0.0
        for j, h in enumerate(self.context_ids([tuple(context)])):
            h = int(h[0])
            if h < 0:
                break
            lo, hi = self.rows[j][h], self.rows[j][h + 1]
            total, d = self.totals[j][h], self.discounts[j]
            p *= d * self.distinct[j][h] / total
            p[self.grams[j][lo:hi] % self.size] += np.maximum(self.counts_[j][lo:hi] - d, 0.0) / total
        return p

    def _row(self, j: int, context) -> tuple[np.ndarray, np.ndarray]:
        h = int(self.context_ids([tuple(context)])[-1][0]) if j else 0
        if h < 0:
            return np.zeros(0, np.int64), np.zeros(0)
        lo, hi = self.rows[j][h], self.rows[j][h + 1]
        return self.grams[j][lo:hi] % self.size, self.counts_[j][lo:hi]

    def counts(self, context: tuple) -> dict[int, int]:
        """Raw counts of what followed ``context`` (length ``order``, START-padded) in training."""
        ws, cs = self._row(self.order, context)
        return {int(w): int(c) for w, c in zip(ws, cs)}

    def successors(self, context: tuple, seen_pairs: bool = False) -> np.ndarray:
        """Symbols ``w`` such that ``context[1:] + (w,)`` is a context seen in training.

        That is: ``(context[1:], w)`` was seen as an n-gram of length ``order``.
        With ``seen_pairs``, also ``(context[-1], w)`` must have been seen
        (it already has at order 2 and above; at order 1 it keeps a large
        vocabulary from making every symbol a successor of every other).
        """
        context = tuple(context)
        if seen_pairs and self.order == 1:
            ws, _ = self._row(1, context)
        else:
            ws, _ = self._row(self.order - 1, context[1:])
        return ws[ws >= FIRST]

    # --- the generating chain ------------------------------------------------------------

    def chain(self, seen_pairs: bool = False) -> dict[str, np.ndarray]:
        """The chain over the contexts seen at the top order, every move at once.

        States are the numbers of the top-order contexts (0 is all STARTs).
        State ``s`` moves to ``s'`` when ``s'`` drops the oldest symbol of ``s``
        and appends one (``successors``). Returns ``last`` (each state's newest
        symbol), ``src``/``dst`` (the moves, by source), ``p`` (Kneser-Ney
        ``P(last(s') | s)``) and ``end`` (``P(END | s)``), not renormalised.
        """
        if self._chain is not None and self._chain[0] == seen_pairs:
            return self._chain[1]
        k, size = self.order, self.size
        states = len(self.keys[k])
        # Decode every state: its suffixes' numbers at every level, and its symbols.
        ids = [None] * (k + 1)
        ids[k] = np.arange(states)
        symbols = np.zeros((states, k), np.int64)
        for j in range(k, 0, -1):
            code = self.keys[j][ids[j]]
            symbols[:, k - j] = code // len(self.keys[j - 1])
            ids[j - 1] = code % len(self.keys[j - 1])
        last = symbols[:, -1]
        # Below the top order, P(w | s) only looks at the last k-1 symbols of s, which are the
        # first k-1 of s' (w is the last of s'): those levels are computed once per state s'.
        prefix = self.context_ids(symbols[:, :-1])
        lower = self.probs(prefix, last)
        if seen_pairs and k == 1:  # moves: the symbol pairs seen in training
            lo, hi = self.rows[1][:-1], self.rows[1][1:]
            edge = ragged(lo, hi - lo)
            src = np.repeat(ids[1], hi - lo)
            w = self.grams[1][edge] % size
            keep = w >= FIRST
            src, dst = src[keep], find(self.keys[1], w[keep])
        else:
            # s -> s' when the last k-1 symbols of s are the first k-1 of s'.
            first = prefix[-1]
            targets = np.flatnonzero(last >= FIRST)
            targets = targets[np.lexsort((last[targets], first[targets]))]
            group = np.searchsorted(first[targets], np.arange(len(self.keys[k - 1]) + 1))
            suffix = ids[k - 1]
            degree = group[suffix + 1] - group[suffix]
            src = np.repeat(np.arange(states), degree)
            dst = targets[ragged(group[suffix], degree)]
        total, d = self.totals[k][src], self.discounts[k]
        p = np.maximum(self._count(k, src, last[dst]) - d, 0.0) / total + d * self.distinct[k][src] / total * lower[dst]
        end = self.probs(ids, np.full(states, END))
        self._chain = (seen_pairs, {"last": last, "src": src, "dst": dst, "p": p, "end": end})
        return self._chain[1]
