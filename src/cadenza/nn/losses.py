"""Spectral and adversarial losses for waveform models.

Papers, and what this file takes from each:

- Yamamoto, Song & Kim 2020, "Parallel WaveGAN: A fast waveform generation
  model based on generative adversarial networks with multi-resolution
  spectrogram", https://arxiv.org/abs/1910.11480 -- the multi-resolution STFT
  loss: spectral convergence (Arik, Jun & Diamos 2018, "Fast Spectrogram
  Inversion using Multi-head Convolutional Neural Networks",
  https://arxiv.org/abs/1808.06719) plus L1 of log magnitudes, averaged over
  resolutions. Defaults are the paper's three resolutions.
- Engel, Hantrakul, Gu & Roberts 2020, "DDSP: Differentiable Digital Signal
  Processing", https://arxiv.org/abs/2001.04643 -- the DDSP variant: L1 of
  magnitudes plus L1 of log magnitudes, 75% overlap, summed over FFT sizes
  2048..64.
- Kumar, Seetharaman, Luebs, Kumar & Kumar 2023, "High-Fidelity Audio
  Compression with Improved RVQGAN" (DAC), https://arxiv.org/abs/2306.06546 --
  the multi-scale mel loss: window lengths 32..2048 with 5..320 mel bins, hop
  a quarter window, L1 of log10 of clamped mel magnitudes, summed over scales
  (defaults are DAC's training config: pow 1, clamp 1e-5, no magnitude term).
- Slaney 1998, "Auditory Toolbox" (mel scale linear below 1 kHz, logarithmic
  above, filters normalised to equal area), and the HTK book's
  ``2595 log10(1 + f / 700)`` scale -- the mel filterbank, computed here.
- Lim & Ye 2017, "Geometric GAN", https://arxiv.org/abs/1705.02894, as used by
  MelGAN and EnCodec -- hinge losses; the generator's hinge is EnCodec's
  ``max(0, 1 - D(x_hat))``.
- Mao et al. 2017, "Least Squares Generative Adversarial Networks",
  https://arxiv.org/abs/1611.04076, as used by HiFi-GAN and DAC -- LSGAN with
  targets 1 (real) and 0 (fake).
- Kumar et al. 2019, "MelGAN: Generative Adversarial Networks for Conditional
  Waveform Synthesis", https://arxiv.org/abs/1910.06711 -- feature matching:
  per layer the mean absolute difference of discriminator features, summed
  over layers and discriminators.
- Defossez, Copet, Synnaeve & Adi 2022, "High Fidelity Neural Audio
  Compression" (EnCodec), https://arxiv.org/abs/2210.13438 -- the loss
  balancer: each loss's gradient at the model output is rescaled so that it
  takes a set share of a reference norm.

What changes: GAN losses sum over sub-discriminators (HiFi-GAN, MelGAN, DAC);
EnCodec averages over them (divide by their count). The balancer's moving
average of gradient norms is normalised by the sum of its weights, so its
first value is the first norm itself.

Parity with ``auraloss`` 0.4 (checked in tests/test_nn_losses.py):
``stft_loss`` / ``multi_resolution_stft_loss`` with their defaults equal
``auraloss.freq.STFTLoss`` / ``MultiResolutionSTFTLoss`` with theirs (periodic
Hann window, centred reflect-padded STFT, magnitude ``sqrt(max(|X|^2, 1e-8))``,
natural log, mean over every element, mean over resolutions);
``multi_scale_mel_loss(..., pow=1, log_base=e)`` summed over scales equals the
sum of ``auraloss.freq.MelSTFTLoss(w_sc=0, w_log_mag=log_weight,
w_lin_mag=mag_weight)`` over the same resolutions (librosa's Slaney mel
filterbank, which ``mel_filterbank`` reproduces) while no mel value is below
``clamp_eps``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

Logits = torch.Tensor | Sequence[torch.Tensor]


# ----------------------------------------------------------------------------- STFT


def _window(name: str, length: int, like: torch.Tensor) -> torch.Tensor:
    """A periodic window by name: "hann", "hamming", "blackman", "bartlett" (or torch's "hann_window")."""
    fn = getattr(torch, name if name.endswith("_window") else name + "_window")
    return fn(length, dtype=like.dtype, device=like.device)


def stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int, win_length: int | None = None,
                   window: str = "hann", eps: float | None = None) -> torch.Tensor:
    """Magnitude spectrogram of ``x [..., T]`` -> ``[N, n_fft // 2 + 1, frames]`` (N = all leading dims).

    Centred, reflect-padded frames. ``eps=None`` gives ``|X|``; a float gives ``sqrt(max(|X|^2, eps))``
    (auraloss, Parallel WaveGAN), which keeps the log finite and the gradient bounded.
    """
    win_length = win_length or n_fft
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop_length, win_length,
                      window=_window(window, win_length, x), return_complex=True)  # [N, bins, frames]
    if eps is None:
        return spec.abs()
    return torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=eps))


