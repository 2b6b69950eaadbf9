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
(``cadenza.music.suffix_automaton``) stepped the way longest-common-substring
matching steps it; states whose run would exceed the limit are removed, so the copy
limit is a constraint like the others, not a rejection loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.models.symbolic.markov_ngram import ragged

MAX_STATES = 400_000  # past this the unrolled problem is too big to hold comfortably


@dataclass
class Lattice:
    """A chain over numbered states (0 is the start), as CSR arrays.

    ``context[i]`` is the number of the Markov context state ``i`` stands for
    (its newest symbol is what the state plays); ``pitch[i]`` is the absolute
    pitch an interval chain carries (NO_PITCH before its first note, UNTRACKED
    when no constraint needs its value).
    """

    indptr: np.ndarray  # CSR transitions: successors of i are cols[indptr[i]:indptr[i+1]]
    cols: np.ndarray
    probs: np.ndarray  # the unconstrained chain's P(s' | s)
    end: np.ndarray  # P(END | s)
    context: np.ndarray
    pitch: np.ndarray

    @classmethod
    def from_edges(cls, src, dst, probs, end, context, pitch) -> Lattice:
        order = np.argsort(src, kind="stable")
        indptr = np.zeros(len(end) + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=len(end)), out=indptr[1:])
        return cls(indptr, dst[order], probs[order], end, context, pitch)

    def __post_init__(self):
        import scipy.sparse  # here, not at the top: `cadenza generate markov --help` needs no scipy

        n = len(self.end)
        self.matrix = scipy.sparse.csr_matrix((self.probs, self.cols, self.indptr), shape=(n, n))
        self._cumulative = None

    def __len__(self) -> int:
        return len(self.end)

    def sources(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """``out[i] = sum_j P(j | i) vector[j]``."""
        return self.matrix @ vector

    def restrict(self, keep: np.ndarray) -> Lattice:
        """The chain on the states ``keep`` allows (the start always stays); moves into others are dropped."""
        keep = keep.copy()
        keep[0] = True
        number = np.cumsum(keep) - 1
        src = self.sources()
        ok = keep[src] & keep[self.cols]
        return Lattice.from_edges(number[src[ok]], number[self.cols[ok]], self.probs[ok], self.end[keep],
                                  self.context[keep], self.pitch[keep])

    def cumulative(self) -> np.ndarray:
        """Each move's cumulative probability within its row, plus the row's number: one sorted array,
        so that a draw for many states at once is one ``searchsorted``."""
        if self._cumulative is None:
            src = self.sources()
            total = np.cumsum(self.probs)
            before = np.concatenate([[0.0], total])[self.indptr[:-1]]
            self._cumulative = src + (total - before[src])
        return self._cumulative


def closure(expand: Callable, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """States reachable from state code 0, breadth first, a whole frontier expanded at once.

    ``expand(codes) -> (owner, next_codes, probs, end)`` gives the moves out of
    each code (``owner`` indexes ``codes``), already without the states the
    constraints refuse. Codes are below ``size``. Returns the codes of the
    states in their new numbering, then the moves (src, dst, probs) and end.
    """
    number = np.full(size, -1, np.int64)
    number[0] = 0
    codes, srcs, dsts, probs, ends = [np.zeros(1, np.int64)], [], [], [], []
    frontier, count = codes[0], 1
    while len(frontier):
        owner, nxt, p, end = expand(frontier)
        new = np.unique(nxt[number[nxt] < 0])
        number[new] = count + np.arange(len(new))
        count += len(new)
        if count > MAX_STATES:
            raise CadenzaError(f"the constrained problem has over {MAX_STATES} states: "
                               "use a lower order, a narrower range or a larger max_copy")
        srcs.append(number[frontier][owner])
        dsts.append(number[nxt])
        probs.append(p)
        ends.append(end)
        codes.append(new)
        frontier = new
    return (np.concatenate(codes), np.concatenate(srcs), np.concatenate(dsts), np.concatenate(probs),
            np.concatenate(ends))


def build_lattice(start: Hashable, expand: Callable, accept: Callable[[Hashable], bool]):
    """Breadth-first closure of ``start`` under ``expand``, keeping states ``accept`` allows.

    ``expand(state) -> (next_states, probs, end_prob)`` gives the unconstrained
    chain's transitions out of a state. Probabilities of states refused by
    ``accept`` are dropped, not redistributed: that is what conditioning means.
    Returns the states (the start first) and the CSR arrays indptr, cols, probs, end.
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
    return (states, np.asarray(indptr, np.int64), np.asarray(cols, np.int64),
            np.asarray(probs, np.float64), np.asarray(end, np.float64))


def backward(lattice: Lattice, masks, natural_end: bool) -> np.ndarray:
    """``beta[t]`` for t = 0 .. L-1, rows rescaled to max 1 (all zero where nothing gets through)."""
    length = len(masks)
    beta = np.zeros((length, len(lattice)))
    row = masks[-1] * (lattice.end if natural_end else 1.0)
    for t in range(length - 1, -1, -1):
        if t < length - 1:
            row = masks[t] * lattice.matvec(beta[t + 1])
        top = row.max(initial=0.0)
        beta[t] = row / top if top > 0 else row
    return beta


def possible(lattice: Lattice, beta: np.ndarray, step: int = 0) -> bool:
    """Whether a path from the start satisfies the masks from ``beta[step]`` on."""
    return bool(lattice.matvec(beta[step])[0] > 0)


def _draw(weight: np.ndarray, indptr: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each path, the move it takes from row ``rows[i]`` (moves of row r: indptr[r]:indptr[r+1]),
    chosen with probability proportional to ``weight`` by the number ``u[i]`` in [0, 1).

    The rows are normalised and laid end to end, row r spanning [r, r + 1), so that
    every path's draw is one ``searchsorted`` in the same array.
    """
    row = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    total = np.bincount(row, weight, minlength=len(indptr) - 1)
    share = np.divide(weight, total[row], out=np.zeros_like(weight), where=total[row] > 0)
    cumulative = np.cumsum(share)
    before = np.concatenate([[0.0], cumulative])[indptr[:-1]]
    pick = np.searchsorted(row + cumulative - before[row], rows + u, side="right")
    pick = np.clip(pick, indptr[rows], indptr[rows + 1] - 1)
    for i in np.flatnonzero(weight[pick] == 0):  # rounding at a row's edge: take its last real move
        lo = indptr[rows[i]]
        pick[i] = lo + np.flatnonzero(weight[lo:indptr[rows[i] + 1]])[-1]
    return pick


def sample_paths(lattice: Lattice, beta: np.ndarray, uniforms: np.ndarray,
                 offsets: np.ndarray | None = None) -> np.ndarray:
    """States of many paths drawn from the renormalised chain, all at once.

    Step t moves every path from ``s`` to ``s'`` with probability
    ``P(s' | s) beta_t(s') / sum``, using ``uniforms[i, t]`` for path i. Path i
    starts at step ``offsets[i]`` (its earlier entries are -1): paths of
    different lengths share the backward sums of the longest, since those
    depend only on the steps left.
    """
    n, length = uniforms.shape
    offsets = np.zeros(n, np.int64) if offsets is None else offsets
    paths = np.full((n, length), -1, np.int64)
    state = np.zeros(n, np.int64)
    for t in range(length):
        live = np.flatnonzero(offsets <= t)
        s = state[live]
        lo = lattice.indptr[s]
        degree = lattice.indptr[s + 1] - lo
        if degree.sum() < len(lattice.cols):  # weigh only the moves out of the paths' states
            edge = ragged(lo, degree)
            weight = lattice.probs[edge] * beta[t][lattice.cols[edge]]
            rows = np.concatenate([[0], np.cumsum(degree)])
            edge = edge[_draw(weight, rows, np.arange(len(live)), uniforms[live, t])]
        else:  # many paths: weigh every move of the lattice once
            weight = lattice.probs * beta[t][lattice.cols]
            edge = _draw(weight, lattice.indptr, s, uniforms[live, t])
        state[live] = lattice.cols[edge]
        paths[live, t] = state[live]
    return paths


def sample_until_end(lattice: Lattice, n: int, uniforms: Callable[[np.ndarray, int], np.ndarray],
                     max_length: int) -> list[np.ndarray]:
    """Paths of the unconstrained chain run until each chooses to end (never before its first move).

    ``uniforms(paths, t)`` gives a number in [0, 1) for each of the ``n`` paths still running at step t.
    """
    cumulative = lattice.cumulative()
    paths = np.full((n, max_length), -1, np.int64)
    state = np.zeros(n, np.int64)
    live = np.arange(n)
    for t in range(max_length):
        if not len(live):
            break
        s = state[live]
        u = uniforms(live, t)
        if t == 0:
            u = u * (1.0 - lattice.end[s])  # the first move is never the end
        pick = np.searchsorted(cumulative, s + u, side="right")
        if t == 0:
            pick = np.minimum(pick, np.maximum(lattice.indptr[s + 1] - 1, lattice.indptr[s]))
        going = pick < lattice.indptr[s + 1]
        live, pick = live[going], pick[going]
        state[live] = lattice.cols[pick]
        paths[live, t] = state[live]
    return [p[p >= 0] for p in paths]
