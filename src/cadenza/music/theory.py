"""Music theory in one place: pitch names, keys and modes, key estimation, Roman numerals, the score builder.

A :class:`Key` is a tonic pitch class and a mode (the semitone steps from
the tonic); it is also the scale rule-based generators draw from. Scale
degrees are counted from 0 (the tonic) and may run past the octave or below
it: degree 7 of a major scale is the tonic an octave up, degree -1 the
leading tone below. Pitches are MIDI numbers, middle C = 60 = C4, so the
tonic of octave ``o`` is ``12 * (o + 1) + tonic``. :func:`parse_key` reads
``"D minor"``, ``"Dm"``, ``"F#"``, ``"Bb major"``, ``"c aeolian"``.

Key estimation is Krumhansl-Schmuckler: the Pearson correlation of the
duration-weighted pitch-class profile with the 24 rotated Krumhansl-Kessler
key profiles (C. L. Krumhansl, "Cognitive Foundations of Musical Pitch",
Oxford University Press, 1990, ch. 4; profiles from Krumhansl & Kessler,
Psychological Review 89(4), 1982).

Chords come two ways: :meth:`Key.chord` stacks thirds inside the scale
(diatonic triads and sevenths, their quality set by the mode), and
:func:`roman_chord` reads a Roman numeral the way harmony textbooks write it
(case gives the quality, ``o`` diminished, ``+`` augmented, ``7`` a seventh,
``b``/``#`` in front alter the root), so that ``V7`` in A minor is E G# B D.

Every score Cadenza writes is built by :func:`make_score`, at :data:`TPQ`
ticks a quarter note unless it copies another score's timing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import symusic

from cadenza.errors import CadenzaError

TPQ = 480  # ticks per quarter note; divisible by 2, 3, 4, 5, 6 and 8

# --- pitch names ---------------------------------------------------------------------------

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# The spelling a key's tonic most often takes, one a pitch class (the key tokens of
# ``cadenza.data.tokens`` are named with it, so it must not change).
TONIC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_name(pitch: int) -> str:
    """``61`` -> ``"C#4"`` (sharps; middle C is C4)."""
    return f"{SHARP_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_class(text: str) -> int:
    """``"C"`` -> 0, ``"F#"`` -> 6, ``"Bb"`` -> 10, ``"E-"`` (music21's flat) -> 3."""
    text = text.strip()
    match = re.fullmatch(r"([A-Ga-g])([#sb\-]*)", text)
    if not match or (text[1:] and re.search(r"[#s].*[b\-]|[b\-].*[#s]", text[1:])):
        raise CadenzaError(f"not a note name: {text!r} (e.g. C, F#, Bb)")
    letter, accidentals = match.groups()
    shift = sum(1 if a in "#s" else -1 for a in accidentals)
    return (LETTERS[letter.lower()] + shift) % 12


# --- modes ------------------------------------------------------------------------------------

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
MINORS = ("minor", "harmonic_minor", "melodic_minor")
# Semitones from a mode's tonic up to the tonic of the major scale with its key
# signature: the seven-note modes, whose chords stack in thirds.
_TO_RELATIVE_MAJOR = {"major": 0, "minor": 3, "dorian": 10, "phrygian": 8, "lydian": 7,
                      "mixolydian": 5, "locrian": 1, "harmonic_minor": 3, "melodic_minor": 3}


def mode_name(text: str) -> str:
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in MODES:
        raise CadenzaError(f"unknown mode {text!r} (known: {', '.join(MODES)})")
    return key


# --- keys -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    """A tonic pitch class and a mode: a key, and the scale drawn from it."""

    tonic: int  # pitch class, C = 0
    mode: str = "major"
    # The tonic as written ("Gb" and "F#" are one key, spelled two ways); it sets
    # the spelling of names and signatures, not equality.
    spelled: str | None = field(default=None, compare=False)

    def __post_init__(self):
        if not 0 <= self.tonic < 12:
            raise CadenzaError(f"tonic must be a pitch class 0-11, got {self.tonic}")
        object.__setattr__(self, "mode", mode_name(self.mode))

    @classmethod
    def from_signature(cls, fifths: int, minor: bool) -> Key:
        """The major or minor key of a key signature (sharps positive), spelled with its accidentals."""
        tonic = (7 * int(fifths) + (9 if minor else 0)) % 12
        return cls(tonic, "minor" if minor else "major", (SHARP_NAMES if fifths >= 0 else FLAT_NAMES)[tonic])

    # --- the scale ---

    @property
    def steps(self) -> tuple[int, ...]:
        """Semitones of each degree above the tonic."""
        return MODES[self.mode]

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def scale(self) -> tuple[int, ...]:
        """The mode's pitch classes, degree by degree."""
        return tuple((self.tonic + s) % 12 for s in self.steps)

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset(self.scale)

    @property
    def minor(self) -> bool:
        """Whether the third above the tonic is minor (minor, dorian, minor pentatonic, ...)."""
        return 3 in self.steps and 4 not in self.steps

    @property
    def diatonic(self) -> bool:
        """A seven-note mode whose chords stack in thirds (major, minor, the church modes)."""
        return self.mode in _TO_RELATIVE_MAJOR

    @property
    def melody_classes(self) -> frozenset[int]:
        """Pitch classes a melody in the key may use: the scale, and in a minor key also the
        raised leading tone, which minor-key melodies (Bach's among them) need at cadences."""
        if self.mode == "minor":
            return self.pitch_classes | {(self.tonic + 11) % 12}
        return self.pitch_classes

    @property
    def members(self) -> frozenset[int]:
        """Pitch classes that belong to the key: a minor key (natural, harmonic or melodic) takes
        both forms of its 6th and 7th, as common-practice minor does."""
        if self.mode in MINORS:
            return frozenset((self.tonic + s) % 12 for s in MODES["minor"] + (9, 11))
        return self.pitch_classes

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

    # --- signature and names ---

    @property
    def fifths(self) -> int:
        """Key signature: sharps (positive) or flats (negative). A mode that is not one of the
        seven-note modes takes the signature of the major or minor key on its tonic."""
        relative = _TO_RELATIVE_MAJOR.get(self.mode, 3 if self.minor else 0)
        f = (7 * ((self.tonic + relative) % 12)) % 12
        if self.spelled and "b" in self.spelled[1:]:
            return f - 12 if f > 0 else f
        return f - 12 if f > 6 else f

    def signature(self) -> symusic.KeySignature | None:
        """The key signature at tick 0 (major and minor keys only)."""
        if self.mode not in ("major", "minor"):
            return None
        return symusic.KeySignature(0, self.fifths, int(self.mode == "minor"))

    def pc_name(self, pc: int) -> str:
        """A pitch class spelled as the key signature spells it (flats in flat keys)."""
        return (FLAT_NAMES if self.fifths < 0 else SHARP_NAMES)[pc % 12]

    @property
    def name(self) -> str:
        """``"F# minor"``: the tonic as written, else as the key signature spells it."""
        return f"{self.spelled or self.pc_name(self.tonic)} {self.mode}"

    def __str__(self) -> str:
        return self.name


_KEY_RE = re.compile(r"\s*([A-Ga-g](?:[#b]|-(?=[\s_:]|$))?)(?:[\s_:]*(.*?))\s*")


def parse_key(text: str) -> Key:
    """``"D dorian"``, ``"G major"``, ``"F# minor"``, ``"Bb"`` (major), ``"Am"``, ``"E- minor"``,
    ``"c_harmonic_minor"`` -> :class:`Key`; a :class:`CadenzaError` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise CadenzaError("empty key: write a tonic and a mode, e.g. 'D dorian'")
    match = _KEY_RE.fullmatch(text)
    if not match:
        raise CadenzaError(f"not a key: {text!r} (e.g. 'G major', 'D dorian')")
    tonic, mode = match.groups()
    spelled = tonic[0].upper() + tonic[1:].replace("-", "b")
    return Key(parse_pitch_class(tonic), mode or "major", spelled)


def parse_diatonic_key(text: str) -> Key:
    """:func:`parse_key` for a seven-note mode (major, minor, the church modes): one whose
    chords stack in thirds and whose melodies move by scale steps."""
    key = parse_key(text)
    if not key.diatonic:
        raise CadenzaError(f"key {text!r}: the {key.mode} mode has no triads in thirds "
                           f"(use one of {', '.join(_TO_RELATIVE_MAJOR)})")
    return key


def signature_key(score: symusic.Score) -> Key | None:
    """The key of the score's first key signature, or None when it has none."""
    if not len(score.key_signatures):
        return None
    first = min(score.key_signatures, key=lambda k: k.time)
    return Key.from_signature(int(first.key), int(first.tonality) == 1)


# --- key estimation (Krumhansl-Schmuckler) ---------------------------------------------------------

# Krumhansl & Kessler (1982) probe-tone ratings, from the tonic up.
KK_PROFILES = {
    "major": np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
    "minor": np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
}
# The 24 candidate keys, majors first, and their standardised profiles.
ESTIMATED_KEYS = tuple(Key(tonic, mode) for mode in ("major", "minor") for tonic in range(12))
_TEMPLATES = np.stack([np.roll((p - p.mean()) / p.std(), tonic)
                       for p in KK_PROFILES.values() for tonic in range(12)])


def pitch_class_profile(pitches, durations=None) -> np.ndarray:
    """The duration-weighted pitch-class histogram ``[12]`` (note counts without durations)."""
    pitches = np.asarray(pitches, dtype=np.int64).reshape(-1)
    weights = None if durations is None else np.asarray(durations, dtype=float).reshape(-1)
    return np.bincount(pitches % 12, weights=weights, minlength=12).astype(float)


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson r of a pitch-class profile with each of :data:`ESTIMATED_KEYS` (NaN for a flat profile)."""
    profile = np.asarray(profile, dtype=float)
    if profile.std() == 0:
        return np.full(len(ESTIMATED_KEYS), np.nan)
    z = (profile - profile.mean()) / profile.std()
    return _TEMPLATES @ z / 12


def estimate_key_strength(pitches, durations=None, fifths: int | None = None) -> tuple[Key, float]:
    """The best-correlated major or minor key and its correlation ``r`` (-1..1; NaN when the
    profile is flat, and then the first candidate, C major).

    With a key signature (``fifths``), only its major key and relative minor are candidates.
    """
    r = key_correlations(pitch_class_profile(pitches, durations))
    allowed = np.ones(len(ESTIMATED_KEYS), dtype=bool)
    if fifths is not None:
        allowed = np.array([k.fifths == fifths or (abs(fifths) == 6 and abs(k.fifths) == 6)
                            for k in ESTIMATED_KEYS])
    scores = np.where(allowed, np.nan_to_num(r, nan=0.0), -np.inf)
    best = int(np.argmax(scores))
    return ESTIMATED_KEYS[best], float(r[best])


def estimate_key(pitches, durations=None, fifths: int | None = None) -> Key:
    """Krumhansl-Schmuckler: the major or minor key whose profile best correlates with the
    duration-weighted pitch-class histogram (see :func:`estimate_key_strength`)."""
    return estimate_key_strength(pitches, durations, fifths)[0]


def score_pitches(score: symusic.Score) -> tuple[np.ndarray, np.ndarray]:
    """Pitches and durations of every note of the score's pitched (not drum) tracks."""
    parts = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.concatenate([p["pitch"] for p in parts]).astype(np.int64),
            np.concatenate([p["duration"] for p in parts]).astype(np.int64))


