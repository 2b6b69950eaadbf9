"""Captions for symbolic pieces, from what is known about each: the text a prompt model learns from.

A piece's :class:`Facts` come from its score (key and mode from the key
signature, else the Krumhansl-Schmuckler estimate; meter; length in bars;
voices) and, for the ABC collections, from the tune's header: the rhythm
field ``R:`` (a dance type such as jig, reel or hornpipe in Ryan's and
O'Neill's collections; a genre such as ballad or love song in Essen's, in
German), the origin ``O:`` (Essen's region), tempo words in ``N:`` or a
``Q:`` marking, and dance names in the title. Nothing is guessed beyond that,
except a tempo class for dances whose tempo is part of their name (a reel is
lively, an air slow).

:func:`caption` writes one sentence about a piece from paraphrase frames,
dropping some facts at random and varying their wording ("D major", "D",
"the key of D"; "6/8", "six-eight time"), so a model sees many ways of asking
for the same thing. :data:`UNSEEN_FRAMES` are never used in training: the
benchmark asks with them to measure whether a model follows a paraphrase it
has not seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import symusic

from cadenza.music.theory import TONIC_NAMES

# --- facts --------------------------------------------------------------------------------------

COLLECTIONS = {
    "essen": ["the Essen folk song collection", "the Essen collection"],
    "ryans": ["Ryan's Mammoth Collection", "Ryan's collection"],
    "oneill": ["O'Neill's Music of Ireland", "O'Neill's collection"],
    "bach": ["Bach's chorales"],
    "palestrina": ["Palestrina's masses"],
}
# the noun a collection's pieces go by when nothing more is known
DEFAULT_NOUN = {"essen": "folk song", "ryans": "fiddle tune", "oneill": "Irish tune", "bach": "chorale",
                "palestrina": "motet"}

# dance types, as the R: field or the title names them (longest first: "slip jig" before "jig")
DANCES = (("highland fling", "highland fling"), ("slip jig", "slip jig"), ("slipjig", "slip jig"),
          ("double jig", "jig"), ("single jig", "jig"), ("hop jig", "slip jig"), ("set dance", "set dance"),
          ("long dance", "set dance"), ("schottische", "schottische"), ("strathspey", "strathspey"),
          ("hornpipe", "hornpipe"), ("quadrille", "quadrille"), ("mazurka", "mazurka"), ("lament", "lament"),
          ("waltz", "waltz"), ("polka", "polka"), ("march", "march"), ("reel", "reel"), ("jig", "jig"),
          ("clog", "clog"), ("fling", "highland fling"), ("air", "air"))
# genres of the Essen R: field (German keywords, first match wins)
GENRES = (("Wiegen", "lullaby"), ("Kinder", "children's song"), ("Tanz", "dance song"), ("Reigen", "round dance"),
          ("religi", "religious song"), ("geistlich", "religious song"), ("Soldaten", "soldiers' song"),
          ("Kriegs", "soldiers' song"), ("Trink", "drinking song"), ("Jaeger", "hunting song"),
          ("Abschied", "farewell song"), ("Ballade", "ballad"), ("Liebe", "love song"), ("Klage", "lament"),
          ("Scherz", "humorous song"), ("Xiaodiao", "Chinese ditty"), ("Shange", "Chinese mountain song"),
          ("Romanze", "romance"), ("Lied", "song"))
# Essen's O: names a place in German; countries and well-known regions in English
PLACES = {"Deutschland": "Germany", "Luxemburg": "Luxembourg", "Lothringen": "Lorraine", "Elsass": "Alsace",
          "Schlesien": "Silesia", "Westfalen": "Westphalia", "Rheinland": "the Rhineland", "Irland": "Ireland",
          "Franken": "Franconia", "Schwaben": "Swabia", "Thueringen": "Thuringia", "Niederlande": "the Netherlands",
          "Schweiz": "Switzerland", "Oesterreich": "Austria", "Bayern": "Bavaria", "Sachsen": "Saxony",
          "Boehmen": "Bohemia", "Tirol": "Tyrol", "Frankreich": "France", "Polen": "Poland", "China": "China",
          "Niederrhein": "the Lower Rhine", "Brandenburg": "Brandenburg", "Steiermark": "Styria",
          "Siebenbuergen": "Transylvania", "Ungarn": "Hungary", "Russland": "Russia", "Daenemark": "Denmark",
          "Schweden": "Sweden", "Taiwan": "Taiwan"}
FAST_DANCES = {"jig", "slip jig", "reel", "hornpipe", "polka", "highland fling", "clog", "set dance"}
SLOW_DANCES = {"air", "lament", "lullaby"}
TEMPO_WORDS = (("very slow", "slow"), ("slowly", "slow"), ("slow", "slow"), ("moderate", "moderate"),
               ("lively", "fast"), ("spirit", "fast"), ("quick", "fast"), ("fast", "fast"), ("brisk", "fast"),
               ("allegro", "fast"), ("andante", "moderate"), ("adagio", "slow"))


@dataclass(frozen=True)
class Facts:
    """What is known about one piece; ``None`` where it is not."""

    key: str  # a key token name: "D", "Em", "Bb"
    meter: str  # "6/8"; "other" when unusual
    bars: int
    voices: int
    collection: str | None = None  # essen, ryans, oneill, bach, palestrina
    dance: str | None = None  # jig, reel, hornpipe, ... (from the header or title)
    genre: str | None = None  # ballad, love song, ... (Essen's R: field)
    region: str | None = None  # Germany, Lorraine, China, ...
    tempo: str | None = None  # slow, moderate, fast

    @property
    def tonic(self) -> str:
        return self.key[:-1] if self.key.endswith("m") else self.key

    @property
    def mode(self) -> str:
        return "minor" if self.key.endswith("m") else "major"

    def transposed(self, semitones: int) -> Facts:
        """The same facts for the piece moved by ``semitones`` (only the key changes)."""
        if not semitones:
            return self
        index = TONIC_NAMES.index(self.tonic)
        tonic = TONIC_NAMES[(index + semitones) % 12]
        return replace(self, key=tonic + ("m" if self.mode == "minor" else ""))


def abc_header(text: str) -> dict[str, list[str]]:
    """The information fields of one ABC tune (``{"R": ["jig"], "T": [...]}``), before its body."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]):\s*(.*)$", line)
        if match:
            fields.setdefault(match.group(1), []).append(match.group(2).strip().strip('"').strip())
    return fields


