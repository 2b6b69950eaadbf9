"""A causal inverse STFT that streams: complex spectra a frame in, overlap-added windowed waveform out.

Siuzdak 2023, "Vocos: Closing the gap between time-domain and Fourier-based neural vocoders for
high-quality audio synthesis" (https://arxiv.org/abs/2306.00814): a vocoder (or a codec's
decoder) that predicts, at its frame rate, the magnitude and phase of each STFT bin and leaves the
waveform to an inverse STFT, so that all the learned computation runs at the frame rate.

What it reproduces: the inverse real DFT of each frame, weighted by a Hann synthesis window, and
overlap-added every ``hop`` samples (Vocos's head: magnitude ``exp(m)``, clipped, and phase ``p``
give ``exp(m) (cos p + i sin p)``: :class:`MagnitudePhase`).
What it changes: Vocos centres its frames (``torch.istft`` with ``center=True``) and trims the
edges. Here frame ``t``'s window starts at sample ``t * hop``, so output sample ``n`` depends on the
frames up to ``n // hop`` only: it is a transposed convolution with a fixed kernel (the windowed DFT
basis) and stride ``hop``, and streams as :func:`cadenza.nn.conv.causal_conv_transpose1d_stream`
does, block by block, equal to the offline output. No window-sum normalisation: the network in
front learns the scale.

Shapes: spectra ``[batch, 2 * (n_fft // 2 + 1), frames]`` (the real parts of bins 0 .. n_fft/2,
then their imaginary parts); waveform ``[batch, 1, frames * hop]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cadenza.nn.conv import causal_conv_transpose1d, causal_conv_transpose1d_stream


def inverse_dft_basis(n_fft: int) -> torch.Tensor:
    """``[2 * (n_fft // 2 + 1), 1, n_fft]``: row k (and K + 1 + k) is what bin k's real (imaginary)
    part adds to the Hann-windowed frame of ``irfft``."""
    bins = n_fft // 2 + 1
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(bins, dtype=torch.float64)[:, None]
    angle = 2 * math.pi * k * n / n_fft  # [K, N]
    weight = torch.full((bins, 1), 2.0, dtype=torch.float64)  # a bin and its mirror image
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0  # Nyquist has no mirror
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    real = weight * torch.cos(angle) * window / n_fft  # [K, N]
    imag = -weight * torch.sin(angle) * window / n_fft
    return torch.cat([real, imag])[:, None].float()


class CausalInverseSTFT(nn.Module):
    """``[B, 2 * (n_fft // 2 + 1), T]`` spectra -> ``[B, 1, T * hop]`` waveform, offline or block by block."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        if not 1 <= hop <= n_fft:
            raise ValueError(f"need 1 <= hop <= n_fft, got hop {hop}, n_fft {n_fft}")
        self.n_fft, self.hop = n_fft, hop
        # a constant, not a weight: it is rebuilt, never saved
        self.register_buffer("basis", inverse_dft_basis(n_fft), persistent=False)

    @property
    def channels(self) -> int:
        return 2 * (self.n_fft // 2 + 1)

    def forward(self, spectra):
        return causal_conv_transpose1d(spectra, self.basis, None, self.hop)

    def stream(self, spectra, state=None):
        return causal_conv_transpose1d_stream(spectra, state, self.basis, None, self.hop)


class MagnitudePhase(nn.Module):
    """Vocos's head output ``[B, 2K, T]`` (log-magnitudes, then phases) -> spectra ``[B, 2K, T]``
    (real parts, then imaginary parts). Pointwise in time."""

    def __init__(self, max_log_magnitude: float = math.log(100.0)):
        super().__init__()
        self.max_log_magnitude = max_log_magnitude

    def forward(self, x):
        log_magnitude, phase = x.chunk(2, dim=1)  # each [B, K, T]
        magnitude = torch.exp(log_magnitude.clamp(max=self.max_log_magnitude))
        return torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
