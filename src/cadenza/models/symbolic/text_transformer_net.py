"""The networks and data of :mod:`cadenza.models.symbolic.text_transformer` (imported where they
run, so that reading the model's options needs no torch): the causal LM with its prompt prefix
(the adapter is :class:`cadenza.nn.prompt.PromptAdapter`), the captioned training windows and
their batches."""

from __future__ import annotations

import numpy as np
import torch

from cadenza.data import token_windows as W
from cadenza.nn.prompt import PromptAdapter
from cadenza.nn.text_encoder import DIM


class PromptedLM(torch.nn.Module):
    """A Hugging Face causal LM with the prompt prefix: ``net(ids, mask, prompt, on) -> (logits [B, T, V],
    cache)``; without a prompt, every row gets the empty prompt."""

    def __init__(self, lm, prompt_tokens: int):
        super().__init__()
        self.lm, self.prompt_tokens = lm, prompt_tokens
        self.adapter = PromptAdapter(lm.get_input_embeddings().embedding_dim, prompt_tokens)

    def embed(self, input_ids, prompt, on):
        prefix = self.adapter(prompt, on)  # [B, k, dim]
        return torch.cat([prefix, self.lm.get_input_embeddings()(input_ids)], dim=1)  # [B, k + T, dim]

    def forward(self, input_ids, attention_mask=None, prompt=None, on=None, use_cache=False):
        batch = len(input_ids)
        if prompt is None:
            prompt = torch.zeros(batch, DIM)
            on = torch.zeros(batch, dtype=torch.bool)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = torch.cat([torch.ones(batch, self.prompt_tokens, dtype=attention_mask.dtype), attention_mask], 1)
        out = self.lm(inputs_embeds=self.embed(input_ids, prompt, on), attention_mask=mask, use_cache=use_cache)
        return out.logits[:, self.prompt_tokens:], (out.cache if use_cache else None)


class CaptionedWindows(torch.utils.data.Dataset):
    """Training windows with captions: an item is ``(ids [length + 1], prompt vector [384], prompt on)``.

    ``versions`` holds, for each piece, ``(base ids, [caption, ...])`` for each key it is trained
    in (the first: its own); ``vectors`` maps each caption to its vector. Training draws a key, a
    caption and the prompt dropout for each item; validation keeps the piece's own key and first
    caption, always prompted."""

    def __init__(self, tokenizer, versions, vectors: dict, length: int, dropout: float, train: bool):
        self.tokenizer, self.versions, self.vectors = tokenizer, versions, vectors
        self.context, self.dropout, self.train = length, dropout, train
        self.windows = []
        for p, keyed in enumerate(versions):
            for start in range(0, max(len(self._ids(keyed[0][0])) - 1, 1), length):
                self.windows.append((p, start))

    def _ids(self, base):
        return self.tokenizer.bpe(base) if self.tokenizer.tok.is_trained else base

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        p, start = self.windows[index]
        keyed = self.versions[p]
        # the engine seeds numpy at each epoch, so these draws repeat after a resume
        base, lines = keyed[np.random.randint(len(keyed))] if self.train else keyed[0]
        line = lines[np.random.randint(len(lines))] if self.train else lines[0]
        window = self._ids(base)[start:start + self.context + 1]
        out = torch.full((self.context + 1,), self.tokenizer.pad, dtype=torch.long)
        out[:len(window)] = torch.tensor(window, dtype=torch.long)
        on = not self.train or np.random.random() >= self.dropout
        return out, torch.from_numpy(self.vectors[line]), on


def collate_captioned(pad: int):
    """Batches of :class:`CaptionedWindows` items: the windows' batch plus ``prompt`` and ``prompt_on``."""
    windows = W.collate_windows(pad)

    def collate(items):
        batch = windows([ids for ids, _, _ in items])
        batch["prompt"] = torch.stack([vector for _, vector, _ in items])  # [B, 384]
        batch["prompt_on"] = torch.tensor([on for _, _, on in items], dtype=torch.bool)  # [B]
        return batch
    return collate