def dance_of(*texts: str) -> str | None:
    for text in texts:
        lowered = f" {text.lower()} "
        for word, dance in DANCES:
            if re.search(rf"\b{word}s?\b", lowered):
                return dance
    return None


def genre_of(text: str) -> str | None:
    for word, genre in GENRES:
        if word.lower() in text.lower():
            return genre
    return None


def region_of(origin: str) -> str | None:
    """Essen's ``O:`` ("Europa, Mitteleuropa, Deutschland, Schlesien"): the most specific known place."""
    names = [part.strip() for part in re.split(r"[,;/]", origin) if part.strip()]
    known = [PLACES[n] for n in names if n in PLACES]
    return known[-1] if known else None


def tempo_of(header: dict[str, list[str]], dance: str | None) -> str | None:
    for q in header.get("Q", []):
        match = re.search(r"(\d+)\s*$", q)
        if match:
            bpm = int(match.group(1))
            return "slow" if bpm < 80 else "fast" if bpm > 120 else "moderate"
    for note in header.get("N", []):
        lowered = note.lower()
        for word, tempo in TEMPO_WORDS:
            if word in lowered:
                return tempo
    if dance in FAST_DANCES:
        return "fast"
    if dance in SLOW_DANCES:
        return "slow"
    return None


def score_facts(score: symusic.Score, collection: str | None = None, title: str = "",
                header: dict[str, list[str]] | None = None) -> Facts:
    """The facts of one piece: its score, its collection and (for ABC tunes) its header."""
    from cadenza.data.tokens import meter_of, score_key_name
    from cadenza.music.transforms import bar_starts

    header = header or {}
    rhythm = " ".join(header.get("R", []))
    titles = [title, *header.get("T", [])]
    dance = dance_of(rhythm, *titles)
    genre = genre_of(rhythm) if collection == "essen" else None
    region = region_of(" ".join(header.get("O", []))) if collection == "essen" else None
    if collection == "oneill" and region is None:
        region = "Ireland"
    voices = sum(1 for track in score.tracks if len(track.notes) and not track.is_drum)
    return Facts(key=score_key_name(score), meter=meter_of(score), bars=max(1, len(bar_starts(score))),
                 voices=max(voices, 1), collection=collection, dance=dance, genre=genre, region=region,
                 tempo=tempo_of(header, dance or genre))


