"""Scales, modes and chords in a key: the pitch sets rule-based generators draw from.

A :class:`Scale` is a tonic pitch class and a mode (the semitone steps from
the tonic). Scale degrees are counted from 0 (the tonic) and may run past
the octave or below it: degree 7 of a major scale is the tonic an octave up,
degree -1 the leading tone below. Pitches are MIDI numbers, middle C = 60 =
C4, so the tonic of octave ``o`` is ``12 * (o + 1) + tonic``.

Chords come two ways: :meth:`Scale.chord` stacks thirds inside the scale
(diatonic triads and sevenths, their quality set by the mode), and
:func:`roman_chord` reads a Roman numeral the way harmony textbooks write it
(case gives the quality, ``o`` diminished, ``+`` augmented, ``7`` a seventh,
``b``/``#`` in front alter the root), so that ``V7`` in A minor is E G# B D.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cadenza.errors import CadenzaError

LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}

# Semitones from the tonic. The church modes are rotations of the major scale.
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "whole_tone": (0, 2, 4, 6, 8, 10),
    "chromatic": tuple(range(12)),
}
ALIASES = {"ionian": "major", "aeolian": "minor", "natural_minor": "minor", "maj": "major",
           "min": "minor", "m": "minor", "pentatonic": "major_pentatonic"}

# Chord qualities as semitones above the root: triad, then the seventh.
QUALITIES = {
    "major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8),
}


def parse_pitch_class(text: str) -> int:
    """``"C"`` -> 0, ``"F#"`` -> 6, ``"Bb"`` -> 10, ``"E-"`` (music21's flat) -> 3."""
    text = text.strip()
    match = re.fullmatch(r"([A-Ga-g])([#sb\-]*)", text)
    if not match or (text[1:] and re.search(r"[#s].*[b\-]|[b\-].*[#s]", text[1:])):
        raise CadenzaError(f"not a note name: {text!r} (e.g. C, F#, Bb)")
    letter, accidentals = match.groups()
    shift = sum(1 if a in "#s" else -1 for a in accidentals)
    return (LETTERS[letter.lower()] + shift) % 12


def mode_name(text: str) -> str:
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in MODES:
        raise CadenzaError(f"unknown mode {text!r} (known: {', '.join(MODES)})")
    return key


@dataclass(frozen=True)
class Scale:
    tonic: int  # pitch class, 0 = C
    mode: str = "major"

    def __post_init__(self):
        if not 0 <= self.tonic < 12:
            raise CadenzaError(f"tonic must be a pitch class 0-11, got {self.tonic}")
        object.__setattr__(self, "mode", mode_name(self.mode))

    @property
    def steps(self) -> tuple[int, ...]:
        return MODES[self.mode]

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + s) % 12 for s in self.steps)

    @property
    def name(self) -> str:
        names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        return f"{names[self.tonic]} {self.mode}"

    def contains(self, pitch: int) -> bool:
        return pitch % 12 in self.pitch_classes

    def pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of a scale degree (0 = the tonic of ``octave``; any integer)."""
        octaves, index = divmod(degree, len(self.steps))
        return 12 * (octave + 1 + octaves) + self.tonic + self.steps[index]

    def degree(self, pitch: int, octave: int = 4) -> int:
        """The degree whose pitch is nearest ``pitch`` (the lower one on a tie)."""
        size = len(self.steps)
        guess = (pitch - self.pitch(0, octave)) * size // 12
        candidates = range(guess - size, guess + size + 1)
        return min(candidates, key=lambda d: (abs(self.pitch(d, octave) - pitch), d))

    def pitches(self, low: int, high: int) -> list[int]:
        """Every pitch of the scale from ``low`` to ``high`` inclusive."""
        return [p for p in range(low, high + 1) if self.contains(p)]

    def chord(self, degree: int, size: int = 3, octave: int = 4) -> list[int]:
        """Diatonic chord on ``degree``: ``size`` notes stacked in thirds (3 triad, 4 seventh)."""
        if size < 1:
            raise CadenzaError(f"chord size must be at least 1, got {size}")
        return [self.pitch(degree + 2 * i, octave) for i in range(size)]


def parse_scale(text: str) -> Scale:
    """``"D dorian"``, ``"G major"``, ``"F# minor"``, ``"Bb"`` (major), ``"Am"``, ``"c_harmonic_minor"``."""
    if not isinstance(text, str) or not text.strip():
        raise CadenzaError("empty key: write a tonic and a mode, e.g. 'D dorian'")
    match = re.fullmatch(r"\s*([A-Ga-g][#b]?)(?:[\s_:]*(.*?))\s*", text)
    if not match:
        raise CadenzaError(f"not a key: {text!r} (e.g. 'G major', 'D dorian')")
    tonic, mode = match.groups()
    return Scale(parse_pitch_class(tonic), mode or "major")


_ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
_ROMAN_RE = re.compile(r"([b#]*)(vii|vi|v|iv|iii|ii|i)(o|°|dim|\+|aug|ø)?(maj7|M7|7)?", re.IGNORECASE)


def roman_chord(numeral: str, scale: Scale, octave: int = 4) -> list[int]:
    """Pitches of a Roman-numeral chord in ``scale``, root in ``octave``, root position.

    The root is the scale's degree (``I`` = tonic) moved by any ``b``/``#``
    prefix; uppercase is a major triad, lowercase minor, ``o`` (or ``°``)
    diminished, ``+`` augmented, ``ø7`` half-diminished. A ``7`` adds the
    seventh the textbook implies: minor seventh on major (dominant),
    minor and half-diminished triads, diminished seventh after ``o``;
    ``maj7`` (or ``M7``) a major seventh.
    """
    match = _ROMAN_RE.fullmatch(numeral.strip())
    if not match:
        raise CadenzaError(f"not a Roman numeral chord: {numeral!r} (e.g. I, ii, V7, viio, bVII)")
    accidentals, roman, quality_mark, seventh = match.groups()
    degree = _ROMAN[roman.lower()]
    root = scale.pitch(degree, octave) + accidentals.count("#") - accidentals.count("b")
    quality_mark = (quality_mark or "").lower()
    if quality_mark in ("o", "°", "dim"):
        quality = "diminished"
    elif quality_mark in ("+", "aug"):
        quality = "augmented"
    elif quality_mark == "ø":
        quality = "diminished"
    else:
        quality = "major" if roman.isupper() else "minor"
    notes = [root + s for s in QUALITIES[quality]]
    if quality_mark == "ø" and not seventh:
        seventh = "7"
    if seventh:
        if seventh.lower() == "maj7" or seventh == "M7":
            notes.append(root + 11)
        elif quality == "diminished" and quality_mark != "ø":
            notes.append(root + 9)
        else:
            notes.append(root + 10)
    return notes
