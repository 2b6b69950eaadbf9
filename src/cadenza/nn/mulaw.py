"""Mu-law companding and its quantisation to 256 classes (the output alphabet of WaveNet).

References:

- ITU-T Recommendation G.711, "Pulse code modulation (PCM) of voice
  frequencies", 1972, https://www.itu.int/rec/T-REC-G.711 (mu-law, mu = 255).
- A. van den Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016,
  https://arxiv.org/abs/1609.03499, section 2.2: a softmax over 256 values of
  f(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu), mu = 255.

What this reproduces: WaveNet's continuous companding curve and its
inverse, and a uniform quantiser of the companded value to ``classes``
levels (mu = classes - 1).

What it changes from G.711: G.711 encodes 14-bit integers with a
piecewise-linear approximation of the curve (8 segments of 16 steps, a sign
bit, a +0 and a -0); here the exact curve is applied to floats in [-1, 1]
and quantised uniformly to the nearest of the levels 2q / mu - 1,
q = 0 .. mu: odd multiples of 1/255 for 256 classes, symmetric about 0,
with -1 and 1 at the ends. 0 falls in class 128, whose level 1/255 decodes
to 8.6e-5. The companded value moves by at most 1/mu, so the round trip
error is at most (|x| + 1/mu) ((1 + mu)^(1/mu) - 1), about 2.2 % of
|x| + 1/255 for 256 classes.
"""

from __future__ import annotations

import math

import torch


def mu_law_encode(x, mu: float = 255.0):
    """Compand ``x`` in [-1, 1] (clipped) to [-1, 1]: sign(x) ln(1 + mu |x|) / ln(1 + mu)."""
    x = torch.as_tensor(x).clamp(-1.0, 1.0)
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


def mu_law_decode(y, mu: float = 255.0):
    """The inverse of :func:`mu_law_encode`: sign(y) ((1 + mu)^|y| - 1) / mu."""
    y = torch.as_tensor(y)
    return torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu


def mu_law_quantize(x, classes: int = 256):
    """Audio in [-1, 1] (clipped) -> integer classes ``0 .. classes - 1`` (int64), mu = classes - 1."""
    mu = classes - 1
    y = mu_law_encode(x, mu)
    return torch.floor((y + 1) / 2 * mu + 0.5).long()  # nearest level 2q / mu - 1; 0 -> classes // 2


def mu_law_dequantize(q, classes: int = 256):
    """Classes ``0 .. classes - 1`` -> audio in [-1, 1]: the decoded level of each class."""
    mu = classes - 1
    y = (2 * torch.as_tensor(q, dtype=torch.get_default_dtype()) - mu) / mu  # the level 2q / mu - 1, exact
    return mu_law_decode(y, mu)
