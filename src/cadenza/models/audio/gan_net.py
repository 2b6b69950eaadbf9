"""The GAN's networks: WaveGAN's generator and discriminator on waveforms, conditioned on pitch
(and optionally instrument), with an auxiliary classifier in the discriminator (AC-GAN, GANSynth).

Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis" (WaveGAN,
https://arxiv.org/abs/1802.04208): DCGAN flattened to one dimension. The
generator maps a latent vector through a dense layer to ``16`` frames of
``16 d`` channels and five transposed convolutions (kernel 25, stride 4; here
kernel 24 with padding 10, so each exactly quadruples the length) halve the
channels to one: 16,384 samples (~1 s at 16 kHz) through ReLU, tanh at the end.
The discriminator mirrors it with strided convolutions (kernel 25, stride 4,
LeakyReLU 0.2) and *phase shuffle*: between layers each example's
activations are shifted by a random -n..n samples (reflect-padded), so the
discriminator cannot tell real from fake by the phase of the generator's
upsampling artefacts.

Conditioning (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with
Auxiliary Classifier GANs", https://arxiv.org/abs/1610.09585; Engel et al.
2019, "GANSynth", https://arxiv.org/abs/1902.08710): the generator takes the
one-hot pitch (and instrument) concatenated to the latent; the discriminator
has, beside its real/fake score, a head that classifies the pitch (and
instrument) of what it hears, trained on real notes and asked of fakes by the
generator's loss, so that a conditioned note sounds at its pitch.

With ``pitch_signal`` the pitch also enters as a signal on the sound's own
axis, to generator and critic alike: here a harmonic excitation (the note's
harmonics below Nyquist, a band-limited sawtooth) as the source of a neural
source-filter stage (Wang, Takaki & Yamagishi 2019,
https://arxiv.org/abs/1810.11946) whose learned filters shape it with gains
the generator draws over time (:class:`HarmonicSource`), its level set from
the data before training; in the spectrogram GAN a harmonic comb over
frequency. With the one-hot pitch alone, a few hundred notes and CPU minutes,
the GANs did not learn pitch (0-4 % of notes at their pitch; docs/models/gan.md).

Shapes: latents ``[batch, latent]``, labels ``[batch]`` (class indices), audio
``[batch, samples]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # LeakyReLU's in the discriminator (DCGAN, WaveGAN)
START_FRAMES = 16  # frames after the generator's dense layer
STRIDE = 4
SOURCE_FILTERS, SOURCE_TAPS = 8, 63  # the learned filters that shape the harmonic excitation
COMB_SPREAD = 0.75  # bins: the spread of each harmonic's Gaussian bump in the comb


def frequency_of(keys: torch.Tensor) -> torch.Tensor:
    """MIDI keys -> Hz, on the keys' device."""
    from cadenza.audio.features import midi_to_hz

    return torch.as_tensor(midi_to_hz(keys.cpu().numpy()), dtype=torch.float32, device=keys.device)


def harmonic_excitation(keys: torch.Tensor, samples: int, sample_rate: int) -> torch.Tensor:
    """A band-limited sawtooth at each key: its harmonics below Nyquist at ``1 / h``, sine phase,
    scaled to unit power: ``keys [B]`` -> ``[B, samples]``. A deterministic source: the latent
    decides what is made of it."""
    f0 = frequency_of(keys)[:, None]  # [B, 1]
    t = torch.arange(samples, device=keys.device)[None] / sample_rate  # [1, samples]
    wave, power = torch.zeros(len(keys), samples, device=keys.device), torch.zeros_like(f0)
    # one harmonic at a time: a low key has ~120 below Nyquist, and all at once would hold [B, H, samples]
    for h in range(1, int(sample_rate / 2 / float(f0.min())) + 1):
        amplitude = (h * f0 < sample_rate / 2).float() / h  # [B, 1]
        wave += torch.sin(2 * torch.pi * h * f0 * t) * amplitude
        power += amplitude ** 2
    return wave * torch.sqrt(2 / power)


