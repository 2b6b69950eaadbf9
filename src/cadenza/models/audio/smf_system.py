"""The Sound Model Factory's training recipe: DDSP's multi-resolution spectral loss between the
network's audio for a crop's parameters and the GAN's sounds the crop was cut from (the model is
in :mod:`cadenza.models.audio.smf`)."""

from __future__ import annotations

from cadenza.audio import dsp
from cadenza.models.audio.ddsp_system import DDSPSystem


class SMFSystem(DDSPSystem):
    """Play each crop's control frames from a fresh state (with the frames since its last onset);
    the loss is the spectral distance (magnitude + log magnitude, several FFT sizes) to the GAN's
    audio. Training and validation steps are DDSP's."""

    def _loss(self, batch):
        frames, since, audio = batch
        predicted, _ = self.model(frames, {"since": since})
        return dsp.multi_resolution_stft_loss(predicted, audio, tuple(self.config.fft_sizes))
