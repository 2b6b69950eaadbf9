"""WaveNet's training recipe: teacher forcing, the negative log-likelihood of each sample's
mu-law class given the true samples before it (van den Oord et al. 2016, section 2.2; the model
is in :mod:`cadenza.models.audio.wavenet`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cadenza.nn.mulaw import mu_law_quantize
from cadenza.train.system import System

CLASSES = 256


class WaveNetSystem(System):
    """Each crop of a training clip is its own target: the input at sample t is the mu-law
    level of sample t-1 (silence before the crop), the target is the class of sample t."""

    def _loss(self, batch):
        audio, controls, pitch, program = batch  # [b, T], [b, F, 2], [b], [b]
        target = mu_law_quantize(audio, CLASSES)  # [b, T]
        level = 2 * target.to(audio.dtype) / (CLASSES - 1) - 1
        previous = F.pad(level[:, :-1], (1, 0))
        frames = controls.shape[1]
        out = self.model(previous, controls, pitch[:, None].expand(-1, frames),
                         program[:, None].expand(-1, frames))  # [b, channels, T]
        return self.model.nll(out, target)

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        with torch.no_grad():
            self.log("valid_loss", self._loss(batch), on_epoch=True, prog_bar=True)
