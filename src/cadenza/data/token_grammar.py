"""The grammar mask over token ids, and sampling under it.

A small state machine over token types (Bar, Position, Pitch, Velocity,
Duration, TimeShift, the conditioning tokens, EOS) says which ids may come
next, so that sampling with the mask on only ever yields sequences that
decode to a valid Score (every Pitch followed by its Duration, positions
rising within a bar, EOS only after a whole note). Under BPE an id is
allowed when its whole expansion walks through the machine. The same
machine carries the key/range constraints and the length in notes or bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cadenza.data.tokens import CONDITIONS, MusicTokenizer
from cadenza.errors import CadenzaError
from cadenza.music.theory import parse_key


@dataclass(frozen=True)
class State:
    """Where a sequence stands: the last base token type and what the rules need to remember."""

    prev: str = "BOS"
    conditions_done: int = 0
    position: int = -1  # last Position in the current bar (REMI)
    notes: int = 0
    bars: int = 0
    idle: int = 0  # Bar/TimeShift tokens since the last note


MAX_IDLE = 8  # at most this many empty bars (or time shifts) in a row: a sampler cannot wander off in silence


@dataclass
class Grammar:
    """Which ids may come next, for one tokenizer and one set of constraints.

    ``pitches``: the allowed MIDI pitches (key and range constraints);
    ``max_bars``: the Bar that would start bar ``max_bars + 1`` becomes EOS;
    ``max_notes``: after that many notes only EOS may follow a whole note.
    """

    tokenizer: MusicTokenizer
    pitches: frozenset | None = None
    max_bars: int | None = None
    max_notes: int | None = None
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        t = self.tokenizer
        self.conditions = list(CONDITIONS) if t.spec.conditions else []
        if self.pitches is not None and not any(p in self.pitches for p in t.pitch_of.values()):
            raise CadenzaError("the key and range constraints leave no pitch to play")
        self.remi = t.spec.scheme == "REMI"
        self.velocity = t.spec.velocities
        self.monophonic = t.spec.melody

    def start(self) -> State:
        return State()

    def walk_base(self, state: State, b: int) -> State | None:
        """The state after base token ``b``, or None when ``b`` may not come next."""
        t = self.tokenizer
        kind = t.base_types[b]
        prev = state.prev
        if prev == "EOS" or kind in ("PAD", "BOS"):
            return None
        if state.conditions_done < len(self.conditions):
            if kind != self.conditions[state.conditions_done]:
                return None
            return State(kind, state.conditions_done + 1, -1, state.notes, state.bars, state.idle)
        at_start = prev in ("BOS",) + CONDITIONS
        if kind in CONDITIONS:
            return None
        if kind == "EOS":
            return State("EOS", state.conditions_done, state.position, state.notes, state.bars) \
                if prev == "Duration" else None
        if kind == "Pitch":
            if self.pitches is not None and t.pitch_of[b] not in self.pitches:
                return None
            # a melody has one note an onset: no Pitch straight after a Duration
            after_note = () if self.monophonic else ("Duration",)
            ok = prev in ("Position",) + after_note if self.remi else prev in ("TimeShift",) + after_note or at_start
            if not ok:
                return None
            if self.max_notes is not None and state.notes >= self.max_notes:
                return None
            return State(kind, state.conditions_done, state.position, state.notes + 1, state.bars, 0)
        if kind == "Velocity":
            return State(kind, state.conditions_done, state.position, state.notes, state.bars) \
                if prev == "Pitch" and self.velocity else None
        if kind == "Duration":
            ok = prev == ("Velocity" if self.velocity else "Pitch")
            return State(kind, state.conditions_done, state.position, state.notes, state.bars) if ok else None
        if self.max_notes is not None and state.notes >= self.max_notes:
            return None  # only EOS (or chord notes, refused above) once the notes are there
        if kind == "Bar":
            if not self.remi or not (at_start or prev in ("Bar", "Duration")):
                return None
            if self.max_bars is not None and state.bars >= self.max_bars or state.idle >= MAX_IDLE:
                return None
            return State(kind, state.conditions_done, -1, state.notes, state.bars + 1, state.idle + 1)
        if kind == "Position":
            position = t.position_of[b]
            if not self.remi or prev not in ("Bar", "Duration") or position <= state.position:
                return None
            return State(kind, state.conditions_done, position, state.notes, state.bars, state.idle)
        if kind == "TimeShift":
            if self.remi or not (at_start or prev in ("Duration", "TimeShift")) or state.idle >= MAX_IDLE:
                return None
            return State(kind, state.conditions_done, -1, state.notes, state.bars, state.idle + 1)
        return None

    def walk(self, state: State, token: int) -> State | None:
        for b in self.tokenizer.expansion[token]:
            state = self.walk_base(state, b)
            if state is None:
                return None
        return state

    def _key(self, state: State):
        # the counts matter only near their limits
        notes = None if self.max_notes is None else min(self.max_notes - state.notes, 8)
        bars = None if self.max_bars is None else min(self.max_bars - state.bars, 4)
        return (state.prev, state.conditions_done, state.position, notes, bars, state.idle >= MAX_IDLE)

    def mask(self, state: State) -> np.ndarray:
        """Boolean mask over the vocabulary: the ids allowed after ``state`` (never all False)."""
        key = self._key(state)
        cached = self._cache.get(key)
        if cached is None:
            cached = np.array([self.walk(state, i) is not None for i in range(self.tokenizer.vocab_size)])
            if not cached.any():
                # a limit reached mid-bar with no note group to close: end the piece
                cached = np.zeros(self.tokenizer.vocab_size, dtype=bool)
                cached[self.tokenizer.eos] = True
            self._cache[key] = cached
        return cached

    def finish_anyway(self, state: State) -> bool:
        """Whether EOS is allowed now (a whole note has just ended)."""
        return state.prev == "Duration"

    def run(self, ids) -> State:
        state = self.start()
        ids = list(ids)
        if ids and ids[0] == self.tokenizer.bos:
            ids = ids[1:]  # the start state is "after BOS"
        for i in ids:
            nxt = self.walk(state, int(i))
            if nxt is None:
                raise CadenzaError(f"token {self.tokenizer.base_names[self.tokenizer.expansion[int(i)][0]]!r} "
                                   f"breaks the token grammar here")
            state = nxt
        return state


def pitch_constraint(key: str | None, low: int | None, high: int | None) -> frozenset | None:
    """Allowed MIDI pitches for a key (e.g. 'D minor', raised leading tone allowed) and a range."""
    if key is None and low is None and high is None:
        return None
    allowed = set(range(low if low is not None else 0, (high if high is not None else 127) + 1))
    if key is not None:
        classes = parse_key(key).melody_classes
        allowed = {p for p in allowed if p % 12 in classes}
    return frozenset(allowed)


# --- sampling -----------------------------------------------------------------------------

def sample_next(logits: np.ndarray, allowed: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int = 0, top_p: float = 1.0) -> int:
    """One id from ``logits`` restricted to ``allowed``, with temperature, top-k and top-p."""
    z = np.where(allowed, logits.astype(np.float64) / temperature, -np.inf)
    if top_k and top_k < allowed.sum():
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))