def spectral_convergence(predicted_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
    """``||S - S_hat||_F / ||S||_F`` over the whole batch (Arik et al. 2018)."""
    return torch.linalg.vector_norm(target_mag - predicted_mag) / torch.linalg.vector_norm(target_mag)


def stft_loss(predicted: torch.Tensor, target: torch.Tensor, n_fft: int = 1024, hop_length: int = 256,
              win_length: int | None = None, window: str = "hann", sc_weight: float = 1.0,
              log_weight: float = 1.0, mag_weight: float = 0.0, eps: float = 1e-8) -> torch.Tensor:
    """One resolution: ``sc_weight * SC + log_weight * L1(log S) + mag_weight * L1(S)``, means over all elements."""
    pred = stft_magnitude(predicted, n_fft, hop_length, win_length, window, eps)  # [N, bins, frames]
    true = stft_magnitude(target, n_fft, hop_length, win_length, window, eps)
    loss = pred.new_zeros(())
    if sc_weight:
        loss = loss + sc_weight * spectral_convergence(pred, true)
    if log_weight:
        loss = loss + log_weight * F.l1_loss(torch.log(pred), torch.log(true))
    if mag_weight:
        loss = loss + mag_weight * F.l1_loss(pred, true)
    return loss


def multi_resolution_stft_loss(predicted: torch.Tensor, target: torch.Tensor,
                               fft_sizes: Sequence[int] = (1024, 2048, 512),
                               hop_lengths: Sequence[int] = (120, 240, 50),
                               win_lengths: Sequence[int] = (600, 1200, 240), window: str = "hann",
                               sc_weight: float = 1.0, log_weight: float = 1.0, mag_weight: float = 0.0,
                               eps: float = 1e-8) -> torch.Tensor:
    """Parallel WaveGAN's loss: ``stft_loss`` averaged over resolutions. Signals ``[..., T]``."""
    if not len(fft_sizes) == len(hop_lengths) == len(win_lengths):
        raise ValueError("fft_sizes, hop_lengths and win_lengths must have the same length")
    losses = [stft_loss(predicted, target, n, h, w, window, sc_weight, log_weight, mag_weight, eps)
              for n, h, w in zip(fft_sizes, hop_lengths, win_lengths)]
    return torch.stack(losses).mean()


def ddsp_spectral_loss(predicted: torch.Tensor, target: torch.Tensor,
                       fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64), overlap: float = 0.75,
                       mag_weight: float = 1.0, log_weight: float = 1.0, eps: float = 1e-7) -> torch.Tensor:
    """DDSP's loss: over FFT sizes (Hann window, window = FFT size), ``mag_weight * L1(S) +
    log_weight * L1(log(S + eps))``, means over batch, bins and frames, summed over sizes.

    Equals ``cadenza.audio.dsp.multi_resolution_stft_loss(predicted, target, fft_sizes, log_weight, eps)``.
    """
    loss = predicted.new_zeros(())
    for n_fft in fft_sizes:
        hop = int(n_fft * (1.0 - overlap))
        pred = stft_magnitude(predicted, n_fft, hop)  # [N, bins, frames]
        true = stft_magnitude(target, n_fft, hop)
        loss = loss + mag_weight * F.l1_loss(pred, true)
        loss = loss + log_weight * F.l1_loss(torch.log(pred + eps), torch.log(true + eps))
    return loss


