"""Differentiable DSP building blocks (Engel et al. 2020, "DDSP: Differentiable
Digital Signal Processing", ICLR), in torch.

Every synthesiser here takes its state in and gives it back (oscillator
phase, noise position, overlap-add tails), so that running it on a whole
signal at once or block by block gives the same samples: training runs it
with a fresh state on clips, the streaming engine on blocks.

Control signals come at a frame rate (one frame every ``hop`` samples) and
are upsampled *causally*: the samples of frame ``k`` glide linearly from
frame ``k - 1``'s value to frame ``k``'s, so a block never needs a frame of
the future (the paper interpolates between frame centres, which looks one
frame ahead).
"""

from __future__ import annotations

import math

import numpy as np
import torch

TWO_PI = 2 * math.pi


def exp_sigmoid(x: torch.Tensor, exponent: float = math.log(10.0), max_value: float = 2.0,
                threshold: float = 1e-7) -> torch.Tensor:
    """The paper's positive output nonlinearity: ``max * sigmoid(x) ** log(10) + threshold``."""
    return max_value * torch.sigmoid(x) ** exponent + threshold


def upsample(frames: torch.Tensor, hop: int, previous: torch.Tensor | None = None) -> torch.Tensor:
    """``[batch, frames, channels]`` -> ``[batch, frames * hop, channels]``, causal linear glide.

    ``previous`` ``[batch, channels]`` is the frame before the first (the first itself when None).
    """
    if previous is None:
        previous = frames[:, 0]
    before = torch.cat([previous[:, None], frames[:, :-1]], dim=1)  # [b, t, c]
    ramp = torch.arange(1, hop + 1, dtype=frames.dtype, device=frames.device) / hop  # [hop]
    glide = before[:, :, None] + (frames - before)[:, :, None] * ramp[None, None, :, None]  # [b, t, hop, c]
    return glide.reshape(frames.shape[0], -1, frames.shape[-1])


def nyquist_mask(f0: torch.Tensor, n_harmonics: int, sample_rate: int) -> torch.Tensor:
    """``[batch, frames, harmonics]``: 1 where harmonic k of f0 lies below Nyquist, else 0."""
    k = torch.arange(1, n_harmonics + 1, dtype=f0.dtype, device=f0.device)
    return (f0[..., None] * k < sample_rate / 2).to(f0.dtype)


def harmonic_synth(f0: torch.Tensor, amplitudes: torch.Tensor, hop: int, sample_rate: int,
                   phase: torch.Tensor | None = None, previous: tuple | None = None):
    """A bank of harmonic sinusoids (the paper's additive synthesiser).

    ``f0`` ``[batch, frames]`` in Hz, ``amplitudes`` ``[batch, frames, harmonics]``
    (already zero above Nyquist for the glide's highest f0); ``phase``
    ``[batch]`` the fundamental's phase at the first sample, ``previous``
    the last frame's (f0, amplitudes). Returns ``(audio [batch, frames*hop],
    phase, previous)``. The phase accumulates in float64 and wraps at 2 pi,
    so hours of audio keep the same precision as the first second.
    """
    batch, frames, harmonics = amplitudes.shape
    if phase is None:
        phase = torch.zeros(batch, dtype=torch.float64, device=f0.device)
    prev_f0, prev_amp = previous if previous is not None else (None, None)
    f0_up = upsample(f0[..., None], hop, prev_f0)[..., 0]  # [b, n]
    increments = f0_up.to(torch.float64) * (TWO_PI / sample_rate)
    phases = torch.remainder(phase[:, None] + torch.cumsum(increments, dim=1), TWO_PI)  # [b, n] float64
    # Amplitudes glide linearly within a frame: sum_k a_k(j) sin(k phi_j) is the frame's
    # start amplitudes times the sines plus the ramp times their change, two small matmuls
    # instead of an upsampled [b, n, K] amplitude tensor.
    before = torch.cat([(amplitudes[:, :1] if prev_amp is None else prev_amp[:, None]), amplitudes[:, :-1]], 1)
    weights = torch.stack([before, amplitudes - before], -1).reshape(batch * frames, harmonics, 2)
    ramp = torch.arange(1, hop + 1, dtype=amplitudes.dtype, device=f0.device) / hop  # [hop]
    k = torch.arange(1, harmonics + 1, dtype=amplitudes.dtype, device=f0.device)
    wrapped = phases.to(amplitudes.dtype).reshape(batch * frames, hop)
    out = []
    # Chunks of frames keep the [chunk, hop, K] sines in cache. The wrapped phase is below
    # 2 pi, so k * phase in float32 stays within ~1e-5 rad; the sines need no gradient.
    for start in range(0, batch * frames, 256):
        waves = torch.mul(wrapped[start:start + 256, :, None], k)  # [chunk, hop, K]
        waves.sin_()
        mixed = torch.bmm(waves, weights[start:start + 256])  # [chunk, hop, 2]
        out.append(mixed[..., 0] + mixed[..., 1] * ramp)
    audio = torch.cat(out).reshape(batch, frames * hop)
    return audio, phases[:, -1], (f0[:, -1:], amplitudes[:, -1])


