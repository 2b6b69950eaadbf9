"""L-systems: parallel string rewriting, read as melody, harmony or rhythm.

Lindenmayer, "Mathematical models for cellular interactions in development",
J. Theoretical Biology 18, 1968 (the rewriting: every symbol of the string is
replaced at once, each step); Prusinkiewicz & Lindenmayer, "The Algorithmic
Beauty of Plants", Springer 1990 (ABOP: bracketed strings, stochastic
productions, context-sensitive productions that skip branches and
``#ignore`` symbols, the turtle interpretation); Prusinkiewicz, "Score
generation with L-systems", Proc. ICMC 1986 (reading a turtle's path as a
score: the turtle's height is pitch in a scale, distance along the way is
time, a straight horizontal stroke is one note).

Reproduces: D0L (deterministic, context-free), stochastic (``A->0.6:AB|0.4:BA``)
and context-sensitive (``B<A>C->X``, with multi-symbol contexts) productions,
applied in parallel for n iterations; ABOP's precedence (a context-sensitive
production that matches wins over the context-free one for the same symbol)
and its context matching in bracketed strings (a left context may climb out
of a branch to its parent, a right context skips whole branches and stops
at the end of its own), with ABOP's ignore set. The turtle keeps a pitch and
a duration instead of a position and a heading:

    F G    sound a note (notes), ``f .`` rest for the current duration
    + -    one step up / down the scale      ^ &  an octave up / down
    * /    double / halve the duration       [ ]  push / pop the state

Changes: the 1986 paper draws a 2-D curve and reads its horizontal strokes;
here the turtle moves in scale steps directly, which is the same reading
without the geometry. ``branches="parallel"`` is the paper's reading of a
branch (the turtle returns to the branch point, so branches sound
together); ``"sequence"`` (the default) restores pitch and duration only,
so a bracketed branch is an ornament that returns to where it left. Two
more readings are ours: ``chords`` (symbols name Roman-numeral chords in any
key and mode, voiced with the smallest motion from the previous chord) and
``rhythm`` (each symbol a step of a grid on a General MIDI drum track).
Stochastic productions draw from the generator's seed; ``temperature``
sharpens or flattens their probabilities.
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
from cadenza.music.theory import TPQ, make_score, parse_key, roman_chord

RESERVED = set(";|:<>")  # rule syntax, never symbols

# Presets: (axiom, rules, quarter notes per symbol). Stochastic, so that
# every seed gives a different piece.
PRESETS = {
    # A plant-like motif grammar: X grows phrases, F is a note; bracketed
    # branches are neighbour-note and arpeggio ornaments that return home.
    "notes": ("X", "X->0.3:F[+X]F[-X]+X|0.25:F-F[++X]+X|0.25:*F/[-X]-X|0.2:[&F]F+F-X;"
                   "F->0.6:F|0.2:FF|0.2:/F+F-*", 0.5),
    # A tonic prolongs itself through subdominant and dominant preparation,
    # in the spirit of Rohrmeier's generative syntax of tonal harmony (2011).
    "chords": ("T", "T->0.45:TSDT|0.25:TDT|0.15:TRSDT|0.15:T;S->0.6:S|0.4:s;D->0.7:D|0.3:sD", 2.0),
    # Bars split into halves, halves into beats, beats into sixteenths.
    "rhythm": ("BBBBBBBB", "B->0.75:hh|0.25:hF;h->0.5:xy|0.3:xz|0.2:wy;"
                       "x->0.5:K.H.|0.3:K.HK|0.2:K.Hk;y->0.6:S.H.|0.4:S.Hs;"
                       "w->K.KH;z->0.5:S.HO|0.5:SsH.;F->0.5:K.H.SSTT|0.5:S.SsMMLL", 0.25),
}
DEFAULT_CHORDS = "T:I;S:IV;s:ii;D:V7;R:vi;M:iii"
DEFAULT_DRUMS = ("K:kick+closed_hat;S:snare+closed_hat;H:closed_hat;O:open_hat;C:clap;"
                 "k:kick;s:snare;T:high_tom;M:mid_tom;L:low_tom;X:crash+kick;R:ride")
NOTE_SYMBOLS = "FG"
REST_SYMBOLS = "f."


@dataclass(frozen=True)
class Production:
    predecessor: str
    left: str  # "" when there is no left context
    right: str
    successors: tuple[str, ...]
    weights: tuple[float, ...]


def _strip(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _check_brackets(text: str, where: str) -> None:
    depth = 0
    for c in text:
        depth += (c == "[") - (c == "]")
        if depth < 0:
            break
    if depth:
        raise ValueError(f"unbalanced brackets in {where} {text!r}")


def parse_rules(text: str) -> list[Production]:
    """``"A->AB;B->A"``, ``"A->0.6:AB|0.4:BA"``, ``"B<A>C->X"``; ``;`` or newlines separate rules."""
    productions, seen = [], set()
    for raw in re.split(r"[;\n]", text):
        rule = _strip(raw)
        if not rule:
            continue
        parts = re.split(r"->|→", rule)
        if len(parts) != 2:
            raise ValueError(f"rule {raw.strip()!r} needs one '->' (e.g. A->AB)")
        lhs, rhs = parts
        match = re.fullmatch(r"(?:([^<>]+)<)?([^<>])(?:>([^<>]+))?", lhs)
        if not match:
            raise ValueError(f"rule {raw.strip()!r}: the left side must be one symbol, "
                             f"optionally with contexts, e.g. A or B<A>C")
        left, pred, right = (g or "" for g in match.groups())
        if pred in "[]" or RESERVED & set(pred):
            raise ValueError(f"rule {raw.strip()!r}: {pred!r} cannot be rewritten")
        options = rhs.split("|")
        weighted = [re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE]-?[0-9]+)?):(.*)", o) for o in options]
        if all(weighted):
            weights = [float(m.group(1)) for m in weighted]
            successors = [m.group(2) for m in weighted]
            if any(w <= 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
                raise ValueError(f"rule {raw.strip()!r}: probabilities must be positive and sum to 1, "
                                 f"they sum to {sum(weights):g}")
        elif any(weighted):
            raise ValueError(f"rule {raw.strip()!r}: give every choice a probability or none")
        else:
            successors, weights = options, [1 / len(options)] * len(options)
        for successor in successors:
            if RESERVED & set(successor):
                raise ValueError(f"rule {raw.strip()!r}: successor {successor!r} uses a reserved "
                                 f"character (; | : < > are rule syntax)")
            _check_brackets(successor, f"rule {raw.strip()!r}, successor")
        key = (left, pred, right)
        if key in seen:
            raise ValueError(f"two rules for {lhs!r}: write one with choices, e.g. A->0.5:AB|0.5:BA")
        seen.add(key)
        productions.append(Production(pred, left, right, tuple(successors), tuple(weights)))
    return productions


def _bracket_partners(s: str) -> np.ndarray:
    partner = np.full(len(s), -1, dtype=np.int64)
    stack = []
    for i, c in enumerate(s):
        if c == "[":
            stack.append(i)
        elif c == "]" and stack:
            j = stack.pop()
            partner[i], partner[j] = j, i
    return partner


def left_context(s: str, i: int, size: int, ignore: str, partner) -> str:
    """The ``size`` symbols before ``s[i]`` on its path to the root (ABOP, section 1.8)."""
    found, j = [], i - 1
    while j >= 0 and len(found) < size:
        c = s[j]
        if c == "]":
            j = partner[j] - 1  # a finished sibling branch is not on the path
        elif c == "[" or c in ignore:
            j -= 1  # climbing out of our own branch to its parent
        else:
            found.append(c)
            j -= 1
    return "".join(reversed(found))


def right_context(s: str, i: int, size: int, ignore: str, partner) -> str:
    """The ``size`` symbols after ``s[i]`` on the same branch, side branches skipped."""
    found, j = [], i + 1
    while j < len(s) and len(found) < size:
        c = s[j]
        if c == "[":
            j = partner[j] + 1 if partner[j] >= 0 else len(s)
        elif c == "]":
            break  # our branch ends here
        elif c in ignore:
            j += 1
        else:
            found.append(c)
            j += 1
    return "".join(found)


class LSystemGrammar:
    """An axiom and productions; :meth:`expand` rewrites them ``n`` times in parallel."""

    def __init__(self, axiom: str, productions: list[Production], ignore: str = ""):
        self.axiom = axiom
        self.ignore = ignore
        self.free = {p.predecessor: p for p in productions if not p.left and not p.right}
        self.contextual: dict[str, list[Production]] = {}
        for p in productions:
            if p.left or p.right:
                self.contextual.setdefault(p.predecessor, []).append(p)

    def _choose(self, p: Production, rng, temperature: float) -> str:
        if len(p.successors) == 1:
            return p.successors[0]
        w = np.asarray(p.weights) ** (1.0 / temperature)
        return p.successors[int(rng.choice(len(w), p=w / w.sum()))]

    def step(self, s: str, rng: np.random.Generator, temperature: float = 1.0) -> str:
        if self.contextual:
            return self._step_contextual(s, rng, temperature)
        # Context-free: draw every stochastic choice of this step at once, per symbol.
        draws = {}
        for symbol, p in self.free.items():
            count = s.count(symbol) if len(p.successors) > 1 else 0
            if count:
                w = np.asarray(p.weights) ** (1.0 / temperature)
                draws[symbol] = iter(rng.choice(len(w), size=count, p=w / w.sum()).tolist())
        table = {k: p.successors[0] for k, p in self.free.items() if k not in draws}
        out = []
        for c in s:
            if c in draws:
                out.append(self.free[c].successors[next(draws[c])])
            else:
                out.append(table.get(c, c))
        return "".join(out)

    def _step_contextual(self, s: str, rng, temperature: float) -> str:
        partner = _bracket_partners(s)
        out = []
        for i, c in enumerate(s):
            chosen = None
            for p in self.contextual.get(c, ()):
                if p.left and left_context(s, i, len(p.left), self.ignore, partner) != p.left:
                    continue
                if p.right and right_context(s, i, len(p.right), self.ignore, partner) != p.right:
                    continue
                chosen = p
                break
            chosen = chosen or self.free.get(c)
            out.append(self._choose(chosen, rng, temperature) if chosen else c)
        return "".join(out)

    def expand(self, n: int, rng: np.random.Generator, max_symbols: int = 200_000,
               temperature: float = 1.0) -> str:
        s = self.axiom
        for i in range(n):
            s = self.step(s, rng, temperature)
            if len(s) > max_symbols:
                raise CadenzaError(f"the L-system string grows to {len(s):,} symbols at iteration {i + 1} "
                                   f"of {n}, past max_symbols={max_symbols:,}: lower iterations "
                                   f"or raise max_symbols")
        return s


def parse_mapping(text: str, what: str) -> dict[str, str]:
    """``"T:I;D:V7"`` -> ``{"T": "I", "D": "V7"}``."""
    mapping = {}
    for item in re.split(r"[;\n]", text):
        item = _strip(item)
        if not item:
            continue
        symbol, sep, value = item.partition(":")
        if not sep or len(symbol) != 1 or not value:
            raise ValueError(f"{what} entry {item!r} must be SYMBOL:VALUE with a one-character symbol")
        mapping[symbol] = value
    return mapping


@dataclass
class LSystemConfig:
    interpretation: Literal["notes", "chords", "rhythm"] = option(
        "notes", "How symbols become music: notes (a turtle walking a scale), chords "
                 "(symbols are Roman numerals, see chords) or rhythm (drum hits on a grid, see drums).")
    axiom: str | None = option(None, "Start string; default: the interpretation's preset, or the first "
                                     "rule's symbol when you give rules.")
    rules: str | None = option(None, "Productions separated by ';': A->AB (deterministic), "
                                     "A->0.6:AB|0.4:BA (stochastic), B<A>C->X (context). "
                                     "Default: the interpretation's preset.")
    iterations: int = option(4, "Rewriting steps applied to the axiom.", min=0, max=64)
    ignore: str = option("+-^&*/", "Symbols skipped when matching contexts (ABOP's #ignore).")
    key: str = option("C major", "Key and mode of notes and chords, e.g. 'D dorian', 'A minor'.")
    octave: int = option(4, "Octave of the scale's first degree (4: middle C's octave).", min=0, max=8)
    low: int = option(48, "Lowest pitch of the notes interpretation; lower notes move up an octave.", min=0, max=127)
    high: int = option(84, "Highest pitch of the notes interpretation; higher notes move down an octave.",
                       min=0, max=127)
    step: float | None = option(None, "Quarter notes a symbol lasts (default: 0.5 notes, 2 chords, 0.25 rhythm).",
                                min=1 / 64, max=64)
    branches: Literal["sequence", "parallel"] = option(
        "sequence", "What ']' restores: sequence (pitch and duration; time goes on) or "
                    "parallel (time too, so branches sound together, as in Prusinkiewicz 1986).")
    tie: bool = option(True, "Join a note to the one before it when it has the same pitch and follows "
                             "without a gap (one straight stroke of the turtle).")
    chords: str = option(DEFAULT_CHORDS, "Chord symbols as SYMBOL:NUMERAL pairs; digits 1-7 are always the "
                                         "diatonic triads of the key.")
    drums: str = option(DEFAULT_DRUMS, "Drum symbols as SYMBOL:DRUM[+DRUM] pairs (GM names or numbers 35-81); "
                                       "lowercase symbols are played softly.")
    tempo: float = option(100.0, "Tempo in quarter notes a minute.", min=10, max=400)
    program: int = option(0, "General MIDI program of the notes and chords track (0 = piano).", min=0, max=127)
    max_symbols: int = option(200_000, "Longest expanded string allowed; a larger one is an error.",
                              min=1, max=10_000_000)

    def __post_init__(self):
        if self.high - self.low < 11:
            raise ValueError(f"low and high must be at least an octave apart, got {self.low} and {self.high}")
        parse_key(self.key)
        axiom, rules, _ = self.grammar()
        if not axiom:
            raise ValueError("the axiom is empty")
        if RESERVED & set(axiom):
            raise ValueError(f"axiom {axiom!r} uses a reserved character (; | : < >)")
        _check_brackets(axiom, "axiom")
        parse_rules(rules)
        chords = parse_mapping(self.chords, "chords")
        for numeral in chords.values():
            roman_chord(numeral, parse_key(self.key))
        for names in parse_mapping(self.drums, "drums").values():
            for name in names.split("+"):
                drum_note(name)

    def grammar(self) -> tuple[str, str, float]:
        """The axiom, rules and step in force, presets filled in."""
        axiom, rules, step = PRESETS[self.interpretation]
        if self.rules is not None:
            rules = self.rules
            if self.axiom is None:
                first = parse_rules(rules)
                axiom = first[0].predecessor if first else ""
        elif self.axiom is not None:
            rules = ""  # an axiom alone is played as written
        if self.axiom is not None:
            axiom = _strip(self.axiom)
        return axiom, rules, self.step if self.step is not None else step


def _fold(pitch: int, low: int, high: int) -> int:
    while pitch > high:
        pitch -= 12
    while pitch < low:
        pitch += 12
    return pitch


def _accent(time: float) -> int:
    """Metric accent in 4/4: the downbeat loudest, then beats, then the rest."""
    if time % 4 == 0:
        return 100
    return 86 if time % 1 == 0 else 72


def _closest_voicing(chord: list[int], previous: list[int] | None, low: int, high: int) -> list[int]:
    """The inversion and octave of ``chord`` that moves least from ``previous``."""
    if previous is None:
        return chord
    candidates = []
    for inversion in range(len(chord)):
        upper = chord[inversion:] + [p + 12 for p in chord[:inversion]]
        for shift in (-24, -12, 0, 12):
            voicing = [p + shift for p in upper]
            if low <= voicing[0] and voicing[-1] <= high:
                cost = sum(min(abs(p - q) for q in previous) for p in voicing)
                candidates.append((cost, voicing))
    return min(candidates)[1] if candidates else chord


@dataclass
class Turtle:
    time: float = 0.0  # quarter notes
    degree: int = 0
    octave: int = 0
    duration: float = 0.5


def interpret(string: str, cfg: LSystemConfig, step: float, limit: int | None = None) -> symusic.Score:
    """Read an expanded string as music; ``limit`` stops after that many sounding symbols."""
    scale = parse_key(cfg.key)
    chords = parse_mapping(cfg.chords, "chords")
    drums = {s: [drum_note(n) for n in v.split("+")] for s, v in parse_mapping(cfg.drums, "drums").items()}
    mode = cfg.interpretation
    turtle, stack = Turtle(duration=step), []
    events: list[tuple[float, float, int, int]] = []  # time, duration (quarters), pitch, velocity
    previous_chord, sounded = None, 0
    mapped = drums if mode == "rhythm" else chords if mode == "chords" else {}
    for c in string:
        if c == "[":
            stack.append(Turtle(**vars(turtle)))
        elif c == "]":
            saved = stack.pop()
            if cfg.branches == "sequence":
                saved.time = turtle.time
            turtle = saved
        elif c == "+":
            turtle.degree += 1
        elif c == "-":
            turtle.degree -= 1
        elif c == "^":
            turtle.octave += 1
        elif c == "&":
            turtle.octave -= 1
        elif c == "*":
            turtle.duration = min(turtle.duration * 2, 64.0)
        elif c == "/":
            turtle.duration = max(turtle.duration / 2, 1 / 64)
        elif c in REST_SYMBOLS and c not in mapped:
            turtle.time += turtle.duration
        else:
            start, length = turtle.time, turtle.duration
            if mode == "notes" and c in NOTE_SYMBOLS:
                pitch = scale.pitch(turtle.degree + len(scale) * turtle.octave, cfg.octave)
                events.append((start, length, _fold(pitch, cfg.low, cfg.high), _accent(start)))
            elif mode == "chords" and (c in chords or c in "1234567"):
                root_octave = cfg.octave + turtle.octave
                notes = (scale.chord(int(c) - 1, 3, root_octave) if c in "1234567" and c not in chords
                         else roman_chord(chords[c], scale, root_octave))
                top = 12 * (root_octave + 1)  # the tonic of the chords' octave
                voicing = _closest_voicing(notes, previous_chord, top - 5, top + 19)
                previous_chord = voicing
                bass = 12 * root_octave + (notes[0] % 12)
                events.append((start, length, bass, 80))
                events.extend((start, length, p, 68) for p in voicing)
            elif mode == "rhythm" and c in drums:
                velocity = 45 if c.islower() else _accent(start)
                events.extend((start, length, n, velocity) for n in drums[c])
            else:
                continue  # a structural symbol: no sound, no time (ABOP's X)
            turtle.time += length
            sounded += 1
            if limit is not None and sounded >= limit:
                break
    return _score(events, cfg)


def _score(events, cfg: LSystemConfig) -> symusic.Score:
    drum = cfg.interpretation == "rhythm"
    names = {"notes": "L-system melody", "chords": "L-system chords", "rhythm": "L-system drums"}
    notes = []
    for time, length, pitch, velocity in events:
        start, end = round(time * TPQ), round((time + length) * TPQ)
        if (cfg.tie and cfg.interpretation == "notes" and notes
                and notes[-1][2] == pitch and notes[-1][1] == start):
            notes[-1][1] = end
            continue
        notes.append([start, end, pitch, velocity])
    notes.sort(key=lambda n: (n[0], n[2]))
    return make_score([(start, max(1, end - start), pitch, velocity) for start, end, pitch, velocity in notes],
                      name=names[cfg.interpretation], program=0 if drum else cfg.program, drum=drum,
                      tempo=cfg.tempo, time_signature=(4, 4))


@register
class LSystem(Generator):
    """An L-system read as notes, chords or rhythm; see the module docstring."""

    name = "lsystem"
    needs_fit = False
    learns_from_data = False  # rules are written, not learned
    Config = LSystemConfig
    Sampling = Sampling

    def _fit(self, pieces):
        pass  # rules are written, not learned: fit accepts a corpus and ignores it

    def system(self) -> LSystemGrammar:
        axiom, rules, _ = self.config.grammar()
        return LSystemGrammar(axiom, parse_rules(rules), self.config.ignore)

    def expand(self, rng: np.random.Generator | None = None, temperature: float = 1.0) -> str:
        """The string after ``iterations`` rewriting steps."""
        rng = rng if rng is not None else np.random.default_rng(0)
        return self.system().expand(self.config.iterations, rng, self.config.max_symbols, temperature)

    def _generate_one(self, rng, options):
        string = self.expand(rng, options.temperature)
        score = interpret(string, self.config, self.config.grammar()[2], options.length)
        if not score.tracks[0].notes:
            raise CadenzaError(f"the L-system string has no symbols that sound as {self.config.interpretation} "
                               f"(notes: F G; chords: digits or the chords option; rhythm: the drums "
                               f"option): {string[:60]!r}")
        return score
