"""Waveform discriminators for GAN vocoders and codecs.

Papers, and what this file takes from each:

- Kong, Kim & Bae 2020, "HiFi-GAN: Generative Adversarial Networks for
  Efficient and High Fidelity Speech Synthesis", https://arxiv.org/abs/2010.05646
  -- the multi-period discriminator: the signal, reflect-padded to a multiple of
  period p, is folded to ``[b, c, T/p, p]`` and seen by 2-D convolutions with
  ``(k, 1)`` kernels (periods 2, 3, 5, 7, 11; channels 32..1024, stride 3,
  LeakyReLU 0.1). Also the option of spectral norm on the first scale of the
  multi-scale discriminator.
- Kumar et al. 2019, "MelGAN: Generative Adversarial Networks for Conditional
  Waveform Synthesis", https://arxiv.org/abs/1910.06711 -- the multi-scale
  discriminator: three identical discriminators on the signal average-pooled
  by 1, 2 and 4 (pool kernel 4, stride 2), each a kernel-15 conv then grouped
  strided convs (kernel 10 s + 1, stride s, groups in/4) then kernel 5 and
  kernel 3 convs, LeakyReLU 0.2, weight norm throughout.
- Defossez, Copet, Synnaeve & Adi 2022, "High Fidelity Neural Audio
  Compression" (EnCodec), https://arxiv.org/abs/2210.13438, after Zeghidour et
  al. 2021, "SoundStream", https://arxiv.org/abs/2107.03312 -- the
  multi-resolution STFT discriminator: real and imaginary parts of a complex
  STFT (window-normalised, uncentred) as two channels over ``[frames, bins]``,
  a (3, 9) conv, three (3, 9) convs striding 2 in frequency and dilated 1, 2, 4
  in time, a (3, 3) conv and a (3, 3) output conv, LeakyReLU 0.2. DAC (Kumar et
  al. 2023) and UnivNet (Jang et al. 2021, https://arxiv.org/abs/2106.07889)
  use relatives of it.
- Salimans & Kingma 2016, "Weight Normalization", https://arxiv.org/abs/1602.07868;
  Miyato et al. 2018, "Spectral Normalization for GANs", https://arxiv.org/abs/1802.05957.

What changes: every size is an argument (defaults are the papers'), so tests
and laptops use tiny ones; the MelGAN group count is the largest divisor of
both channel counts not above ``in/4`` (the paper's ``in/4`` whenever that
divides). Every discriminator returns ``(logits, features)``: one logits
tensor and one list of feature maps (every hidden conv's activation, not the
logits) per sub-discriminator, ready for ``cadenza.nn.losses``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

Outputs = tuple[list[torch.Tensor], list[list[torch.Tensor]]]


def _norm(module: nn.Module, kind: str) -> nn.Module:
    if kind == "weight":
        return weight_norm(module)
    if kind == "spectral":
        return spectral_norm(module)
    if kind == "none":
        return module
    raise ValueError(f"norm must be 'weight', 'spectral' or 'none', not {kind!r}")


def _as_signal(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(1) if x.dim() == 2 else x  # [b, T] -> [b, 1, T]


# ----------------------------------------------------------------------------- multi-period (HiFi-GAN)


class PeriodDiscriminator(nn.Module):
    """One HiFi-GAN sub-discriminator: sees the signal folded by ``period``."""

    def __init__(self, period: int, channels: Sequence[int] = (32, 128, 512, 1024, 1024), kernel_size: int = 5,
                 stride: int = 3, in_channels: int = 1, negative_slope: float = 0.1, norm: str = "weight"):
        super().__init__()
        self.period = period
        self.negative_slope = negative_slope
        self.convs = nn.ModuleList()
        c_in = in_channels
        for i, c_out in enumerate(channels):
            s = stride if i < len(channels) - 1 else 1  # the last conv keeps the length
            conv = nn.Conv2d(c_in, c_out, (kernel_size, 1), (s, 1), padding=(kernel_size // 2, 0))
            self.convs.append(_norm(conv, norm))
            c_in = c_out
        self.post = _norm(nn.Conv2d(c_in, 1, (3, 1), padding=(1, 0)), norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = _as_signal(x)  # [b, c, T]
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), mode="reflect")  # [b, c, ceil(T/p)*p]
        x = x.view(b, c, -1, self.period)  # [b, c, T/p, p]: column j holds samples j, j+p, j+2p...
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.negative_slope)  # [b, c_out, frames, p]
            features.append(x)
        return self.post(x), features  # logits [b, 1, frames, p]


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's MPD: one ``PeriodDiscriminator`` per period; extra arguments go to each."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), **kwargs):
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, **kwargs) for p in periods)

    def forward(self, x: torch.Tensor) -> Outputs:
        outputs = [d(x) for d in self.discriminators]
        return [o[0] for o in outputs], [o[1] for o in outputs]


# ----------------------------------------------------------------------------- multi-scale (MelGAN)


class ScaleDiscriminator(nn.Module):
    """One MelGAN sub-discriminator over a 1-D signal."""

    def __init__(self, channels: int = 16, max_channels: int = 1024, downsample_factors: Sequence[int] = (4, 4, 4, 4),
                 in_channels: int = 1, negative_slope: float = 0.2, norm: str = "weight"):
        super().__init__()
        self.negative_slope = negative_slope
        self.convs = nn.ModuleList([_norm(nn.Conv1d(in_channels, channels, 15, padding=7, padding_mode="reflect"),
                                          norm)])
        c_in = channels
        for s in downsample_factors:
            c_out = min(c_in * s, max_channels)
            groups = math.gcd(max(c_in // 4, 1), c_in, c_out)
            conv = nn.Conv1d(c_in, c_out, 10 * s + 1, stride=s, padding=5 * s, groups=groups)  # T -> ceil(T/s)
            self.convs.append(_norm(conv, norm))
            c_in = c_out
        self.convs.append(_norm(nn.Conv1d(c_in, c_in, 5, padding=2), norm))
        self.post = _norm(nn.Conv1d(c_in, 1, 3, padding=1), norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = _as_signal(x)  # [b, c, T]
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.negative_slope)  # [b, c_out, T / prod(strides so far)]
            features.append(x)
        return self.post(x), features  # logits [b, 1, T / prod(downsample_factors)]


class MultiScaleDiscriminator(nn.Module):
    """MelGAN's MSD: ``n_scales`` ``ScaleDiscriminator``s, scale i on the signal average-pooled i times by 2.

    ``spectral_norm_first=True`` puts spectral norm on the first (full-rate) scale, as HiFi-GAN does.
    """

    def __init__(self, n_scales: int = 3, spectral_norm_first: bool = False, **kwargs):
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(norm="spectral" if i == 0 and spectral_norm_first else "weight", **kwargs)
            for i in range(n_scales))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)  # T -> floor(T/2)

    def forward(self, x: torch.Tensor) -> Outputs:
        x = _as_signal(x)  # [b, c, T]
        logits, features = [], []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.pool(x)  # [b, c, T / 2^i]
            out, feats = d(x)
            logits.append(out)
            features.append(feats)
        return logits, features


# ----------------------------------------------------------------------------- multi-resolution STFT (EnCodec)


class STFTDiscriminator(nn.Module):
    """One EnCodec sub-discriminator over a complex STFT, ``[b, 2c, frames, bins]``."""

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None, channels: int = 32,
                 max_channels: int = 1024, channel_growth: int = 1, dilations: Sequence[int] = (1, 2, 4),
                 in_channels: int = 1, negative_slope: float = 0.2, norm: str = "weight"):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length or n_fft
        self.negative_slope = negative_slope
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.convs = nn.ModuleList([_norm(nn.Conv2d(2 * in_channels, channels, (3, 9), padding=(1, 4)), norm)])
        c_in = channels
        for i, d in enumerate(dilations):
            c_out = min(channels * channel_growth ** (i + 1), max_channels)
            conv = nn.Conv2d(c_in, c_out, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4))  # bins halve
            self.convs.append(_norm(conv, norm))
            c_in = c_out
        self.convs.append(_norm(nn.Conv2d(c_in, c_in, (3, 3), padding=(1, 1)), norm))
        self.post = _norm(nn.Conv2d(c_in, 1, (3, 3), padding=(1, 1)), norm)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """``[b, c, T]`` -> real and imaginary parts ``[b, 2c, frames, n_fft // 2 + 1]``."""
        b, c, t = x.shape
        window = self.window.to(x.dtype)
        spec = torch.stft(x.reshape(b * c, t), self.n_fft, self.hop_length, self.win_length, window=window,
                          center=False, return_complex=True)  # [b*c, bins, frames]
        spec = spec / window.pow(2).sum().sqrt()  # window-normalised, as torchaudio's normalized=True
        spec = torch.cat([spec.real, spec.imag], dim=0).view(2, b, c, *spec.shape[-2:])  # [2, b, c, bins, frames]
        return spec.permute(1, 0, 2, 4, 3).reshape(b, 2 * c, spec.shape[-1], spec.shape[-2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z = self.spectrogram(_as_signal(x))  # [b, 2c, frames, bins]
        features = []
        for conv in self.convs:
            z = F.leaky_relu(conv(z), self.negative_slope)  # [b, c_out, frames, bins / 2^i]
            features.append(z)
        return self.post(z), features  # logits [b, 1, frames, bins / 8]


class MultiResolutionSTFTDiscriminator(nn.Module):
    """EnCodec's MS-STFT-D: one ``STFTDiscriminator`` per resolution; extra arguments go to each."""

    def __init__(self, n_ffts: Sequence[int] = (1024, 2048, 512), hop_lengths: Sequence[int] = (256, 512, 128),
                 win_lengths: Sequence[int] | None = None, **kwargs):
        super().__init__()
        win_lengths = win_lengths or n_ffts
        if not len(n_ffts) == len(hop_lengths) == len(win_lengths):
            raise ValueError("n_ffts, hop_lengths and win_lengths must have the same length")
        self.discriminators = nn.ModuleList(STFTDiscriminator(n, h, w, **kwargs)
                                            for n, h, w in zip(n_ffts, hop_lengths, win_lengths))

    def forward(self, x: torch.Tensor) -> Outputs:
        outputs = [d(x) for d in self.discriminators]
        return [o[0] for o in outputs], [o[1] for o in outputs]


# ----------------------------------------------------------------------------- several at once


class CombinedDiscriminator(nn.Module):
    """Several discriminators as one: their (logits, features) lists concatenated in order."""

    def __init__(self, *discriminators: nn.Module):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, x: torch.Tensor) -> Outputs:
        logits, features = [], []
        for d in self.discriminators:
            out, feats = d(x)
            logits += out
            features += feats
        return logits, features
