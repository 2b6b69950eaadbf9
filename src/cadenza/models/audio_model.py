"""The base of every audio model: it fits on audio data and generates :class:`Audio`.

Audio data is, in order of preference:

- an :class:`~cadenza.data.audio_sets.AudioSet` (``cadenza.corpus("violin")``);
- the name of an audio set (``"violin"``, ``"notes"``) or a folder of audio files,
  read with :func:`cadenza.data.audio_sets.audio_set` for the split being fitted;
- a list of :class:`~cadenza.audio.Audio` clips;
- scores, for a model that says how to play them (:meth:`AudioModel._from_scores`).

A subclass sets ``Config`` (with a ``sample_rate``), writes ``_datasets``,
``_system``, ``_finish`` as every neural model does, and returns ``Audio`` from
``_generate_one``. What else it can do it declares with the classes of
:mod:`cadenza.models.abilities`.
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.models.neural import NeuralGenerator

SILENT_PEAK = 1e-5  # -100 dBFS: input audio this quiet is refused (nothing to encode)


class AudioModel(NeuralGenerator):
    domain: ClassVar[str] = "audio"

    def generate(self, n: int = 1, seed: int = 0, **sampling) -> list:
        """``n`` clips, made on one torch thread (:func:`cadenza.utils.one_thread`): an audio
        model's steps are too small to split, and on a busy CPU threads only contend."""
        from cadenza.utils import one_thread

        with one_thread():
            return super().generate(n, seed, **sampling)

    def _training_data(self, data, split: str = "train"):
        """``data`` as an AudioSet at the model's sample rate (None for an empty valid split)."""
        from cadenza.audio.io import Audio
        from cadenza.data.audio_sets import HOP, AudioSet, audio_set, from_audio

        if isinstance(data, (str, os.PathLike)):
            data = audio_set(data, split)
        elif not isinstance(data, AudioSet):
            items = list(data)
            if items and all(isinstance(i, Audio) for i in items):
                data = from_audio([(str(k), a) for k, a in enumerate(items)], split=split,
                                  sample_rate=self.config.sample_rate, hop=getattr(self.config, "hop", HOP))
            elif items and all(isinstance(i, symusic.core.ScoreTick) for i in items):
                data = self._from_scores(items, split, getattr(data, "name", "scores"))
            elif items:
                raise CadenzaError(f"{self.name}: fits on audio (an audio set, a folder of audio files or Audio "
                                   f"clips), got {type(items[0]).__name__}")
            else:
                data = None
        if data is None or len(data) == 0:
            if split == "train":
                raise CadenzaError(f"{self.name}: cannot fit on an empty corpus")
            return None
        self._check_audio_set(data)
        return data

    def _check_audio_set(self, data) -> None:
        if data.sample_rate != self.config.sample_rate:
            raise CadenzaError(f"audio set {data.name} is at {data.sample_rate} Hz; this model wants "
                               f"{self.config.sample_rate} Hz")

    def _from_scores(self, scores: list[symusic.Score], split: str, name: str):
        """An AudioSet played from ``scores``; models that can play scores override this."""
        raise CadenzaError(f"{self.name} fits on audio, not scores: use an audio set "
                           "(cadenza corpus list) or a folder of audio files")


    # --- input audio ---------------------------------------------------------------------------

    def mono_samples(self, audio, min_samples: int, verb: str) -> tuple[np.ndarray, list[str]]:
        """``audio`` as mono float32 samples at the model's rate ``[samples]``, and notes on what was
        changed (mixed down, resampled); NaN, fewer than ``min_samples`` samples or silence (below
        :data:`SILENT_PEAK`) is one clear error. ``verb`` says what the model would have done."""
        from cadenza.audio.features import check_audio
        from cadenza.audio.io import Audio

        if not isinstance(audio, Audio):
            raise CadenzaError(f"{self.name} takes an Audio clip, got {type(audio).__name__}")
        audio, notes = audio.conformed(self.config.sample_rate)
        samples = check_audio(audio.samples, "input audio", min_samples=min_samples)[0]
        if not np.abs(samples).max() > SILENT_PEAK:
            raise CadenzaError(f"input audio: silent (nothing to {verb})")
        return samples, notes

    # --- a network's weights in the run's safetensors file (``net.*``) -----------------------

    def net_arrays(self) -> dict:
        """The network's weights as ``net.*`` arrays for the run's safetensors file."""
        return {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    @staticmethod
    def net_spec(net, half: bool = False) -> dict:
        """The ``net.*`` tensors of ``net`` (built on the meta device by ``_expected_arrays``);
        ``half``: its float tensors may be stored as fp16 too (a shipped run:
        :func:`cadenza.models.half_precision.save_half_precision`)."""
        from cadenza.models.run_check import FLOAT32, ArraySpec, module_spec

        spec = module_spec(net, prefix="net.")
        if half:
            spec = {name: ArraySpec(s.shape, ("F32", "F16")) if s.dtypes == FLOAT32 else s for name, s in spec.items()}
        return spec

    def load_net(self, net, arrays: dict) -> None:
        """Set ``net_`` to ``net`` with the ``net.*`` weights of ``arrays`` (cast to its dtypes), in eval mode."""
        import torch

        net.load_state_dict({k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net.")})
        self.net_ = net.eval()


class InstrumentModel(AudioModel):
    """An audio model played by frame controls (f0 and loudness a frame of ``hop`` samples),
    like DDSP and WaveNet: its Config has ``sample_rate``, ``hop``, ``program`` and
    ``max_audio_minutes``. Scores are played by GM ``program`` to make training audio, and
    the note envelope that turns note events into controls (:meth:`tracker`) is calibrated
    on the training set by :meth:`calibrate`."""

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def _check_audio_set(self, data) -> None:
        if data.sample_rate != self.config.sample_rate or data.hop != self.config.hop:
            raise CadenzaError(f"audio set {data.name} is at {data.sample_rate} Hz with hop {data.hop}; "
                               f"this model wants {self.config.sample_rate} Hz with hop {self.config.hop}")

    def _from_scores(self, scores, split: str, name: str):
        """Scores are played by GM ``program`` (their top voice), up to ``max_audio_minutes``."""
        from cadenza.data.audio_sets import from_scores

        return from_scores(scores, self.config.program, name, split, self.config.sample_rate, self.config.hop,
                           max_seconds=self.config.max_audio_minutes * 60)

    def calibrate(self, data) -> None:
        """Fit the note envelope (velocity -> loudness) that plays scores, on the training set."""
        from cadenza.realtime.controls import Envelope

        self.envelope_ = Envelope.calibrate(data)

    def tracker(self):
        from cadenza.realtime.controls import NoteTracker

        return NoteTracker(self.config.sample_rate, self.config.hop, self.envelope_)

    @staticmethod
    def valid_windows(valid, frames: int, count: int = 64) -> dict | None:
        """At most ``count`` windows of ``frames`` frames, evenly spread over the valid set (a
        fixed subset keeps validation a small fraction of an epoch); None when there are none."""
        if not valid:
            return None
        arrays = valid.examples(frames)
        size = len(arrays["f0"])
        if not size:
            return None
        keep = np.unique(np.linspace(0, size - 1, min(size, count)).astype(int))
        return {k: v[keep] for k, v in arrays.items()}

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()
