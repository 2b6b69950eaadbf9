"""The melody LSTM's network: embedding, stacked LSTM with dropout, softmax over the vocabulary.

After Sturm, Santos, Ben-Tal & Korshunova, "Music transcription modelling
and composition using deep learning", CSMC 2016 (folk-rnn), with the LSTM of
Hochreiter & Schmidhuber, Neural Computation 9(8), 1997. The model, its
options and what it changes from folk-rnn are in
:mod:`cadenza.models.symbolic.lstm`; the network lives apart so that listing
the models (``cadenza generate --help``) does not import torch. The model
imports this module when it builds a network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from cadenza.models.symbolic.lstm import LSTMConfig


class MelodyLSTM(nn.Module):
    """ids ``[B, T]`` -> next-token logits ``[B, T, V]`` (and the recurrent state)."""

    def __init__(self, vocab_size: int, config: LSTMConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.embedding)
        self.lstm = nn.LSTM(config.embedding, config.hidden, config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state=None):
        x = self.embed(ids)  # [B, T, E]
        if torch.is_autocast_enabled("cpu"):
            # bf16-mixed on a CPU: oneDNN has no bf16 LSTM on CPUs without bf16 instructions, so
            # the recurrence runs in float32 (the output layer still in bf16).
            with torch.autocast("cpu", enabled=False):
                y, state = self.lstm(x.float(), state)
        else:
            y, state = self.lstm(x, state)  # [B, T, H]
        return self.head(self.drop(y)), state  # [B, T, V]
