"""The Sound Model Factory's training recipe: DDSP's multi-resolution spectral loss between the
network's audio for a crop's parameters and the GAN's sounds the crop was cut from (the model is
in :mod:`cadenza.models.audio.smf`)."""

from __future__ import annotations

from cadenza.audio import dsp
from cadenza.train.system import System


class SMFSystem(System):
    """Play each crop's control frames from a fresh state (with the frames since its last onset);
    the loss is the spectral distance (magnitude + log magnitude, several FFT sizes) to the GAN's audio."""

    def _loss(self, batch):
        frames, since, audio = batch
        predicted, _ = self.model(frames, {"since": since})
        return dsp.multi_resolution_stft_loss(predicted, audio, tuple(self.config.fft_sizes))

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        self.log("valid_loss", self._loss(batch), on_epoch=True, prog_bar=True)
