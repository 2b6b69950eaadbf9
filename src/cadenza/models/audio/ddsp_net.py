"""DDSP's network and its training data (a torch module and a torch Dataset).

The model, its options and its reference are in :mod:`cadenza.models.audio.ddsp`:
Engel, Hantrakul, Gu & Roberts 2020, "DDSP: Differentiable Digital Signal
Processing", ICLR (https://arxiv.org/abs/2001.04643). Here are the decoder
(f0 and loudness through MLPs and a causal GRU to the synthesiser controls)
with the harmonic synthesiser, the filtered noise and the learned reverb
(:class:`DDSPNet`), and the dataset of training examples (:class:`Examples`).
They live apart from the model so that listing the models (``cadenza generate
--help``) does not import torch; the model imports this module when it builds
a network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from cadenza.audio import dsp
from cadenza.audio.features import LOUDNESS_FLOOR_DB

if TYPE_CHECKING:
    from cadenza.models.audio.ddsp import Config


def _mlp(inputs: int, width: int, layers: int) -> nn.Sequential:
    parts = []
    for i in range(layers):
        parts += [nn.Linear(inputs if i == 0 else width, width), nn.LayerNorm(width), nn.ReLU()]
    return nn.Sequential(*parts)


class DDSPNet(nn.Module):
    """Decoder (f0, loudness -> synthesiser controls) and the synthesisers."""

    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.f0_mlp = _mlp(1, c.hidden, c.mlp_layers)
        self.loudness_mlp = _mlp(1, c.hidden, c.mlp_layers)
        self.gru = nn.GRU(2 * c.hidden, c.gru, batch_first=True)
        self.out_mlp = _mlp(c.gru + 2 * c.hidden, c.hidden, c.mlp_layers)
        self.project = nn.Linear(c.hidden, 1 + c.n_harmonics + c.n_noise_bands)
        self.reverb = dsp.Reverb(int(c.reverb_seconds * c.sample_rate), c.sample_rate)

    def controls(self, f0, loudness_db, hidden=None, previous_f0=None):
        """``[b, t]`` f0 (Hz) and loudness (dB) -> harmonic amplitudes ``[b, t, K]``,
        noise magnitudes ``[b, t, bands]``, GRU state."""
        pitch_in = torch.log2(f0.clamp(min=1.0) / 440) * 12 + 69  # MIDI pitch
        x = torch.cat([self.f0_mlp(pitch_in[..., None] / 127),
                       self.loudness_mlp((loudness_db[..., None] - LOUDNESS_FLOOR_DB) / -LOUDNESS_FLOOR_DB)], -1)
        y, hidden = self.gru(x, hidden)
        out = self.project(self.out_mlp(torch.cat([y, x], -1)))  # [b, t, 1 + K + bands]
        amplitude = dsp.exp_sigmoid(out[..., :1])
        distribution = dsp.exp_sigmoid(out[..., 1:1 + self.c.n_harmonics])
        # Zero harmonics above Nyquist anywhere in the frame's glide, then renormalise.
        before = torch.cat([(f0[:, :1] if previous_f0 is None else previous_f0[:, None]), f0[:, :-1]], 1)
        distribution = distribution * dsp.nyquist_mask(torch.maximum(f0, before), self.c.n_harmonics,
                                                       self.c.sample_rate)
        distribution = distribution / distribution.sum(-1, keepdim=True).clamp(min=1e-7)
        noise = dsp.exp_sigmoid(out[..., 1 + self.c.n_harmonics:] - 5.0)
        return amplitude * distribution, noise, hidden

    def forward(self, f0, loudness_db, state: dict | None = None, noise=None):
        """Audio ``[b, t*hop]`` for ``[b, t]`` controls; ``state`` carries everything across
        calls (None: a fresh start). ``noise`` ``[b, t*hop]`` (None: fresh uniform noise)."""
        state = dict(state or {})
        hop = self.c.hop
        amplitudes, magnitudes, state["hidden"] = self.controls(f0, loudness_db, state.get("hidden"),
                                                                state.get("f0"))
        harmonic, state["phase"], state["glide"] = dsp.harmonic_synth(
            f0, amplitudes, hop, self.c.sample_rate, state.get("phase"), state.get("glide"))
        if noise is None:
            noise = torch.rand(f0.shape[0], f0.shape[1] * hop, device=f0.device) * 2 - 1
        filtered, state["noise_tail"] = dsp.filtered_noise(magnitudes, noise, state.get("noise_tail"))
        audio, state["reverb_tail"] = self.reverb(harmonic + filtered, state.get("reverb_tail"))
        state["f0"] = f0[:, -1]
        return audio, state


class Examples(torch.utils.data.Dataset):
    """Training windows: f0 ``[frames]``, loudness ``[frames]`` and audio ``[frames * hop]`` each."""

    def __init__(self, arrays: dict):
        self.f0, self.ld, self.audio = (torch.from_numpy(arrays[k]) for k in ("f0", "loudness", "audio"))

    def __len__(self):
        return len(self.f0)

    def __getitem__(self, i):
        return self.f0[i], self.ld[i], self.audio[i]