def harmonic_comb(keys: torch.Tensor, bins: int, bin_hz: float) -> torch.Tensor:
    """Where each key's harmonics fall on a linear frequency axis (bin ``j`` at ``j * bin_hz``): a
    Gaussian bump a harmonic, at most 1: ``keys [B]`` -> ``[B, bins]``."""
    f0 = frequency_of(keys)[:, None]  # [B, 1]
    harmonics = torch.arange(1, int(bins * bin_hz / f0.min()) + 1, device=keys.device)[None]  # [1, H]
    centres = harmonics * f0 / bin_hz  # [B, H] in bins
    j = torch.arange(bins, device=keys.device, dtype=torch.float32)
    bumps = torch.exp(-0.5 * ((j[None, None] - centres[..., None]) / COMB_SPREAD) ** 2)  # [B, H, bins]
    return bumps.sum(1).clamp(max=1.0)


class HarmonicSource(nn.Module):
    """A neural source-filter output stage: the generator's last hidden layer ``[B, C, T / 4]`` gives
    a gain a filter (a 1 x 1 convolution, upsampled linearly: gains change smoothly, as DDSP's
    amplitudes do), its last layer a residual ``[B, T]``; with the excitation ``[B, T]``:
    ``tanh(level * (residual(t) + sum_k gain_k(t) * (filter_k * excitation)(t)))``, ``level`` set
    from the data before training (:meth:`Generator.match_level`)."""

    def __init__(self, channels: int, filters: int = SOURCE_FILTERS, taps: int = SOURCE_TAPS):
        super().__init__()
        self.gains = nn.Conv1d(channels, filters, 1)
        self.filters = nn.Conv1d(1, filters, taps, padding=taps // 2, bias=False)
        self.level = nn.Parameter(torch.ones(()))

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor, excitation: torch.Tensor) -> torch.Tensor:
        gains = F.interpolate(self.gains(hidden), size=residual.shape[-1], mode="linear")  # [B, filters, T]
        shaped = self.filters(excitation[:, None])  # [B, filters, T]
        return torch.tanh(self.level * (residual + (gains * shaped).sum(1)))


def phase_shuffle(x: torch.Tensor, n: int) -> torch.Tensor:
    """Each example of ``x [B, C, T]`` shifted by its own random -n..n samples, reflect-padded (WaveGAN)."""
    if n <= 0:
        return x
    shifts = torch.randint(-n, n + 1, (x.shape[0],), device=x.device)
    padded = F.pad(x, (n, n), mode="reflect")  # [B, C, T + 2n]
    index = (torch.arange(x.shape[-1], device=x.device)[None] + n - shifts[:, None])  # [B, T]
    return padded.gather(2, index[:, None].expand(-1, x.shape[1], -1))


