"""Reading and writing scores.

MIDI goes through symusic (fast, C++). MusicXML, compressed MusicXML, ABC and
Humdrum **kern go through music21 and are converted to a ``symusic.Score``
directly, note by note, so nothing is lost to an intermediate MIDI export:
ties are merged, chords become simultaneous notes, parts become tracks (named
after the part), and time signatures, key signatures and tempo marks are kept.

A pickup bar (anacrusis) is kept in place by shifting the music right by the
bar's missing beats, so that bar lines computed from the time signatures fall
where the score has them.

Files are untrusted. symusic's C++ MIDI parser believes the chunk lengths a
file declares, so a file cut short makes it read past the end of its buffer:
it returns garbage or dies of a segmentation fault, taking the process with
it. :func:`check_midi_chunks` walks the chunk layout in Python first (a few
microseconds; parsing each file in a child process instead costs ~20 ms), and
symusic's own bounds checks cover the events inside a chunk that fits.
"""

from __future__ import annotations

import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import symusic

from cadenza.errors import CadenzaError
from cadenza.music.theory import TPQ, make_score
from cadenza.music.transforms import note_count
from cadenza.utils import atomic_path, atomic_write_bytes

DEFAULT_TEMPO = 120.0
DEFAULT_VELOCITY = 80

MIDI_SUFFIXES = (".mid", ".midi")
MUSIC21_SUFFIXES = (".mxl", ".musicxml", ".xml", ".abc", ".krn")
SCORE_SUFFIXES = MIDI_SUFFIXES + MUSIC21_SUFFIXES
MAX_TICK = 2**31 - 1  # symusic keeps times and durations in 32-bit ticks
_MUSIC21_FORMAT = {".mxl": "musicxml", ".musicxml": "musicxml", ".xml": "musicxml",
                   ".abc": "abc", ".krn": "humdrum"}


