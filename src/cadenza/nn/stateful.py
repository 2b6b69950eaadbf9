"""Causal networks converted for export: every cache kept inside the module, weight norm folded in.

A causal network built from :mod:`cadenza.nn.conv` streams in Python with its
state passed in and out (``stream(x, state) -> (y, state)``); a live host
(nn~ in Max/Pd, onnxruntime) wants a module that remembers its past between
calls and compiles to TorchScript. :func:`convert` turns one into the other:

- every causal convolution and transposed convolution becomes a layer that
  keeps its cache in a buffer (a convolution keeps its last ``span - stride``
  input samples, a transposed convolution the ``kernel - stride`` output
  samples that later frames still add to); a cache that sees another batch
  size restarts from silence at that size. The PQMF bank's causal analysis is
  a strided convolution with its filters and its synthesis a transposed one
  (:func:`pqmf_analysis`, :func:`pqmf_synthesis`);
- weight norm is folded into plain weights once (the eager stream recomputes
  ``g v / ||v||`` every block);
- ``CausalConvStack`` and ``CausalResidual`` trees are walked generically, so
  any causal model built from :mod:`cadenza.nn.conv` (the VAE, the codec)
  converts the same way; pointwise layers (LeakyReLU, 1x1 convolutions, Snake)
  are kept (Snake as a scriptable twin).

Caillon & Esling 2022, "Streamable Neural Audio Synthesis With Non-Causal
Convolutions" (https://arxiv.org/abs/2204.07064) keep caches inside modules
the same way; what changes here is that every layer is causal to start with
(no added delay), and blocks must be whole strides of the whole network (the
shapes of the caches then never change).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from cadenza.nn.activations import Snake
from cadenza.nn.conv import CausalConv1d, CausalConvStack, CausalConvTranspose1d, CausalResidual, _check_pointwise
from cadenza.nn.pqmf import PQMF

# --- layers that keep their cache ---------------------------------------------------------------


class CachedConv1d(nn.Module):
    """A causal convolution fed whole strides: ``[B, C_in, L]`` -> ``[B, C_out, L / stride]``.

    The buffer ``cache [B, C_in, span - stride]`` holds the input the next
    block still needs (zeros at the start: the offline left padding). ``L``
    must be a multiple of ``stride``; the exported model's block check makes
    it so at every layer.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1, dilation: int = 1,
                 groups: int = 1):
        super().__init__()
        bias = bias if bias is not None else weight.new_zeros(weight.shape[0])
        self.register_buffer("weight", weight.detach().clone())  # [C_out, C_in / groups, K]
        self.register_buffer("bias", bias.detach().clone())  # [C_out]
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.pad = (weight.shape[-1] - 1) * dilation + 1 - stride  # input samples kept between blocks
        self.register_buffer("cache", weight.new_zeros(1, weight.shape[1] * groups, self.pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad == 0:  # a 1x1 (or kernel == stride) convolution: nothing to remember
            return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        if self.cache.shape[0] != x.shape[0]:  # another batch size (mc.nn~ channels): start from silence
            self.cache = x.new_zeros(x.shape[0], self.cache.shape[1], self.pad)
        buffer = torch.cat([self.cache, x], dim=-1)  # [B, C_in, pad + L]
        self.cache = buffer[:, :, -self.pad:]  # [B, C_in, pad]
        return F.conv1d(buffer, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)  # [B, C_out, n]

    def reset(self) -> None:
        self.cache = torch.zeros_like(self.cache)  # new storage: the cache is a view of the last block's


class CachedConvTranspose1d(nn.Module):
    """A causal upsampler: ``[B, C_in, L]`` -> ``[B, C_out, L * stride]``.

    The buffer ``cache [B, C_out, kernel - stride]`` holds the output samples
    past frames have contributed to and later frames still will (bias not yet
    added, so that it is added once).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, groups: int = 1):
        super().__init__()
        out_channels = weight.shape[1] * groups
        bias = bias if bias is not None else weight.new_zeros(out_channels)
        self.register_buffer("weight", weight.detach().clone())  # [C_in, C_out / groups, K]
        self.register_buffer("bias", bias.detach().clone())  # [C_out]
        self.stride, self.groups = stride, groups
        self.pad = weight.shape[-1] - stride  # output samples that overlap the next block
        self.register_buffer("cache", weight.new_zeros(1, out_channels, self.pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose1d(x, self.weight, None, self.stride, 0, 0, self.groups)  # [B, C_out, L s + pad]
        if self.pad > 0:
            if self.cache.shape[0] != x.shape[0]:
                self.cache = x.new_zeros(x.shape[0], self.cache.shape[1], self.pad)
            y = torch.cat([y[:, :, : self.pad] + self.cache, y[:, :, self.pad:]], dim=-1)  # the overlap added
            self.cache = y[:, :, -self.pad:]  # [B, C_out, pad]
            y = y[:, :, : -self.pad]  # [B, C_out, L s]: no later frame reaches these
        return y + self.bias[:, None]

    def reset(self) -> None:
        self.cache = torch.zeros_like(self.cache)  # new storage: the cache is a view of the last block's


class Pointwise(nn.Module):
    """A layer that does not mix time steps (an activation, a 1x1 convolution): nothing to cache."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def reset(self) -> None:
        pass


class CachedSequence(nn.Module):
    """The converted :class:`~cadenza.nn.conv.CausalConvStack`: its layers in order, each with its cache."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()


class CachedResidual(nn.Module):
    """The converted :class:`~cadenza.nn.conv.CausalResidual`: ``x + block(x)``."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)

    def reset(self) -> None:
        self.block.reset()


class ScriptSnake(nn.Module):
    """:class:`cadenza.nn.activations.Snake` in a form TorchScript compiles: x + sin^2(a x) / a."""

    def __init__(self, alpha: torch.Tensor):
        super().__init__()
        self.register_buffer("alpha", alpha.detach().clone().reshape(1, -1, 1))  # [1, C, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sin(self.alpha * x) ** 2 / (self.alpha + 1e-9)


def plain(layer: nn.Module) -> nn.Module:
    """A deep copy of ``layer`` with every parametrisation (weight norm) folded into a plain weight."""
    layer = copy.deepcopy(layer)
    for module in list(layer.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return layer


@torch.no_grad()
def convert(layer: nn.Module) -> nn.Module:
    """The stateful, scriptable twin of a causal layer from :mod:`cadenza.nn.conv` (a stack, a residual
    block, a convolution) or of a pointwise one. Reading ``layer.weight`` computes a weight-normed
    weight, so the twin holds plain weights."""
    if isinstance(layer, CausalConv1d):
        return CachedConv1d(layer.weight, layer.bias, layer.stride[0], layer.dilation[0], layer.groups)
    if isinstance(layer, CausalConvTranspose1d):
        return CachedConvTranspose1d(layer.weight, layer.bias, layer.stride[0], layer.groups)
    if isinstance(layer, CausalConvStack):
        return CachedSequence([convert(inner) for inner in layer])
    if isinstance(layer, CausalResidual):
        return CachedResidual(convert(layer.block))
    if isinstance(layer, Snake):
        return Pointwise(ScriptSnake(layer.alpha))
    if hasattr(layer, "stream"):  # e.g. the codec's centred (non-causal) convolutions
        raise TypeError(f"{type(layer).__name__} streams in its own way; only the causal layers of "
                        "cadenza.nn.conv convert")
    _check_pointwise(layer)
    return Pointwise(plain(layer))


def pqmf_analysis(pqmf: PQMF) -> CachedConv1d:
    """The causal analysis of a one-channel PQMF bank: ``[B, 1, T]`` -> ``[B, M, T / M]``."""
    return CachedConv1d(pqmf.filters, None, stride=pqmf.n_bands)


def pqmf_synthesis(pqmf: PQMF) -> CachedConvTranspose1d:
    """The causal synthesis of a one-channel PQMF bank: ``[B, M, L]`` -> ``[B, 1, L * M]``."""
    return CachedConvTranspose1d(pqmf.n_bands * pqmf.filters, None, stride=pqmf.n_bands)


def stateful_layers(module: nn.Module) -> list[nn.Module]:
    """The layers under ``module`` that carry a cache between blocks, in a fixed order."""
    return [m for m in module.modules() if isinstance(m, (CachedConv1d, CachedConvTranspose1d)) and m.pad > 0]