@lru_cache(maxsize=8)
def corpus_headers(name: str) -> dict[str, dict[str, list[str]]]:
    """``{piece id: ABC header fields}`` of a named ABC corpus (essen, ryans, oneill); ``{}`` otherwise.
    Reads the ABC files again (a second or two, once a process), not the parsed cache, which keeps
    notes only. Callers read the result, never change it."""
    from cadenza.data.corpora import CORPORA

    if name not in ("essen", "ryans", "oneill"):
        return {}
    return {task.piece_id: abc_header(task.abc_text) for task in CORPORA[name].tasks() if task.abc_text}


def corpus_facts(pieces) -> list[Facts]:
    """The facts of every piece of a :class:`~cadenza.data.corpora.Corpus` (its collections' headers
    read once), or of a plain list of scores (facts from the scores alone)."""
    ids = getattr(pieces, "ids", None)
    collections = getattr(pieces, "collections", None)
    titles = getattr(pieces, "titles", None) or [""] * len(pieces)
    if ids is None:
        return [score_facts(score) for score in pieces]
    collections = collections or [getattr(pieces, "source", None)] * len(pieces)
    headers = {name: corpus_headers(name) for name in set(collections) if isinstance(name, str)}
    facts = []
    for piece_id, collection, title, score in zip(ids, collections, titles, pieces):
        local_id = piece_id.split(":", 1)[1] if ":" in piece_id else piece_id
        header = headers.get(collection, {}).get(local_id)
        known = collection if collection in COLLECTIONS else None
        facts.append(score_facts(score, known, title, header))
    return facts


# --- sentences ----------------------------------------------------------------------------------

NUMBER_WORDS = {"2": "two", "3": "three", "4": "four", "6": "six", "9": "nine", "12": "twelve", "8": "eight"}


def key_phrase(facts: Facts, rng: np.random.Generator) -> str:
    tonic, mode = facts.tonic, facts.mode
    shapes = [f"{tonic} {mode}", f"{tonic} {mode}", f"the key of {tonic} {mode}",
              f"{tonic}{'m' if mode == 'minor' else ''}" if mode == "minor" else f"{tonic} major",
              f"{tonic} {'min' if mode == 'minor' else 'maj'}"]
    return str(rng.choice(shapes))


def meter_phrase(meter: str, rng: np.random.Generator) -> str:
    top, _, bottom = meter.partition("/")
    words = f"{NUMBER_WORDS.get(top, top)}-{NUMBER_WORDS.get(bottom, bottom)}"
    return str(rng.choice([f"{meter} time", f"{meter}", f"{words} time", f"{meter} meter"]))


TEMPO_ADJECTIVES = {"slow": ["slow", "gentle", "slow-moving", "unhurried"],
                    "moderate": ["moderate", "steady", "moderately paced", "walking-pace"],
                    "fast": ["lively", "fast", "brisk", "spirited", "quick"]}
LENGTH_ADJECTIVES = {"short": ["short", "brief"], "medium": ["medium-length", ""], "long": ["long", "extended"]}

