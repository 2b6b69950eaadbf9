"""The masked token transformer and its parallel decoder (the heart of ``maskgit``).

Chang, Zhang, Jiang, Liu & Freeman 2022, "MaskGIT: Masked Generative Image
Transformer" (https://arxiv.org/abs/2202.04200); Garcia, Seetharaman, Kumar &
Pardo 2023, "VampNet: Music Generation via Masked Acoustic Token Modeling"
(https://arxiv.org/abs/2307.04686). Written from the papers; no code of
either (VampNet's code and weights are non-commercial) was used.

- :class:`MaskGITNet`: a bidirectional transformer over codec tokens
  ``[batch, codebooks, frames]``. Each codebook has its own embedding table of
  ``codebook_size + 1`` rows, the last being MASK; a frame's input is the sum of
  its codebooks' embeddings (VampNet section 3.2). Positions by rotary embeddings
  (Su et al. 2021, "RoFormer", https://arxiv.org/abs/2104.09864) in every
  attention layer, so one network takes any number of frames. One output head a
  codebook gives logits over ``codebook_size`` codes. With ``prompt_tokens`` > 0 a text
  prompt enters as that many prefix vectors before the frames
  (:class:`cadenza.nn.prompt.PromptAdapter`); the prefix is not rotated (it has no
  position: the frames keep positions 0 .. T-1, as without a prompt) and its outputs are
  dropped.
- :func:`gamma`, :func:`training_mask`, :func:`masked_loss`: MaskGIT's training
  (section 3.1): a ratio ``r ~ U(0, 1)`` an example, ``ceil(cos(pi/2 r) N)`` of its
  ``N`` tokens replaced by MASK, cross entropy on the masked tokens only.
- :func:`sample`: MaskGIT's iterative decoding (section 3.2) with VampNet's
  sampling (section 3.4): every masked token is drawn at each of ``steps`` steps
  (temperature annealed, typical filtering); the most confident draws are kept,
  so that the masked count after step ``s`` is ``M cos(pi/2 (s+1)/steps)``, and the
  rest are masked again. Prompt tokens are never changed. With a text prompt and
  ``guidance`` other than 0 and 1, every step runs the prompted and the empty prompt side
  by side and mixes their logits (classifier-free guidance, :func:`cadenza.nn.prompt.mix`).

Changed: one network over the first ``codebooks`` codebooks, rather than
VampNet's separate coarse and coarse-to-fine networks (see ``maskgit.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.nn.prompt import PromptAdapter, condition, mix


def gamma(r):
    """MaskGIT's cosine schedule: the share of tokens masked at ratio ``r`` in [0, 1]
    (1 at r = 0, 0 at r = 1)."""
    return torch.cos(math.pi / 2 * r) if isinstance(r, torch.Tensor) else math.cos(math.pi / 2 * r)


# --- the network ---------------------------------------------------------------------------


def rotary(frames: int, size: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[frames, size]`` of RoFormer's rotations (frequencies 10000^(-2i/size))."""
    inverse = 1.0 / 10000 ** (torch.arange(0, size, 2, device=device, dtype=torch.float32) / size)  # [size/2]
    angles = torch.arange(frames, device=device, dtype=torch.float32)[:, None] * inverse[None]  # [T, size/2]
    angles = torch.cat([angles, angles], dim=-1)  # [T, size]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x`` ``[..., T, size]`` turned by each position's angles (the two halves are the pairs)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class Attention(nn.Module):
    """Bidirectional multi-head self-attention with rotary positions on queries and keys."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x, cos, sin):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # each [b, h, t, d]
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)  # [b, h, t, d]
        return self.out(y.transpose(1, 2).reshape(b, t, c))  # [b, t, c]


class Block(nn.Module):
    """Pre-norm transformer block: attention then a 4x GELU MLP, each with a residual."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = Attention(width, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                 nn.Dropout(dropout))

    def forward(self, x, cos, sin):
        x = x + self.attention(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class MaskGITNet(nn.Module):
    """Tokens ``[batch, codebooks, frames]`` (MASK = ``codebook_size``) -> logits
    ``[batch, codebooks, frames, codebook_size]``; with ``prompt_tokens`` > 0, also the text
    prompt's vectors ``[batch, 384]`` and ``on`` ``[batch]`` (False: the learned empty prompt;
    both left out: the empty prompt for every row)."""

    def __init__(self, codebooks: int, codebook_size: int, width: int = 128, layers: int = 4, heads: int = 4,
                 dropout: float = 0.1, prompt_tokens: int = 0):
        super().__init__()
        if width % heads or (width // heads) % 2:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads}) with an even size a head")
        self.codebooks, self.codebook_size, self.heads = codebooks, codebook_size, heads
        self.prompt_tokens = prompt_tokens
        self.embed = nn.ModuleList(nn.Embedding(codebook_size + 1, width) for _ in range(codebooks))
        if prompt_tokens:  # only then: an unprompted network keeps its parameter names and count
            self.adapter = PromptAdapter(width, prompt_tokens)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.ModuleList(nn.Linear(width, codebook_size) for _ in range(codebooks))
        for embedding in self.embed:
            nn.init.normal_(embedding.weight, std=0.02)

    @property
    def mask_id(self) -> int:
        return self.codebook_size

    def hidden(self, tokens: torch.Tensor, prompt: torch.Tensor | None = None,
               on: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``[b, k, t]`` (and the prompt) -> the last layer's states of the frames ``[b, t, width]``."""
        b, k, t = tokens.shape
        x = sum(self.embed[q](tokens[:, q]) for q in range(k))  # [b, t, width]
        size = x.shape[-1] // self.heads
        cos, sin = rotary(t, size, x.device, x.dtype)  # [t, head size]
        p = self.prompt_tokens
        if p:
            if prompt is None:
                prompt, on = condition(None, 0, b)
            prefix = self.adapter(prompt.to(x.device, x.dtype), on.to(x.device))  # [b, p, width]
            x = torch.cat([prefix, x], dim=1)  # [b, p + t, width]
            cos = torch.cat([cos.new_ones(p, size), cos])  # the prefix is not rotated: no position
            sin = torch.cat([sin.new_zeros(p, size), sin])
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x[:, p:])

    def forward(self, tokens: torch.Tensor, prompt: torch.Tensor | None = None,
                on: torch.Tensor | None = None) -> torch.Tensor:
        x = self.hidden(tokens, prompt, on)  # [b, t, width]
        return torch.stack([head(x) for head in self.head], dim=1)  # [b, k, t, codebook_size]


# --- training ------------------------------------------------------------------------------


def training_mask(batch: int, codebooks: int, frames: int, coarse_share: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Which tokens to mask ``[batch, codebooks, frames]`` (True: masked), on the CPU.

    Each example draws ``r ~ U(0, 1)`` and masks exactly ``ceil(gamma(r) N)`` of its ``N``
    tokens (at least one), chosen uniformly (MaskGIT). A ``coarse_share`` of the examples
    first keeps their first ``c`` codebooks whole (``c`` uniform in 1 .. codebooks - 1) and
    masks among the rest only: the prompts of a ``codebooks:C`` mask (VampNet's
    coarse-to-fine model), which random masks almost never show."""
    r = torch.rand(batch, generator=generator, dtype=torch.float64)  # [b]
    eligible = torch.ones(batch, codebooks, frames, dtype=torch.bool)
    if codebooks > 1 and coarse_share > 0:
        coarse = torch.rand(batch, generator=generator) < coarse_share  # [b]
        kept = torch.randint(1, codebooks, (batch,), generator=generator)  # [b]
        rows = torch.arange(codebooks)[None, :] >= kept[:, None]  # [b, k]: rows left to mask
        eligible &= (rows | ~coarse[:, None])[:, :, None]
    n = eligible.flatten(1).sum(1)  # [b]
    count = torch.ceil(gamma(r) * n).long().clamp(min=1)  # [b]
    scores = torch.rand(batch, codebooks * frames, generator=generator)  # [b, k*t]
    scores = scores.masked_fill(~eligible.flatten(1), 2.0)  # ineligible tokens rank last
    rank = scores.argsort(1).argsort(1)  # [b, k*t]
    return (rank < count[:, None]).view(batch, codebooks, frames)


def masked_loss(net: MaskGITNet, tokens: torch.Tensor, mask: torch.Tensor, prompt: torch.Tensor | None = None,
                on: torch.Tensor | None = None):
    """Summed cross entropy (nats), number, and correct argmax predictions of the masked
    tokens: ``tokens`` ``[b, k, t]`` with ``mask`` ``[b, k, t]`` (True: replaced by MASK), and
    for a prompted network the prompts ``[b, 384]`` and ``on`` ``[b]`` (none: the empty prompt).
    A codebook's head runs on its masked positions only (the logits of the others are
    never needed: a third of the cost of a step saved)."""
    inputs = tokens.masked_fill(mask, net.mask_id)
    x = net.hidden(inputs) if prompt is None else net.hidden(inputs, prompt, on)  # [b, t, width]
    total, correct = x.new_zeros(()), tokens.new_zeros(())
    for q, head in enumerate(net.head):
        chosen = mask[:, q]  # [b, t]
        logits, target = head(x[chosen]), tokens[:, q][chosen]  # [n, V], [n]
        total = total + F.cross_entropy(logits.float(), target, reduction="sum")
        correct = correct + (logits.argmax(-1) == target).sum()
    return total, mask.sum(), correct


# --- sampling ------------------------------------------------------------------------------


def typical_filter(logits: torch.Tensor, mass: float) -> torch.Tensor:
    """Typical sampling (Meister, Pimentel, Wiher & Cotterell 2022, "Locally Typical Sampling",
    https://arxiv.org/abs/2202.00666): keep the codes whose surprisal is closest to the
    distribution's entropy, fewest first, until they hold ``mass`` of the probability; the
    others get -inf. ``mass`` 1 keeps every code."""
    if mass >= 1:
        return logits
    log_p = logits.float().log_softmax(-1)  # [..., V]
    p = log_p.exp()
    entropy = -(p * log_p).sum(-1, keepdim=True)  # [..., 1] nats
    order = (-log_p - entropy).abs().argsort(-1)  # most typical first
    sorted_p = p.gather(-1, order)
    drop_sorted = sorted_p.cumsum(-1) - sorted_p >= mass  # mass already reached before this code
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)  # back in code order
    return logits.masked_fill(drop, float("-inf"))


def gumbel(shape, generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise, -log(-log(u)), from ``generator`` (u kept off 0 and 1)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    return -torch.log(-torch.log(u)).float()


def remasked_count(initial: torch.Tensor, masked: torch.Tensor, step: int, steps: int) -> torch.Tensor:
    """How many tokens stay masked after ``step`` (0-based) of ``steps``: ``floor(initial *
    gamma((step + 1) / steps))``, but at least one fewer than are masked now (each step
    decides one token or more) and none after the last step."""
    target = torch.floor(initial.double() * gamma((step + 1) / steps)).long()
    if step == steps - 1:
        target = torch.zeros_like(target)
    return torch.minimum(target, (masked - 1).clamp(min=0))


def guided_logits(net: MaskGITNet, x: torch.Tensor, prompt: torch.Tensor | None = None,
                  guidance: float = 1.0) -> torch.Tensor:
    """Logits ``[b, k, t, V]`` of tokens ``x`` ``[b, k, t]``: an unprompted network's as they are;
    a prompted one's under the text ``prompt`` (its vector ``[384]``; None: the empty prompt),
    guided by ``guidance`` (0: the empty prompt, 1: the prompt as trained, more: both rows run
    side by side, ``empty + guidance * (prompted - empty)``)."""
    if not getattr(net, "prompt_tokens", 0):
        return net(x).float()
    b = len(x)
    vectors, on = condition(prompt, guidance, b)
    rows = len(vectors) // b
    logits = net(x if rows == 1 else torch.cat([x] * rows), vectors.to(x.device), on.to(x.device)).float()
    return mix(logits, guidance, b)


@torch.no_grad()
def sample(net: MaskGITNet, tokens: torch.Tensor, keep: torch.Tensor, steps: int = 12, temperature: float = 1.0,
           typical_mass: float = 1.0, noise: float = 4.5, anneal: bool = True,
           generator: torch.Generator | None = None, on_step: Callable[[int], None] | None = None,
           prompt: torch.Tensor | None = None, guidance: float = 1.0) -> torch.Tensor:
    """Fill the tokens that ``keep`` does not keep: ``tokens``, ``keep`` ``[b, k, t]`` ->
    tokens ``[b, k, t]`` with ``tokens[keep]`` unchanged and every other position drawn.

    At each of at most ``steps`` steps (fewer when every token is decided sooner), one pass of
    the network: every still-masked token is drawn from its codebook's distribution, typically
    filtered to ``typical_mass`` and divided by a temperature falling linearly from
    ``temperature`` at the first step to ``temperature / steps`` at the last (constant with
    ``anneal=False``); its confidence is its log-probability plus Gumbel noise of scale
    ``noise * (1 - (s + 1) / steps)`` (MaskGIT's choice temperature). The most confident draws
    are kept and the rest masked again (:func:`remasked_count`). Every random number comes
    from ``generator``: the same generator state gives the same tokens. A prompted network
    reads the text ``prompt`` (a vector ``[384]``) with ``guidance`` (:func:`guided_logits`)
    at every step.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    keep = keep.bool()
    x = tokens.long().masked_fill(~keep, net.mask_id)  # [b, k, t]
    masked = ~keep  # [b, k, t]
    initial = masked.flatten(1).sum(1)  # [b]
    for step in range(steps):
        left = masked.flatten(1).sum(1)  # [b]
        if not left.any():
            break
        logits = guided_logits(net, x, prompt, guidance)  # [b, k, t, V]
        tau = temperature * (1 - step / steps) if anneal else temperature
        filtered = typical_filter(logits, typical_mass)
        drawn = (filtered / tau + gumbel(logits.shape, generator)).argmax(-1)  # [b, k, t]
        log_p = logits.log_softmax(-1).gather(-1, drawn[..., None])[..., 0]  # [b, k, t]
        confidence = log_p + noise * (1 - (step + 1) / steps) * gumbel(log_p.shape, generator)
        confidence = confidence.masked_fill(~masked, float("inf")).flatten(1)  # decided tokens stay
        remask = remasked_count(initial, left, step, steps)  # [b]
        rank = confidence.argsort(1).argsort(1).view_as(masked)  # 0: least confident
        still = masked & (rank < remask[:, None, None])
        x = torch.where(masked & ~still, drawn, x)
        masked = still
        if on_step is not None:
            on_step(step)
    return x
