"""The masked token model's training recipe (MaskGIT, Chang et al. 2022, section 3.1; the
model is in :mod:`cadenza.models.audio.maskgit`).

Each window of codec tokens draws a mask ratio ``r ~ U(0, 1)`` and has ``ceil(cos(pi/2 r) N)``
of its ``N`` tokens replaced by MASK (:func:`~cadenza.models.audio.maskgit_net.training_mask`);
the loss is the cross entropy of the masked tokens only, averaged over them. Validation masks
are drawn from a generator seeded by the batch's index, so every validation sees the same
masks and ``valid_loss`` / ``valid_accuracy`` (argmax right, on masked tokens) compare across
epochs and runs.
"""

from __future__ import annotations

import torch

from cadenza.models.audio.maskgit_net import masked_loss, training_mask
from cadenza.train.system import System


class TokenWindows(torch.utils.data.Dataset):
    """Windows of codec tokens ``[codebooks, frames]`` (int64)."""

    def __init__(self, windows):
        self.windows = torch.as_tensor(windows, dtype=torch.long)  # [n, k, t]

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, i):
        return self.windows[i]


class MaskGITSystem(System):
    def _step(self, tokens: torch.Tensor, generator: torch.Generator | None = None):
        b, k, t = tokens.shape  # [b, k, t]
        mask = training_mask(b, k, t, self.config.coarse_share, generator).to(tokens.device)
        return masked_loss(self.model, tokens, mask)

    def training_step(self, tokens, _):
        total, count, _correct = self._step(tokens)  # the engine seeds torch's RNG each step
        loss = self.mean_over_processes(total, count.float())
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, tokens, batch_index):
        generator = torch.Generator().manual_seed(1_000_003 * (batch_index + 1))
        with torch.no_grad():
            total, count, correct = self._step(tokens, generator)
        size = tokens.shape[0]
        self.log("valid_loss", total / count, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("valid_accuracy", correct.float() / count, on_epoch=True, batch_size=size)
