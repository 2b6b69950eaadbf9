"""Cellular automata read as a piano roll or a drum machine.

Wolfram, "Statistical mechanics of cellular automata", Rev. Mod. Phys. 55(3),
1983 (elementary rules: k=2 colours, radius 1, the new cell is bit
4l + 2c + r of the rule number 0-255; totalistic rules: the new cell depends
on the sum of its neighbourhood only, and the code number's base-k digit at
that sum gives it); Gardner, "Mathematical Games: The fantastic combinations
of John Conway's new solitaire game 'life'", Scientific American 223(4),
1970 (Life: a dead cell with 3 live Moore neighbours is born, a live one
with 2 or 3 survives; the B/S notation ``B3/S23`` names every rule of that
family, e.g. HighLife ``B36/S23``).

Reproduces: the three update rules exactly, on a finite line or torus
(``boundary="wrap"``) or with dead cells outside it (``"zero"``).
The music is ours, in the tradition of CA music since Beyls (1989) and
Miranda's CAMUS (1993): a 1-D automaton is a piano roll whose rows are
generations (one step each) and whose lanes are a window of cells at the
centre of the line; a 2-D board is a bar of a piano roll (columns are the
bar's steps, rows its lanes) and each generation the next bar. Lanes are
scale degrees in a key and mode (``mapping="pitches"``) or General MIDI
drums on a drum track (``"drums"``, a drum machine). A live cell is a
one-step note (``rhythm="onsets"``) or holds while it lives, sounding at its
birth (``"held"``); its velocity is constant, set by its colour, or by its
live neighbours. The first generation comes from a pattern string, from
the melody of a score (the inverse of the mapping: a note lights the cells
of its lane for as long as it lasts), from the corpus the model was fitted on (one of
its melodies, chosen by the seed), or at random.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.base import Generator, Sampling, option, register
from cadenza.music.drums import drum_note
from cadenza.music.theory import TPQ, Key, make_score, parse_key

MAX_FITTED_SEEDS = 64
ALIVE = "1Oo#*Xx"
DEAD = "0._-"


def parse_life_rule(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """``"B3/S23"`` (or ``"S23/B3"``, any case) -> (birth counts, survival counts)."""
    parts = text.strip().upper().split("/")
    found = {}
    for part in parts:
        match = re.fullmatch(r"([BS])([0-8]*)", part.strip())
        if not match or match.group(1) in found:
            raise CadenzaError(f"not a Life-like rule: {text!r} (write B/S notation, e.g. B3/S23)")
        found[match.group(1)] = frozenset(int(d) for d in match.group(2))
    if set(found) != {"B", "S"}:
        raise CadenzaError(f"not a Life-like rule: {text!r} (write B/S notation, e.g. B3/S23)")
    return found["B"], found["S"]


def _neighbours_1d(row: np.ndarray, radius: int, boundary: str) -> list[np.ndarray]:
    """The cells at offsets -radius..radius of every cell, left to right."""
    if boundary == "wrap":
        return [np.roll(row, -offset) for offset in range(-radius, radius + 1)]
    padded = np.pad(row, radius)
    return [padded[radius + o: radius + o + len(row)] for o in range(-radius, radius + 1)]


def elementary_step(row: np.ndarray, rule: int, boundary: str = "wrap") -> np.ndarray:
    left, centre, right = _neighbours_1d(row, 1, boundary)
    table = (rule >> np.arange(8)) & 1
    return table[4 * left + 2 * centre + right].astype(row.dtype)


def totalistic_step(row: np.ndarray, code: int, colours: int = 2, radius: int = 1,
                    boundary: str = "wrap") -> np.ndarray:
    total = sum(_neighbours_1d(row, radius, boundary))
    sums = (2 * radius + 1) * (colours - 1) + 1
    digits = np.array([(code // colours ** s) % colours for s in range(sums)])
    return digits[total].astype(row.dtype)


def moore_count(grid: np.ndarray, boundary: str = "wrap") -> np.ndarray:
    """Live neighbours of every cell among its eight."""
    live = (grid > 0).astype(np.int64)
    if boundary == "zero":
        padded = np.pad(live, 1)
        h, w = live.shape
        return sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return sum(np.roll(np.roll(live, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def life_step(grid: np.ndarray, birth=frozenset({3}), survive=frozenset({2, 3}),
              boundary: str = "wrap") -> np.ndarray:
    count = moore_count(grid, boundary)
    alive = grid > 0
    born = ~alive & np.isin(count, list(birth))
    stays = alive & np.isin(count, list(survive))
    return (born | stays).astype(grid.dtype)


def parse_pattern(text: str, colours: int = 2) -> np.ndarray:
    """``".O./..O/OOO"`` -> a 2-D array of states; rows split on '/' or newlines."""
    rows = [r.strip().replace(" ", "") for r in re.split(r"[/\n]", text) if r.strip()]
    if not rows:
        raise CadenzaError("empty pattern: write cells as 0/1 (or . and O), rows separated by '/'")
    width = max(len(r) for r in rows)
    out = np.zeros((len(rows), width), dtype=np.int8)
    for y, row in enumerate(rows):
        for x, c in enumerate(row):
            if c in ALIVE:
                out[y, x] = 1
            elif c.isdigit() and int(c) < colours:
                out[y, x] = int(c)
            elif c not in DEAD:
                raise CadenzaError(f"pattern cell {c!r} is not a state: use 0/. for dead, 1/O for live"
                                   + (f", digits below {colours} for colours" if colours > 2 else ""))
    return out


def format_pattern(cells: np.ndarray) -> str:
    return "/".join("".join(str(int(v)) for v in row) for row in np.atleast_2d(cells))


@dataclass
class AutomatonConfig:
    rule: str = option("110", "Elementary rule 0-255, totalistic code, or a Life-like rule such as B3/S23.")
    kind: Literal["auto", "elementary", "totalistic", "life"] = option(
        "auto", "Automaton family; auto reads the rule (B/S notation is life, a number elementary).")
    colours: int = option(2, "Colours k of a totalistic rule (2 or 3).", min=2, max=3)
    radius: int = option(1, "Neighbourhood radius of a totalistic rule.", min=1, max=3)
    boundary: Literal["wrap", "zero"] = option("wrap", "Edges: wrap around (a ring or torus) or dead cells beyond.")
    width: int | None = option(None, "Cells across: default 64 for a line, 16 (the steps of a bar) for a board.",
                               min=3, max=4096)
    lanes: int = option(8, "Lanes read as pitches: the centre cells of a line, the rows of a board.", min=1, max=64)
    init: Literal["random", "single"] = option(
        "random", "First generation without a pattern or melody: random cells, or one live cell "
                  "(a line) / a glider (a board).")
    density: float = option(0.4, "Share of live cells in a random first generation.", above=0, below=1)
    pattern: str | None = option(None, "First generation as cells, e.g. 0010110 or .O./..O/OOO (rows split by /).")
    melody: str | None = option(None, "Score file whose melody seeds the first generation (MIDI, MusicXML, ABC).",
                                kind="file")
    mapping: Literal["pitches", "drums"] = option("pitches", "Lanes become scale degrees or drums.")
    drums: list[str] = option(["kick", "snare", "closed_hat", "open_hat", "clap", "low_tom", "high_tom", "ride"],
                              "Drums of the lanes, lowest lane first (GM names or note numbers 35-81).")
    rhythm: Literal["onsets", "held"] = option(
        "held", "A live cell sounds every step (onsets) or once at its birth, held while it lives (held).")
    velocity: Literal["constant", "state", "neighbours"] = option(
        "constant", "Loudness: constant, from the cell's colour, or from its live neighbours.")
    key: str = option("A minor pentatonic", "Key and mode of the pitch lanes, e.g. 'D dorian'.")
    octave: int = option(3, "Octave of the lowest lane's scale degree (4: middle C's octave).", min=0, max=8)
    steps: int = option(64, "Steps generated when no length is asked for.", min=1, max=100_000)
    step: float = option(0.25, "Quarter notes a step lasts (0.25: sixteenths).", min=1 / 64, max=16)
    tempo: float = option(110.0, "Tempo in quarter notes a minute.", min=10, max=400)
    program: int = option(0, "General MIDI program of the pitched track (0 = piano).", min=0, max=127)

    def __post_init__(self):
        kind = self.family()
        if kind == "life":
            parse_life_rule(self.rule)
        else:
            if not re.fullmatch(r"\d+", self.rule.strip()):
                raise ValueError(f"rule {self.rule!r} must be a number for a {kind} automaton")
            number = int(self.rule)
            if kind == "elementary" and not 0 <= number <= 255:
                raise ValueError(f"elementary rules are 0-255, got {number}")
            if kind == "totalistic":
                limit = self.colours ** ((2 * self.radius + 1) * (self.colours - 1) + 1)
                if not 0 <= number < limit:
                    raise ValueError(f"totalistic codes with k={self.colours}, r={self.radius} "
                                     f"are 0-{limit - 1}, got {number}")
        if kind != "totalistic" and self.colours != 2:
            raise ValueError(f"colours applies to totalistic rules only; {kind} rules have 2")
        if kind != "life" and self.rows() > self.cells():
            raise ValueError(f"{self.mapping} lanes ({self.rows()}) cannot exceed width ({self.cells()})")
        if not self.drums:
            raise ValueError("drums needs at least one drum")
        for name in self.drums:
            drum_note(name)
        parse_key(self.key)
        if self.pattern is not None:
            parse_pattern(self.pattern, self.colours)

    def family(self) -> str:
        if self.kind != "auto":
            return self.kind
        return "life" if re.search(r"[bBsS]", self.rule) else "elementary"

    def cells(self) -> int:
        return self.width or (16 if self.family() == "life" else 64)

    def rows(self) -> int:
        """Lanes read: the drums, or ``lanes`` pitches."""
        return len(self.drums) if self.mapping == "drums" else self.lanes


class Automaton:
    """One rule, stepped from a first generation; ``run`` returns the history."""

    def __init__(self, cfg: AutomatonConfig):
        self.cfg = cfg
        self.family = cfg.family()
        if self.family == "life":
            self.birth, self.survive = parse_life_rule(cfg.rule)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.cfg.rows(), self.cfg.cells()) if self.family == "life" else (self.cfg.cells(),)

    def step(self, state: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        if self.family == "life":
            return life_step(state, self.birth, self.survive, cfg.boundary)
        if self.family == "elementary":
            return elementary_step(state, int(cfg.rule), cfg.boundary)
        return totalistic_step(state, int(cfg.rule), cfg.colours, cfg.radius, cfg.boundary)

    def run(self, first: np.ndarray, generations: int) -> np.ndarray:
        history = np.empty((generations, *first.shape), dtype=np.int8)
        state = first.astype(np.int8)
        for t in range(generations):
            history[t] = state
            state = self.step(state)
        return history

    def neighbours(self, history: np.ndarray) -> tuple[np.ndarray, int]:
        """Live neighbours of every cell of every generation, and the most there can be."""
        if self.family == "life":
            return np.stack([moore_count(g, self.cfg.boundary) for g in history]), 8
        radius = 1 if self.family == "elementary" else self.cfg.radius
        counts = [sum(n for i, n in enumerate(_neighbours_1d((row > 0).astype(np.int64), radius,
                                                             self.cfg.boundary)) if i != radius)
                  for row in history]
        return np.stack(counts), 2 * radius


def place(pattern: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A pattern centred on an empty line or board (a line takes a one-row pattern)."""
    if len(shape) == 1 and pattern.shape[0] != 1:
        raise CadenzaError("a line takes a one-row pattern (no '/')")
    board = shape if len(shape) == 2 else (1, shape[0])
    if pattern.shape[0] > board[0] or pattern.shape[1] > board[1]:
        raise CadenzaError(f"pattern of {pattern.shape[0]}x{pattern.shape[1]} cells does not fit "
                           f"the {board[0]}x{board[1]} automaton")
    out = np.zeros(board, dtype=np.int8)
    y, x = (board[0] - pattern.shape[0]) // 2, (board[1] - pattern.shape[1]) // 2
    out[y:y + pattern.shape[0], x:x + pattern.shape[1]] = pattern
    return out.reshape(shape)