def noise_table(seed: int, size: int = 1 << 17) -> torch.Tensor:
    """A fixed table of uniform noise in [-1, 1): the noise source of inference, indexed by
    absolute sample position so that any block split reads the same noise."""
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, size).astype(np.float32))


def filtered_noise(magnitudes: torch.Tensor, noise: torch.Tensor, tail: torch.Tensor | None = None):
    """Noise shaped by a time-varying FIR filter (the paper's subtractive synthesiser).

    ``magnitudes`` ``[batch, frames, bands]``: the filter's frequency response
    a frame (linearly spaced from 0 to Nyquist); ``noise`` ``[batch,
    frames*hop]``. Each frame's response becomes a zero-phase impulse
    response (inverse FFT, Hann window, delayed to be causal) that filters
    that frame's noise; frames overlap-add. ``tail`` carries what spills
    into the next block. Returns ``(audio [batch, frames*hop], tail)``.
    """
    batch, frames, bands = magnitudes.shape
    hop = noise.shape[1] // frames
    ir = torch.fft.irfft(magnitudes.to(torch.float32), dim=-1)  # [b, t, 2*(bands-1)]
    size = ir.shape[-1]
    ir = torch.roll(ir, size // 2, dims=-1) * torch.hann_window(size, periodic=False, dtype=ir.dtype)
    length = hop + size - 1
    n_fft = 1 << (length - 1).bit_length()
    chunks = noise.reshape(batch, frames, hop).to(torch.float32)
    out = torch.fft.irfft(torch.fft.rfft(chunks, n_fft) * torch.fft.rfft(ir, n_fft), n_fft)[..., :length]
    # Overlap-add: frame t starts at t * hop.
    total = frames * hop + size - 1
    audio = torch.nn.functional.fold(out.transpose(1, 2), output_size=(1, total), kernel_size=(1, length),
                                     stride=(1, hop)).reshape(batch, total)
    if tail is not None:
        audio[:, :tail.shape[1]] += tail
    return audio[:, :frames * hop], audio[:, frames * hop:]


def fft_convolve(signal: torch.Tensor, ir: torch.Tensor, tail: torch.Tensor | None = None):
    """``signal`` ``[batch, n]`` convolved with ``ir`` ``[length]``; returns ``(first n samples, tail)``."""
    n, length = signal.shape[-1], ir.shape[-1]
    size = n + length - 1
    n_fft = 1 << (size - 1).bit_length()
    spectrum = torch.fft.rfft(signal, n_fft) * torch.fft.rfft(ir.to(signal.dtype), n_fft)
    full = torch.fft.irfft(spectrum, n_fft)[..., :size]
    if tail is not None:
        full[..., :tail.shape[-1]] += tail
    return full[..., :n], full[..., n:]


class Reverb(torch.nn.Module):
    """A learned room: an impulse response ``[1, wet...]``, the wet part free parameters
    shaped by a learned exponential decay (the paper learns a free IR for one room)."""

    def __init__(self, length: int, sample_rate: int):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        # Drawn on the CPU, where the generator lives, even when the model is built on the meta
        # device to check a run's shapes: a CPU generator there sends randn through a path
        # that imports torch's compiler (seconds) for nothing.
        noise = torch.randn(length - 1, generator=generator, device="cpu")
        self.wet = torch.nn.Parameter((noise * 1e-3).to(torch.get_default_device()))
        self.decay = torch.nn.Parameter(torch.tensor(2.0))  # softplus -> decay rate
        self.gain = torch.nn.Parameter(torch.tensor(-4.0))  # sigmoid -> wet level
        self.sample_rate = sample_rate

    def impulse_response(self) -> torch.Tensor:
        t = torch.arange(1, self.wet.shape[0] + 1, dtype=self.wet.dtype) / self.sample_rate
        envelope = torch.exp(-torch.nn.functional.softplus(self.decay) * 4 * t)
        wet = self.wet * envelope * torch.sigmoid(self.gain) * 100
        return torch.cat([torch.ones(1, dtype=wet.dtype), wet])

    def forward(self, audio: torch.Tensor, tail: torch.Tensor | None = None):
        return fft_convolve(audio, self.impulse_response(), tail)


def multi_resolution_stft_loss(predicted: torch.Tensor, target: torch.Tensor,
                               sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64),
                               log_weight: float = 1.0, eps: float = 1e-7) -> torch.Tensor:
    """The paper's spectral loss: over FFT sizes, L1 of magnitudes plus L1 of log magnitudes
    (Hann windows, 75% overlap), summed over sizes, averaged over bins and frames."""
    loss = predicted.new_zeros(())
    for n_fft in sizes:
        window = torch.hann_window(n_fft, dtype=predicted.dtype, device=predicted.device)
        spectra = [torch.stft(x.reshape(-1, x.shape[-1]), n_fft, n_fft // 4, window=window,
                              return_complex=True).abs() for x in (predicted, target)]
        loss = loss + (spectra[0] - spectra[1]).abs().mean()
        loss = loss + log_weight * (torch.log(spectra[0] + eps) - torch.log(spectra[1] + eps)).abs().mean()
    return loss


