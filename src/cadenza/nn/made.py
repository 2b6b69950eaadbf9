"""MADE: masked dense layers whose output d depends only on inputs < d, for autoregressive distributions.

Reference: M. Germain, K. Gregor, I. Murray and H. Larochelle, "MADE: Masked
Autoencoder for Distribution Estimation", ICML 2015,
https://arxiv.org/abs/1502.03509.

What this reproduces: an autoencoder whose weight matrices are multiplied
by fixed 0/1 masks built from degrees (input d has degree d; a hidden unit
of degree m sees the units below it with degree <= m; output d sees hidden
units of degree < d), so that one pass gives all the conditionals
p(x_d | x_<d) of a binary vector, and the direct input-to-output
connections (a strictly lower-triangular masked matrix) of the paper.

What it changes: a context vector ``c`` enters every hidden unit and every
output (a conditional MADE: in the polyphonic model ``c`` is the state of an
RNN over the past frames); hidden degrees cycle deterministically through
1 .. D-1 instead of being drawn at random, so every conditional gets the
same share of units; one fixed ordering and one mask (no order- or
connectivity-agnostic training); ReLU hidden units.

The module names (``hidden.i``, ``context.i``, ``out``, ``direct``,
``out_context``) are those of the checkpoints that ship with Cadenza
(``pretrained/jsb``, ``pretrained/nottingham``); the masks are not saved.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MaskedLinear(nn.Linear):
    """A dense layer with a fixed 0/1 connectivity mask ``[n_out, n_in]`` (not saved in the state dict)."""

    def __init__(self, n_in: int, n_out: int, mask: np.ndarray, bias: bool = True):
        super().__init__(n_in, n_out, bias=bias)
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32), persistent=False)

    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """p(x[k] | x[<k], c) for every key k at once: ``x [..., keys]``, ``c [..., context]`` -> logits ``[..., keys]``.

    ``keys`` is the dimension D of x (the 88 keys of a piano-roll frame in
    the polyphonic model). Degrees after Germain et al.: key k has degree
    k + 1; a hidden unit of degree m sees keys with degree <= m; output k
    sees hidden units with degree < k + 1, and (direct connections) keys
    j < k. Hidden degrees cycle through 1..keys-1, so every conditional gets
    the same share of units.
    """

    def __init__(self, keys: int, context: int, hidden: int, layers: int, dropout: float = 0.0):
        super().__init__()
        self.keys = keys
        self.drop = nn.Dropout(dropout)
        key_degree = np.arange(1, keys + 1)
        previous = key_degree
        self.hidden = nn.ModuleList()
        self.context = nn.ModuleList()
        for _ in range(layers):
            degree = 1 + np.arange(hidden) % max(keys - 1, 1)
            self.hidden.append(MaskedLinear(previous.size, hidden, degree[:, None] >= previous[None, :]))
            self.context.append(nn.Linear(context, hidden, bias=False))
            previous = degree
        self.out = MaskedLinear(hidden, keys, key_degree[:, None] > previous[None, :])
        self.direct = MaskedLinear(keys, keys, key_degree[:, None] > key_degree[None, :], bias=False)
        self.out_context = nn.Linear(context, keys, bias=False)

    def forward(self, x, c):
        """Logits ``[..., keys]``; entry k depends on ``x[..., :k]`` and ``c`` only."""
        h = x  # [..., keys]
        for layer, ctx in zip(self.hidden, self.context):
            h = self.drop(torch.relu(layer(h) + ctx(c)))  # [..., hidden]
        return self.out(h) + self.direct(x) + self.out_context(c)  # [..., keys]
