"""Captions for the clips of the audio sets, from what is known about each: the text a prompted
``maskgit`` learns from (:mod:`cadenza.data.captions` does the same for symbolic pieces).

A clip's :class:`ClipFacts` come from its labels (``AudioSet.labels``) and its features:

- the kind, from the labels a clip has: a ``solo`` melody (``program``: violin, flute, cello),
  a chorale ``ensemble`` (``voices``), a drum ``pattern`` or a drum ``hit`` (``kind``: pattern
  or kick, snare, ...), a single ``note`` (``pitch``); a ``recording`` without labels;
- the instrument (its General MIDI name) and, for notes, its family; the ensemble's instruments;
- the register, ``low`` (below C3, MIDI 48), ``middle`` or ``high`` (C5, 72, and above): from the
  pitch label of a note, else the median of the f0 over confident frames (the true f0 of a
  rendered melody, the tracked one of a recording);
- the key of a solo melody: the Krumhansl-Schmuckler estimate of its f0's pitch classes
  (:func:`cadenza.music.theory.estimate_key_strength`), where it is clear (r >= 0.6);
- the dynamics, ``soft`` (velocity up to 70), ``medium`` or ``loud`` (110 and up), from the
  velocity label of a note or a drum hit;
- a drum pattern's tempo (``slow`` under 100 bpm, ``fast`` over 120, else ``moderate``), its
  density (the automaton's share of live cells: ``sparse`` at 0.2 and under, ``busy`` at 0.3
  and over) and its drums.

Nothing else is guessed. :func:`caption` writes one sentence from the facts with paraphrase
frames, keeping each optional fact at random and wording it one of several ways ("a loud high
violin note", "play a note on the violin, high and loud"); :data:`UNSEEN_FRAMES` are never
used in training: a benchmark asks with them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOW_BELOW, HIGH_FROM = 48, 72  # MIDI: C3 and C5
SOFT_TO, LOUD_FROM = 70, 110  # MIDI velocity
SLOW_BELOW, FAST_ABOVE = 100.0, 120.0  # bpm
SPARSE_TO, BUSY_FROM = 0.2, 0.3  # the automaton's density
KEY_STRENGTH = 0.6  # a solo's key is said only when its estimate correlates this well
VOICED = 0.5  # f0 confidence of a frame counted as pitched

KINDS = ("solo", "ensemble", "pattern", "hit", "note", "recording")


@dataclass(frozen=True)
class ClipFacts:
    """What is known about one clip; ``None`` (or empty) where it is not."""

    kind: str  # one of KINDS
    instruments: tuple[str, ...] = ()  # readable GM names: ("violin",), ("violin", "viola", ...)
    family: str | None = None  # a note's instrument family: string, keyboard, brass, ...
    register: str | None = None  # low, middle, high
    pitch: int | None = None  # a note's MIDI pitch
    key: str | None = None  # "D major", "E minor"
    dynamics: str | None = None  # soft, medium, loud
    tempo: str | None = None  # slow, moderate, fast (drum patterns)
    bpm: float | None = None
    density: str | None = None  # sparse, moderate, busy (drum patterns)
    drums: tuple[str, ...] = ()  # a pattern's drums, or a hit's kind: ("kick",)


# --- facts --------------------------------------------------------------------------------------


def instrument_name(gm_name: str) -> str:
    """A General MIDI name as a caption says it: ``"Acoustic Guitar (nylon)"`` -> ``"nylon acoustic
    guitar"``, ``"Lead 1 (square)"`` -> ``"square lead"``, ``"String Ensemble 1"`` -> ``"string ensemble"``."""
    match = re.fullmatch(r"\s*(.*?)\s*(?:\d+)?\s*(?:\((.*)\))?\s*", gm_name)
    base, detail = (match.group(1), match.group(2)) if match else (gm_name, None)
    return " ".join(w for w in (detail, base) if w).lower()


def register_of(midi: float) -> str:
    return "low" if midi < LOW_BELOW else "high" if midi >= HIGH_FROM else "middle"


def dynamics_of(velocity: float) -> str:
    return "soft" if velocity <= SOFT_TO else "loud" if velocity >= LOUD_FROM else "medium"


def tempo_of(bpm: float) -> str:
    return "slow" if bpm < SLOW_BELOW else "fast" if bpm > FAST_ABOVE else "moderate"


def density_of(density: float) -> str:
    return "sparse" if density <= SPARSE_TO else "busy" if density >= BUSY_FROM else "moderate"