def read_score(path: str | os.PathLike) -> symusic.Score:
    """Read one score from a MIDI, MusicXML, mxl, ABC or kern file.

    An ABC file with several tunes gives its first; use
    :func:`cadenza.data.corpora.read_pieces` for all of them.
    Raises :class:`CadenzaError` naming the file for anything unreadable.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SCORE_SUFFIXES:
        raise CadenzaError(
            f"{path}: unknown file type {path.suffix!r} "
            f"(expected one of {', '.join(SCORE_SUFFIXES)})")
    if not path.exists():
        raise CadenzaError(f"{path}: no such file")
    if not path.is_file():
        raise CadenzaError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CadenzaError(f"{path}: empty file")
    if suffix in MIDI_SUFFIXES:
        score = midi_from_bytes(path.read_bytes(), str(path))
    else:
        score = from_music21(_parse_music21(path.read_bytes(), suffix, str(path)), str(path))
    if note_count(score) == 0:
        raise CadenzaError(f"{path}: contains no notes")
    return score


def midi_from_bytes(data: bytes, name: str = "MIDI data") -> symusic.Score:
    """Parse MIDI bytes, turning every parser failure into one clear error."""
    check_midi_chunks(data, name)
    try:
        score = symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError on bad data
        raise CadenzaError(f"{name}: corrupt or truncated MIDI file ({one_line(exc)})") from None
    if score.ticks_per_quarter <= 0:
        raise CadenzaError(f"{name}: MIDI file has an invalid time division")
    return score


def check_midi_chunks(data: bytes, name: str = "MIDI data") -> None:
    """Raise :class:`CadenzaError` unless every chunk symusic will read lies inside ``data``.

    The walk is the one symusic's parser makes: the 14-byte header, then for
    each of the tracks the header declares, any other chunks (skipped) and
    one ``MTrk`` chunk. Bytes after the last track are ignored, as symusic
    ignores them.
    """
    if data[:4] != b"MThd":
        raise CadenzaError(f"{name}: not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise CadenzaError(f"{name}: corrupt or truncated MIDI file (the header is cut short)")
    header_size, _format, tracks = struct.unpack(">IHH", data[4:12])
    if header_size != 6:
        raise CadenzaError(f"{name}: corrupt MIDI file (header of {header_size} bytes, expected 6)")
    cursor = 14
    for track in range(1, tracks + 1):
        while True:
            if cursor + 8 > len(data):
                raise CadenzaError(f"{name}: corrupt or truncated MIDI file "
                                   f"(it ends before track {track} of the {tracks} its header declares)")
            kind, size = data[cursor:cursor + 4], struct.unpack(">I", data[cursor + 4:cursor + 8])[0]
            if cursor + 8 + size > len(data):
                raise CadenzaError(f"{name}: corrupt or truncated MIDI file (track {track} of {tracks} "
                                   f"declares {size} bytes, {len(data) - cursor - 8} are left)")
            cursor += 8 + size
            if kind == b"MTrk":
                break


def _parse_music21(data: bytes, suffix: str, name: str):
    import music21

    fmt = _MUSIC21_FORMAT[suffix]
    try:
        if suffix == ".mxl":
            import io
            import zipfile
            if not zipfile.is_zipfile(io.BytesIO(data)):
                raise ValueError("not a zip archive")
            # music21 reads .mxl only from a path.
            return music21.converter.parse(name, format=fmt)
        if suffix == ".abc":
            return music21.converter.parse(abc_with_unit_length(data.decode("latin-1")), format=fmt)
        return music21.converter.parse(data.decode("utf-8", errors="replace"), format=fmt)
    except CadenzaError:
        raise
    except Exception as exc:  # music21 raises many kinds of errors on bad files
        raise CadenzaError(f"{name}: cannot parse as {fmt} ({one_line(exc)})") from None


def abc_with_unit_length(text: str) -> str:
    """Add the ABC standard's default ``L:`` to tunes that have none.

    The standard sets the unit note length from the meter (1/16 below 3/4,
    else 1/8); music21 refuses tunes that leave it out.
    """
    import re

    if re.search(r"(?m)^L:", text):
        return text
    meter = re.search(r"(?m)^M:\s*(\d+)\s*/\s*(\d+)", text)
    unit = "1/16" if meter and int(meter.group(1)) / int(meter.group(2)) < 0.75 else "1/8"
    return re.sub(r"(?m)^(K:.*)$", lambda m: f"L:{unit}\n{m.group(1)}", text, count=1)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def from_music21(stream, name: str = "score", tpq: int = TPQ) -> symusic.Score:
    """Convert a music21 ``Score``, ``Part`` or ``Opus`` (first score) to symusic."""
    import music21
    from music21 import key, meter, tempo

    if isinstance(stream, music21.stream.Opus):
        scores = list(stream.scores)
        if not scores:
            raise CadenzaError(f"{name}: no tunes found")
        stream = scores[0]
    # A score without parts (an .mxl whose part list is empty, say) is read as one
    # bare stream; when it holds no notes the callers say so.
    parts = (list(stream.parts) if hasattr(stream, "parts") else []) or [stream]

    def ticks(quarters) -> int:
        value = float(quarters) * tpq
        if not (math.isfinite(value) and value <= MAX_TICK):  # symusic would refuse it with a TypeError
            raise CadenzaError(f"{name}: too long: something lasts until quarter note {float(quarters):,.0f}, "
                               f"past the {MAX_TICK // tpq:,} quarter notes a score can hold")
        return int(round(value))

    first_measure = parts[0].getElementsByClass("Measure").first()
    shift = float(first_measure.paddingLeft) if first_measure is not None else 0.0

    score = make_score(tpq=tpq)
    for index, part in enumerate(parts):
        instrument = part.getInstrument(returnDefault=False)
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram else 0
        part_id = part.id if isinstance(part.id, str) else None
        part_name = getattr(part, "partName", None)  # a bare stream (no Part) has none
        track = symusic.Track(part_name or part_id or f"Part {index + 1}", int(program), False)
        track.notes = _merge_ties(part.flatten().notes, ticks, shift)
        score.tracks.append(track)

    flat0 = parts[0].flatten()
    for ts in flat0.getElementsByClass(meter.TimeSignature):
        score.time_signatures.append(
            symusic.TimeSignature(ticks(ts.offset + shift) if ts.offset else 0,
                                  int(ts.numerator), int(ts.denominator)))
    for ks in flat0.getElementsByClass(key.KeySignature):
        minor = isinstance(ks, key.Key) and ks.mode == "minor"
        sharps = max(-7, min(7, int(ks.sharps)))
        score.key_signatures.append(
            symusic.KeySignature(ticks(ks.offset + shift) if ks.offset else 0, sharps, int(minor)))
    marks = [(m.offset, m.getQuarterBPM()) for m in stream.flatten().getElementsByClass(tempo.MetronomeMark)]
    marks = [(offset, bpm) for offset, bpm in marks if bpm]
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0.0, DEFAULT_TEMPO))
    for offset, bpm in marks:
        score.tempos.append(symusic.Tempo(ticks(offset + shift) if offset else 0, float(bpm)))
    return score


def _merge_ties(elements, ticks, shift: float) -> list:
    """Notes of a flattened part, tied notes merged into one.

    Ties are matched by MIDI number, not by spelling: music21's own
    ``stripTies`` misses a tie whose notes a key signature spells differently.
    """
    notes, open_ties = [], {}  # MIDI pitch -> index in notes of the note a tie continues
    for element in elements:
        length = float(element.quarterLength)
        if length <= 0:  # grace notes have no duration of their own
            continue
        velocity = element.volume.velocity if element.volume.velocity else DEFAULT_VELOCITY
        start, end = ticks(element.offset + shift), ticks(element.offset + shift + length)
        ties = [n.tie or element.tie for n in element.notes] if element.isChord else [element.tie]
        for pitch, tie in zip(element.pitches, ties):
            midi = int(pitch.midi)
            if not 0 <= midi <= 127:
                continue
            kind = tie.type if tie is not None else None
            held = open_ties.get(midi)
            if kind in ("continue", "stop") and held is not None and notes[held][0] + notes[held][1] == start:
                notes[held][1] = end - notes[held][0]
                if kind == "stop":
                    del open_ties[midi]
                continue
            notes.append([start, end - start, midi, int(velocity)])
            if kind in ("start", "continue"):
                open_ties[midi] = len(notes) - 1
            else:
                open_ties.pop(midi, None)
    notes.sort(key=lambda n: (n[0], n[2]))
    return [symusic.Note(*n) for n in notes]


def write_midi(score: symusic.Score, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write_bytes(path, score.dumps_midi())
    return path


def to_music21(score: symusic.Score):
    """A music21 stream of ``score``, built by music21's MIDI reader.

    music21's MIDI import splits overlapping notes of one track into voices
    and spells the notation. Its own quantiser moves notes that are already
    exact (a dotted eighth followed by a dotted quarter, say), so the score
    is snapped here to a grid of 1/24 quarter (32nds and sixteenth triplets
    stay exact) and music21's quantiser is switched off.
    """
    import music21

    from cadenza.music.transforms import quantize

    if score.ticks_per_quarter % 24:
        score = score.resample(TPQ)
    exact = quantize(score, Fraction(1, 24))
    return music21.converter.parse(exact.dumps_midi(), format="midi", quantizePost=False)


def write_musicxml(score: symusic.Score, path: str | os.PathLike, title: str | None = None) -> Path:
    path = Path(path)
    stream = to_music21(score)
    if title:
        import music21
        stream.metadata = stream.metadata or music21.metadata.Metadata()
        stream.metadata.title = title
    with atomic_path(path) as tmp:
        # music21 picks the writer from the suffix, so give it one it knows.
        written = Path(stream.write("musicxml", fp=tmp.with_suffix(".musicxml")))
        os.replace(written, tmp)
    return path


def write_score(score: symusic.Score, path: str | os.PathLike) -> Path:
    """Write MIDI (.mid/.midi) or MusicXML (.musicxml/.xml), chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return write_midi(score, path)
    if suffix in (".musicxml", ".xml"):
        return write_musicxml(score, path)
    raise CadenzaError(f"{path}: cannot write {suffix!r} files (use .mid or .musicxml)")
