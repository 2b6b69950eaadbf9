"""The masked token model's training recipe (MaskGIT, Chang et al. 2022, section 3.1; the
model is in :mod:`cadenza.models.audio.maskgit`).

Each window of codec tokens draws a mask ratio ``r ~ U(0, 1)`` and has ``ceil(cos(pi/2 r) N)``
of its ``N`` tokens replaced by MASK (:func:`~cadenza.models.audio.maskgit_net.training_mask`);
the loss is the cross entropy of the masked tokens only, averaged over them. Validation masks
are drawn from a generator seeded by the batch's index, so every validation sees the same
masks and ``valid_loss`` / ``valid_accuracy`` (argmax right, on masked tokens) compare across
epochs and runs.

A prompted model's windows (:class:`CaptionedTokenWindows`) come with their clip's caption: each
time a window is drawn it takes one of its clip's paraphrases at random, and the learned empty
prompt in a ``prompt_dropout`` share of draws; validation reads each clip's first caption.
"""

from __future__ import annotations

import numpy as np
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


class CaptionedTokenWindows(torch.utils.data.Dataset):
    """Windows of codec tokens with their clip's caption: an item is ``(tokens [codebooks, frames],
    prompt vector [384], prompt on)``.

    ``clips`` gives each window's clip, ``lines`` each clip's captions and ``vectors`` each
    caption's vector. Training draws one of the clip's captions and the prompt dropout for each
    item (with numpy's generator, which the engine seeds, so the draws repeat after a resume);
    validation reads the clip's first caption, always prompted."""

    def __init__(self, windows, clips, lines: dict[int, list[str]], vectors: dict, dropout: float, train: bool):
        self.windows = torch.as_tensor(windows, dtype=torch.long)  # [n, k, t]
        self.clips, self.lines, self.vectors = list(clips), lines, vectors
        self.dropout, self.train = dropout, train

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, i):
        lines = self.lines[self.clips[i]]
        line = lines[np.random.randint(len(lines))] if self.train else lines[0]
        on = not self.train or np.random.random() >= self.dropout
        return self.windows[i], torch.from_numpy(self.vectors[line]), torch.tensor(on)


def captioned_datasets(train, valid, config, progress: bool = False):
    """The captioned datasets of a prompted model and the training captions' vectors ``[n, 384]``
    (what standardises its prompt adapter). ``train`` and ``valid`` are ``(clips, windows, each
    window's clip index)`` (valid's windows may be None): each training clip is captioned
    ``config.captions`` ways from its facts (:mod:`cadenza.data.audio_captions`), each validation
    clip one way, and every distinct caption is encoded once."""
    from cadenza.data import audio_captions as A
    from cadenza.models.prompting import encoder
    from cadenza.nn.text_encoder import encode_unique
    from cadenza.utils import progress_bar

    (clips, windows, owners), (valid_clips, valid_windows, valid_owners) = train, valid
    encoder()  # built under the lock
    rng = np.random.default_rng(config.seed)

    def facts(data, index):  # a list of Audio clips says nothing about itself
        return A.clip_facts(data, index) if hasattr(data, "labels") else A.ClipFacts("recording")

    lines = {i: A.captions(facts(clips, i), config.captions, rng) for i in sorted(set(owners))}
    valid_lines = {i: A.captions(facts(valid_clips, i), 1, rng) for i in sorted(set(valid_owners or []))}
    texts = [t for group in (lines, valid_lines) for clip in group.values() for t in clip]
    unique = len(set(texts))
    with progress_bar(unique, f"maskgit: encoding {unique} captions", progress) as advance:
        done = [0]

        def step(count, _total):
            advance(count - done[0])
            done[0] = count
        vectors = encode_unique(texts, progress=step)
    train_set = CaptionedTokenWindows(windows, owners, lines, vectors, config.prompt_dropout, train=True)
    valid_set = None if valid_windows is None else CaptionedTokenWindows(valid_windows, valid_owners, valid_lines,
                                                                          vectors, 0.0, train=False)
    return train_set, valid_set, np.stack([vectors[t] for clip in lines.values() for t in clip])


def unpack(batch):
    """``(tokens, prompt, on)`` of a batch: a tensor (unprompted) or the three of a captioned batch."""
    if isinstance(batch, torch.Tensor):
        return batch, None, None
    tokens, prompt, on = batch
    return tokens, prompt, on


class MaskGITSystem(System):
    def _step(self, batch, generator: torch.Generator | None = None):
        tokens, prompt, on = unpack(batch)
        b, k, t = tokens.shape  # [b, k, t]
        mask = training_mask(b, k, t, self.config.coarse_share, generator).to(tokens.device)
        return masked_loss(self.model, tokens, mask, prompt, on)

    def training_step(self, batch, _):
        total, count, _correct = self._step(batch)  # the engine seeds torch's RNG each step
        loss = self.mean_over_processes(total, count.float())
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_index):
        generator = torch.Generator().manual_seed(1_000_003 * (batch_index + 1))
        with torch.no_grad():
            total, count, correct = self._step(batch, generator)
        size = unpack(batch)[0].shape[0]
        self.log("valid_loss", total / count, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("valid_accuracy", correct.float() / count, on_epoch=True, batch_size=size)