# ----------------------------------------------------------------------------- mel


def hz_to_mel(f: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Hz -> mel. HTK: ``2595 log10(1 + f/700)``. Slaney: ``3f/200`` below 1 kHz, then log-spaced
    with 27 steps per factor 6.4 (1 kHz = 15 mel)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    log_step = math.log(6.4) / 27.0
    linear = f * 3.0 / 200.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step, linear)


def mel_to_hz(m: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Mel -> Hz, the inverse of ``hz_to_mel``."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_step = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), m * 200.0 / 3.0)


@functools.lru_cache(maxsize=64)
def _mel_filterbank_np(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float,
                       htk: bool, norm: str | None) -> np.ndarray:
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # [bins] centre of each FFT bin
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)  # [n_mels + 2]
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [n_mels, 1] each
    rising = (bin_hz - lower) / (centre - lower)  # [n_mels, bins]
    falling = (upper - bin_hz) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # triangles in Hz between mel-spaced edges
    if norm == "slaney":
        weights *= 2.0 / (upper - lower)  # equal area: each triangle integrates to 1 over Hz
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, not {norm!r}")
    return weights


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> torch.Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (float32): multiply a magnitude spectrogram by it.

    Defaults are librosa's (``librosa.filters.mel``): Slaney's mel scale and area normalisation, filters
    from ``fmin`` to ``fmax`` (default Nyquist). ``htk=True`` uses the HTK scale; ``norm=None`` gives peaks of 1.
    Filters narrower than an FFT bin can come out empty (all zero) when ``n_mels`` is large for ``n_fft``.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    weights = _mel_filterbank_np(float(sample_rate), int(n_fft), int(n_mels), float(fmin), float(fmax), htk, norm)
    return torch.from_numpy(weights.astype(np.float32))


def mel_magnitude(x: torch.Tensor, sample_rate: float, n_fft: int, hop_length: int, n_mels: int,
                  fmin: float = 0.0, fmax: float | None = None, window: str = "hann") -> torch.Tensor:
    """Mel magnitude spectrogram of ``x [..., T]`` -> ``[N, n_mels, frames]`` (window = FFT size)."""
    mag = stft_magnitude(x, n_fft, hop_length, window=window)  # [N, bins, frames]
    fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax).to(mag)  # [n_mels, bins]
    return fb @ mag  # [N, n_mels, frames]


