"""Audio files through soundfile, and :class:`Audio`, what every audio model returns.

Arrays are ``[channels, samples]`` float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True, eq=False)
class Audio:
    """A clip: ``samples`` ``[channels, samples]`` float32 and its ``sample_rate`` in Hz.

    What audio models generate, transfer and decode, and what they take as
    input. Two clips are equal when their rates and samples are identical.
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self):
        from cadenza.audio.features import check_audio

        object.__setattr__(self, "samples", check_audio(self.samples, "audio", 0))
        if not int(self.sample_rate) > 0:
            raise CadenzaError(f"sample rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @classmethod
    def read(cls, path: str | os.PathLike) -> Audio:
        return cls(*read_audio(path))

    def write(self, path: str | os.PathLike) -> Path:
        """Write a .wav, .flac or .ogg file (atomically)."""
        return write_audio(path, self.samples, self.sample_rate)

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def __len__(self) -> int:
        return self.samples.shape[1]

    def mono(self) -> Audio:
        return self if self.channels == 1 else Audio(self.samples.mean(axis=0, keepdims=True), self.sample_rate)

    def resample(self, sample_rate: int) -> Audio:
        from cadenza.audio.resample import resample

        if sample_rate == self.sample_rate:
            return self
        return Audio(resample(self.samples, self.sample_rate, sample_rate), sample_rate)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Audio) and self.sample_rate == other.sample_rate
                and np.array_equal(self.samples, other.samples))

    __hash__ = None

    def __repr__(self) -> str:
        return f"Audio({self.channels} ch, {self.seconds:.3f} s at {self.sample_rate} Hz)"
