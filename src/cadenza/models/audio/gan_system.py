"""The GAN's training recipe: WGAN-GP (or hinge) with an auxiliary classifier, several critic steps a
generator step, an averaged generator, and the best checkpoint chosen by a quality measure.

- Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"
  (https://arxiv.org/abs/1704.00028): the critic's loss ``D(fake) - D(real)``
  plus ``gp_weight`` (10) times ``(||grad D(x_hat)|| - 1)^2`` at random points
  between real and fake; ``n_critic`` (5) critic steps for each generator step
  (WaveGAN's recipe); Adam with lr 1e-4, betas (0.5, 0.9). Or the hinge loss
  (Miyato et al. 2018) with one critic step a generator step.
- Odena et al. 2017 (AC-GAN): the critic's class heads learn the pitch (and
  instrument) of real notes by cross-entropy; the generator is asked that its
  fakes be classified as the pitch it was given (weight ``class_weight``).
- Karras et al. 2018 (progressive GANs) and Yazıcı et al. 2019, "The Unusual
  Effectiveness of Averaging in GAN Training": the generator that is kept and
  validated is an exponential moving average of the generator's weights
  (``ema_decay``, 0.999).
- WaveGAN's users saw quality peak and then collapse on small data; so at
  every validation the averaged generator makes one note per held-out note
  (same pitch and instrument) and ``valid_loss`` is the Fréchet distance
  between the log-mel statistics of its notes and the real ones (a cheap
  cousin of the Fréchet audio distance, computed in the training process); the
  engine keeps the checkpoint where it is lowest, and ``loss.png`` shows it.

One training step is one batch: the critic steps on every batch, the
generator on every ``n_critic``-th.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cadenza.nn.losses import mel_magnitude
from cadenza.train.system import System

MEL_FFT, MEL_BANDS = 1024, 64


def logmel_features(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A note's summary for the quality measure: the mean and standard deviation over time of its
    log-mel bands, ``audio [B, T]`` -> ``[B, 2 * MEL_BANDS]``."""
    n_fft = min(MEL_FFT, 2 ** int(np.log2(audio.shape[-1])))  # tiny test sounds are shorter than an FFT
    mel = mel_magnitude(audio, sample_rate, n_fft, n_fft // 4, MEL_BANDS)  # [B, bands, frames]
    log = torch.log(mel + 1e-5)
    return torch.cat([log.mean(-1), log.std(-1)], dim=1)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b`` (float64)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


class GANSystem(System):
    """Critic steps every batch, the generator every ``n_critic``-th; ``valid_loss`` is the Fréchet
    distance of the averaged generator's notes to the held-out notes (lower is better)."""

    def __init__(self, generator, discriminator, config):
        super().__init__(generator, config, ema_decay=config.ema_decay)
        self.discriminator = discriminator
        self.automatic_optimization = False
        self._valid_real: list[torch.Tensor] = []
        self._valid_fake: list[torch.Tensor] = []

    def configure_optimizers(self):
        betas = (0.5, 0.9)
        return [torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.config.learning_rate, betas=betas)]

    @property
    def n_critic(self) -> int:
        return self.config.n_critic if self.config.loss == "wgan-gp" else 1

    def class_loss(self, judgement, pitch, instrument) -> torch.Tensor:
        loss = F.cross_entropy(judgement.pitch_logits, pitch)
        if judgement.instrument_logits is not None:
            loss = loss + F.cross_entropy(judgement.instrument_logits, instrument)
        return loss

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, signal) -> torch.Tensor:
        mix = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
        points = (mix * real + (1 - mix) * fake).requires_grad_(True)  # [B, T] or [B, F, T]
        score = self.discriminator(points, signal).score
        (grad,) = torch.autograd.grad(score.sum(), points, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def training_step(self, batch, _):
        generator_opt, critic_opt = self.optimizers()
        c = self.config
        real = self.model.represent(batch["audio"])  # what the critic judges: the waveform, or its spectrogram
        pitch, instrument = batch["pitch"], batch.get("instrument")
        z = torch.randn(len(real), c.latent, device=real.device)
        fake = self.model(z, pitch, instrument)
        signal = self.model.pitch_signal(pitch)  # the pitch beside the sound (pitch_signal), or None

        real_j, fake_j = self.discriminator(real, signal), self.discriminator(fake.detach(), signal)
        if c.loss == "wgan-gp":
            critic = fake_j.score.mean() - real_j.score.mean()
            critic = critic + c.gp_weight * self.gradient_penalty(real, fake.detach(), signal)
        else:
            critic = F.relu(1 - real_j.score).mean() + F.relu(1 + fake_j.score).mean()
        real_class = self.class_loss(real_j, pitch, instrument)
        self.step(critic_opt, critic + c.class_weight * real_class)
        self.log("critic_loss", critic, on_step=True, on_epoch=False)
        self.log("train_class_real", real_class, on_step=True, on_epoch=True)

        if self.step_count % self.n_critic == 0:
            judged = self.discriminator(fake, signal)
            adversarial = -judged.score.mean()
            fake_class = self.class_loss(judged, pitch, instrument)
            loss = adversarial + c.class_weight * fake_class
            if c.diversity_weight:
                loss = loss + c.diversity_weight * self.mode_seeking(z, fake, pitch, instrument)
            self.step(generator_opt, loss)
            self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
            self.log("train_class_fake", fake_class, on_step=True, on_epoch=True)

    def mode_seeking(self, z, fake, pitch, instrument) -> torch.Tensor:
        """MSGAN's term (Mao et al. 2019, https://arxiv.org/abs/1903.05628): the inverse of how far apart
        the sounds of two latents of the same class are (log-mel statistics, so that a phase shift is
        not a new sound) per unit of latent distance; small when the generator uses its latent."""
        other = torch.randn_like(z)
        rate = self.config.sample_rate
        apart = (logmel_features(self.model.to_audio(fake), rate)
                 - logmel_features(self.model.to_audio(self.model(other, pitch, instrument)), rate)).abs().mean(1)
        ratio = apart / (z - other).abs().mean(1)
        return 1 / (ratio.mean() + 1e-5)

    def on_validation_epoch_start(self) -> None:
        self._valid_real, self._valid_fake = [], []

    def validation_step(self, batch, batch_index):
        with torch.no_grad():
            generator = torch.Generator(device="cpu").manual_seed(batch_index)  # the same latents every time
            z = torch.randn(len(batch["audio"]), self.config.latent, generator=generator).to(batch["audio"].device)
            fake = self.model(z, batch["pitch"], batch.get("instrument"))
            rate = self.config.sample_rate
            self._valid_real.append(logmel_features(batch["audio"], rate).cpu())
            self._valid_fake.append(logmel_features(self.model.to_audio(fake), rate).cpu())
            # the pitch the critic hears in the averaged generator's notes: a second quality signal
            judged = self.discriminator(fake, self.model.pitch_signal(batch["pitch"]))
            accuracy = (judged.pitch_logits.argmax(1) == batch["pitch"]).float().mean()
            self.log("valid_pitch_accuracy", accuracy, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        real, fake = torch.cat(self._valid_real).double().numpy(), torch.cat(self._valid_fake).double().numpy()
        if len(real) >= 2:
            self.log("valid_loss", frechet(real, fake), prog_bar=True)


class OneShots(torch.utils.data.Dataset):
    """One-shots ``{"audio" [n, T], "label": [n], "instrument": [n] | None}`` as items of the audio and
    its class indices among ``classes`` (and ``instruments``)."""

    def __init__(self, examples: dict, classes: list, instruments: list):
        self.audio = torch.from_numpy(np.asarray(examples["audio"], np.float32))
        self.pitch = torch.tensor([classes.index(v) for v in examples["label"]], dtype=torch.long)
        self.instrument = (torch.tensor([instruments.index(v) for v in examples["instrument"]], dtype=torch.long)
                           if examples.get("instrument") is not None else None)

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, i):
        item = {"audio": self.audio[i], "pitch": self.pitch[i]}
        if self.instrument is not None:
            item["instrument"] = self.instrument[i]
        return item
