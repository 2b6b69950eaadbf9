"""Melody LSTM in the folk-rnn style.

Sturm, Santos, Ben-Tal & Korshunova, "Music transcription modelling and
composition using deep learning", CSMC 2016 (folk-rnn): a stack of LSTM
layers (Hochreiter & Schmidhuber, "Long short-term memory", Neural
Computation 9(8), 1997) predicts the next token of a tune, trained with
cross-entropy and dropout, sampled token by token with a temperature until
the stop token.

What it reproduces: the architecture (embedding, stacked LSTM with dropout
between layers, softmax over the vocabulary; folk-rnn's 3 x 512 with
dropout 0.5 is the ``base`` preset), next-token training, temperature
sampling and the end-of-tune token. What it changes: folk-rnn reads ABC
text tokens (meter, key, pitch with accidentals and octave, duration, bar
lines); here the tokens are miditok's REMI or TSD events (bars, positions,
pitches, durations) with style/key/meter tokens in front, the same stream
the transformer reads, so the two compare on equal terms. Training windows
are ``context`` tokens long (folk-rnn used whole tunes); likelihood and
sampling run over whole pieces with the recurrent state carried along. A
grammar mask keeps every sample decodable.

The network is :class:`~cadenza.models.symbolic.lstm_net.MelodyLSTM` in
:mod:`cadenza.models.symbolic.lstm_net`; it and torch are imported only when a
network is built, trained, scored or sampled, so reading the options needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cadenza.models.base import option, register
from cadenza.models.symbolic.token_lm import TokenConfig, TokenLanguageModel

if TYPE_CHECKING:
    import torch


@dataclass
class LSTMConfig(TokenConfig):
    layers: int = option(2, "Stacked LSTM layers (folk-rnn: 3).", min=1, max=16)
    hidden: int = option(256, "Units a layer (folk-rnn: 512).", min=1, max=8192)
    embedding: int = option(64, "Size of the token embedding.", min=1, max=8192)
    dropout: float = option(0.3, "Dropout between layers (folk-rnn: 0.5).", min=0, below=1)


@register
class LSTM(TokenLanguageModel):
    """Melody LSTM in the folk-rnn style (Sturm et al. 2016) over REMI/TSD tokens."""

    name: ClassVar[str] = "lstm"
    Config: ClassVar[type] = LSTMConfig
    tiny_config: ClassVar[dict] = {"layers": 1, "hidden": 32, "embedding": 16, "context": 64, "batch_size": 8,
                                   "max_steps": 12, "steps_per_epoch": 6, "transpose": 2, "dropout": 0.0}
    tiny_sampling: ClassVar[dict] = {"length": 24}
    presets: ClassVar[dict[str, dict]] = {
        "laptop": {"layers": 2, "hidden": 256, "embedding": 64, "context": 256, "batch_size": 16, "max_steps": 1500,
                     "steps_per_epoch": 100, "learning_rate": 3e-3, "patience": 4, "dropout": 0.3},
        # folk-rnn's size
        "gpu": {"layers": 3, "hidden": 512, "embedding": 128, "context": 512, "batch_size": 64, "max_steps": 20_000,
                 "steps_per_epoch": 500, "learning_rate": 2e-3, "dropout": 0.5},
    }

    def _build_net(self, vocab_size: int) -> torch.nn.Module:
        from cadenza.models.symbolic.lstm_net import MelodyLSTM

        return MelodyLSTM(vocab_size, self.config)

    @staticmethod
    def _logits(net, input_ids, attention_mask):
        return net(input_ids)[0]

    def _start(self, ids, options, use_cache: bool = True):
        import torch

        logits, state = self.net_(torch.tensor([ids]))
        return logits[0, -1], state

    def _step(self, ids, memory):
        import torch

        logits, state = self.net_(torch.tensor([[ids[-1]]]), memory)
        return logits[0, -1], state

    def _sequence_nll(self, ids) -> float:
        import torch

        x = torch.tensor([ids])
        logits, _ = self.net_(x[:, :-1])  # the whole piece, state carried along
        return float(torch.nn.functional.cross_entropy(logits[0].float(), x[0, 1:], reduction="sum"))

    def _state(self):
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return arrays, self._tokenizer_extra()

    def _expected_arrays(self, extra, directory, header):
        # The vocabulary (the embedding's rows) comes from the tokenizer: read it first.
        from cadenza.models.run_check import module_spec

        self._load_tokenizer(directory, extra)
        return module_spec(self._build_net(self.tokenizer_.vocab_size))

    def _load_state(self, arrays, extra):
        import torch

        # load() has checked every tensor against _expected_arrays: names, shapes, float32, finite.
        net = self._build_net(self.tokenizer_.vocab_size)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
        self.net_ = net.eval()

    def _save_files(self, directory) -> None:
        self.tokenizer_.save(directory)
