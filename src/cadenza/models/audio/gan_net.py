"""The GAN's networks: WaveGAN's generator and discriminator on waveforms, conditioned on pitch
(and optionally instrument), with an auxiliary classifier in the discriminator (AC-GAN, GANSynth).

Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis" (WaveGAN,
https://arxiv.org/abs/1802.04208): DCGAN flattened to one dimension. The
generator maps a latent vector through a dense layer to ``16`` frames of
``16 d`` channels and five transposed convolutions (kernel 25, stride 4; here
kernel 24 with padding 10, so each exactly quadruples the length) halve the
channels to one: 16,384 samples (~1 s at 16 kHz) through ReLU, tanh at the end.
The discriminator mirrors it with strided convolutions (kernel 25, stride 4,
LeakyReLU 0.2) and *phase shuffle*: between layers each example's
activations are shifted by a random -n..n samples (reflect-padded), so the
discriminator cannot tell real from fake by the phase of the generator's
upsampling artefacts.

Conditioning (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with
Auxiliary Classifier GANs", https://arxiv.org/abs/1610.09585; Engel et al.
2019, "GANSynth", https://arxiv.org/abs/1902.08710): the generator takes the
one-hot pitch (and instrument) concatenated to the latent; the discriminator
has, beside its real/fake score, a head that classifies the pitch (and
instrument) of what it hears, trained on real notes and asked of fakes by the
generator's loss, so that a conditioned note sounds at its pitch.

Shapes: latents ``[batch, latent]``, labels ``[batch]`` (class indices), audio
``[batch, samples]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # LeakyReLU's in the discriminator (DCGAN, WaveGAN)
START_FRAMES = 16  # frames after the generator's dense layer
STRIDE = 4


def phase_shuffle(x: torch.Tensor, n: int) -> torch.Tensor:
    """Each example of ``x [B, C, T]`` shifted by its own random -n..n samples, reflect-padded (WaveGAN)."""
    if n <= 0:
        return x
    shifts = torch.randint(-n, n + 1, (x.shape[0],), device=x.device)
    padded = F.pad(x, (n, n), mode="reflect")  # [B, C, T + 2n]
    index = (torch.arange(x.shape[-1], device=x.device)[None] + n - shifts[:, None])  # [B, T]
    return padded.gather(2, index[:, None].expand(-1, x.shape[1], -1))


@dataclass
class Conditioning:
    """The classes a GAN is conditioned on: pitches (MIDI keys) and optionally instruments (GM programs)."""

    pitches: tuple[int, ...]
    instruments: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.pitches) + len(self.instruments)

    def one_hot(self, pitch: torch.Tensor, instrument: torch.Tensor | None) -> torch.Tensor:
        """Class indices ``[B]`` -> ``[B, size]``."""
        parts = [F.one_hot(pitch, len(self.pitches)).float()]
        if self.instruments:
            parts.append(F.one_hot(instrument, len(self.instruments)).float())
        return torch.cat(parts, dim=1)


class Generator(nn.Module):
    """``(z [B, latent], pitch [B], instrument [B] | None)`` -> audio ``[B, 16 * 4^layers]``."""

    def __init__(self, latent: int, width: int, layers: int, conditioning: Conditioning):
        super().__init__()
        self.latent, self.conditioning = latent, conditioning
        channels = [width * 2 ** (layers - 1 - i) for i in range(layers)] + [1]  # halving, then one
        self.dense = nn.Linear(latent + conditioning.size, START_FRAMES * channels[0])
        self.start_channels = channels[0]
        self.ups = nn.ModuleList(nn.ConvTranspose1d(channels[i], channels[i + 1], 24, stride=STRIDE, padding=10)
                                 for i in range(layers))

    @property
    def samples(self) -> int:
        return START_FRAMES * STRIDE ** len(self.ups)

    def represent(self, audio: torch.Tensor) -> torch.Tensor:
        """Real sounds as the critic sees them (a waveform GAN: as they are)."""
        return audio

    def to_audio(self, output: torch.Tensor) -> torch.Tensor:
        """The generator's output as sound (a waveform GAN: as it is)."""
        return output

    def forward(self, z: torch.Tensor, pitch: torch.Tensor, instrument: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([z, self.conditioning.one_hot(pitch, instrument)], dim=1)  # [B, latent + classes]
        x = F.relu(self.dense(x)).reshape(len(z), self.start_channels, START_FRAMES)  # [B, C, 16]
        for i, up in enumerate(self.ups):
            x = up(x)  # [B, C / 2, 4 T]
            x = torch.tanh(x) if i == len(self.ups) - 1 else F.relu(x)
        return x[:, 0]  # [B, samples]


@dataclass
class Judgement:
    score: torch.Tensor  # [B] real/fake score
    pitch_logits: torch.Tensor  # [B, pitches]
    instrument_logits: torch.Tensor | None  # [B, instruments]


class Discriminator(nn.Module):
    """Audio ``[B, samples]`` -> a real/fake score and the logits of its pitch (and instrument)."""

    def __init__(self, width: int, layers: int, samples: int, conditioning: Conditioning, shuffle: int = 2):
        super().__init__()
        channels = [1] + [width * 2 ** i for i in range(layers)]  # doubling
        self.convs = nn.ModuleList(nn.Conv1d(channels[i], channels[i + 1], 25, stride=STRIDE, padding=11)
                                   for i in range(layers))
        self.shuffle = shuffle
        features = channels[-1] * (samples // STRIDE ** layers)
        self.score = nn.Linear(features, 1)
        self.pitch = nn.Linear(features, len(conditioning.pitches))
        self.instrument = nn.Linear(features, len(conditioning.instruments)) if conditioning.instruments else None

    def forward(self, audio: torch.Tensor) -> Judgement:
        x = audio[:, None]  # [B, 1, T]
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), SLOPE)  # [B, C, T / 4]
            if i < len(self.convs) - 1:
                x = phase_shuffle(x, self.shuffle)
        x = x.flatten(1)  # [B, features]
        return Judgement(self.score(x)[:, 0], self.pitch(x),
                         self.instrument(x) if self.instrument is not None else None)
