"""A suffix automaton over symbol sequences: the longest run of a sequence copied from a corpus.

Blumer, Blumer, Haussler, Ehrenfeucht, Chen & Seiferas, "The smallest
automaton recognizing the subwords of a text", Theoretical Computer Science
40, 1985. Built once over all the corpus's sequences (each followed by a
separator of its own, so that a match never spans two of them), it recognises
every substring of the corpus. Stepping a new sequence through it the way
longest-common-substring matching steps it gives, at every position, the
length of the longest corpus match ending there (the "matching statistics")
and a corpus sequence it occurs in.

Two users: the novelty measures (``evaluate.novelty``: copy rates and the
longest copied run of a generated piece) and the Markov chain's copy limit
(``models.symbolic.markov``: the longest copied run is part of the state).
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable

import numpy as np


class SuffixAutomaton:
    """Every substring of a set of sequences (matches never cross two of them)."""

    def __init__(self, sequences: Iterable[Iterable[Hashable]]):
        self.next: list[dict] = [{}]
        self.link = [-1]
        self.length = [0]
        self.firstpos = [-1]  # where each state's substrings first end in the joined text
        self.starts: list[int] = []  # position of each sequence in the joined text
        last, pos = 0, 0
        for index, seq in enumerate(sequences):
            self.starts.append(pos)
            for symbol in [*seq, ("end", index)]:  # a unique separator after each sequence
                last = self._extend(last, symbol, pos)
                pos += 1

    def _extend(self, last: int, symbol, pos: int) -> int:
        nxt, link, length, first = self.next, self.link, self.length, self.firstpos
        cur = len(length)
        nxt.append({})
        length.append(length[last] + 1)
        link.append(0)
        first.append(pos)
        p = last
        while p != -1 and symbol not in nxt[p]:
            nxt[p][symbol] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][symbol]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                nxt.append(dict(nxt[q]))
                length.append(length[p] + 1)
                link.append(link[q])
                first.append(first[q])
                while p != -1 and nxt[p].get(symbol) == q:
                    nxt[p][symbol] = clone
                    p = link[p]
                link[q] = clone
                link[cur] = clone
        return cur

    def step(self, node: int, run: int, symbol) -> tuple[int, int]:
        """Longest corpus-matching suffix after appending ``symbol``, from (automaton node, its length)."""
        nxt, link, length = self.next, self.link, self.length
        while node and symbol not in nxt[node]:
            node = link[node]
            run = length[node]
        if symbol in nxt[node]:
            return nxt[node][symbol], run + 1
        return 0, 0

    def matches(self, seq) -> tuple[np.ndarray, np.ndarray]:
        """For each position: the longest match ending there, and the sequence it comes from (-1: none)."""
        runs = np.zeros(len(seq), np.int64)
        source = np.full(len(seq), -1, np.int64)
        node = run = 0
        for i, symbol in enumerate(seq):
            node, run = self.step(node, run, symbol)
            if run:
                runs[i] = run
                source[i] = bisect.bisect_right(self.starts, self.firstpos[node]) - 1
        return runs, source

    def longest_run(self, seq) -> int:
        """The longest run of ``seq`` that occurs in one corpus sequence."""
        node = run = best = 0
        for symbol in seq:
            node, run = self.step(node, run, symbol)
            best = max(best, run)
        return best
