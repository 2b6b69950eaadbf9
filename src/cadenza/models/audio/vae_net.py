"""The VAE's network: PQMF bands, a strided convolutional encoder to a Gaussian latent, and a decoder
with a waveform branch, amplitude modulation and a filtered-noise branch (RAVE).

Caillon & Esling 2021, "RAVE: A variational autoencoder for fast and
high-quality neural audio synthesis" (https://arxiv.org/abs/2111.05011):

- a pseudo-QMF bank (:mod:`cadenza.nn.pqmf`) splits the audio into
  ``n_bands`` critically sampled bands, and every layer runs at the band rate
  or below: the network is ``n_bands`` times cheaper than one on samples;
- the encoder (strided convolutions, LeakyReLU) maps the bands to a mean and
  a scale a latent frame (``softplus`` + 1e-4), one frame every
  ``n_bands * prod(ratios)`` samples;
- the decoder (transposed convolutions, each followed by residual units of
  dilations 1, 3, 9) ends in three heads at the band rate: a waveform
  (tanh), its amplitude (RAVE's ``2 sigmoid(x)^2.3``), and the magnitude
  response of a noise filter, applied to white noise a chunk of
  ``noise_hop`` band samples at a time; the bands are summed back to audio by
  the PQMF's synthesis filters.

Changed for streaming, all stated in :mod:`cadenza.models.audio.vae`: every
convolution is causal (:mod:`cadenza.nn.conv`), with the PQMF's causal bank,
so the offline pass is the streamed one; the noise filter is applied to each
chunk alone in the frequency domain (a circular convolution of noise, which
needs no state between chunks); noise is drawn time-major, so a stream
drawing chunk by chunk from a seeded generator gets the numbers an offline
pass gets.

Shapes: audio ``[batch, samples]``, bands ``[batch, n_bands, samples / n_bands]``,
latents ``[batch, latent, frames]`` with ``frames = samples / frame_samples``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.nn.conv import CausalConv1d, CausalConvStack, CausalConvTranspose1d, CausalResidual
from cadenza.nn.pqmf import PQMF

SLOPE = 0.2  # LeakyReLU's, as in RAVE and MelGAN


def conv(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> CausalConv1d:
    return CausalConv1d(cin, cout, kernel, stride=stride, dilation=dilation, weight_norm=True)


def residual_unit(channels: int, dilation: int) -> CausalResidual:
    """x + conv1x1(lrelu(conv3_d(lrelu(x)))): RAVE's residual unit (MelGAN's)."""
    return CausalResidual(CausalConvStack(nn.LeakyReLU(SLOPE), conv(channels, channels, 3, dilation=dilation),
                                          nn.LeakyReLU(SLOPE), conv(channels, channels, 1)))


def amplitude(x: torch.Tensor) -> torch.Tensor:
    """RAVE's modified sigmoid: a gain in (0, 2] whose log is roughly linear in x over a wide range."""
    return 2 * torch.sigmoid(x) ** 2.3 + 1e-7


