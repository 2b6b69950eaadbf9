"""Rendering scores to audio through a SoundFont (symusic's synthesizer).

The default SoundFont is the General MIDI ``TimGM6mb.sf2`` that pretty_midi
ships, so rendering works offline on a fresh install.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import symusic

from cadenza.errors import CadenzaError

DEFAULT_SAMPLE_RATE = 22050


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@functools.lru_cache(maxsize=4)
def _synthesizer(soundfont: str, sample_rate: int):
    return symusic.Synthesizer(soundfont, sample_rate, 0)


def render(score: symusic.Score, sample_rate: int = DEFAULT_SAMPLE_RATE,
           soundfont: str | os.PathLike | None = None, stereo: bool = False) -> np.ndarray:
    """Render ``score`` to ``[channels, samples]`` float32, peak at most 0.99."""
    path = Path(soundfont) if soundfont is not None else default_soundfont()
    if not path.is_file():
        raise CadenzaError(f"{path}: no such SoundFont")
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise CadenzaError(f"{path}: not a SoundFont (.sf2 or .sf3)")
    if not 8000 <= int(sample_rate) <= 192000:
        raise CadenzaError(f"sample rate must be between 8000 and 192000 Hz, got {sample_rate}")
    try:
        synth = _synthesizer(str(path), int(sample_rate))
    except Exception as exc:  # the synthesizer rejects a corrupt SoundFont with a RuntimeError
        raise CadenzaError(f"{path}: cannot load SoundFont ({str(exc).splitlines()[0][:200]})") from None
    audio = np.array(synth.render(score, True), dtype=np.float32)  # [2, samples]
    if not stereo:
        audio = audio.mean(axis=0, keepdims=True)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio
