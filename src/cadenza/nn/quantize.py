"""Vector quantisation for neural audio codecs: one codebook, and a residual stack of them.

References
- van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017 (VQ-VAE),
  https://arxiv.org/abs/1711.00937: nearest-code lookup, the straight-through estimator, the codebook and
  commitment losses, and (appendix A.1) exponential-moving-average (EMA) codebook updates.
- Zeghidour, Luebs, Omran, Skoglund & Tagliasacchi, "SoundStream: An End-to-End Neural Audio Codec",
  IEEE/ACM TASLP 2021, https://arxiv.org/abs/2107.03312: residual VQ, quantiser dropout (one model serves
  several bitrates), k-means initialisation on the first batch, EMA codebooks, restart of dead codes.
- Défossez, Copet, Synnaeve & Adi, "High Fidelity Neural Audio Compression", 2022 (EnCodec),
  https://arxiv.org/abs/2210.13438: the same RVQ; bitrate = n_q * log2(codebook size) * frame rate.
- Kumar, Seetharaman, Luebs, Kumar & Kumar, "High-Fidelity Audio Compression with Improved RVQGAN",
  NeurIPS 2023 (DAC), https://arxiv.org/abs/2306.06546: factorised codes (project to a low dimension, look
  up, project back), L2-normalised lookup (cosine similarity), codebooks learned by gradient.

What it reproduces: all of the above, each an option of one ``VectorQuantizer``; a
``ResidualVectorQuantizer`` stacks them on successive residuals, with per-item quantiser dropout.
What it changes:
- k-means is seeded with k-means++ (Arthur & Vassilvitskii 2007) instead of random points, so that
  well-separated clusters each get a code; spherical k-means when the lookup is L2-normalised.
- Code usage is tracked by the same EMA of counts whether the codebook learns by EMA or by gradient, so
  dead-code restart works in both modes (DAC has none). Restarts run at the start of a training step
  (as in EnCodec), and a restarted code's EMA statistics are reset to the threshold so they stay consistent.
- The residual handed to the next level is not detached (as in DAC and EnCodec's release): without
  projections the straight-through gradient of the whole stack is the identity, and the projections train
  from the reconstruction. The known cost (EnCodec issue #25): only the first level's commitment loss
  reaches the encoder; deeper levels' commitment losses train their projections only.
- Quantiser dropout picks a depth per item for a fraction ``quantizer_dropout`` of the batch (SoundStream:
  all items, DAC: half). Levels an item skips hold code -1, and ``decode`` skips them.
- One process: EMA statistics are not all-reduced across devices.

Layout: inputs and outputs are ``[batch, dim, frames]`` (the conv layout); codes are int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.errors import CadenzaError


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D, T] the quantised input, straight-through gradient to the input
    codes: torch.Tensor  # [B, T] int64 (residual: [B, n_q, T], -1 where an item skipped a level)
    loss: torch.Tensor  # scalar: commitment_weight * commitment_loss + codebook_weight * codebook_loss
    commitment_loss: torch.Tensor  # scalar: mse(encoder output, stop-gradient(code))
    codebook_loss: torch.Tensor  # scalar: mse(stop-gradient(encoder output), code); 0 with EMA codebooks
    perplexity: torch.Tensor  # scalar (residual: [n_q]): exp(entropy) of the batch's code usage


@dataclass
class ResidualQuantizerOutput(QuantizerOutput):
    depth: torch.Tensor  # [B] int64: how many levels each item used


def perplexity(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """exp(entropy) of the code histogram: 1 if one code is used, ``codebook_size`` if all equally; 0 if empty."""
    codes = codes.reshape(-1)
    if codes.numel() == 0:
        return torch.zeros((), device=codes.device)
    counts = torch.bincount(codes, minlength=codebook_size).float()  # [K]
    p = counts / counts.sum()  # [K]
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


def bitrate(frame_rate: float, n_q: int, codebook_size: int) -> float:
    """Bits per second of ``n_q`` codes a frame: n_q * log2(codebook_size) * frame_rate."""
    return n_q * math.log2(codebook_size) * frame_rate


def quantizers_for_bitrate(kbps: float, frame_rate: float, codebook_size: int) -> int:
    """How many codebooks fit in ``kbps`` kilobits per second (floor; may be 0)."""
    return int(math.floor(kbps * 1000 / (math.log2(codebook_size) * frame_rate) + 1e-9))


def _nearest(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (squared Euclidean distance): z [N, C], codebook [K, C] -> [N].

    ``|z|^2`` is the same for every code of a row, so the argmin needs ``|c|^2 - 2 z.c`` only:
    one fused matrix product (a fifth of the codec's encoding time went to the full distance)."""
    return torch.addmm(codebook.pow(2).sum(1), z, codebook.t(), alpha=-2).argmin(1)  # [N, K] -> [N]


def kmeans(z: torch.Tensor, k: int, iters: int, spherical: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's algorithm seeded with k-means++: z [N, C] -> centres [k, C], cluster sizes [k].

    Random draws come from torch's global generator, so the result is fixed by ``torch.manual_seed``.
    """
    n = z.shape[0]
    pick = torch.randint(n, (1,), device=z.device)
    centres = [z[pick]]  # list of [1, C]
    closest = (z - z[pick]).pow(2).sum(1)  # [N] squared distance to the nearest centre so far
    for _ in range(1, k):
        if closest.sum() > 0:
            pick = torch.multinomial(closest, 1)  # far points are likelier
        else:  # fewer distinct points than codes
            pick = torch.randint(n, (1,), device=z.device)
        centres.append(z[pick])
        closest = torch.minimum(closest, (z - z[pick]).pow(2).sum(1))
    centres = torch.cat(centres)  # [k, C]
    for _ in range(iters):
        codes = _nearest(z, centres)  # [N]
        counts = torch.bincount(codes, minlength=k).to(z.dtype)  # [k]
        sums = torch.zeros_like(centres).index_add_(0, codes, z)  # [k, C]
        means = sums / counts.clamp_min(1)[:, None]  # [k, C]
        centres = torch.where(counts[:, None] > 0, means, centres)  # empty clusters keep their centre
        if spherical:
            centres = F.normalize(centres, dim=1)
    counts = torch.bincount(_nearest(z, centres), minlength=k).to(z.dtype)  # [k]
    return centres, counts


class VectorQuantizer(nn.Module):
    """One codebook: ``[B, D, T]`` -> nearest codes ``[B, T]`` and their vectors ``[B, D, T]``."""

    def __init__(
        self,
        dim: int,
        codebook_size: int = 1024,  # K codes (SoundStream, EnCodec, DAC: 1024, i.e. 10 bits)
        codebook_dim: int | None = None,  # look up in this many dims through linear projections (DAC: 8)
        l2_normalize: bool = False,  # cosine-similarity lookup on the unit sphere (DAC: True)
        ema: bool = True,  # codebook learns by EMA (SoundStream, EnCodec); False: by gradient (VQ-VAE, DAC)
        decay: float = 0.99,  # EMA decay of code usage and (with ema) of the codebook
        epsilon: float = 1e-5,  # Laplace smoothing of the EMA cluster sizes
        commitment_weight: float = 0.25,  # beta of VQ-VAE (DAC: 0.25; EnCodec: 1.0)
        codebook_weight: float = 1.0,  # weight of the codebook loss (only without ema)
        kmeans_init: bool = True,  # initialise the codes by k-means on the first training batch
        kmeans_iters: int = 10,  # Lloyd iterations of that k-means
        dead_code_threshold: float = 2.0,  # restart codes whose EMA usage falls below this; 0 never (EnCodec: 2)
    ):
        super().__init__()
        codebook_dim = codebook_dim or dim
        if dim < 1 or codebook_size < 2 or codebook_dim < 1:
            raise ValueError(f"need dim >= 1, codebook_size >= 2, codebook_dim >= 1, got {dim}, {codebook_size}, "
                             f"{codebook_dim}")
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.dim, self.codebook_size, self.codebook_dim = dim, codebook_size, codebook_dim
        self.l2_normalize, self.ema, self.decay, self.epsilon = l2_normalize, ema, decay, epsilon
        self.commitment_weight, self.codebook_weight = commitment_weight, codebook_weight
        self.kmeans_iters, self.dead_code_threshold = kmeans_iters, dead_code_threshold
        factorised = codebook_dim != dim
        self.project_in = nn.Linear(dim, codebook_dim) if factorised else nn.Identity()
        self.project_out = nn.Linear(codebook_dim, dim) if factorised else nn.Identity()
        codebook = torch.randn(codebook_size, codebook_dim)  # [K, C]
        if ema:
            self.register_buffer("codebook", codebook, persistent=True)
            self.register_buffer("embed_sum", codebook.clone(), persistent=True)  # EMA of the sums of assigned z
        else:
            self.codebook = nn.Parameter(codebook)
        self.register_buffer("cluster_size", torch.ones(codebook_size), persistent=True)  # EMA of code counts
        self.register_buffer("initialized", torch.tensor(not kmeans_init), persistent=True)

    def codebook_vectors(self) -> torch.Tensor:
        """The codes as the lookup sees them: [K, C] (unit vectors when ``l2_normalize``)."""
        return F.normalize(self.codebook, dim=1) if self.l2_normalize else self.codebook

    def _lookup_space(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.dim:
            raise ValueError(f"expected [batch, {self.dim}, frames], got {list(x.shape)}")
        z = self.project_in(x.transpose(1, 2))  # [B, T, C]
        return F.normalize(z, dim=2) if self.l2_normalize else z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, D, T] -> codes [B, T] (int64). Never changes the codebook."""
        z = self._lookup_space(x)  # [B, T, C]
        return _nearest(z.reshape(-1, self.codebook_dim), self.codebook_vectors()).reshape(z.shape[:2])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, T] -> x [B, D, T]."""
        q = F.embedding(codes, self.codebook_vectors())  # [B, T, C]
        return self.project_out(q).transpose(1, 2)  # [B, D, T]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> QuantizerOutput:
        """Quantise x [B, D, T]. ``mask`` [B] (bool) picks the items that count for losses, usage and updates.

        In training mode this first initialises the codebook (k-means, once) and restarts dead codes, then
        looks up, then updates usage (and with ``ema`` the codebook) from the active items.
        """
        batch, _, frames = x.shape
        z = self._lookup_space(x)  # [B, T, C]
        flat = z.reshape(-1, self.codebook_dim)  # [B*T, C]
        active = torch.ones(batch, dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        active = active.repeat_interleave(frames)  # [B*T]
        z_active = flat.detach()[active]  # [M, C]
        updating = self.training and z_active.shape[0] > 0
        if updating:
            with torch.no_grad():
                if not self.initialized:
                    self._kmeans_init(z_active)
                self._restart_dead_codes(z_active)
        codebook = self.codebook_vectors()  # [K, C]
        codes = _nearest(flat.detach(), codebook)  # [B*T]
        q = F.embedding(codes, codebook)  # [B*T, C]
        zero = torch.zeros((), device=x.device)
        commitment = F.mse_loss(flat[active], q.detach()[active]) if z_active.shape[0] else zero
        codebook_loss = zero if self.ema or not z_active.shape[0] else F.mse_loss(z_active, q[active])
        if updating:
            with torch.no_grad():
                self._update(z_active, codes[active])
        # straight-through (VQ-VAE): the value is the code, the gradient goes to z unchanged (none to the codes)
        q = q.detach().reshape(batch, frames, -1) + (z - z.detach())  # [B, T, C]
        return QuantizerOutput(
            quantized=self.project_out(q).transpose(1, 2),  # [B, D, T]
            codes=codes.reshape(batch, frames),  # [B, T]
            loss=self.commitment_weight * commitment + self.codebook_weight * codebook_loss,
            commitment_loss=commitment,
            codebook_loss=codebook_loss,
            perplexity=perplexity(codes[active], self.codebook_size),
        )

    def _kmeans_init(self, z: torch.Tensor) -> None:
        centres, counts = kmeans(z, self.codebook_size, self.kmeans_iters, spherical=self.l2_normalize)
        self.codebook.copy_(centres)
        self.cluster_size.copy_(counts)
        if self.ema:
            self.embed_sum.copy_(centres * counts[:, None])
        self.initialized.fill_(True)

    def _restart_dead_codes(self, z: torch.Tensor) -> None:
        """Replace codes used less than ``dead_code_threshold`` (EMA count) by random vectors z [M, C]."""
        if self.dead_code_threshold <= 0:
            return
        dead = self.cluster_size < self.dead_code_threshold  # [K]
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        m = z.shape[0]
        if m >= n_dead:  # distinct vectors when the batch has enough
            pick = torch.randperm(m, device=z.device)[:n_dead]
        else:
            pick = torch.randint(m, (n_dead,), device=z.device)
        samples = z[pick]  # [n_dead, C]
        self.codebook[dead] = samples
        self.cluster_size[dead] = self.dead_code_threshold
        if self.ema:
            self.embed_sum[dead] = samples * self.dead_code_threshold

    def _update(self, z: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA of code counts, and with ``ema`` of the codebook (VQ-VAE appendix A.1): z [M, C], codes [M]."""
        counts = torch.bincount(codes, minlength=self.codebook_size).to(self.cluster_size.dtype)  # [K]
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if not self.ema:
            return
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, z.to(self.embed_sum.dtype))  # [K, C]
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (n + self.codebook_size * self.epsilon) * n  # [K]
        self.codebook.copy_(self.embed_sum / smoothed[:, None])


