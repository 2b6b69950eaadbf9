"""Audio files through soundfile, and :class:`Audio`, what every audio model returns.

Arrays are ``[channels, samples]`` float32.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.utils import atomic_path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MAX_CHANNELS = 64  # more is a corrupt or hostile header, not a recording
MAX_SAMPLE_RATE = 768_000


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
        # bytes: soundfile encodes a str path as strict UTF-8, which a file name need not be
        soundfile.write(os.fsencode(tmp), audio.T, int(sample_rate), format=path.suffix[1:].upper())
    return path


def read_audio(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as ``([channels, samples] float32, sample_rate)``.

    With ``max_seconds``, a longer file is refused from its header, before anything
    is decoded, and decoding stops one frame past the limit whatever the header
    says: a small compressed file holding hours of silence never fills memory.
    An empty file, or one with implausible channels or rate, is refused too.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise CadenzaError(f"{path}: no such file")
    try:
        info = soundfile.info(os.fsencode(path))  # bytes: a file name need not be UTF-8
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError on bad data
        raise CadenzaError(f"{path}: cannot read audio ({_first_line(exc)})") from None
    if not 1 <= info.channels <= MAX_CHANNELS or not 1 <= info.samplerate <= MAX_SAMPLE_RATE:
        raise CadenzaError(f"{path}: {info.channels} channels at {info.samplerate} Hz is not audio Cadenza reads "
                           f"(1-{MAX_CHANNELS} channels, up to {MAX_SAMPLE_RATE} Hz)")
    limit = None if max_seconds is None else int(max_seconds * info.samplerate)
    if limit is not None and info.frames > limit:
        raise _too_long(path, info.frames / info.samplerate, max_seconds)
    try:
        data = _decode(path, info.frames if limit is None else min(info.frames, limit + 1))
    except Exception as exc:
        raise CadenzaError(f"{path}: cannot read audio ({_first_line(exc)})") from None
    if limit is not None and data.shape[1] > limit:  # the header understated the length
        raise _too_long(path, None, max_seconds)
    if data.shape[1] == 0:
        raise CadenzaError(f"{path}: empty (no audio samples)")
    return data, int(info.samplerate)


def _decode(path: Path, frames: int) -> np.ndarray:
    """At most ``frames`` frames of ``path`` as ``[channels, samples]`` float32, decoded a block
    at a time straight into place (no second, transposed copy of a long file)."""
    import soundfile

    with soundfile.SoundFile(os.fsencode(path)) as f:
        data = np.empty((f.channels, frames), np.float32)
        done = 0
        for block in f.blocks(blocksize=1 << 16, frames=frames, dtype="float32", always_2d=True):
            data[:, done:done + len(block)] = block.T
            done += len(block)
    return data if done == frames else np.ascontiguousarray(data[:, :done])  # a file shorter than its header


def _too_long(path: Path, seconds: float | None, max_seconds: float) -> CadenzaError:
    length = f"{seconds:.1f} s" if seconds is not None else "the audio"
    return CadenzaError(f"{path}: {length} is over the {max_seconds:g} s limit")


def _first_line(exc: BaseException) -> str:
    """soundfile's message, without the path it repeats ("Error opening 'x.wav': ...")."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^Error opening .*?: ", "", line)[:200]


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
    def read(cls, path: str | os.PathLike, max_seconds: float | None = None) -> Audio:
        """A .wav, .flac or .ogg file; longer than ``max_seconds`` is refused before decoding
        (see :func:`read_audio`)."""
        return cls(*read_audio(path, max_seconds))

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

    def conformed(self, sample_rate: int) -> tuple[Audio, list[str]]:
        """This clip mono at ``sample_rate`` (what a model takes), and notes on what changed."""
        audio, notes = self, []
        if audio.channels > 1:
            notes.append(f"mixed {audio.channels} channels down to mono")
            audio = audio.mono()
        if audio.sample_rate != sample_rate:
            notes.append(f"resampled from {audio.sample_rate} Hz to the model's {sample_rate} Hz")
            audio = audio.resample(sample_rate)
        return audio, notes

    def __eq__(self, other) -> bool:
        return (isinstance(other, Audio) and self.sample_rate == other.sample_rate
                and np.array_equal(self.samples, other.samples))

    __hash__ = None

    def __repr__(self) -> str:
        return f"Audio({self.channels} ch, {self.seconds:.3f} s at {self.sample_rate} Hz)"