def multi_scale_mel_loss(predicted: torch.Tensor, target: torch.Tensor, sample_rate: float,
                         window_lengths: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048),
                         n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
                         hop_lengths: Sequence[int] | None = None, fmin: float = 0.0, fmax: float | None = None,
                         log_weight: float = 1.0, mag_weight: float = 0.0, pow: float = 1.0,
                         log_base: float = 10.0, clamp_eps: float = 1e-5, window: str = "hann") -> torch.Tensor:
    """DAC's mel loss, summed over scales: ``log_weight * L1(log_b(max(M, eps)^pow)) + mag_weight * L1(M)``
    where ``M`` is the mel magnitude spectrogram at each window length (hop a quarter window unless given)."""
    if len(window_lengths) != len(n_mels):
        raise ValueError("window_lengths and n_mels must have the same length")
    hop_lengths = hop_lengths or [w // 4 for w in window_lengths]
    loss = predicted.new_zeros(())
    for n_fft, hop, mels in zip(window_lengths, hop_lengths, n_mels):
        pred = mel_magnitude(predicted, sample_rate, n_fft, hop, mels, fmin, fmax, window)  # [N, mels, frames]
        true = mel_magnitude(target, sample_rate, n_fft, hop, mels, fmin, fmax, window)
        if log_weight:
            log_pred = pred.clamp(min=clamp_eps).pow(pow).log() / math.log(log_base)
            log_true = true.clamp(min=clamp_eps).pow(pow).log() / math.log(log_base)
            loss = loss + log_weight * F.l1_loss(log_pred, log_true)
        if mag_weight:
            loss = loss + mag_weight * F.l1_loss(pred, true)
    return loss


# ----------------------------------------------------------------------------- GAN


def _as_list(logits: Logits) -> list[torch.Tensor]:
    return [logits] if isinstance(logits, torch.Tensor) else list(logits)


def hinge_discriminator_loss(real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
    """``sum_k mean(relu(1 - D_k(x))) + mean(relu(1 + D_k(x_hat)))`` over sub-discriminators k."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean()
               for r, f in zip(_as_list(real_logits), _as_list(fake_logits), strict=True))


def hinge_generator_loss(fake_logits: Logits) -> torch.Tensor:
    """EnCodec's generator hinge: ``sum_k mean(relu(1 - D_k(x_hat)))``."""
    return sum(F.relu(1 - f).mean() for f in _as_list(fake_logits))


def lsgan_discriminator_loss(real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
    """``sum_k mean((1 - D_k(x))^2) + mean(D_k(x_hat)^2)``."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean()
               for r, f in zip(_as_list(real_logits), _as_list(fake_logits), strict=True))


def lsgan_generator_loss(fake_logits: Logits) -> torch.Tensor:
    """``sum_k mean((1 - D_k(x_hat))^2)``."""
    return sum(((1 - f) ** 2).mean() for f in _as_list(fake_logits))


def feature_matching_loss(real_features: Sequence[Sequence[torch.Tensor]],
                          fake_features: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """MelGAN's feature matching: ``sum_k sum_l mean|D_k^l(x) - D_k^l(x_hat)|``; real features are detached.

    Takes one list of feature maps per sub-discriminator, as the discriminators here return them.
    """
    return sum(F.l1_loss(f, r.detach())
               for real, fake in zip(real_features, fake_features, strict=True)
               for r, f in zip(real, fake, strict=True))


class Balancer:
    """EnCodec's loss balancer: backpropagate ``sum_i R * w_i / sum(w) * g_i / <||g_i||>`` through ``output``,
    where ``g_i`` is loss i's gradient at ``output`` and ``<||g_i||>`` a moving average (decay ``ema_decay``,
    normalised by its weights) of its norm per batch item, averaged over the batch. Each loss then moves the
    model by a share ``w_i / sum(w)`` of a gradient of norm ``total_norm``, whatever its scale.

    Losses that do not depend on ``output`` (a VQ commitment loss, say) are backpropagated by the caller.
    """

    def __init__(self, weights: dict[str, float], total_norm: float = 1.0, ema_decay: float = 0.999,
                 eps: float = 1e-12):
        self.weights = dict(weights)
        self.total_norm = total_norm
        self.ema_decay = ema_decay
        self.eps = eps
        self.norm_sums: dict[str, float] = {}  # running sum of decayed norms
        self.weight_sums: dict[str, float] = {}  # running sum of decay weights

    def _average(self, name: str, value: float) -> float:
        self.norm_sums[name] = self.norm_sums.get(name, 0.0) * self.ema_decay + value
        self.weight_sums[name] = self.weight_sums.get(name, 0.0) * self.ema_decay + 1.0
        return self.norm_sums[name] / self.weight_sums[name]

    def backward(self, losses: dict[str, torch.Tensor], output: torch.Tensor) -> dict[str, float]:
        """Accumulate the balanced gradient into the parameters behind ``output``; returns the averaged norms."""
        unknown = set(losses) - set(self.weights)
        if unknown:
            raise ValueError(f"no weight for losses {sorted(unknown)}")
        names = [name for name in losses if self.weights[name] != 0]
        weight_total = sum(self.weights[name] for name in names)
        grad_total = torch.zeros_like(output)
        norms = {}
        for name in names:
            (grad,) = torch.autograd.grad(losses[name], output, retain_graph=True)  # same shape as output
            norm = torch.linalg.vector_norm(grad.reshape(grad.shape[0], -1), dim=1).mean()  # per item, mean
            norms[name] = self._average(name, float(norm))
            scale = self.total_norm * self.weights[name] / weight_total / (norms[name] + self.eps)
            grad_total = grad_total + scale * grad
        output.backward(grad_total)
        return norms