class ResidualVectorQuantizer(nn.Module):
    """``n_q`` codebooks on successive residuals: ``[B, D, T]`` -> codes ``[B, n_q, T]``."""

    def __init__(
        self,
        dim: int,
        n_q: int = 8,  # levels (EnCodec 24 kHz at 6 kbps: 8; DAC 44 kHz: 9)
        codebook_size: int = 1024,  # codes a level
        codebook_dim: int | None = None,  # factorised lookup dims (DAC: 8); None: dim
        quantizer_dropout: float = 1.0,  # fraction of training items given a random depth (SoundStream: 1, DAC: 0.5)
        l2_normalize: bool = False,  # cosine-similarity lookup (DAC: True)
        ema: bool = True,  # EMA codebooks (SoundStream, EnCodec); False: gradient (DAC)
        decay: float = 0.99,  # EMA decay
        epsilon: float = 1e-5,  # Laplace smoothing of the cluster sizes
        commitment_weight: float = 0.25,  # beta of VQ-VAE, a level
        codebook_weight: float = 1.0,  # codebook loss weight, a level (without ema)
        kmeans_init: bool = True,  # k-means on the first training batch, each level on its residuals
        kmeans_iters: int = 10,  # Lloyd iterations
        dead_code_threshold: float = 2.0,  # EMA usage below which a code is restarted; 0: never
    ):
        super().__init__()
        if n_q < 1:
            raise ValueError(f"n_q must be at least 1, got {n_q}")
        if not 0 <= quantizer_dropout <= 1:
            raise ValueError(f"quantizer_dropout must be in [0, 1], got {quantizer_dropout}")
        self.dim, self.n_q, self.codebook_size, self.quantizer_dropout = dim, n_q, codebook_size, quantizer_dropout
        self.layers = nn.ModuleList(
            VectorQuantizer(dim, codebook_size, codebook_dim, l2_normalize, ema, decay, epsilon, commitment_weight,
                            codebook_weight, kmeans_init, kmeans_iters, dead_code_threshold)
            for _ in range(n_q)
        )

    def _depth(self, n_q: int | None) -> int:
        n_q = self.n_q if n_q is None else n_q
        if not 1 <= n_q <= self.n_q:
            raise ValueError(f"n_q must be in [1, {self.n_q}], got {n_q}")
        return n_q

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """x [B, D, T] -> codes [B, n_q, T] (int64) from the first ``n_q`` levels (all by default)."""
        residual, codes = x, []
        for layer in self.layers[: self._depth(n_q)]:
            level = layer.encode(residual)  # [B, T]
            residual = residual - layer.decode(level)  # [B, D, T]
            codes.append(level)
        return torch.stack(codes, 1)  # [B, n_q, T]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, k, T] (k <= n_q; -1 skips a level) -> x [B, D, T]."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.n_q:
            raise ValueError(f"expected codes [batch, 1..{self.n_q}, frames], got {list(codes.shape)}")
        x = torch.zeros(codes.shape[0], self.dim, codes.shape[2], device=codes.device)  # [B, D, T]
        for i, layer in enumerate(self.layers[: codes.shape[1]]):
            level = codes[:, i]  # [B, T]
            x = x + torch.where(level[:, None] >= 0, layer.decode(level.clamp_min(0)), 0.0)  # [B, D, T]
        return x

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> ResidualQuantizerOutput:
        """Quantise x [B, D, T]. Training without ``n_q`` applies quantiser dropout; ``n_q`` fixes the depth."""
        batch, _, frames = x.shape
        depth = torch.full((batch,), self._depth(n_q), dtype=torch.long, device=x.device)  # [B]
        if self.training and n_q is None and self.quantizer_dropout > 0:
            dropped = torch.rand(batch, device=x.device) < self.quantizer_dropout  # [B]
            random_depth = torch.randint(1, self.n_q + 1, (batch,), device=x.device)  # [B] uniform in [1, n_q]
            depth = torch.where(dropped, random_depth, depth)
        levels = int(depth.max())
        quantized = torch.zeros_like(x)  # [B, D, T]
        residual = x
        codes = torch.full((batch, self._depth(n_q), frames), -1, dtype=torch.long, device=x.device)  # [B, n_q, T]
        zero = torch.zeros((), device=x.device)
        commitment, codebook_loss, loss = zero, zero, zero
        perplexities = torch.zeros(self._depth(n_q), device=x.device)  # [n_q]
        for i, layer in enumerate(self.layers[:levels]):
            active = depth > i  # [B]
            out = layer(residual, mask=active)
            level = torch.where(active[:, None, None], out.quantized, 0.0)  # [B, D, T]
            quantized = quantized + level
            residual = residual - level  # not detached: the stack's straight-through gradient is the identity
            codes[:, i] = torch.where(active[:, None], out.codes, -1)
            commitment = commitment + out.commitment_loss
            codebook_loss = codebook_loss + out.codebook_loss
            loss = loss + out.loss
            perplexities[i] = out.perplexity
        return ResidualQuantizerOutput(quantized=quantized, codes=codes, loss=loss, commitment_loss=commitment,
                                       codebook_loss=codebook_loss, perplexity=perplexities, depth=depth)

    def bitrate(self, frame_rate: float, n_q: int | None = None) -> float:
        """Bits per second of the first ``n_q`` levels (all by default) at ``frame_rate`` frames a second."""
        return bitrate(frame_rate, self._depth(n_q), self.codebook_size)

    def n_q_for_bitrate(self, kbps: float, frame_rate: float) -> int:
        """The most levels that fit in ``kbps`` kilobits per second, at most ``n_q``."""
        fit = quantizers_for_bitrate(kbps, frame_rate, self.codebook_size)
        if fit < 1:
            raise CadenzaError(f"{kbps} kbps is below one codebook ({self.bitrate(frame_rate, 1) / 1000:g} kbps)")
        return min(fit, self.n_q)