def draw_noise(batch: int, chunks: int, bands: int, hop: int, generator: torch.Generator | None = None,
               like: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform noise in [-1, 1) ``[batch, bands, chunks, hop]``, drawn time-major (chunk after chunk),
    so that drawing a stream's chunks one block at a time from a seeded generator gives the same
    numbers as one offline draw (for one stream, batch 1)."""
    kwargs = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    noise = torch.rand(batch, chunks, bands, hop, generator=generator, **kwargs) * 2 - 1  # [B, F, M, H]
    return noise.permute(0, 2, 1, 3)  # [B, M, F, H]


def filtered_noise(magnitudes: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Noise shaped by a magnitude response a chunk: ``magnitudes [B, M * bins, F]`` and
    ``noise [B, M, F, hop]`` -> ``[B, M, F * hop]``. Each chunk is filtered alone in the
    frequency domain (``bins = hop // 2 + 1``)."""
    batch, bands, chunks, hop = noise.shape
    gains = magnitudes.reshape(batch, bands, -1, chunks).transpose(2, 3)  # [B, M, F, bins]
    shaped = torch.fft.irfft(torch.fft.rfft(noise) * gains, n=hop)  # [B, M, F, hop]
    return shaped.reshape(batch, bands, chunks * hop)


@dataclass
class VAEOutput:
    audio: torch.Tensor  # [B, T] the reconstruction, PQMF delay included (see VAENet.delay)
    mean: torch.Tensor  # [B, latent, F]
    scale: torch.Tensor  # [B, latent, F]
    kl: torch.Tensor  # scalar: KL(q(z|x) || N(0, I)), summed over latent dims, mean over frames and batch


class VAENet(nn.Module):
    """PQMF -> encoder -> z ~ N(mean, scale) -> decoder -> PQMF synthesis, with a VAE ``Config``'s sizes."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.n_bands, self.ratios, self.noise_hop = c.n_bands, tuple(c.ratios), c.noise_hop
        self.frame_samples = c.n_bands * math.prod(self.ratios)
        self.pqmf = PQMF(c.n_bands)
        self.delay = self.pqmf.delay  # samples between input and reconstruction (causal bank, both ways)

        widths = [c.channels * 2 ** i for i in range(len(self.ratios) + 1)]  # doubling
        blocks = []
        for i, r in enumerate(self.ratios):
            blocks += [residual_unit(widths[i], 1), nn.LeakyReLU(SLOPE),
                       conv(widths[i], widths[i + 1], 2 * r + 1, stride=r)]
        self.encoder = CausalConvStack(conv(c.n_bands, widths[0], 7), *blocks, nn.LeakyReLU(SLOPE),
                                       conv(widths[-1], 2 * c.latent, 3))

        widths = [c.decoder_channels // 2 ** i for i in range(len(self.ratios) + 1)]  # halving
        blocks = []
        for i, r in enumerate(reversed(self.ratios)):
            blocks += [nn.LeakyReLU(SLOPE), CausalConvTranspose1d(widths[i], widths[i + 1], 2 * r, r, weight_norm=True),
                       *(residual_unit(widths[i + 1], d) for d in (1, 3, 9))]
        self.decoder = CausalConvStack(conv(c.latent, widths[0], 7), *blocks, nn.LeakyReLU(SLOPE))
        hidden, bins = widths[-1], c.noise_hop // 2 + 1
        self.waveform = conv(hidden, c.n_bands, 7)
        self.gain = conv(hidden, c.n_bands, 7)
        # one magnitude response a band and a chunk, from the hidden samples of that chunk and the one before
        self.noise = conv(hidden, c.n_bands * bins, 2 * c.noise_hop, stride=c.noise_hop) if c.noise else None

    # --- pieces -----------------------------------------------------------------------------

    def _padded(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> ``[B, 1, T']``, zeros added at the end up to a whole latent frame."""
        return F.pad(audio, (0, -audio.shape[-1] % self.frame_samples))[:, None]

    @staticmethod
    def _posterior(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, scale = out.chunk(2, dim=1)  # [B, latent, F] each
        return mean, F.softplus(scale) + 1e-4

    def _bands(self, hidden: torch.Tensor, noise: torch.Tensor | None, state: list | None = None):
        """The three heads on the decoder's last hidden ``[B, h, L]`` -> (bands ``[B, M, L]``, state);
        ``state`` (a list, streams only) carries the heads' convolutions from block to block."""
        streaming = state is not None
        state = list(state) if streaming else [None, None, None]

        def head(i: int, layer: CausalConv1d) -> torch.Tensor:
            if not streaming:
                return layer(hidden)
            out, state[i] = layer.stream(hidden, state[i])
            return out

        bands = torch.tanh(head(0, self.waveform)) * amplitude(head(1, self.gain))
        if self.noise is not None and noise is not None:
            # -5: the noise starts quiet and the waveform branch learns first (DDSP, RAVE)
            bands = bands + filtered_noise(amplitude(head(2, self.noise) - 5), noise)
        return bands, state

    def _noise_for(self, hidden: torch.Tensor, generator, noise: bool) -> torch.Tensor | None:
        if self.noise is None or not noise:
            return None
        return draw_noise(hidden.shape[0], hidden.shape[-1] // self.noise_hop, self.n_bands, self.noise_hop,
                          generator, like=hidden)

    # --- offline ----------------------------------------------------------------------------

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio [B, T]`` -> (mean, scale) ``[B, latent, ceil(T / frame_samples)]``."""
        bands = self.pqmf.analysis(self._padded(audio), causal=True)  # [B, M, T / M]
        return self._posterior(self.encoder(bands))

    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None, noise: bool = True) -> torch.Tensor:
        """``z [B, latent, F]`` -> audio ``[B, F * frame_samples]`` (``delay`` samples late)."""
        hidden = self.decoder(z)  # [B, h, F * prod(ratios)]
        bands, _ = self._bands(hidden, self._noise_for(hidden, generator, noise))
        return self.pqmf.synthesis(bands, causal=True)[:, 0]

    def forward(self, audio: torch.Tensor, sample: bool = True, generator=None) -> VAEOutput:
        """Reconstruct ``audio [B, T]``; ``sample``: decode a draw from q(z|x) rather than its mean."""
        mean, scale = self.encode(audio)
        z = mean + scale * torch.randn_like(mean) if sample else mean
        variance = scale ** 2
        kl = 0.5 * (mean ** 2 + variance - torch.log(variance) - 1).sum(1).mean()
        decoded = self.decode(z, generator)[:, : audio.shape[-1]]
        return VAEOutput(decoded, mean, scale, kl)

    # --- block by block ---------------------------------------------------------------------

    def encode_stream(self, audio: torch.Tensor, state=None):
        """One block ``audio [B, L]`` -> (means ``[B, latent, frames completed]``, state)."""
        state = list(state) if state else [None, None]  # a copy: a caller may keep the old state
        bands, state[0] = self.pqmf.stream_analysis(audio[:, None], state[0])
        out, state[1] = self.encoder.stream(bands, state[1])
        return self._posterior(out)[0], state

    def decode_stream(self, z: torch.Tensor, state=None, generator=None, noise: bool = True):
        """One block of latent frames ``z [B, latent, n]`` -> (audio ``[B, n * frame_samples]``, state)."""
        state = list(state) if state else [None, [None, None, None], None]
        hidden, state[0] = self.decoder.stream(z, state[0])
        bands, state[1] = self._bands(hidden, self._noise_for(hidden, generator, noise), state[1])
        audio, state[2] = self.pqmf.stream_synthesis(bands, state[2])
        return audio[:, 0], state


class LatentPrior(nn.Module):
    """An autoregressive prior over latent frames for generation from nothing (RAVE's prior, section 3.4):
    a GRU reads the frames so far and gives, for each latent dimension of the next frame, a
    categorical distribution over ``bins`` equal bins of its standardised value in [-4, 4]
    (dimensions independent given the past). Categorical rather than Gaussian, as RAVE's: a
    dimension's next value may have several likely places.

    Latents ``[B, F, D]``, standardised (``(z - centre) / spread``, the training set's statistics,
    stored as buffers)."""

    def __init__(self, latent: int, hidden: int, bins: int, layers: int = 1):
        super().__init__()
        self.latent, self.bins = latent, bins
        self.start = nn.Parameter(torch.zeros(latent))  # the input before the first frame
        self.gru = nn.GRU(latent, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, latent * bins)
        self.register_buffer("centre", torch.zeros(latent))
        self.register_buffer("spread", torch.ones(latent))

    def standardise(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.centre) / self.spread).clamp(-4, 4 - 1e-4)

    def logits(self, x: torch.Tensor, state=None):
        """Standardised frames ``x [B, F, D]`` -> (logits ``[B, F, D, bins]`` for frames 1..F, state):
        frame t's logits see frames < t."""
        inputs = torch.cat([self.start.expand(x.shape[0], 1, -1), x[:, :-1]], dim=1)  # [B, F, D]
        hidden, state = self.gru(inputs, state)  # [B, F, h]
        return self.out(hidden).reshape(*x.shape[:2], self.latent, self.bins), state

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats) of a latent dimension's bin, for raw latents ``z [B, F, D]``."""
        x = self.standardise(z)
        target = ((x + 4) / 8 * self.bins).long()  # [B, F, D]
        logits, _ = self.logits(x)
        return F.cross_entropy(logits.reshape(-1, self.bins), target.reshape(-1))

    @torch.no_grad()
    def sample(self, frames: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """Raw latents ``[1, frames, D]``: each frame drawn bin by bin, uniformly within its bin."""
        x = self.start.reshape(1, 1, -1)
        state, out = None, []
        width = 8 / self.bins
        for _ in range(frames):
            hidden, state = self.gru(x, state)
            logits = self.out(hidden[:, -1]).reshape(self.latent, self.bins) / temperature
            choice = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]  # [D]
            x = (-4 + (choice + torch.rand(self.latent, generator=generator)) * width).reshape(1, 1, -1)
            out.append(x)
        return torch.cat(out, dim=1) * self.spread + self.centre  # [1, F, D]