# --- Roman numerals ------------------------------------------------------------------------------

# Chord qualities as semitones above the root.
TRIADS = {"major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8)}
_ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
_ROMAN_RE = re.compile(r"([b#]*)(vii|vi|v|iv|iii|ii|i)(o|°|dim|\+|aug|ø)?(maj7|M7|7)?", re.IGNORECASE)


def roman_chord(numeral: str, key: Key, octave: int = 4) -> list[int]:
    """Pitches of a Roman-numeral chord in ``key``, root in ``octave``, root position.

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
    root = key.pitch(degree, octave) + accidentals.count("#") - accidentals.count("b")
    quality_mark = (quality_mark or "").lower()
    if quality_mark in ("o", "°", "dim", "ø"):
        quality = "diminished"
    elif quality_mark in ("+", "aug"):
        quality = "augmented"
    else:
        quality = "major" if roman.isupper() else "minor"
    notes = [root + s for s in TRIADS[quality]]
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


# --- building scores ---------------------------------------------------------------------------

def make_track(notes: Iterable = (), name: str = "Melody", program: int = 0, drum: bool = False) -> symusic.Track:
    """A track from ``(time, duration, pitch, velocity)`` rows in ticks (a list of tuples or an
    int array ``[N, 4]``) or from symusic Notes, in the order given."""
    if isinstance(notes, np.ndarray) or (isinstance(notes, (list, tuple)) and notes
                                         and not isinstance(notes[0], symusic.core.NoteTick)):
        rows = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
        track = symusic.Track(name, program, drum)
        track.notes = symusic.Note.from_numpy(rows[:, 0].astype(np.int32), rows[:, 1].astype(np.int32),
                                              rows[:, 2].astype(np.int8), rows[:, 3].astype(np.int8))
        return track
    return symusic.Track(name, program, drum, list(notes))


def make_score(notes: Iterable | None = None, *, tracks: Iterable[symusic.Track] = (), name: str = "Melody",
               program: int = 0, drum: bool = False, tpq: int | None = None, tempo: float | None = None,
               time_signature: tuple[int, int] | None = None, key: Key | None = None,
               like: symusic.Score | None = None) -> symusic.Score:
    """A score at ``tpq`` ticks a quarter (default :data:`TPQ`, or ``like``'s).

    ``notes`` (see :func:`make_track`) become one track named ``name`` with
    ``program`` (a drum track with ``drum``), after any ``tracks`` given.
    ``like`` copies another score's tempos, time and key signatures; else
    ``tempo`` (quarter notes a minute) and ``time_signature`` go at tick 0 when
    given. ``key`` adds its signature (major and minor keys) at tick 0.
    """
    score = symusic.Score(tpq or (like.ticks_per_quarter if like is not None else TPQ))
    if like is not None:
        score.tempos = like.tempos.copy()
        score.time_signatures = like.time_signatures.copy()
        score.key_signatures = like.key_signatures.copy()
    if tempo is not None:
        score.tempos.append(symusic.Tempo(0, tempo))
    if time_signature is not None:
        score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    if key is not None and key.signature() is not None:
        score.key_signatures.append(key.signature())
    for track in tracks:
        score.tracks.append(track)
    if notes is not None:
        score.tracks.append(make_track(notes, name, program, drum))
    return score
