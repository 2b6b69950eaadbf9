"""The VAE's training recipe: representation learning, then adversarial fine-tuning (RAVE).

Caillon & Esling 2021, "RAVE: A variational autoencoder for fast and
high-quality neural audio synthesis" (https://arxiv.org/abs/2111.05011),
section 3.3, two phases switched at step ``adversarial_start``:

1. ``representation``: encoder and decoder learn together on RAVE's
   multi-scale spectral distance (spectral convergence plus the L1 of log
   magnitudes, FFT sizes 2048 to 128 with 75% overlap) plus beta times the
   KL divergence of q(z|x) from N(0, I); beta rises linearly from 0 over
   ``kl_warmup`` steps (a warm-up, as RAVE's; the KL weight alone would
   otherwise close the latent before the decoder has learnt to use it);
2. ``adversarial``: the encoder is frozen (its latent is final, so the
   latent tools and the prior see a fixed space) and the decoder is
   fine-tuned with the spectral distance, a hinge adversarial loss and
   feature matching, against a multi-scale (MelGAN) and a multi-period
   (HiFi-GAN) discriminator; the discriminators step first, once a batch.

The reconstruction is compared with the input delayed by the causal PQMF's
``delay`` samples (the causal bank's round trip is a pure delay). The phase
is logged at every step (``phase`` in metrics.csv), so the loss plot marks
the switch. Weights: distance 1, adversarial 1, feature matching
``feature_weight`` (10, MelGAN's). The last weights are kept: adversarial
losses do not rank checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cadenza.nn.discriminators import CombinedDiscriminator, MultiPeriodDiscriminator, MultiScaleDiscriminator
from cadenza.nn.losses import (
    multi_resolution_stft_loss,
    multi_scale_mel_loss,
)
from cadenza.train.system import System

FFT_SIZES = (2048, 1024, 512, 256, 128)  # RAVE's scales
MEL_WINDOWS, MEL_BINS = (64, 128, 256, 512, 1024, 2048), (10, 20, 40, 80, 160, 320)


def spectral_distance(predicted: torch.Tensor, target: torch.Tensor, longest: int) -> torch.Tensor:
    """RAVE's multi-scale spectral distance over the FFT sizes that fit in ``longest`` samples."""
    sizes = [n for n in FFT_SIZES if n <= longest] or [longest]
    return multi_resolution_stft_loss(predicted, target, sizes, [n // 4 for n in sizes], sizes,
                                      sc_weight=1.0, log_weight=1.0, eps=1e-7)


def mel_distance(predicted: torch.Tensor, target: torch.Tensor, sample_rate: int, longest: int) -> torch.Tensor:
    """The codec's multi-scale mel distance (DAC's), for comparing models on one measure."""
    scales = [(w, m) for w, m in zip(MEL_WINDOWS, MEL_BINS) if w <= longest] or [(longest, 10)]
    return multi_scale_mel_loss(predicted, target, sample_rate, *zip(*scales))


class VAESystem(System):
    """Phase 1 reconstructs with the spectral distance and a warmed-up KL term; phase 2 freezes
    the encoder and adds the discriminators. Keeps the last weights."""

    monitor = None

    def __init__(self, model, config):
        super().__init__(model, config, gradient_clip=config.gradient_clip)
        c = config
        self.discriminator = CombinedDiscriminator(
            MultiScaleDiscriminator(n_scales=c.discriminator_scales, channels=c.discriminator_channels,
                                    max_channels=16 * c.discriminator_channels),
            MultiPeriodDiscriminator(periods=(2, 3, 5, 7, 11),
                                     channels=tuple(c.discriminator_channels * 2 ** i for i in range(4)),
                                     kernel_size=5))
        self.automatic_optimization = False

    def phase_schedule(self):
        start = self.config.adversarial_start
        return (("representation", 0), ("adversarial", start)) if start < self.config.max_steps \
            else (("representation", 0),)

    def configure_optimizers(self):
        betas = (0.5, 0.9)  # RAVE's
        decoder = [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")]
        adversarial = self.config.adversarial_learning_rate or self.config.learning_rate
        return [torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate, betas=betas),
                torch.optim.Adam(decoder, lr=adversarial, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=adversarial, betas=betas)]

    def beta(self) -> float:
        """The KL weight of this step: 0 rising linearly to ``kl_weight`` over ``kl_warmup`` steps."""
        warmup = self.config.kl_warmup
        return self.config.kl_weight * min(1.0, self.step_count / warmup) if warmup else self.config.kl_weight

    def target(self, audio: torch.Tensor) -> torch.Tensor:
        """The input delayed as the causal PQMF delays the reconstruction ``[B, T]``."""
        return F.pad(audio, (self.model.delay, 0))[:, : audio.shape[-1]]

    def training_step(self, batch, _):
        full_opt, decoder_opt, discriminator_opt = self.optimizers()
        c = self.config
        target = self.target(batch)
        if self.phase != "adversarial":
            out = self.model(batch)
            distance, kl = spectral_distance(out.audio, target, batch.shape[-1]), out.kl
            beta = self.beta()
            loss = distance + beta * kl
            self.step(full_opt, loss)
            self.log("beta", beta, on_step=True, on_epoch=False)
        else:
            with torch.no_grad():  # the encoder is frozen in phase 2
                mean, scale = self.model.encode(batch)
                z = mean + scale * torch.randn_like(mean)
                kl = 0.5 * (mean ** 2 + scale ** 2 - torch.log(scale ** 2) - 1).sum(1).mean()
            decoded = self.model.decode(z)[:, : batch.shape[-1]]
            distance = spectral_distance(decoded, target, batch.shape[-1])
            items = c.adversarial_items or len(batch)  # the discriminators see the first crops only: CPU time
            real, fake = target[:items, None], decoded[:items, None]  # [b, 1, T]
            d_loss, adversarial, features = self.adversarial_step(self.discriminator, discriminator_opt, real, fake)
            loss = c.adversarial_distance_weight * distance + c.adversarial_weight * adversarial \
                + c.feature_weight * features
            self.step(decoder_opt, loss)
            self.log("discriminator_loss", d_loss, on_step=True, on_epoch=False)
            self.log("train_adversarial", adversarial, on_step=True, on_epoch=False)
            self.log("train_features", features, on_step=True, on_epoch=False)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train_distance", distance, on_step=True, on_epoch=True)
        self.log("train_kl", kl, on_step=True, on_epoch=True)

    def validation_step(self, batch, _):
        with torch.no_grad():
            out = self.model(batch, sample=False)
            target = self.target(batch)
            self.log("valid_loss", spectral_distance(out.audio, target, batch.shape[-1]), on_epoch=True,
                     prog_bar=True)
            self.log("valid_mel", mel_distance(out.audio, target, self.config.sample_rate, batch.shape[-1]),
                     on_epoch=True)
            self.log("valid_kl", out.kl, on_epoch=True)
