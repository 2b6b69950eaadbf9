"""Text-prompt conditioning shared by the prompted models: the prompt adapter and classifier-free guidance.

:class:`PromptAdapter` turns a prompt's 384-d sentence vector
(:mod:`cadenza.nn.text_encoder`) into ``tokens`` embeddings that a network reads
as a prefix (Li & Liang, "Prefix-tuning", ACL 2021; Mokady et al., "ClipCap",
2021), and holds the learned empty prompt that prompt dropout trains. Guidance
(Ho & Salimans, "Classifier-free diffusion guidance", 2021) runs the prompted and
the empty rows side by side (:func:`condition`) and mixes their logits
(:func:`mix`)::

    logits = empty + guidance * (prompted - empty)

Used by :mod:`cadenza.models.symbolic.text_transformer` (a prefix before BOS) and
:mod:`cadenza.models.audio.maskgit` (a prefix before the codec frames).
"""

from __future__ import annotations

import numpy as np
import torch

from cadenza.nn.text_encoder import DIM


class PromptAdapter(torch.nn.Module):
    """The prompt's vector -> ``tokens`` input embeddings of width ``dim``, and the learned empty prompt.

    Captions about music lie close together in the encoder's space (cosine about 0.5-0.65 between
    captions of different keys): what tells them apart is a small part of each vector. So the
    vector is first standardised, dimension by dimension, with the mean and spread of the training
    captions (buffers, saved with the weights)."""

    def __init__(self, dim: int, tokens: int):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.register_buffer("mean", torch.zeros(DIM))
        self.register_buffer("scale", torch.ones(DIM))
        self.empty = torch.nn.Parameter(torch.zeros(DIM))
        self.project = torch.nn.Sequential(torch.nn.Linear(DIM, dim), torch.nn.GELU(),
                                           torch.nn.Linear(dim, dim * tokens))

    def standardise_on(self, vectors: np.ndarray) -> None:
        """Fit ``mean`` and ``scale`` to the training captions' vectors ``[n, 384]``."""
        spread = vectors.std(0)
        self.mean.copy_(torch.from_numpy(vectors.mean(0)))
        self.scale.copy_(torch.from_numpy(np.maximum(spread, 0.1 * float(spread.mean()) + 1e-6)))

    def forward(self, prompt, on):  # prompt [B, 384], on [B] bool -> [B, k, dim]
        vector = torch.where(on[:, None], (prompt - self.mean) / self.scale, self.empty.expand_as(prompt))
        return self.project(vector).view(len(prompt), self.tokens, self.dim)


def condition(vector: torch.Tensor | None, guidance: float, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows a guided pass runs for ``batch`` examples: prompt vectors ``[R * batch, 384]`` and
    ``on`` ``[R * batch]``. With a prompt ``vector`` ``[384]`` and guidance other than 0 and 1, R = 2:
    the prompted rows, then the empty ones; guidance 1 runs the prompted rows alone, and guidance 0
    (or no prompt) the empty ones alone (the unprompted model)."""
    if vector is None or guidance == 0:
        return torch.zeros(batch, DIM), torch.zeros(batch, dtype=torch.bool)
    rows = vector.reshape(1, DIM).float().expand(batch, -1)
    if guidance == 1:
        return rows, torch.ones(batch, dtype=torch.bool)
    on = torch.cat([torch.ones(batch, dtype=torch.bool), torch.zeros(batch, dtype=torch.bool)])
    return torch.cat([rows, torch.zeros_like(rows)]), on


def mix(logits: torch.Tensor, guidance: float, batch: int = 1) -> torch.Tensor:
    """Logits of the rows :func:`condition` made ``[R * batch, ...]`` -> ``[batch, ...]``: guided
    where there are two sets of rows, as they are where there is one."""
    if len(logits) == batch:
        return logits
    prompted, empty = logits[:batch], logits[batch:]
    return empty + guidance * (prompted - empty)
