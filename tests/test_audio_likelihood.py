"""The audio likelihood baselines: bits per sample over 256 mu-law classes."""

from __future__ import annotations

import numpy as np

from cadenza.evaluate.audio_likelihood import linear_prediction_bits, unigram_bits


def resonance(seed: int, n: int = 8000) -> np.ndarray:
    """A second-order autoregressive process (a damped resonance driven by noise)."""
    rng = np.random.default_rng(seed)
    x, e = np.zeros(n), rng.normal(0, 0.02, n)
    for i in range(2, n):
        x[i] = 1.8 * x[i - 1] - 0.9 * x[i - 2] + e[i]
    return 0.8 * x / np.abs(x).max()


def test_unigram_is_the_cross_entropy_of_class_frequencies():
    rng = np.random.default_rng(0)
    uniform = [rng.uniform(-1, 1, 20000) for _ in range(2)]
    # Uniform amplitudes crowd the loud mu-law classes: fewer than 8 bits, far more than 4.
    assert 5.0 < unigram_bits(uniform[:1], uniform[1:]) < 8.0
    silence = [np.zeros(1000)] * 2
    # One class seen 1000 times, every class once more (add-one): -log2(1001 / 1256).
    assert abs(unigram_bits(silence[:1], silence[1:]) + np.log2(1001 / 1256)) < 1e-9
    # A class never seen in training still has a finite cost (add-one smoothing).
    assert np.isfinite(unigram_bits(silence[:1], [np.full(10, 0.9)]))


def test_linear_prediction_beats_the_unigram_where_the_past_predicts():
    train, test = [resonance(1), resonance(2)], [resonance(3)]
    unigram, lpc = unigram_bits(train, test), linear_prediction_bits(train, test, order=8)
    assert lpc < unigram - 2.0
    noise = [np.random.default_rng(s).normal(0, 0.2, 8000).clip(-1, 1) for s in range(3)]
    # White noise: the past says nothing, so prediction gains nothing (nor loses much).
    assert abs(linear_prediction_bits(noise[:2], noise[2:]) - unigram_bits(noise[:2], noise[2:])) < 0.3
