"""General MIDI drum notes, by name.

The key numbers are the General MIDI Level 1 Percussion Key Map (MIDI
Manufacturers Association, "General MIDI System Level 1", 1991), notes 35-81
on channel 10. A drum part is a ``symusic.Track(..., is_drum=True)``, which
symusic writes on channel 10.
"""

from __future__ import annotations

from cadenza.errors import CadenzaError

GM_DRUMS: dict[str, int] = {
    "acoustic_bass_drum": 35, "kick": 36, "bass_drum": 36, "side_stick": 37, "rimshot": 37,
    "snare": 38, "acoustic_snare": 38, "clap": 39, "hand_clap": 39, "electric_snare": 40,
    "low_floor_tom": 41, "closed_hat": 42, "closed_hihat": 42, "high_floor_tom": 43,
    "pedal_hat": 44, "pedal_hihat": 44, "low_tom": 45, "open_hat": 46, "open_hihat": 46,
    "low_mid_tom": 47, "mid_tom": 47, "hi_mid_tom": 48, "crash": 49, "crash_cymbal": 49,
    "high_tom": 50, "ride": 51, "ride_cymbal": 51, "chinese_cymbal": 52, "ride_bell": 53,
    "tambourine": 54, "splash": 55, "cowbell": 56, "crash_2": 57, "vibraslap": 58,
    "ride_2": 59, "hi_bongo": 60, "low_bongo": 61, "mute_hi_conga": 62, "open_hi_conga": 63,
    "low_conga": 64, "high_timbale": 65, "low_timbale": 66, "high_agogo": 67, "low_agogo": 68,
    "cabasa": 69, "maracas": 70, "short_whistle": 71, "long_whistle": 72, "short_guiro": 73,
    "long_guiro": 74, "claves": 75, "hi_wood_block": 76, "low_wood_block": 77,
    "mute_cuica": 78, "open_cuica": 79, "mute_triangle": 80, "open_triangle": 81,
}


def drum_note(name: str) -> int:
    """GM key number of a drum name (``"kick"``, ``"closed_hat"``) or of a number 35-81."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key.isdigit():
        number = int(key)
        if 35 <= number <= 81:
            return number
        raise CadenzaError(f"drum note {number} is outside the General MIDI drum map (35-81)")
    if key not in GM_DRUMS:
        raise CadenzaError(f"unknown drum {name!r} (e.g. {', '.join(list(GM_DRUMS)[1:12])})")
    return GM_DRUMS[key]
