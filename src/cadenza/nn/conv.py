"""Causal 1-D convolutions that stream: fed block by block, with any block sizes, they give the offline output.

References:

- A. van den Oord, S. Dieleman, H. Zen, K. Simonyan, O. Vinyals, A. Graves,
  N. Kalchbrenner, A. Senior and K. Kavukcuoglu, "WaveNet: A Generative
  Model for Raw Audio", 2016, https://arxiv.org/abs/1609.03499 (causal,
  dilated convolutions; receptive field 1 + sum (k - 1) d).
- T. L. Paine et al., "Fast Wavenet Generation Algorithm", 2016,
  https://arxiv.org/abs/1611.09482 (cache each layer's past inputs so that
  one new sample costs one step per layer).
- A. Caillon and P. Esling, "Streamable Neural Audio Synthesis With
  Non-Causal Convolutions", DAFx 2022, https://arxiv.org/abs/2204.07064
  (cached convolutions: a buffer of past input per layer turns an offline
  convolutional network into a block-by-block one).

What this reproduces: causal convolutions (output n sees inputs <= n only:
the input is padded on the left, never on the right) with dilation,
stride and optional weight norm (T. Salimans and D. P. Kingma, 2016,
https://arxiv.org/abs/1602.07868); a causal transposed convolution that
upsamples by its stride; and the cache of Caillon & Esling / Paine et al.,
kept as an explicit state that ``stream(x, state) -> (y, state)`` takes and
returns, so that concatenating the streamed blocks equals the offline
output for any split of the input, down to blocks of one sample.

What it changes: Caillon & Esling make non-causal convolutions streamable by
delaying their output (and align parallel branches with extra delays);
here every layer is causal to start with, so no delay is added and no
branch needs aligning. The state is passed in and out rather than kept
inside the module, so one module serves any number of independent streams.
Strided layers keep the samples of an unfinished frame in their state and
emit a frame as soon as it is complete (a block may yield no frame at all).

Shapes: signals are ``[batch, channels, time]``; a stream's state is
``None`` at its start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --- functional forms (also used by the PQMF bank) ---------------------------------------------


def causal_conv1d(x, weight, bias=None, stride: int = 1, dilation: int = 1, groups: int = 1):
    """Offline causal convolution: ``x [B, C_in, T]`` -> ``[B, C_out, T // stride]``.

    Output frame n sees ``x[..., : (n + 1) * stride]`` only: it is computed
    as soon as its last sample has arrived.
    """
    span = (weight.shape[-1] - 1) * dilation + 1  # input samples one output sees
    x = F.pad(x, (span - stride, 0))  # [B, C_in, T + span - stride]: zeros before the start
    if x.shape[-1] < span:  # shorter than one stride: no complete frame
        return x.new_zeros(x.shape[0], weight.shape[0], 0)
    return F.conv1d(x, weight, bias, stride, 0, dilation, groups)  # [B, C_out, T // stride]


def causal_conv1d_stream(x, state, weight, bias=None, stride: int = 1, dilation: int = 1, groups: int = 1):
    """One block of :func:`causal_conv1d`: ``(x [B, C_in, L], state)`` -> ``(y [B, C_out, n], state)``.

    The state is the input the next frames still need: the last
    ``span - stride`` samples (the left padding at the start), plus the
    samples of an unfinished frame when ``stride`` > 1.
    """
    span = (weight.shape[-1] - 1) * dilation + 1
    if span == stride:  # no overlap between frames (a 1x1 convolution): nothing to carry, nothing to copy
        buffer = x if state is None or state.shape[-1] == 0 else torch.cat([state, x], dim=-1)
    elif state is None:
        buffer = F.pad(x, (span - stride, 0))  # the offline left padding
    else:
        buffer = torch.cat([state, x], dim=-1)  # [B, C_in, S + L]
    frames = (buffer.shape[-1] - span) // stride + 1 if buffer.shape[-1] >= span else 0
    if frames == 0:
        return x.new_zeros(x.shape[0], weight.shape[0], 0), buffer
    used = (frames - 1) * stride + span
    y = F.conv1d(buffer[..., :used], weight, bias, stride, 0, dilation, groups)  # [B, C_out, frames]
    return y, buffer[..., frames * stride:]


def causal_conv_transpose1d(x, weight, bias=None, stride: int = 1, groups: int = 1):
    """Offline causal upsampling: ``x [B, C_in, T]`` -> ``[B, C_out, T * stride]``.

    ``weight`` is ``[C_in, C_out / groups, K]`` as for ``conv_transpose1d``,
    with K >= stride. Output sample n sees ``x[..., : n // stride + 1]`` only:
    the ``K - stride`` samples that the full transposed convolution adds
    after the last input frame are dropped (a stream carries them into the
    next block instead).
    """
    y = F.conv_transpose1d(x, weight, bias, stride, groups=groups)  # [B, C_out, (T - 1) * stride + K]
    return y[..., : x.shape[-1] * stride]  # [B, C_out, T * stride]


def causal_conv_transpose1d_stream(x, state, weight, bias=None, stride: int = 1, groups: int = 1):
    """One block of :func:`causal_conv_transpose1d`: ``(x [B, C_in, L], state)`` -> ``(y [B, C_out, L * stride],
    state)``.

    The state is the overlap: the ``K - stride`` output samples to which the
    past frames have contributed but later frames still will (bias not yet
    added, so that it is added once).
    """
    if x.shape[-1] == 0:
        return x.new_zeros(x.shape[0], weight.shape[1] * groups, 0), state
    y = F.conv_transpose1d(x, weight, None, stride, groups=groups)  # [B, C_out, (L - 1) * stride + K]
    if state is not None:  # the overlap from the blocks before, added where it falls (no padded copy)
        overlap = state.shape[-1]
        y[..., :overlap] += state
    done = x.shape[-1] * stride
    out = y[..., :done]  # [B, C_out, L * stride]: complete, no later frame reaches them
    if bias is not None:
        out = out + bias[:, None]
    return out, y[..., done:]  # state: [B, C_out, K - stride]


# --- modules -----------------------------------------------------------------------------------


class CausalConv1d(nn.Conv1d):
    """A causal (dilated, optionally strided) convolution: ``[B, C_in, T]`` -> ``[B, C_out, T // stride]``.

    ``forward`` pads on the left only; ``stream`` runs it block by block.
    The parameters are those of ``nn.Conv1d`` (``weight``, ``bias``; with
    ``weight_norm``, ``parametrizations.weight.original0/1``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, bias: bool = True, weight_norm: bool = False):
        if (kernel_size - 1) * dilation + 1 < stride:
            raise ValueError(f"a kernel spanning {(kernel_size - 1) * dilation + 1} samples would skip input "
                             f"with stride {stride}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, groups=groups,
                         bias=bias)
        if weight_norm:
            nn.utils.parametrizations.weight_norm(self)

    @property
    def receptive_field(self) -> int:
        """Input samples one output sees: (kernel_size - 1) * dilation + 1."""
        return (self.kernel_size[0] - 1) * self.dilation[0] + 1

    def forward(self, x):
        return causal_conv1d(x, self.weight, self.bias, self.stride[0], self.dilation[0], self.groups)

    def stream(self, x, state=None):
        """``(x [B, C_in, L], state)`` -> ``(y [B, C_out, n], state)``; ``state=None`` starts a stream."""
        return causal_conv1d_stream(x, state, self.weight, self.bias, self.stride[0], self.dilation[0], self.groups)


class CausalConvTranspose1d(nn.ConvTranspose1d):
    """A causal upsampler: ``[B, C_in, T]`` -> ``[B, C_out, T * stride]``; frame t drives samples t*stride onwards.

    ``kernel_size`` must be at least ``stride`` (2 * stride is the usual
    choice in codec and GAN decoders). The parameters are those of
    ``nn.ConvTranspose1d`` (with ``weight_norm``, normalised over dim 0, as
    ``torch.nn.utils.weight_norm`` does by default).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1,
                 bias: bool = True, weight_norm: bool = False):
        if kernel_size < stride:
            raise ValueError(f"kernel_size {kernel_size} < stride {stride} would leave gaps in the output")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=bias)
        if weight_norm:
            nn.utils.parametrizations.weight_norm(self)

    def forward(self, x):
        return causal_conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.groups)

    def stream(self, x, state=None):
        """``(x [B, C_in, L], state)`` -> ``(y [B, C_out, L * stride], state)``; ``state=None`` starts a stream."""
        return causal_conv_transpose1d_stream(x, state, self.weight, self.bias, self.stride[0], self.groups)


def stream(layer: nn.Module, x, state=None):
    """Run one block through ``layer``: its own ``stream`` if it has one, else ``layer(x)`` (pointwise in time)."""
    if hasattr(layer, "stream"):
        return layer.stream(x, state)
    if x.shape[-1] == 0:  # a strided layer before had no complete frame: keep the shape, compute nothing
        return layer(x.new_zeros(*x.shape[:-1], 1))[..., :0], None
    return layer(x), None


def _check_pointwise(layer: nn.Module):
    """A layer without ``stream`` must not mix time steps: no convolution, pooling, RNN or attention inside it."""
    if hasattr(layer, "stream"):
        return
    temporal = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                nn.RNNBase, nn.MultiheadAttention)
    for inner in layer.modules():
        pointwise_conv = isinstance(inner, nn.Conv1d) and inner.kernel_size == (1,) and inner.stride == (1,)
        if hasattr(inner, "stream") or (isinstance(inner, temporal) and not pointwise_conv):
            raise TypeError(f"{type(layer).__name__} mixes time steps and has no stream method: build it from "
                            "CausalConv1d / CausalConvTranspose1d inside a CausalConvStack or CausalResidual")


class CausalConvStack(nn.Sequential):
    """``nn.Sequential`` of causal layers and pointwise ops (activations, 1x1 convs) that also streams.

    ``forward`` runs the layers offline; ``stream(x, state)`` runs one block,
    the state being the list of the layers' states. A layer streams through
    its own ``stream`` method when it has one (so stacks nest, and
    :class:`CausalResidual` blocks fit in); any other layer must be
    pointwise in time, which is checked for the usual suspects. Parameter
    names are those of ``nn.Sequential`` (``0.weight``, ...). Stream in
    ``eval()`` mode: dropout or batch statistics would differ block by block.
    """

    def __init__(self, *layers: nn.Module):
        super().__init__(*layers)
        for layer in self:
            _check_pointwise(layer)

    def stream(self, x, state=None):
        """``(x [B, C, L], state)`` -> ``(y, state)``; ``state=None`` starts a stream."""
        state = list(state) if state is not None else [None] * len(self)
        for i, layer in enumerate(self):
            x, state[i] = stream(layer, x, state[i])
        return x, state


class CausalResidual(nn.Module):
    """``x + block(x)`` for a block that keeps the length (stride-1 causal convs), offline and streamed."""

    def __init__(self, block: nn.Module):
        super().__init__()
        _check_pointwise(block)
        self.block = block

    def forward(self, x):
        return x + self.block(x)

    def stream(self, x, state=None):
        y, state = stream(self.block, x, state)
        return x + y, state


def receptive_field(layer: nn.Module) -> int:
    """Input samples that one output sample of ``layer`` sees (a stack, a residual block, a conv).

    Composed layer by layer: a layer of span k' = (k - 1) d + 1 after layers
    with a total stride h and receptive field r gives r + (k' - 1) h (WaveNet:
    kernel 2, dilations 1, 2, ..., 512 see 1024 samples). Pointwise layers
    see 1. Upsamplers are not covered (one output frame of theirs sees a
    fraction of an input sample).
    """
    return _field(layer)[0]


def _field(layer: nn.Module) -> tuple[int, int]:
    """(receptive field, total stride) of ``layer``, both in input samples."""
    if isinstance(layer, CausalConv1d):
        return layer.receptive_field, layer.stride[0]
    if isinstance(layer, CausalConvTranspose1d):
        raise ValueError("receptive_field does not cover upsampling layers")
    if isinstance(layer, CausalResidual):
        return _field(layer.block)
    if isinstance(layer, nn.Sequential):
        field, hop = 1, 1
        for inner in layer:
            inner_field, inner_hop = _field(inner)
            field, hop = field + (inner_field - 1) * hop, hop * inner_hop
        return field, hop
    _check_pointwise(layer)
    return 1, 1
