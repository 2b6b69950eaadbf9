"""Baselines for the likelihood of audio in bits per sample over 256 mu-law classes.

A sample-level model such as WaveNet reports its held-out negative log-likelihood
in bits per sample; alone the number says little. These two baselines put it on
a scale, measured on the same samples and the same 256 classes:

- :func:`unigram_bits`: every sample drawn independently from the classes'
  frequencies in the training audio (no memory at all; 8 bits is a uniform guess);
- :func:`linear_prediction_bits`: a linear predictor of order ``p`` fitted by least
  squares on the training audio (the autoregressive model of LPC speech coding,
  Atal & Hanauer 1971, "Speech analysis and synthesis by linear prediction of the
  speech wave"), with a Laplace residual whose scale is fitted too, integrated
  over each class's interval and mixed 99:1 with the unigram (so that one sample
  the predictor misses costs at most about 7 extra bits, not 1000). It sees what
  WaveNet sees: the past samples as mu-law levels, not the exact waveform.
"""

from __future__ import annotations

import math

import numpy as np

from cadenza.nn.mulaw import mu_law_dequantize, mu_law_quantize

CLASSES = 256


def _classes(clips) -> list[np.ndarray]:
    return [mu_law_quantize(np.asarray(c, np.float32), CLASSES).numpy() for c in clips]


def _unigram(train, smoothing: float = 1.0) -> np.ndarray:
    counts = np.full(CLASSES, smoothing, np.float64)
    for c in _classes(train):
        counts += np.bincount(c, minlength=CLASSES)
    return counts / counts.sum()


def unigram_bits(train, test, smoothing: float = 1.0) -> float:
    """Bits per sample of the ``test`` clips (1-D float arrays in [-1, 1]) under the class
    frequencies of ``train``, add-``smoothing`` so that no class has probability 0."""
    log_p = np.log2(_unigram(train, smoothing))
    return float(-log_p[np.concatenate(_classes(test))].mean())


def _lagged(levels: np.ndarray, order: int) -> np.ndarray:
    """``[n, order]``: row t holds levels t-1 ... t-order (zeros before the start)."""
    padded = np.concatenate([np.zeros(order), levels])
    return np.stack([padded[order - k:len(padded) - k] for k in range(1, order + 1)], 1)


def linear_prediction_bits(train, test, order: int = 32, unigram_share: float = 0.01) -> float:
    """Bits per sample of ``test`` under an order-``order`` linear predictor with a Laplace
    residual, both fitted on ``train``; the predictor's inputs are the decoded mu-law
    levels of the previous samples, its target the true next sample. ``unigram_share``
    of the probability comes from the training unigram."""
    unigram = _unigram(train)
    # Least squares by the normal equations, summed clip by clip: memory does not grow with
    # the training audio (a design matrix of minutes of audio would take gigabytes).
    gram, moment = np.zeros((order, order)), np.zeros(order)
    pairs = []
    for clip, classes in zip(train, _classes(train)):
        x = _lagged(mu_law_dequantize(classes, CLASSES).double().numpy(), order)
        y = np.asarray(clip, np.float64)
        gram += x.T @ x
        moment += x.T @ y
        pairs.append(classes)
    coefficients = np.linalg.solve(gram + 1e-9 * np.eye(order), moment)
    residual, count = 0.0, 0
    for clip, classes in zip(train, pairs):
        x = _lagged(mu_law_dequantize(classes, CLASSES).double().numpy(), order)
        residual += float(np.abs(np.asarray(clip, np.float64) - x @ coefficients).sum())
        count += len(classes)
    scale = max(residual / count, 1e-6)  # a Laplace's scale: the mean |residual|
    # The class interval edges in the linear domain: midway (in mu-law) between levels.
    edges = mu_law_dequantize(np.arange(CLASSES + 1) - 0.5, CLASSES).double().numpy()
    edges[0], edges[-1] = -math.inf, math.inf

    def laplace_cdf(z):
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0) / scale), 1 - 0.5 * np.exp(-np.maximum(z, 0) / scale))

    total, count = 0.0, 0
    for classes in _classes(test):
        levels = mu_law_dequantize(classes, CLASSES).double().numpy()
        predicted = _lagged(levels, order) @ coefficients
        p = laplace_cdf(edges[classes + 1] - predicted) - laplace_cdf(edges[classes] - predicted)
        p = (1 - unigram_share) * p + unigram_share * unigram[classes]
        total -= float(np.log2(p).sum())
        count += len(classes)
    return total / count