@dataclass
class Conditioning:
    """The classes a GAN is conditioned on: pitches (MIDI keys) and optionally instruments (GM programs)."""

    pitches: tuple[int, ...]
    instruments: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.pitches) + len(self.instruments)

    def one_hot(self, pitch: torch.Tensor, instrument: torch.Tensor | None) -> torch.Tensor:
        """Class indices ``[B]`` -> ``[B, size]``."""
        parts = [F.one_hot(pitch, len(self.pitches)).float()]
        if self.instruments:
            parts.append(F.one_hot(instrument, len(self.instruments)).float())
        return torch.cat(parts, dim=1)

    def keys(self, pitch: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]`` -> the MIDI keys they stand for (a pitch-conditioned GAN's)."""
        return torch.tensor(self.pitches, dtype=torch.float32, device=pitch.device)[pitch]


class Generator(nn.Module):
    """``(z [B, latent], pitch [B], instrument [B] | None)`` -> audio ``[B, 16 * 4^layers]``."""

    def __init__(self, latent: int, width: int, layers: int, conditioning: Conditioning,
                 sample_rate: int | None = None):
        super().__init__()
        self.latent, self.conditioning, self.sample_rate = latent, conditioning, sample_rate
        channels = [width * 2 ** (layers - 1 - i) for i in range(layers)] + [1]  # halving, then one
        self.dense = nn.Linear(latent + conditioning.size, START_FRAMES * channels[0])
        self.start_channels = channels[0]
        self.ups = nn.ModuleList(nn.ConvTranspose1d(channels[i], channels[i + 1], 24, stride=STRIDE, padding=10)
                                 for i in range(layers))
        self.source = HarmonicSource(channels[-2]) if sample_rate else None
        self._excitations = None  # [classes, samples], computed on first use

    @property
    def samples(self) -> int:
        return START_FRAMES * STRIDE ** len(self.ups)

    def represent(self, audio: torch.Tensor) -> torch.Tensor:
        """Real sounds as the critic sees them (a waveform GAN: as they are)."""
        return audio

    @torch.no_grad()
    def match_level(self, audio: torch.Tensor, pitch: torch.Tensor, instrument: torch.Tensor | None = None) -> None:
        """Data-dependent initialisation (Salimans & Kingma 2016): scale the last stage (the source's
        level, or the last layer's weights) so that the untrained generator's sounds are as loud (RMS)
        as ``audio`` ``[B, samples]`` of classes ``pitch``. Adam's small steps took the untrained
        generator's level, several times the notes', down too slowly for a CPU's budget."""
        if self.source is not None:
            self.source.level.fill_(1.0)
        z = torch.randn(len(audio), self.latent, generator=torch.Generator().manual_seed(0))
        made = torch.atanh(self(z, pitch, instrument).clamp(-0.999, 0.999))  # before the tanh
        scale = float(audio.pow(2).mean().sqrt() / made.pow(2).mean().sqrt().clamp_min(1e-8))
        if self.source is not None:
            self.source.level.fill_(scale)
        else:  # the last layer is linear before the tanh: scaling it scales what comes out
            self.ups[-1].weight.mul_(scale)
            self.ups[-1].bias.mul_(scale)

    def pitch_signal(self, pitch: torch.Tensor) -> torch.Tensor | None:
        """The pitch as a signal beside the sound, for the critic too: the harmonic excitation ``[B, samples]``."""
        if self.source is None:
            return None
        if self._excitations is None or self._excitations.device != pitch.device:  # one a class, made once
            every = torch.arange(len(self.conditioning.pitches), device=pitch.device)
            self._excitations = harmonic_excitation(self.conditioning.keys(every), self.samples, self.sample_rate)
        return self._excitations[pitch]

    def to_audio(self, output: torch.Tensor) -> torch.Tensor:
        """The generator's output as sound (a waveform GAN: as it is)."""
        return output

    def forward(self, z: torch.Tensor, pitch: torch.Tensor, instrument: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([z, self.conditioning.one_hot(pitch, instrument)], dim=1)  # [B, latent + classes]
        x = F.relu(self.dense(x)).reshape(len(z), self.start_channels, START_FRAMES)  # [B, C, 16]
        for i, up in enumerate(self.ups):
            hidden, x = x, up(x)  # [B, C / 2, 4 T]
            if i < len(self.ups) - 1:
                x = F.relu(x)
        if self.source is not None:
            return self.source(hidden, x[:, 0], self.pitch_signal(pitch))  # [B, samples]
        return torch.tanh(x[:, 0])  # [B, samples]


@dataclass
class Judgement:
    score: torch.Tensor  # [B] real/fake score
    pitch_logits: torch.Tensor  # [B, pitches]
    instrument_logits: torch.Tensor | None  # [B, instruments]


class Discriminator(nn.Module):
    """Audio ``[B, samples]`` (and the pitch signal beside it) -> a real/fake score and the logits of
    its pitch (and instrument)."""

    def __init__(self, width: int, layers: int, samples: int, conditioning: Conditioning, shuffle: int = 2,
                 pitch_signal: bool = False):
        super().__init__()
        channels = [2 if pitch_signal else 1] + [width * 2 ** i for i in range(layers)]  # doubling
        self.convs = nn.ModuleList(nn.Conv1d(channels[i], channels[i + 1], 25, stride=STRIDE, padding=11)
                                   for i in range(layers))
        self.shuffle = shuffle
        features = channels[-1] * (samples // STRIDE ** layers)
        self.score = nn.Linear(features, 1)
        self.pitch = nn.Linear(features, len(conditioning.pitches))
        self.instrument = nn.Linear(features, len(conditioning.instruments)) if conditioning.instruments else None

    def forward(self, audio: torch.Tensor, signal: torch.Tensor | None = None) -> Judgement:
        x = audio[:, None] if signal is None else torch.stack([audio, signal], dim=1)  # [B, 1 or 2, T]
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), SLOPE)  # [B, C, T / 4]
            if i < len(self.convs) - 1:
                x = phase_shuffle(x, self.shuffle)
        x = x.flatten(1)  # [B, features]
        return Judgement(self.score(x)[:, 0], self.pitch(x),
                         self.instrument(x) if self.instrument is not None else None)
