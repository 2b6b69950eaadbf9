"""Scores: reading and writing, piano rolls, transforms, rendering and plots; music theory
(keys, scales, pitch names, the score builder) in ``theory``.

Every score in Cadenza is a :class:`symusic.Score` in ticks.
"""

from cadenza.music.io import (
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    from_music21,
    read_score,
    write_midi,
    write_musicxml,
    write_score,
)
from cadenza.music.roll import from_piano_roll, piano_roll
from cadenza.music.transforms import melody, note_count, quantize, transpose

__all__ = [
    "MIDI_SUFFIXES",
    "SCORE_SUFFIXES",
    "from_music21",
    "from_piano_roll",
    "melody",
    "note_count",
    "piano_roll",
    "quantize",
    "read_score",
    "transpose",
    "write_midi",
    "write_musicxml",
    "write_score",
]