def _voiced_midi(f0: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    from cadenza.audio.features import hz_to_midi

    voiced = (np.asarray(confidence) > VOICED) & (np.asarray(f0) > 0)
    return hz_to_midi(np.asarray(f0)[voiced])


def _key_of(midi: np.ndarray) -> str | None:
    from cadenza.music.theory import TONIC_NAMES, estimate_key_strength

    if len(midi) == 0:
        return None
    key, strength = estimate_key_strength(np.round(midi).astype(int))  # each frame weighs the same
    return f"{TONIC_NAMES[key.tonic]} {key.mode}" if strength >= KEY_STRENGTH else None


def clip_facts(audio_set, index: int) -> ClipFacts:
    """The facts of clip ``index`` of an :class:`~cadenza.data.audio_sets.AudioSet`."""
    from cadenza.data.audio_notes import family

    label = (audio_set.labels or [None] * len(audio_set))[index] or {}
    f0, confidence = audio_set.f0[index], audio_set.confidence[index]
    if "kind" in label:  # the drums set
        if label["kind"] == "pattern":
            bpm = float(label["tempo"]) if "tempo" in label else None
            drums = tuple(d for d in str(label.get("drums", "")).split(",") if d)
            return ClipFacts("pattern", tempo=None if bpm is None else tempo_of(bpm), bpm=bpm, drums=drums,
                             density=density_of(float(label["density"])) if "density" in label else None)
        velocity = label.get("velocity")
        return ClipFacts("hit", drums=(str(label["kind"]),),
                         dynamics=None if velocity is None else dynamics_of(float(velocity)))
    if "voices" in label:
        return ClipFacts("ensemble", instruments=tuple(instrument_name(i) for i in label.get("instruments", ())))
    instruments = (instrument_name(label["instrument"]),) if "instrument" in label else ()
    if "pitch" in label:
        velocity = label.get("velocity")
        return ClipFacts("note", instruments, family=family(label["program"]) if "program" in label else None,
                         register=register_of(label["pitch"]), pitch=int(label["pitch"]),
                         dynamics=None if velocity is None else dynamics_of(float(velocity)))
    midi = _voiced_midi(f0, confidence)
    register = register_of(float(np.median(midi))) if len(midi) > 0.2 * len(f0) and len(midi) else None
    if "program" in label:
        return ClipFacts("solo", instruments, register=register, key=_key_of(midi))
    return ClipFacts("recording", register=register)


def set_facts(audio_set) -> list[ClipFacts]:
    """The facts of every clip of an audio set (a mix of sets keeps each clip's labels)."""
    return [clip_facts(audio_set, i) for i in range(len(audio_set))]


# --- sentences ----------------------------------------------------------------------------------

REGISTER_WORDS = {"low": ["low", "deep", "low-pitched"], "middle": ["mid-range", "middle-register"],
                  "high": ["high", "high-pitched"]}
DYNAMICS_WORDS = {"soft": ["soft", "quiet", "gentle"], "medium": ["moderately loud", "medium-loud"],
                  "loud": ["loud", "strong", "forceful"]}
TEMPO_WORDS = {"slow": ["slow", "laid-back", "unhurried"], "moderate": ["mid-tempo", "steady"],
               "fast": ["fast", "quick", "up-tempo", "driving"]}
DENSITY_WORDS = {"sparse": ["sparse", "minimal"], "moderate": [""], "busy": ["busy", "dense"]}
DRUM_WORDS = {"kick": ["kick drum", "kick", "bass drum"], "snare": ["snare", "snare drum"],
              "clap": ["hand clap", "clap"], "hat": ["hi-hat", "hat"], "tom": ["tom", "tom-tom"],
              "cymbal": ["cymbal"], "perc": ["percussion"], "closed_hat": ["closed hi-hat", "hi-hat"],
              "open_hat": ["open hi-hat"], "low_tom": ["low tom"], "high_tom": ["high tom"],
              "ride": ["ride cymbal", "ride"]}
NOUNS = {"solo": ["melody", "tune", "solo melody", "solo line"],
         "ensemble": ["chorale", "ensemble chorale", "hymn", "chorale setting"],
         "pattern": ["drum pattern", "drum beat", "drum loop", "beat on the drums"],
         "hit": ["hit", "one-shot", "sample", "stroke"],
         "note": ["note", "single note", "held note", "sustained note"],
         "recording": ["sound", "recording"]}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# paraphrase frames: {a} is the article of what follows it, {thing} the noun phrase
TRAIN_FRAMES = (
    "{a} {thing}",
    "{A} {thing}",
    "{thing}",
    "play {a} {thing}",
    "generate {a} {thing}",
    "make {a} {thing}",
    "the sound of {a} {thing}",
    "give me {a} {thing}",
)
UNSEEN_FRAMES = (
    "I would like to hear {a} {thing}, please",
    "could you come up with {a} {thing}?",
    "something like {a} {thing}",
    "what would {a} {thing} sound like",
)


def _pick(rng: np.random.Generator, words) -> str:
    return str(rng.choice(list(words)))


def _instrument_words(name: str) -> list[str]:
    last = name.split()[-1]
    return [name, last] if " " in name and last not in ("ensemble", "lead", "pad", "oohs", "bass") else [name]


def _an(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _thing(facts: ClipFacts, rng: np.random.Generator, keep: float) -> str:
    """The noun phrase: adjectives, the head noun, then what it is played on or in."""
    adjectives, after = [], []
    for value, words in ((facts.dynamics, DYNAMICS_WORDS), (facts.tempo, TEMPO_WORDS),
                         (facts.density, DENSITY_WORDS), (facts.register, REGISTER_WORDS)):
        if value is not None and rng.random() < keep:
            adjectives.append(_pick(rng, words[value]))
    noun = _pick(rng, NOUNS[facts.kind])
    if facts.kind == "hit" and facts.drums:
        noun = f"{_pick(rng, DRUM_WORDS.get(facts.drums[0], [facts.drums[0]]))} {noun}"
    if facts.kind == "ensemble" and len(facts.instruments) in NUMBER_WORDS and rng.random() < keep:
        noun = f"{NUMBER_WORDS[len(facts.instruments)]}-part {noun}"
    if facts.kind == "note" and facts.pitch is not None and rng.random() < keep * 0.5:
        from cadenza.music.theory import note_name

        after.append(_pick(rng, [f" at {note_name(facts.pitch)}", f" ({note_name(facts.pitch)})"]))
    if facts.instruments and rng.random() < keep + 0.15:
        if facts.kind == "ensemble":
            names = _and(list(facts.instruments))
            after.append(_pick(rng, [f" for {names}", f" played by {names}"]))
        elif facts.family is not None and facts.family not in facts.instruments[0] and rng.random() < 0.3:
            after.append(_pick(rng, [f" on a {facts.family.replace('_', ' ')} instrument",
                                     f" played by a {facts.family.replace('_', ' ')} instrument"]))
        else:
            name = _pick(rng, _instrument_words(facts.instruments[0]))
            if rng.random() < 0.4:
                noun = f"{name} {noun}"
            else:
                after.append(_pick(rng, [f" on the {name}", f" played on the {name}",
                                         f" played by {_an(name)} {name}"]))
    if facts.key is not None and rng.random() < keep:
        after.append(_pick(rng, [f" in {facts.key}", f" in the key of {facts.key}"]))
    if facts.bpm is not None and rng.random() < keep * 0.4:
        after.append(f" at {facts.bpm:g} bpm")
    if facts.kind == "pattern" and facts.drums and rng.random() < keep * 0.5:
        names = list(dict.fromkeys(_pick(rng, DRUM_WORDS.get(d, [d.replace("_", " ")])) for d in facts.drums))
        after.append(f" with {_and(names)}")
    return " ".join([a for a in adjectives if a] + [noun]) + "".join(after)


def caption(facts: ClipFacts, rng: np.random.Generator, frames: Sequence[str] = TRAIN_FRAMES,
            keep: float = 0.75) -> str:
    """One sentence about a clip: the kind always, each other fact with probability about ``keep``,
    worded one of several ways in one of ``frames``."""
    thing = _thing(facts, rng, keep)
    article = _an(thing)
    text = _pick(rng, frames).format(a=article, A=article.capitalize(), thing=thing)
    return re.sub(r"\s+", " ", text).strip()


def captions(facts: ClipFacts, count: int, rng: np.random.Generator, frames: Sequence[str] = TRAIN_FRAMES,
             keep: float = 0.75) -> list[str]:
    """``count`` captions of one clip, distinct where the wording allows (a few tries each)."""
    out: list[str] = []
    for _ in range(4 * count):
        text = caption(facts, rng, frames, keep)
        if text not in out:
            out.append(text)
        if len(out) == count:
            break
    return out or [caption(facts, rng, frames, keep)]

