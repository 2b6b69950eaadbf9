"""The Sound Model Factory's playable network: a frame-level GRU driven by continuous parameters
(x, y, pitch and note onsets) that plays a harmonic-plus-noise synthesiser, and its training
sequences. The model is in :mod:`cadenza.models.audio.smf`; the synthesisers are DDSP's
(:mod:`cadenza.audio.dsp`), so everything streams block by block with the same samples.

A control frame (one every ``hop`` samples) is ``[x, y, pitch, onset]``: x and y in [0, 1],
pitch a MIDI key (any real number 0-127: f0 is its equal-tempered frequency), onset 1 on the
frame a note starts and 0 elsewhere. The network counts the frames since the last onset
(carried across blocks) and sees them as the note's age; a note lasts as long as the GAN's
one-shots (``sound_frames``) and fades to silence over its last ``FADE_FRAMES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from cadenza.audio import dsp

if TYPE_CHECKING:
    from cadenza.models.audio.smf import Config

CONTROLS = 4  # x, y, pitch, onset
FADE_FRAMES = 8  # a note's last frames fade out (its one-shot has ended)
NEVER = 1.0e6  # frames since an onset before any note: silence


def _mlp(inputs: int, width: int, layers: int) -> nn.Sequential:
    parts = []
    for i in range(layers):
        parts += [nn.Linear(inputs if i == 0 else width, width), nn.LayerNorm(width), nn.ReLU()]
    return nn.Sequential(*parts)


def frames_since_onset(onset: torch.Tensor, since: torch.Tensor) -> torch.Tensor:
    """``onset`` ``[b, t]`` (1 where a note starts), ``since`` ``[b]`` the count at the frame
    before the first -> frames since the last onset ``[b, t]`` (0 on an onset frame)."""
    t = onset.shape[1]
    index = torch.arange(t, dtype=torch.float32, device=onset.device).expand_as(onset)
    last = torch.cummax(torch.where(onset > 0.5, index, torch.full_like(index, -1.0)), dim=1).values
    return torch.where(last >= 0, index - last, since[:, None] + index + 1)


class SMFNet(nn.Module):
    """Parameters -> (GRU) -> harmonic amplitudes and noise filter -> audio."""

    def __init__(self, c: Config, sound_frames: int):
        super().__init__()
        self.c, self.sound_frames = c, sound_frames
        self.in_mlp = _mlp(5, c.hidden, c.mlp_layers)
        self.gru = nn.GRU(c.hidden, c.gru, batch_first=True)
        self.out_mlp = _mlp(c.gru + c.hidden, c.hidden, c.mlp_layers)
        self.project = nn.Linear(c.hidden, 1 + c.n_harmonics + c.n_noise_bands)

    @staticmethod
    def f0_of(pitch: torch.Tensor) -> torch.Tensor:
        """Equal temperament: MIDI key -> Hz."""
        return 440.0 * torch.pow(2.0, (pitch - 69.0) / 12.0)

    def controls(self, frames: torch.Tensor, state: dict):
        """``frames`` ``[b, t, 4]`` -> harmonic amplitudes ``[b, t, K]``, noise magnitudes
        ``[b, t, bands]``, f0 ``[b, t]``; updates ``state`` (GRU, frames since onset)."""
        c = self.c
        since = frames_since_onset(frames[..., 3], state.get("since", torch.full(frames.shape[:1], NEVER)))
        age = (since / self.sound_frames).clamp(max=1.5)
        x = torch.stack([frames[..., 0], frames[..., 1], frames[..., 2] / 127.0, age,
                         torch.exp(-since / 8.0)], -1)  # [b, t, 5]
        h = self.in_mlp(x)
        y, state["hidden"] = self.gru(h, state.get("hidden"))
        out = self.project(self.out_mlp(torch.cat([y, h], -1)))  # [b, t, 1 + K + bands]
        # the note's one-shot has ended: fade its last frames to silence (and stay silent)
        gate = ((self.sound_frames - since) / FADE_FRAMES).clamp(0.0, 1.0)[..., None]
        f0 = self.f0_of(frames[..., 2])
        previous_f0 = state.get("f0")
        before = torch.cat([(f0[:, :1] if previous_f0 is None else previous_f0[:, None]), f0[:, :-1]], 1)
        distribution = dsp.exp_sigmoid(out[..., 1:1 + c.n_harmonics])
        distribution = distribution * dsp.nyquist_mask(torch.maximum(f0, before), c.n_harmonics, c.sample_rate)
        distribution = distribution / distribution.sum(-1, keepdim=True).clamp(min=1e-7)
        amplitudes = dsp.exp_sigmoid(out[..., :1]) * distribution * gate
        noise = dsp.exp_sigmoid(out[..., 1 + c.n_harmonics:] - 5.0) * gate
        state["since"] = since[:, -1]
        return amplitudes, noise, f0

    def forward(self, frames: torch.Tensor, state: dict | None = None, noise: torch.Tensor | None = None):
        """Audio ``[b, t*hop]`` for control frames ``[b, t, 4]``; ``state`` carries everything
        across calls (None: a fresh start, no note sounding); ``noise`` ``[b, t*hop]`` (None: fresh)."""
        state = dict(state or {})
        hop = self.c.hop
        amplitudes, magnitudes, f0 = self.controls(frames, state)
        harmonic, state["phase"], state["glide"] = dsp.harmonic_synth(
            f0, amplitudes, hop, self.c.sample_rate, state.get("phase"), state.get("glide"))
        if noise is None:
            noise = torch.rand(f0.shape[0], f0.shape[1] * hop, device=f0.device) * 2 - 1
        filtered, state["noise_tail"] = dsp.filtered_noise(magnitudes, noise, state.get("noise_tail"))
        state["f0"] = f0[:, -1]
        return harmonic + filtered, state


class Crops(torch.utils.data.Dataset):
    """Training crops: control frames ``[frames, 4]``, frames since the last onset before the
    crop (a scalar), and the target audio ``[frames * hop]``."""

    def __init__(self, frames, since, audio):
        self.frames, self.since, self.audio = (torch.as_tensor(a, dtype=torch.float32) for a in (frames, since, audio))

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i], self.since[i], self.audio[i]
