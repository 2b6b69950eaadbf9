"""DDSP's training recipe: the multi-resolution spectral loss on resynthesised clips
(Engel et al. 2020, section 3.1; the model is in :mod:`cadenza.models.audio.ddsp`)."""

from __future__ import annotations

from cadenza.audio import dsp
from cadenza.train.system import System


class DDSPSystem(System):
    """Resynthesise each clip from its own f0 and loudness; the loss is the spectral
    distance (magnitude + log magnitude, several FFT sizes) to the clip."""

    def _loss(self, batch):
        f0, loudness, audio = batch
        predicted, _ = self.model(f0, loudness)
        return dsp.multi_resolution_stft_loss(predicted, audio, tuple(self.config.fft_sizes))

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        self.log("valid_loss", self._loss(batch), on_epoch=True, prog_bar=True)
