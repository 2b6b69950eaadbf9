"""Audio files through soundfile. Arrays are ``[channels, samples]`` float32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.utils import atomic_path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``[channels, samples]`` (or ``[samples]``) audio; format from the suffix."""
    path = Path(path)
    import soundfile

    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise CadenzaError(f"{path}: cannot write {path.suffix!r} audio (use {', '.join(AUDIO_SUFFIXES)})")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if not np.isfinite(audio).all():
        raise CadenzaError(f"{path}: audio contains NaN or infinite samples")
    with atomic_path(path) as tmp:
        soundfile.write(tmp, audio.T, int(sample_rate), format=path.suffix[1:].upper())
    return path


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file as ``([channels, samples] float32, sample_rate)``."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise CadenzaError(f"{path}: no such file")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError on bad data
        raise CadenzaError(f"{path}: cannot read audio ({str(exc).splitlines()[0][:200]})") from None
    return np.ascontiguousarray(data.T), int(rate)
