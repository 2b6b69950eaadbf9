"""The codec's network: a SEANet/DAC-style convolutional encoder and decoder around a residual VQ.

Zeghidour et al. 2021, "SoundStream: An End-to-End Neural Audio Codec"
(https://arxiv.org/abs/2107.03312) and Défossez et al. 2022, "High Fidelity
Neural Audio Compression" (EnCodec, https://arxiv.org/abs/2210.13438): an
encoder of strided blocks, each three residual units (kernel 7, dilations 1,
3, 9) then a convolution of stride s and kernel 2s that doubles the channels;
a mirrored decoder of transposed convolutions; a residual vector quantiser
between them (:mod:`cadenza.nn.quantize`). Kumar et al. 2023, "High-Fidelity
Audio Compression with Improved RVQGAN" (DAC, https://arxiv.org/abs/2306.06546):
Snake activations (:mod:`cadenza.nn.activations`) instead of ELU, weight
normalisation on every convolution, a tanh at the output.

``decoder="fourier"`` replaces the mirrored decoder by Vocos's (Siuzdak 2023,
https://arxiv.org/abs/2306.00814): ConvNeXt blocks at the frame rate, a 1x1 head to
log-magnitudes and phases, and a causal inverse STFT (:mod:`cadenza.nn.istft`). Nothing
learned runs at the sample rate, so it is both wider and faster than the convolutional one.

Causal by default: every convolution sees only the past
(:mod:`cadenza.nn.conv`), so encoder and decoder run block by block with
cached state and a streamed decode equals the offline one, and the codes of
a frame do not depend on how the input was cut into blocks. ``causal=False``
centres every kernel instead (SEANet's non-causal variant, as DAC): better
reconstruction for the same size, no streaming.

Shapes: audio ``[batch, samples]``, latents ``[batch, latent, frames]``,
codes ``[batch, codebooks, frames]`` with ``frames = samples / prod(strides)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.nn.activations import Snake
from cadenza.nn.conv import CausalConv1d, CausalConvStack, CausalConvTranspose1d, CausalResidual
from cadenza.nn.istft import CausalInverseSTFT, MagnitudePhase
from cadenza.nn.quantize import ResidualQuantizerOutput, ResidualVectorQuantizer


class CentredConv1d(nn.Conv1d):
    """A non-causal convolution with the same output length as :class:`CausalConv1d`
    (``T // stride``): the padding is split between both ends. It does not stream."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        nn.utils.parametrizations.weight_norm(self)

    def forward(self, x):
        pad = (self.kernel_size[0] - 1) * self.dilation[0] + 1 - self.stride[0]
        return super().forward(F.pad(x, (pad // 2, pad - pad // 2)))

    def stream(self, x, state=None):
        raise RuntimeError("a non-causal codec does not stream (train it with causal=True)")


class CentredConvTranspose1d(nn.ConvTranspose1d):
    """A non-causal upsampler by ``stride``: the ``kernel - stride`` extra samples of the
    transposed convolution are trimmed from both ends. It does not stream."""

    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride)
        nn.utils.parametrizations.weight_norm(self)

    def forward(self, x):
        y = super().forward(x)  # [B, C, (T - 1) * stride + K]
        extra = self.kernel_size[0] - self.stride[0]
        return y[..., extra // 2: extra // 2 + x.shape[-1] * self.stride[0]]

    def stream(self, x, state=None):
        raise RuntimeError("a non-causal codec does not stream (train it with causal=True)")


def conv(cin: int, cout: int, kernel: int, causal: bool, stride: int = 1, dilation: int = 1) -> nn.Module:
    if causal:
        return CausalConv1d(cin, cout, kernel, stride=stride, dilation=dilation, weight_norm=True)
    return CentredConv1d(cin, cout, kernel, stride=stride, dilation=dilation)


def upsample(cin: int, cout: int, stride: int, causal: bool) -> nn.Module:
    if causal:
        return CausalConvTranspose1d(cin, cout, 2 * stride, stride, weight_norm=True)
    return CentredConvTranspose1d(cin, cout, 2 * stride, stride)


def residual_unit(channels: int, dilation: int, causal: bool) -> nn.Module:
    """x + conv1x1(snake(conv7_d(snake(x)))): SoundStream's residual unit with DAC's Snake."""
    return CausalResidual(CausalConvStack(Snake(channels), conv(channels, channels, 7, causal, dilation=dilation),
                                          Snake(channels), conv(channels, channels, 1, causal)))


def encoder_block(cin: int, cout: int, stride: int, causal: bool) -> nn.Module:
    return CausalConvStack(*(residual_unit(cin, d, causal) for d in (1, 3, 9)),
                           Snake(cin), conv(cin, cout, 2 * stride, causal, stride=stride))


def decoder_block(cin: int, cout: int, stride: int, causal: bool) -> nn.Module:
    return CausalConvStack(Snake(cin), upsample(cin, cout, stride, causal),
                           *(residual_unit(cout, d, causal) for d in (1, 3, 9)))


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of ``[B, C, T]`` (pointwise in time)."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvNeXtBlock(nn.Module):
    """Liu et al. 2022, "A ConvNet for the 2020s" (https://arxiv.org/abs/2201.03545), in 1-D as
    Vocos uses it: a depthwise convolution (kernel 7, causal here), LayerNorm, a pointwise MLP of
    ``expansion`` times the width with GELU, a learned per-channel scale, and a residual."""

    def __init__(self, width: int, expansion: int = 3, layer_scale: float = 0.1):
        super().__init__()
        self.depthwise = CausalConv1d(width, width, 7, groups=width)
        self.mlp = nn.Sequential(ChannelNorm(width), nn.Conv1d(width, expansion * width, 1), nn.GELU(),
                                 nn.Conv1d(expansion * width, width, 1))
        self.scale = nn.Parameter(torch.full((width, 1), layer_scale))

    def forward(self, x):
        return x + self.scale * self.mlp(self.depthwise(x))

    def stream(self, x, state=None):
        y, state = self.depthwise.stream(x, state)
        return x + self.scale * self.mlp(y), state


def fourier_decoder(latent: int, width: int, layers: int, hop: int) -> nn.Module:
    """Vocos as a codec decoder (Siuzdak 2023, https://arxiv.org/abs/2306.00814, section 4.2 decodes
    EnCodec's tokens): ConvNeXt blocks at the frame rate, a head to the log-magnitude and phase of
    each bin of a ``4 * hop``-sample STFT, and an inverse STFT (:mod:`cadenza.nn.istft`). Every
    learned layer runs at the frame rate, none at the sample rate."""
    n_fft = 4 * hop
    bins = n_fft // 2 + 1
    return CausalConvStack(CausalConv1d(latent, width, 7), *(ConvNeXtBlock(width) for _ in range(layers)),
                           ChannelNorm(width), nn.Conv1d(width, 2 * bins, 1), MagnitudePhase(),
                           CausalInverseSTFT(n_fft, hop))


@dataclass
class CodecOutput:
    audio: torch.Tensor  # [B, T] the reconstruction
    quantizer: ResidualQuantizerOutput  # codes [B, n_q, F], losses, perplexity a level


class CodecNet(nn.Module):
    """Encoder -> residual VQ -> decoder, with the sizes of a codec ``Config``."""

    def __init__(self, config):
        super().__init__()
        c, causal = config, config.causal
        self.strides = tuple(c.strides)
        self.frame_samples = math.prod(self.strides)
        channels = [c.channels * 2 ** i for i in range(len(self.strides) + 1)]  # encoder widths, doubling
        self.encoder = CausalConvStack(
            conv(1, channels[0], 7, causal),
            *(encoder_block(channels[i], channels[i + 1], s, causal) for i, s in enumerate(self.strides)),
            Snake(channels[-1]), conv(channels[-1], c.latent, 3, causal))
        if c.decoder == "fourier":
            if not causal:
                raise ValueError("the fourier decoder is causal only")
            self.decoder = fourier_decoder(c.latent, c.decoder_channels, c.decoder_layers, self.frame_samples)
        else:
            widths = [c.decoder_channels // 2 ** i for i in range(len(self.strides) + 1)]  # halving
            self.decoder = CausalConvStack(
                conv(c.latent, widths[0], 7, causal),
                *(decoder_block(widths[i], widths[i + 1], s, causal) for i, s in enumerate(reversed(self.strides))),
                Snake(widths[-1]), conv(widths[-1], 1, 7, causal), nn.Tanh())
        self.quantize_share = c.quantize_share
        self.quantizer = ResidualVectorQuantizer(
            c.latent, n_q=c.n_q, codebook_size=c.codebook_size, codebook_dim=c.codebook_dim or None,
            quantizer_dropout=c.quantizer_dropout, l2_normalize=c.l2_normalize, ema=c.ema_codebooks,
            commitment_weight=c.commitment_weight, dead_code_threshold=c.dead_code_threshold)

    def _padded(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> ``[B, 1, T']``, zeros added at the end up to a whole frame."""
        extra = -audio.shape[-1] % self.frame_samples
        return F.pad(audio, (0, extra))[:, None]

    def forward(self, audio: torch.Tensor, n_q: int | None = None) -> CodecOutput:
        """Reconstruct ``audio [B, T]`` through the quantiser (dropout of levels in training)."""
        latent = self.encoder(self._padded(audio))  # [B, latent, F]
        quantized = self.quantizer(latent, n_q)
        decoder_input = quantized.quantized  # [B, latent, F]
        if self.training and n_q is None and self.quantize_share < 1:
            # Mimi's trick: some crops skip quantisation, so the autoencoder learns to carry more than
            # the codebooks hold yet, and deeper codebooks have detail left to code
            skip = torch.rand(len(audio), device=audio.device) >= self.quantize_share  # [B]
            decoder_input = torch.where(skip[:, None, None], latent, decoder_input)
        decoded = self.decoder(decoder_input)[:, 0, : audio.shape[-1]]  # [B, T]
        return CodecOutput(decoded, quantized)

    def encode(self, audio: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``audio [B, T]`` -> codes ``[B, n_q, ceil(T / frame_samples)]``."""
        return self.quantizer.encode(self.encoder(self._padded(audio)), n_q)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes ``[B, k, F]`` -> audio ``[B, F * frame_samples]``."""
        return self.decoder(self.quantizer.decode(codes))[:, 0]

    # --- block by block (causal only) ------------------------------------------------------

    def encode_stream(self, audio: torch.Tensor, state=None):
        """One block ``audio [B, L]`` -> (codes ``[B, n_q, frames completed]``, state); frames
        complete as their last sample arrives, so codes equal :meth:`encode`'s for any split."""
        latent, state = self.encoder.stream(audio[:, None], state)  # [B, latent, n]
        return self.quantizer.encode(latent), state

    def decode_stream(self, codes: torch.Tensor, state=None):
        """One block of codes ``[B, k, n]`` -> (audio ``[B, n * frame_samples]``, state)."""
        audio, state = self.decoder.stream(self.quantizer.decode(codes), state)
        return audio[:, 0], state