def spectral_distance(predicted: np.ndarray, target: np.ndarray,
                      sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64)) -> float:
    """Multi-resolution STFT distance between two mono signals (numpy in, float out)."""
    n = min(np.asarray(predicted).shape[-1], np.asarray(target).shape[-1])
    a = torch.from_numpy(np.asarray(predicted, dtype=np.float32).reshape(-1)[:n])
    b = torch.from_numpy(np.asarray(target, dtype=np.float32).reshape(-1)[:n])
    with torch.no_grad():
        return float(multi_resolution_stft_loss(a[None], b[None], sizes)) / len(sizes)


def griffin_lim(magnitude: torch.Tensor, n_fft: int, hop: int, iterations: int = 16, momentum: float = 0.99,
                length: int | None = None, seed: int = 0) -> torch.Tensor:
    """A waveform whose STFT magnitude is close to ``magnitude [B, n_fft // 2 + 1, frames]`` (Hann
    window, centred frames): Griffin & Lim 1984 with the momentum of Perraudin, Balazs & Søndergaard
    2013 ("A fast Griffin-Lim algorithm"; ``momentum`` 0 is the original). The first phases are
    drawn from ``seed``, so the same magnitude always gives the same waveform. -> ``[B, length]``."""
    window = torch.hann_window(n_fft, dtype=magnitude.dtype, device=magnitude.device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype).to(magnitude.device)
    angles = torch.polar(torch.ones_like(magnitude), 2 * math.pi * phase)
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        audio = torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)
        rebuilt = torch.stft(audio, n_fft, hop, window=window, return_complex=True)
        accelerated = rebuilt - momentum / (1 + momentum) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp_min(1e-16)
    return torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)
