"""Audio: file I/O, resampling, features and DSP building blocks."""

from cadenza.audio.io import read_audio, write_audio

__all__ = ["read_audio", "write_audio"]
