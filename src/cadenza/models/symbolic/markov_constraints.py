"""Finite-length Markov generation under constraints, and a limit on copying (helper of ``markov``).

Pachet, Roy & Barbieri, "Finite-length Markov processes with constraints",
IJCAI 2011: a chain unrolled over L positions, each position a
variable whose values are the chain's states; unary constraints (this note
is in D minor, this one is the tonic) remove values; arc consistency removes
every value that no longer has a way through to the end; renormalising the
surviving transitions gives a new, non-homogeneous chain that never dead-ends
and whose distribution over sequences equals the original chain's
conditioned on the constraints.

We compute the renormalisation the way their proof does, as backward sums:

    beta_{L-1}(s) = ok_{L-1}(s) * end(s)        (end(s) = 1, or P(END | s) for a natural end)
    beta_t(s)     = ok_t(s) * sum_s' P(s' | s) beta_{t+1}(s')

and sample forwards with ``P'(s' | s) ∝ P(s' | s) beta_{t+1}(s')``. A zero
``beta`` is exactly a value arc consistency removes, so pruning and
renormalising are the same pass. ``beta`` is rescaled at every step (the
scale cancels when sampling) so long sequences do not underflow.

The states are whatever the caller's ``expand`` makes them: for an order-k
chain, the last k symbols, restricted to contexts seen in training (the
unrolled problem stays the size of the model); the caller adds what its
constraints need to know (the absolute pitch of an interval chain; the
longest copied run, for ``max_copy``).

Copy limit: Papadopoulos, Roy & Pachet, "Avoiding plagiarism in Markov
sequence generation", AAAI 2014, bound the longest run copied from the
corpus with an automaton. We track, in the state, the longest suffix of the
generated sequence that occurs in the corpus, with a suffix automaton
(Blumer et al., "The smallest automaton recognizing the subwords of a
text", TCS 40, 1985) stepped the way longest-common-substring matching
steps it; states whose run would exceed the limit are removed, so the copy
limit is a constraint like the others, not a rejection loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from cadenza.errors import CadenzaError
from cadenza.music.scales import parse_scale

MAX_STATES = 400_000  # past this the unrolled problem is too big to hold comfortably


def key_pitch_classes(text: str) -> tuple[int, frozenset[int]]:
    """Tonic and allowed pitch classes of a key such as ``"D minor"`` or ``"G major"``.

    In a minor key the raised leading tone is allowed besides the natural
    minor scale: minor-key melodies (Bach's among them) need it at cadences.
    """
    scale = parse_scale(text)
    classes = set(scale.pitch_classes)
    if scale.mode == "minor":
        classes.add((scale.tonic + 11) % 12)
    return scale.tonic, frozenset(classes)


class SuffixAutomaton:
    """Every substring of the training sequences, for the longest-copied-run test."""

    def __init__(self, sequences: list[list[int]]):
        self.next: list[dict[int, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        last = 0
        for seq in sequences:
            for w in list(seq) + [-1]:  # -1 separates pieces; a generated run never contains it
                last = self._extend(last, w)

    def _extend(self, last: int, w: int) -> int:
        cur = len(self.next)
        self.next.append({})
        self.length.append(self.length[last] + 1)
        self.link.append(0)
        p = last
        while p != -1 and w not in self.next[p]:
            self.next[p][w] = cur
            p = self.link[p]
        if p != -1:
            q = self.next[p][w]
            if self.length[p] + 1 == self.length[q]:
                self.link[cur] = q
            else:
                clone = len(self.next)
                self.next.append(dict(self.next[q]))
                self.length.append(self.length[p] + 1)
                self.link.append(self.link[q])
                while p != -1 and self.next[p].get(w) == q:
                    self.next[p][w] = clone
                    p = self.link[p]
                self.link[q] = clone
                self.link[cur] = clone
        return cur

    def step(self, node: int, run: int, w: int) -> tuple[int, int]:
        """Longest corpus-matching suffix after appending ``w``, from (automaton node, its length)."""
        while node and w not in self.next[node]:
            node = self.link[node]
            run = self.length[node]
        if w in self.next[node]:
            return self.next[node][w], run + 1
        return 0, 0

    def longest_run(self, seq) -> int:
        node = run = best = 0
        for w in seq:
            node, run = self.step(node, run, w)
            best = max(best, run)
        return best


@dataclass
class Lattice:
    """The chain's states reachable from its start under the global constraints."""

    states: list[Hashable]  # states[0] is the start
    indptr: np.ndarray  # CSR transitions: successors of i are cols[indptr[i]:indptr[i+1]]
    cols: np.ndarray
    probs: np.ndarray  # the unconstrained chain's P(s' | s)
    end: np.ndarray  # P(END | s)

    def __post_init__(self):
        n = len(self.states)
        self.matrix = scipy.sparse.csr_matrix((self.probs, self.cols, self.indptr), shape=(n, n))

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """``out[i] = sum_j P(j | i) vector[j]``."""
        return self.matrix @ vector


def build_lattice(start: Hashable, expand: Callable, accept: Callable[[Hashable], bool]) -> Lattice:
    """Breadth-first closure of ``start`` under ``expand``, keeping states ``accept`` allows.

    ``expand(state) -> (next_states, probs, end_prob)`` gives the unconstrained
    chain's transitions out of a state. Probabilities of states refused by
    ``accept`` are dropped, not redistributed: that is what conditioning means.
    """
    index = {start: 0}
    states = [start]
    indptr, cols, probs, end = [0], [], [], []
    i = 0
    while i < len(states):
        nexts, ps, pe = expand(states[i])
        for state, p in zip(nexts, ps):
            j = index.get(state)
            if j is None:
                if not accept(state):
                    index[state] = -1
                    continue
                j = index[state] = len(states)
                states.append(state)
                if len(states) > MAX_STATES:
                    raise CadenzaError(f"the constrained problem has over {MAX_STATES} states: "
                                       "use a lower order, a narrower range or a larger max_copy")
            if j >= 0:
                cols.append(j)
                probs.append(p)
        indptr.append(len(cols))
        end.append(pe)
        i += 1
    return Lattice(states, np.asarray(indptr, np.int64), np.asarray(cols, np.int64),
                   np.asarray(probs, np.float64), np.asarray(end, np.float64))


def backward(lattice: Lattice, masks: list[np.ndarray], natural_end: bool) -> np.ndarray | None:
    """``beta[t]`` for t = 0 .. L-1 (rows rescaled to max 1), or None when no sequence satisfies the masks."""
    length = len(masks)
    beta = np.zeros((length, len(lattice.states)))
    last = masks[-1] * (lattice.end if natural_end else 1.0)
    for t in range(length - 1, -1, -1):
        row = last if t == length - 1 else masks[t] * lattice.matvec(beta[t + 1])
        top = row.max(initial=0.0)
        if not top > 0:
            return None
        beta[t] = row / top
    if not lattice.matvec(beta[0])[0] > 0:
        return None
    return beta


def sample_path(lattice: Lattice, beta: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Indices of the states visited at t = 0 .. L-1, drawn from the renormalised chain."""
    path, state = [], 0
    for t in range(len(beta)):
        lo, hi = lattice.indptr[state], lattice.indptr[state + 1]
        cols = lattice.cols[lo:hi]
        weights = lattice.probs[lo:hi] * beta[t][cols]
        state = int(cols[rng.choice(len(cols), p=weights / weights.sum())])
        path.append(state)
    return path
