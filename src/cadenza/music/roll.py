"""Piano rolls: scores as ``[frames, pitches]`` 0/1 arrays, and back.

A frame rate is given per quarter note (``unit="quarter"``, metrical, what the
Boulanger-Lewandowski benchmarks use with ``fs=1``) or per second
(``unit="second"``). A note covers frames ``[round(start*fs), round(end*fs))``
and at least one frame.

A roll is allocated whole, so a score whose notes reach past
:data:`MAX_FRAMES` frames (one note millions of ticks long is enough) is
refused rather than allowed to ask for gigabytes.
"""

from __future__ import annotations

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.music.theory import TPQ, make_score

MAX_FRAMES = 2_000_000  # 256 MB at 128 pitches; 500,000 quarter notes (~70 hours at 120 bpm) at fs=4


def piano_roll(score: symusic.Score, fs: float = 4, unit: str = "quarter",
               low: int = 0, high: int = 128, include_drums: bool = False) -> np.ndarray:
    """A ``[frames, high - low]`` uint8 array: 1 where a pitch sounds in a frame."""
    if fs <= 0:
        raise CadenzaError(f"frame rate must be positive, got {fs}")
    if unit == "quarter":
        timed = score
        scale = fs / score.ticks_per_quarter
    elif unit == "second":
        timed = score.to("second")
        scale = fs
    else:
        raise CadenzaError(f"unit must be 'quarter' or 'second', got {unit!r}")
    notes = [n for t in timed.tracks if include_drums or not t.is_drum for n in t.notes
             if low <= n.pitch < high]
    frames = max((int(round(n.end * scale)) for n in notes), default=0)
    frames = max(frames, max((int(round(n.time * scale)) + 1 for n in notes), default=0))
    if frames > MAX_FRAMES:
        raise CadenzaError(f"a piano roll of this score would have {frames:,} frames; the limit is "
                           f"{MAX_FRAMES:,} (cadenza.music.roll.MAX_FRAMES): use a lower frame rate or cut the score")
    roll = np.zeros((frames, high - low), dtype=np.uint8)
    for n in notes:
        start = int(round(n.time * scale))
        end = max(int(round(n.end * scale)), start + 1)
        roll[start:end, n.pitch - low] = 1
    return roll


def from_piano_roll(roll: np.ndarray, fs: float = 1, low: int = 21, tpq: int = TPQ,
                    program: int = 0, velocity: int = 80, tempo: float = 120.0,
                    name: str = "Piano") -> symusic.Score:
    """A one-track score from a ``[frames, pitches]`` roll at ``fs`` frames a quarter.

    A run of consecutive active frames becomes one note: a roll cannot tell a
    held note from the same note struck again.
    """
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise CadenzaError(f"piano roll must be 2-D [frames, pitches], got shape {roll.shape}")
    if low < 0 or low + roll.shape[1] > 128:
        raise CadenzaError(f"pitches {low}..{low + roll.shape[1] - 1} leave the MIDI range 0-127")
    step = tpq / fs
    active = np.pad(roll.astype(bool), ((1, 1), (0, 0)))
    change = np.diff(active.astype(np.int8), axis=0)
    notes = []
    for column in range(roll.shape[1]):
        starts = np.flatnonzero(change[:, column] == 1)
        ends = np.flatnonzero(change[:, column] == -1)
        for s, e in zip(starts, ends):
            t0, t1 = int(round(s * step)), int(round(e * step))
            notes.append((t0, t1 - t0, low + column, velocity))
    notes.sort(key=lambda n: (n[0], n[2]))
    return make_score(notes, name=name, program=program, tpq=tpq, tempo=tempo)