def lane_of(pitch: int, scale: Key, octave: int, lanes: int) -> int:
    """The lane whose scale degree is nearest ``pitch``, folded by octaves into range."""
    lane = scale.degree(pitch, octave)
    size = len(scale)
    while lane >= lanes:
        lane -= size
    while lane < 0:
        lane += size
    return lane % lanes  # lanes narrower than an octave still get a lane


def seed_from_melody(score: symusic.Score, cfg: AutomatonConfig) -> np.ndarray:
    """The first generation a melody lights: the inverse of the lane mapping."""
    from cadenza.music.transforms import melody

    notes = melody(score).tracks[0].notes
    if not len(notes):
        raise CadenzaError("the seed melody has no notes")
    scale, rows, cells = parse_key(cfg.key), cfg.rows(), cfg.cells()
    if cfg.family() == "life":
        # The melody's opening bar, on the board as a piano roll.
        grid = np.zeros((rows, cells), dtype=np.int8)
        step = cfg.step * score.ticks_per_quarter
        start = notes[0].time
        for note in notes:
            column = int((note.time - start) // step)
            if column >= cells:
                break
            span = max(1, int(round(note.duration / step)))  # a note lights the cells it lasts
            grid[rows - 1 - lane_of(note.pitch, scale, cfg.octave, rows), column:column + span] = 1
        return grid
    row = np.zeros(cells, dtype=np.int8)
    offset = (cells - rows) // 2  # the window of lanes sits in the middle of the line
    for note in notes[:4 * rows]:
        row[offset + lane_of(note.pitch, scale, cfg.octave, rows)] = 1
    return row


def frames(history: np.ndarray, cfg: AutomatonConfig) -> np.ndarray:
    """(steps, lanes) from a history: lane 0 is the lowest pitch or the first drum."""
    if history.ndim == 3:  # a board: columns are steps, the bottom row is lane 0
        return history[:, ::-1, :].transpose(0, 2, 1).reshape(-1, history.shape[1])
    rows = cfg.rows()
    offset = (history.shape[1] - rows) // 2
    return history[:, offset:offset + rows]


@register
class CellularAutomaton(Generator):
    """An elementary, totalistic or Life-like automaton as music; see the module docstring."""

    name = "automaton"
    needs_fit = False
    Config = AutomatonConfig
    Sampling = Sampling

    def __init__(self, **config):
        super().__init__(**config)
        self.seeds_: list[str] = []

    def _fit(self, pieces):
        # Nothing to learn; a corpus gives first generations (one melody each).
        self.seeds_ = [format_pattern(seed_from_melody(p, self.config)) for p in pieces[:MAX_FITTED_SEEDS]]

    def _state(self):
        return {}, {"seeds": self.seeds_}

    def _load_state(self, arrays, extra):
        from cadenza.models.run_check import check_fields

        check_fields(extra, {"seeds": list[str]}, "cadenza.json", "state", required=False)
        if len(extra.get("seeds", [])) > MAX_FITTED_SEEDS:
            raise ValueError(f"more than {MAX_FITTED_SEEDS} seed patterns")
        self.seeds_ = [str(s) for s in extra.get("seeds", [])]

    def first_generation(self, rng: np.random.Generator) -> np.ndarray:
        cfg, automaton = self.config, Automaton(self.config)
        shape = automaton.shape
        if cfg.pattern is not None:
            return place(parse_pattern(cfg.pattern, cfg.colours), shape)
        if cfg.melody is not None:
            from cadenza.music.io import read_score
            return seed_from_melody(read_score(cfg.melody), cfg)
        if self.seeds_:
            seed = parse_pattern(self.seeds_[int(rng.integers(len(self.seeds_)))], cfg.colours)
            if seed.reshape(shape).shape == shape:
                return seed.reshape(shape)
        if cfg.init == "single":
            glider = np.array([[0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.int8)
            return place(glider if len(shape) == 2 else np.ones((1, 1), np.int8), shape)
        live = rng.random(shape) < cfg.density
        if cfg.colours > 2:
            return (live * rng.integers(1, cfg.colours, size=shape)).astype(np.int8)
        return live.astype(np.int8)

    def _generate_one(self, rng, options):
        cfg = self.config
        automaton = Automaton(cfg)
        steps = options.length or cfg.steps
        per_generation = cfg.cells() if automaton.family == "life" else 1
        generations = -(-steps // per_generation)
        history = automaton.run(self.first_generation(rng), generations)
        roll = frames(history, cfg)[:steps]
        if cfg.velocity != "neighbours":
            return self._score(roll, None, 1)
        counts, most = automaton.neighbours(history)
        return self._score(roll, frames(counts, cfg)[:steps], most)

    def _score(self, roll: np.ndarray, counts: np.ndarray | None, most: int) -> symusic.Score:
        cfg = self.config
        drums = cfg.mapping == "drums"
        if drums:
            notes_of = [drum_note(d) for d in cfg.drums]
        else:
            scale = parse_key(cfg.key)
            notes_of = [scale.pitch(lane, cfg.octave) for lane in range(cfg.lanes)]
        tick = round(cfg.step * TPQ)
        steps, lanes = roll.shape
        notes = []
        for lane in range(lanes):
            alive = roll[:, lane] > 0
            t = 0
            while t < steps:
                if not alive[t]:
                    t += 1
                    continue
                end = t + 1
                if cfg.rhythm == "held":
                    while end < steps and alive[end]:
                        end += 1
                length = 1 if drums else end - t  # a drum is a hit: only its onset matters
                if cfg.velocity == "state":
                    velocity = 85 if cfg.colours == 2 else 60 + 50 * (int(roll[t, lane]) - 1) // (cfg.colours - 2)
                elif cfg.velocity == "neighbours":
                    velocity = 45 + 75 * int(counts[t, lane]) // most
                else:
                    velocity = 85
                notes.append((t * tick, length * tick, notes_of[lane], velocity))
                t = end
        return make_score(sorted(notes), name="Automaton drums" if drums else "Automaton",
                          program=0 if drums else cfg.program, drum=drums, tempo=cfg.tempo, time_signature=(4, 4))
