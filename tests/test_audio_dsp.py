"""DSP building blocks: known answers, no aliasing, and block-split invariance (streaming)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.audio import dsp

SR, HOP = 16000, 64


def test_one_harmonic_is_a_sine():
    frames = 50
    f0 = torch.full((1, frames), 500.0)
    amps = torch.full((1, frames, 1), 0.5)
    audio, _, _ = dsp.harmonic_synth(f0, amps, HOP, SR)
    n = np.arange(1, frames * HOP + 1)
    assert np.allclose(audio[0].numpy(), 0.5 * np.sin(2 * np.pi * 500 * n / SR), atol=1e-4)


def test_no_harmonic_above_nyquist():
    f0 = torch.full((1, 100), 3000.0)
    mask = dsp.nyquist_mask(f0, 8, SR)
    assert mask[0, 0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    audio, _, _ = dsp.harmonic_synth(f0, torch.full((1, 100, 8), 0.1) * mask[..., None, :][0], HOP, SR)
    spectrum = np.abs(np.fft.rfft(audio[0].numpy() * np.hanning(audio.shape[1])))
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
    peaks = freqs[spectrum > spectrum.max() * 0.01]
    # Only 3 and 6 kHz: an aliased 9 kHz would show at 7 kHz, 12 kHz at 4 kHz.
    assert all(abs(p - 3000) < 50 or abs(p - 6000) < 50 for p in peaks)


def _splits(total, cuts):
    points = sorted({0, total, *[c % total for c in cuts]})
    return list(zip(points[:-1], points[1:]))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 39), max_size=6))
def test_synths_give_the_same_samples_whatever_the_block_split(cuts):
    g = torch.Generator().manual_seed(0)
    frames = 40
    f0 = 200 + 300 * torch.rand(1, frames, generator=g)
    amps = torch.rand(1, frames, 6, generator=g) * 0.1
    mags = torch.rand(1, frames, 9, generator=g)
    noise = torch.rand(1, frames * HOP, generator=g) * 2 - 1
    reverb = dsp.Reverb(300, SR)
    with torch.no_grad():
        whole_h, _, _ = dsp.harmonic_synth(f0, amps, HOP, SR)
        whole_n, _ = dsp.filtered_noise(mags, noise)
        whole_r, _ = reverb(whole_h + whole_n)
        phase = glide = tail = rtail = None
        parts = []
        for a, b in _splits(frames, cuts):
            h, phase, glide = dsp.harmonic_synth(f0[:, a:b], amps[:, a:b], HOP, SR, phase, glide)
            n, tail = dsp.filtered_noise(mags[:, a:b], noise[:, a * HOP:b * HOP], tail)
            r, rtail = reverb(h + n, rtail)
            parts.append(r)
    assert torch.cat(parts, 1).shape == whole_r.shape
    assert (torch.cat(parts, 1) - whole_r).abs().max() < 1e-5


def test_filtered_noise_follows_its_filter():
    frames, bands = 200, 17
    mags = torch.zeros(1, frames, bands)
    mags[..., :4] = 1.0  # a low-pass: 0 to ~1.5 kHz
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, frames * HOP).astype(np.float32))[None]
    out, _ = dsp.filtered_noise(mags, noise)
    spectrum = np.abs(np.fft.rfft(out[0].numpy())) ** 2
    freqs = np.fft.rfftfreq(out.shape[1], 1 / SR)
    assert spectrum[freqs < 1000].mean() > 100 * spectrum[freqs > 4000].mean()


def test_multi_resolution_loss():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4096, generator=g)
    assert float(dsp.multi_resolution_stft_loss(x, x)) == 0.0
    near = float(dsp.multi_resolution_stft_loss(x + 0.01 * torch.randn(2, 4096, generator=g), x))
    far = float(dsp.multi_resolution_stft_loss(torch.randn(2, 4096, generator=g), x))
    assert 0 < near < far
    y = x.clone().requires_grad_(True)
    dsp.multi_resolution_stft_loss(y * 0.5, x).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_fft_convolve_matches_numpy():
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=300), rng.normal(size=50)
    out, tail = dsp.fft_convolve(torch.from_numpy(x)[None], torch.from_numpy(h))
    full = np.convolve(x, h)
    assert np.allclose(out[0].numpy(), full[:300], rtol=1e-4, atol=1e-5)
    assert np.allclose(tail[0].numpy(), full[300:], rtol=1e-4, atol=1e-5)
