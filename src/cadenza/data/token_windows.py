"""Training windows over tokenized pieces: the torch dataset of the token language models.

A piece longer than a window is cut into consecutive fixed-length windows;
training windows are transposed at random, at the id level (Pitch and Key
tokens move together), before BPE. A batch holds the inputs, the
next-token labels (padding labelled :data:`IGNORE`) and the attention mask.
"""

from __future__ import annotations

import numpy as np
import torch

from cadenza.data.tokens import MusicTokenizer
from cadenza.errors import CadenzaError

IGNORE = -100  # label of padding: PyTorch's cross-entropy ignore_index


class TokenWindows(torch.utils.data.Dataset):
    """Fixed-length training windows over tokenized pieces, transposed at random on train.

    Item: ``context + 1`` ids (inputs and next-token targets), padded with
    PAD. A piece longer than a window is cut into consecutive windows.
    """

    def __init__(self, tokenizer: MusicTokenizer, pieces_base: list[list[int]], context: int,
                 transpose: int = 0):
        self.tokenizer, self.context, self.transpose = tokenizer, context, transpose
        self.pieces = pieces_base
        self.windows = []
        for p, base in enumerate(pieces_base):
            length = len(tokenizer.bpe(base)) if tokenizer.tok.is_trained else len(base)
            for start in range(0, max(length - 1, 1), context):
                self.windows.append((p, start))

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> torch.Tensor:
        p, start = self.windows[index]
        base = self.pieces[p]
        if self.transpose:
            # the engine seeds numpy at each epoch, so this draw repeats after a resume
            for _ in range(4):
                moved = self.tokenizer.transpose_base(base, int(np.random.randint(-self.transpose,
                                                                                  self.transpose + 1)))
                if moved is not None:
                    base = moved
                    break
        ids = self.tokenizer.bpe(base) if self.tokenizer.tok.is_trained else base
        window = ids[start:start + self.context + 1]
        out = torch.full((self.context + 1,), self.tokenizer.pad, dtype=torch.long)
        out[:len(window)] = torch.tensor(window, dtype=torch.long)
        return out


def collate_windows(pad: int):
    def collate(items):
        batch = torch.stack(items)  # [B, T+1]
        inputs, labels = batch[:, :-1], batch[:, 1:].clone()
        labels[labels == pad] = IGNORE
        return {"input_ids": inputs, "labels": labels, "attention_mask": (inputs != pad).long()}
    return collate


def check_batch(windows: TokenWindows, batch_size: int, name: str) -> None:
    if len(windows) < batch_size:
        raise CadenzaError(f"{name}: the corpus is too small for one batch ({len(windows)} training windows "
                           f"of {windows.context} tokens, batch_size {batch_size}); "
                           f"use more pieces or a smaller --batch-size")
