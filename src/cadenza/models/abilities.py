"""What a model can do beyond ``fit`` / ``generate``, declared by the classes it inherits.

A model says what it can do by inheriting these small abstract classes, the
way a scikit-learn estimator inherits ``ClassifierMixin``; interfaces ask
``isinstance(model, Transfer)`` (or ``issubclass`` before loading anything)
and never look for attributes. A new model that inherits :class:`Transfer`
appears in ``cadenza transfer`` and in the studio's Audio tab without an edit
to either.

- :class:`Streaming`: plays live, block by block, from note events (a score
  or a MIDI keyboard), through :mod:`cadenza.realtime`;
- :class:`Transfer`: audio in, audio out (timbre transfer, resynthesis);
- :class:`Codec`: audio to integer tokens and back;
- :class:`LatentSpace`: audio to a continuous latent and back;
- :class:`Reports`: generation that also draws how it went (fitness by generation).

The conditioning inputs a model takes are declared in ``Generator.controls``
with names from :data:`CONTROLS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.utils import one_thread

if TYPE_CHECKING:
    import symusic

    from cadenza.audio.io import Audio
    from cadenza.realtime.controls import NoteTracker
    from cadenza.realtime.stream import Stream

# The conditioning inputs a model may declare in ``Generator.controls``.
CONTROLS: dict[str, str] = {
    "f0": "fundamental frequency a frame (Hz)",
    "loudness": "A-weighted loudness a frame (dB)",
    "pitch": "MIDI pitch of a note",
    "velocity": "MIDI velocity of a note",
    "instrument": "General MIDI program or instrument family",
    "midi": "a score or live MIDI notes",
    "audio": "a recording (transfer, prompts, inpainting)",
    "latent": "axes of a continuous latent space",
    "tokens": "codec tokens",
    "text": "a text prompt",
}


def abilities(cls: type) -> list[str]:
    """The names of the abilities a model class declares (for tables and help)."""
    return [name for name, ability in ABILITIES.items() if issubclass(cls, ability)]


class Streaming(ABC):
    """Plays in real time: a :class:`~cadenza.realtime.stream.Stream` over blocks of control
    frames (``hop`` samples each), fed from note events by a :class:`NoteTracker`.

    ``render_score`` runs the same stream over a whole score, so what is heard live
    is what an offline render gives. Offline renders (:meth:`render_frames`) go
    ``render_block_frames`` frames at a time, so a long piece needs the memory of
    one block, and run on one torch thread (:func:`cadenza.utils.one_thread`):
    a block's work is too small to split, and on a busy CPU threads contend.
    """

    render_block_frames: ClassVar[int] = 4096  # control frames a block of an offline render

    @property
    @abstractmethod
    def hop(self) -> int:
        """Samples a control frame: a block must be a multiple of it."""

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""

    @abstractmethod
    def stream(self, seed: int = 0) -> Stream:
        """A fresh stream whose ``step`` turns control frames into audio."""

    @abstractmethod
    def tracker(self) -> NoteTracker:
        """Note events -> control frames, calibrated for this model."""

    def check_block(self, block: int) -> None:
        """Refuse a block size the stream cannot take: a whole number of control frames."""
        if block < self.hop or block % self.hop:
            raise CadenzaError(f"--block must be a multiple of the model's hop ({self.hop} samples), got {block}")

    def score_blocks(self, score: symusic.Score, block: int) -> Iterator[np.ndarray]:
        """A score's control frames, ``block`` samples at a time, as a live player makes them."""
        from cadenza.realtime.controls import ScoreControls

        self.check_block(block)
        source = ScoreControls(score, self.tracker())
        if not source.events:
            raise CadenzaError("the score has no pitched notes to play")
        per_block = block // self.hop

        def blocks():
            source.reset()
            done = 0
            while done < source.total_frames:
                count = min(per_block, source.total_frames - done)
                done += count
                yield source.read(count)
        return blocks()

    def render_frames(self, frames: np.ndarray, seed: int = 0,
                      progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Audio ``[channels, samples]`` for control frames ``[frames, ...]``: a fresh stream
        run over them ``render_block_frames`` at a time, on one torch thread.
        ``progress(seconds)`` is called with the seconds of audio each block made."""
        stream = self.stream(seed)
        stream.init_state()
        blocks = [np.zeros((stream.channels, 0), np.float32)]
        with one_thread():
            for start in range(0, len(frames), self.render_block_frames):
                blocks.append(stream.step(frames[start:start + self.render_block_frames]))
                if progress is not None:
                    progress(blocks[-1].shape[-1] / self.sample_rate)
        return np.concatenate(blocks, axis=-1)

    def render_score(self, score: symusic.Score, seed: int = 0, max_frames: int | None = None) -> Audio:
        """Play a score offline: the streaming path run over all its frames."""
        from cadenza.audio.io import Audio
        from cadenza.realtime.controls import ScoreControls

        source = ScoreControls(score, self.tracker())
        if not source.events:
            raise CadenzaError("the score has no pitched notes to play")
        frames = source.total_frames if max_frames is None else min(max_frames, source.total_frames)
        return Audio(self.render_frames(source.read(frames), seed), self.sample_rate)


class Transfer(ABC):
    """Audio in, audio out. ``TransferOptions`` (a dataclass of ``option`` fields) lists
    the controls a transfer takes; the CLI and the studio build their controls from it."""

    TransferOptions: ClassVar[type] = dataclass(type("TransferOptions", (), {}))

    @abstractmethod
    def transfer(self, audio: Audio, **options) -> tuple[Audio, list[str]]:
        """The transformed audio and notes on what was adapted (resampling, mixing down)."""

    def transfer_options(self, options: dict):
        from cadenza.config import build_dataclass

        return build_dataclass(self.TransferOptions, options, "transfer option")


class Codec(ABC):
    """Audio to integer tokens ``[codebooks, frames]`` and back."""

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Tokens take values in ``0 .. codebook_size - 1``."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Token frames a second."""

    @abstractmethod
    def encode(self, audio: Audio, bitrate: float | None = None) -> np.ndarray:
        """Integer tokens ``[codebooks, frames]`` (fewer codebooks at a lower ``bitrate``, kbps)."""

    @abstractmethod
    def decode(self, tokens: np.ndarray) -> Audio:
        """Audio from tokens ``[codebooks, frames]``."""


class LatentSpace(ABC):
    """Audio to a continuous latent ``[latent_size, frames]`` and back."""

    @property
    @abstractmethod
    def latent_size(self) -> int:
        """Dimensions of a latent frame."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Latent frames a second."""

    @abstractmethod
    def encode(self, audio: Audio) -> np.ndarray:
        """The latent ``[latent_size, frames]`` of ``audio`` (its mean, for a VAE)."""

    @abstractmethod
    def decode(self, latent: np.ndarray) -> Audio:
        """Audio from a latent ``[latent_size, frames]``."""


class Reports(ABC):
    """Generation that leaves a picture of how it went (a genetic algorithm's fitness by
    generation): ``generate_with_report`` gives the pieces ``generate`` gives (same seeds)
    and writes the picture."""

    @abstractmethod
    def generate_with_report(self, report, n: int = 1, seed: int = 0, **sampling) -> list:
        """The pieces of ``generate(n, seed, **sampling)``; a PNG of the run written to ``report``."""


ABILITIES: dict[str, type] = {"streaming": Streaming, "transfer": Transfer, "codec": Codec,
                              "latent": LatentSpace, "reports": Reports}

