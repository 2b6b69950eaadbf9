"""Resampling (python-soxr, the SoX resampler) and channel handling."""

from __future__ import annotations

import numpy as np

from cadenza.errors import CadenzaError


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``[channels, samples]`` audio at ``from_rate`` resampled to ``to_rate`` (soxr, high quality)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if from_rate <= 0 or to_rate <= 0:
        raise CadenzaError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    if int(from_rate) == int(to_rate):
        return audio
    import soxr

    # soxr wants [samples, channels]
    out = soxr.resample(np.ascontiguousarray(audio.T), int(from_rate), int(to_rate), quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mix down to mono (mean) or copy mono to every channel; other mismatches are an error."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if have == 1:
        return np.repeat(audio, channels, axis=0)
    raise CadenzaError(f"cannot turn {have}-channel audio into {channels} channels")
