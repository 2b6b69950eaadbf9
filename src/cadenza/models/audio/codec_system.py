"""The codec's training recipe: reconstruction losses, then a GAN (SoundStream, EnCodec, DAC).

Losses on the reconstruction of each crop (the model is in
:mod:`cadenza.models.audio.codec`):

- DAC's multi-scale mel loss and the multi-resolution STFT loss of Parallel
  WaveGAN (:mod:`cadenza.nn.losses`), the VQ commitment loss (EMA codebooks
  need no codebook loss);
- after ``adversarial_start`` steps of that reconstruction-only warm-up, a
  multi-period (HiFi-GAN) and a multi-resolution STFT (EnCodec) discriminator
  with EnCodec's hinge losses and MelGAN's feature matching.

The weights are fixed, as in DAC (mel 15, adversarial 1, feature matching 2;
here STFT 1, commitment 0.25 inside the quantiser), not EnCodec's balancer:
with two losses a phase the fixed weights are simpler to read, and DAC reached
better rate-distortion with them. The discriminator steps once a batch, before
the generator. On a CPU the discriminators see only the first
``adversarial_items`` crops of a batch (the reconstruction losses see all):
the STFT discriminator's 2-D convolutions cost more than the codec itself.
"""

from __future__ import annotations

import torch

from cadenza.nn.discriminators import CombinedDiscriminator, MultiPeriodDiscriminator, MultiResolutionSTFTDiscriminator
from cadenza.nn.losses import (
    multi_resolution_stft_loss,
    multi_scale_mel_loss,
)
from cadenza.train.system import System

MEL_WINDOWS, MEL_BINS = (32, 64, 128, 256, 512, 1024, 2048), (5, 10, 20, 40, 80, 160, 320)  # DAC's scales
STFT_SIZES = ((1024, 256, 1024), (512, 128, 512), (256, 64, 256))  # (n_fft, hop, window)


class CodecSystem(System):
    """Reconstruct each crop through the quantiser (with quantiser dropout); add the GAN once the
    warm-up is over. Keeps the last weights: a GAN's losses do not rank checkpoints."""

    monitor = None

    def __init__(self, model, config):
        super().__init__(model, config, gradient_clip=config.gradient_clip)
        c = config
        # spectral resolutions longer than a crop are left out (tiny test crops)
        self.mel_scales = [(w, m) for w, m in zip(MEL_WINDOWS, MEL_BINS) if w <= c.crop_samples]
        self.stft_sizes = [size for size in STFT_SIZES if size[0] <= c.crop_samples] or \
            [(c.crop_samples, c.crop_samples // 4, c.crop_samples)]
        ffts = [n for n in (1024, 512, 256) if n <= c.crop_samples] or [c.crop_samples]
        self.discriminator = CombinedDiscriminator(
            MultiPeriodDiscriminator(periods=(2, 3, 5, 7, 11), channels=tuple(c.discriminator_channels),
                                     kernel_size=5),
            MultiResolutionSTFTDiscriminator(n_ffts=ffts, hop_lengths=[n // 4 for n in ffts],
                                             channels=c.stft_discriminator_channels))
        self.automatic_optimization = False

    def phase_schedule(self):
        start = self.config.adversarial_start
        return (("reconstruction", 0), ("adversarial", start)) if start < self.config.max_steps else ()

    def configure_optimizers(self):
        betas = (0.8, 0.99)  # DAC's
        return [torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate, betas=betas,
                                  weight_decay=self.config.weight_decay),
                torch.optim.AdamW(self.discriminator.parameters(), lr=self.config.learning_rate, betas=betas,
                                  weight_decay=self.config.weight_decay)]

    def reconstruction_losses(self, audio, decoded) -> dict[str, torch.Tensor]:
        sr = self.config.sample_rate
        return {"mel": multi_scale_mel_loss(decoded, audio, sr, *zip(*self.mel_scales)),
                "stft": multi_resolution_stft_loss(decoded, audio, *zip(*self.stft_sizes))}

    def training_step(self, batch, _):
        generator_opt, discriminator_opt = self.optimizers()
        c = self.config
        audio = batch  # [B, T]
        out = self.model(audio)
        losses = self.reconstruction_losses(audio, out.audio)
        loss = c.mel_weight * losses["mel"] + c.stft_weight * losses["stft"] + out.quantizer.loss
        if self.phase == "adversarial":
            items = c.adversarial_items or len(audio)  # the discriminators see the first crops only: CPU time
            real, fake = audio[:items, None], out.audio[:items, None]  # [b, 1, T]
            d_loss, losses["adversarial"], losses["features"] = self.adversarial_step(
                self.discriminator, discriminator_opt, real, fake)
            loss = loss + c.adversarial_weight * losses["adversarial"] + c.feature_weight * losses["features"]
            self.log("discriminator_loss", d_loss, on_step=True, on_epoch=False)
        # only the generator's optimiser is asked to step: the discriminator's gradients from
        # this loss are zeroed before its next step
        self.step(generator_opt, loss)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train_mel", losses["mel"], on_step=True, on_epoch=True)
        for name in ("adversarial", "features"):
            if name in losses:
                self.log(f"train_{name}", losses[name], on_step=True, on_epoch=False)
        perplexity = out.quantizer.perplexity
        self.log("codebook_perplexity", perplexity[perplexity > 0].mean(), on_step=True, on_epoch=False)

    def validation_step(self, batch, _):
        with torch.no_grad():
            out = self.model(batch)  # eval mode: every codebook
            self.log("valid_loss", self.reconstruction_losses(batch, out.audio)["mel"], on_epoch=True,
                     prog_bar=True)
            low = self.model(batch, n_q=max(1, self.config.n_q // 4))  # the lowest bitrate people use
            self.log("valid_mel_low", self.reconstruction_losses(batch, low.audio)["mel"], on_epoch=True)
