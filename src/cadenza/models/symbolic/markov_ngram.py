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

Changes from the paper: the discounts are clipped to [0.05, 0.95] so that a
tiny corpus (no n-gram seen twice) still leaves mass for the lower orders.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

START, END, UNK = 0, 1, 2  # reserved ids; the vocabulary starts at FIRST
FIRST = 3
_EMPTY = np.zeros(0, dtype=np.int64)


class KneserNey:
    """Counts of an order-``order`` chain (``order`` previous symbols) and its smoothed probabilities."""

    def __init__(self, order: int, size: int):
        self.order = order
        self.size = size  # ids 0 .. size-1, START included (it never is an outcome)
        self.tables: list[dict] = [{} for _ in range(order + 1)]
        self.discounts = np.full(order + 1, 0.5)
        self.follow: dict[tuple, np.ndarray] = {}
        self.after: dict[int, np.ndarray] = {}

    def fit(self, sequences: list[list[int]]) -> KneserNey:
        k = self.order
        raw = [Counter() for _ in range(k + 1)]  # raw[j]: counts of (j context symbols, w)
        for seq in sequences:
            padded = [START] * k + list(seq) + [END]
            for t in range(k, len(padded)):
                for j in range(k + 1):
                    raw[j][tuple(padded[t - j:t + 1])] += 1
        levels = [None] * (k + 1)
        levels[k] = raw[k]
        for j in range(k):
            # Continuation count: how many distinct symbols precede (h, w) in the raw (j+2)-grams.
            cont = Counter()
            for gram in raw[j + 1]:
                cont[gram[1:]] += 1
            levels[j] = cont
        for j, counts in enumerate(levels):
            table = defaultdict(dict)
            for gram, c in counts.items():
                table[gram[:-1]][gram[-1]] = c
            n1 = sum(1 for c in counts.values() if c == 1)
            n2 = sum(1 for c in counts.values() if c == 2)
            d = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.5
            self.discounts[j] = min(max(d, 0.05), 0.95)
            self.tables[j] = {h: (ws, np.fromiter(ws.keys(), np.int64, len(ws)),
                                  np.fromiter(ws.values(), np.float64, len(ws)),
                                  float(sum(ws.values())), len(ws))
                              for h, ws in table.items()}
        # Contexts seen at the highest order, by their first k-1 symbols: a generated
        # chain only moves to contexts it has seen (see markov.py).
        follow = defaultdict(list)
        for h in self.tables[k]:
            if h and h[-1] >= FIRST:
                follow[h[:-1]].append(h[-1])
        self.follow = {g: np.array(sorted(ws), dtype=np.int64) for g, ws in follow.items()}
        after = defaultdict(list)
        for a, w in raw[1]:
            if w >= FIRST:
                after[a].append(w)
        self.after = {a: np.array(sorted(ws), dtype=np.int64) for a, ws in after.items()}
        return self

    def counts(self, context: tuple) -> dict[int, int]:
        """Raw counts of what followed ``context`` (length ``order``, START-padded) in training."""
        entry = self.tables[self.order].get(tuple(context))
        return {w: int(c) for w, c in entry[0].items()} if entry else {}

    def prob(self, context: tuple, symbols) -> np.ndarray:
        """``P(w | context)`` for each ``w`` in ``symbols`` (context: the last ``order`` ids)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        p = np.full(len(symbols), 1.0 / (self.size - 1))
        p[symbols == START] = 0.0
        context = tuple(context)
        for j in range(self.order + 1):
            entry = self.tables[j].get(context[len(context) - j:] if j else ())
            if entry is None:
                break  # a longer context containing an unseen one is unseen too
            lookup, _, _, total, distinct = entry
            c = np.fromiter((lookup.get(int(w), 0) for w in symbols), np.float64, len(symbols))
            d = self.discounts[j]
            p = np.maximum(c - d, 0.0) / total + d * distinct / total * p
        return p

    def distribution(self, context: tuple) -> np.ndarray:
        """``P(. | context)`` over every id (index 0, START, is always 0)."""
        p = np.full(self.size, 1.0 / (self.size - 1))
        p[START] = 0.0
        context = tuple(context)
        for j in range(self.order + 1):
            entry = self.tables[j].get(context[len(context) - j:] if j else ())
            if entry is None:
                break
            _, ws, cs, total, distinct = entry
            d = self.discounts[j]
            p *= d * distinct / total
            p[ws] += np.maximum(cs - d, 0.0) / total
        return p

    def successors(self, context: tuple, seen_pairs: bool = False) -> np.ndarray:
        """Symbols ``w`` such that ``context[1:] + (w,)`` is a context seen in training.

        With ``seen_pairs``, also ``(context[-1], w)`` must have been seen
        (it already has at order 2 and above; at order 1 it keeps a large
        vocabulary from making every symbol a successor of every other).
        """
        context = tuple(context)
        ws = self.follow.get(context[1:], _EMPTY)
        if seen_pairs and self.order == 1:
            ws = self.after.get(context[-1], _EMPTY)
        return ws
