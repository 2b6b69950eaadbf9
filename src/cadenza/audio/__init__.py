"""Audio: file I/O, resampling, features and DSP building blocks."""

from cadenza.audio.io import Audio, read_audio, write_audio

__all__ = ["Audio", "read_audio", "write_audio"]