# paraphrase frames: {a} is the article of what follows it, {noun} the head noun phrase with adjectives
TRAIN_FRAMES = (
    "{a} {noun}{key}{meter}{place}",
    "{a} {noun}{meter}{key}{place}",
    "{A} {noun}{key}{place}{meter}",
    "write {a} {noun}{key}{meter}{place}",
    "compose {a} {noun}{key}{meter}{place}",
    "{noun}{key}{meter}{place}",
    "generate {a} {noun}{place}{key}{meter}",
    "play me {a} {noun}{key}{meter}{place}",
)
UNSEEN_FRAMES = (
    "I would like to hear {a} {noun}{key}{meter}{place}, please",
    "could you make up {a} {noun}{place}{meter}{key}?",
    "something like {a} {noun}{meter}{key}{place}",
)


def length_class(bars: int) -> str:
    return "short" if bars <= 8 else "medium" if bars <= 24 else "long"


def caption(facts: Facts, rng: np.random.Generator, frames: Sequence[str] = TRAIN_FRAMES, keep: float = 0.75) -> str:
    """One sentence about a piece: each fact kept with probability ``keep`` (the key and meter a
    little more often: they are what the benchmark asks for), worded one of several ways."""
    adjectives = []
    if facts.tempo and rng.random() < keep:
        adjectives.append(str(rng.choice(TEMPO_ADJECTIVES[facts.tempo])))
    if rng.random() < keep * 0.5:
        adjectives.append(str(rng.choice(LENGTH_ADJECTIVES[length_class(facts.bars)])))
    head = facts.dance or facts.genre
    if head is None or rng.random() > keep + 0.15:
        head = DEFAULT_NOUN.get(facts.collection, "melody") if rng.random() < 0.6 else str(
            rng.choice(["tune", "melody", "piece"]))
    noun = " ".join([a for a in adjectives if a] + [head])
    key = f" in {key_phrase(facts, rng)}" if rng.random() < min(1.0, keep + 0.15) else ""
    meter = ""
    if facts.meter != "other" and rng.random() < min(1.0, keep + 0.1):
        meter = f", in {meter_phrase(facts.meter, rng)}" if key else f" in {meter_phrase(facts.meter, rng)}"
    place = ""
    if rng.random() < keep * 0.7:
        where = [f" from {facts.region}"] if facts.region else []
        if facts.collection in COLLECTIONS:
            where.append(f" from {rng.choice(COLLECTIONS[facts.collection])}")
        if where:
            place = str(rng.choice(where))
    frame = str(rng.choice(list(frames)))
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    text = frame.format(a=article, A=article.capitalize(), noun=noun, key=key, meter=meter, place=place)
    return re.sub(r"\s+", " ", text).strip()


def prompt_facts(text: str) -> dict[str, str]:
    """The key, mode and meter a prompt asks for, where it says them (``{"tonic": "D", "mode":
    "major", "meter": "6/8", "dance": "jig"}``): what the benchmark checks a generated piece against."""
    found: dict[str, str] = {}
    # "D major", "Em", "E min" anywhere; else a bare tonic after "in" or "key of" ("in D": major)
    key = re.search(r"\b([A-G][#b]?)(?:\s+(major|minor|maj|min)\b|(m)\b)", text) or \
        re.search(r"\b(?:in|key of)\s+([A-G][#b]?)()()(?![\w#])", text)
    if key:
        found["tonic"] = key.group(1)
        found["mode"] = "minor" if (key.group(2) or key.group(3) or "") in ("minor", "min", "m") else "major"
    meter = re.search(r"\b(\d{1,2})/(\d{1,2})\b", text)
    if meter:
        found["meter"] = meter.group(0)
    else:
        words = {v: k for k, v in NUMBER_WORDS.items()}
        spelled = re.search(r"\b(two|three|four|six|nine|twelve)-(two|four|eight)\b", text.lower())
        if spelled:
            found["meter"] = f"{words[spelled.group(1)]}/{words[spelled.group(2)]}"
    dance = dance_of(text)
    if dance:
        found["dance"] = dance
    return found
