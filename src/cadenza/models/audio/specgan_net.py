"""The spectrogram GAN's networks: a 2-D DCGAN generator of normalised log-magnitude spectrograms
(turned into sound by Griffin-Lim) and a 2-D critic with the auxiliary pitch classifier.

Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis" (SpecGAN,
https://arxiv.org/abs/1802.04208): the STFT of a 16 kHz sound with 16 ms
windows and 8 ms hops (``n_fft`` 256, ``hop`` 128) without its Nyquist bin is
a 128 x 128 image; its log magnitude is normalised bin by bin to zero mean and
unit spread over the training set, clipped at 3 spreads and scaled to
[-1, 1]. Changed: the statistics count only the bins within 100 dB of the
loudest, so that the digital silence after a drum hit (half of the drum
images) does not set the scale; it lands on the clip. DCGAN (5 x 5 kernels,
stride 2) generates and judges that image; 16 iterations of Griffin-Lim turn a generated magnitude back into a waveform.
The conditioning (one-hot pitch and instrument in, class heads out) is
:mod:`cadenza.models.audio.gan_net`'s. With ``pitch_signal`` the pitch's
harmonic comb (:func:`~cadenza.models.audio.gan_net.harmonic_comb`, on the
image's own frequency axis) is one more input channel of every generator layer,
pooled to its resolution, and of the critic; the generator's last layer then
keeps ``width / 2`` channels, and a 3 x 3 convolution over them and the
full-resolution comb draws two maps, a log-magnitude envelope and a gain that
scales the comb at each bin and frame: ``image = tanh(envelope + gain * comb)``
(the log-domain twin of the waveform GAN's source-filter stage).

Shapes: latents ``[batch, latent]``, class indices ``[batch]``, spectrograms
``[batch, bins, frames]`` with ``bins = hop`` and ``frames = 4 * 2^layers``,
audio ``[batch, frames * hop]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.audio.dsp import griffin_lim
from cadenza.models.audio.gan_net import SLOPE, Conditioning, Judgement, harmonic_comb

START_FRAMES = 4
CLIP = 3.0  # spreads: SpecGAN clips the normalised log magnitude here and scales it to [-1, 1]
FLOOR = 1e-6  # added to magnitudes before the log
# fit's statistics count only bins within this many dB of the loudest: half a drum one-shot's image is digital
# silence (at FLOOR, -120 dB), which stretched each bin's spread to ~42 dB (one unit of the image ~125 dB)
RANGE_DB = 100.0


class Spectrogram(nn.Module):
    """Audio <-> SpecGAN's normalised log-magnitude image, with the per-bin statistics of the training
    set as buffers (so they are saved with the weights)."""

    def __init__(self, hop: int, frames: int, griffin_lim_iterations: int = 16):
        super().__init__()
        self.hop, self.frames, self.iterations = hop, frames, griffin_lim_iterations
        self.register_buffer("mean", torch.zeros(hop))
        self.register_buffer("std", torch.ones(hop))

    @property
    def n_fft(self) -> int:
        return 2 * self.hop

    def log_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, frames * hop]`` -> ``[B, bins, frames]`` log magnitudes (the Nyquist bin and the
        centred STFT's extra last frame dropped)."""
        window = torch.hann_window(self.n_fft, dtype=audio.dtype, device=audio.device)
        spec = torch.stft(audio, self.n_fft, self.hop, window=window, return_complex=True)
        return torch.log(spec.abs()[:, : self.hop, : self.frames] + FLOOR)

    def fit(self, audio: torch.Tensor) -> None:
        """Set the per-bin statistics from training sounds ``[N, samples]``, over the bins that sound
        (within ``RANGE_DB`` of the loudest); silence below that is clipped to the image's floor."""
        log = self.log_magnitude(audio)  # [N, bins, frames]
        sounding = (log > log.max() - RANGE_DB / 20 * math.log(10)).to(log.dtype)
        count = sounding.sum(dim=(0, 2))  # [bins]
        mean = (log * sounding).sum(dim=(0, 2)) / count.clamp_min(1)
        std = (((log - mean[:, None]) ** 2 * sounding).sum(dim=(0, 2)) / (count - 1).clamp_min(1)).sqrt()
        quiet = count < 2  # a bin that (almost) never sounds keeps the plain statistics
        self.mean.copy_(torch.where(quiet, log.mean(dim=(0, 2)), mean))
        self.std.copy_(torch.where(quiet, log.std(dim=(0, 2)), std).clamp_min(1e-3))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio -> the image in [-1, 1] that the critic judges."""
        z = (self.log_magnitude(audio) - self.mean[:, None]) / self.std[:, None]
        return z.clamp(-CLIP, CLIP) / CLIP

    def to_audio(self, image: torch.Tensor) -> torch.Tensor:
        """The image back to magnitudes (a zero Nyquist bin, the last frame repeated) and through
        Griffin-Lim to ``[B, frames * hop]``."""
        magnitude = torch.exp(image * CLIP * self.std[:, None] + self.mean[:, None]) - FLOOR
        magnitude = F.pad(magnitude.clamp_min(0), (0, 1), mode="replicate")  # [B, bins, frames + 1]
        magnitude = F.pad(magnitude, (0, 0, 0, 1))  # [B, bins + 1, frames + 1]
        return griffin_lim(magnitude, self.n_fft, self.hop, self.iterations, length=self.frames * self.hop)


class SpecGenerator(nn.Module):
    """``(z, pitch, instrument)`` -> a normalised log-magnitude image ``[B, hop, 4 * 2^layers]`` in [-1, 1]."""

    def __init__(self, latent: int, width: int, layers: int, hop: int, conditioning: Conditioning,
                 griffin_lim_iterations: int = 16, sample_rate: int | None = None):
        super().__init__()
        if hop % 2 ** layers:
            raise ValueError(f"hop ({hop}) must be a multiple of 2^layers ({2 ** layers})")
        self.latent, self.conditioning, self.sample_rate = latent, conditioning, sample_rate
        comb = 1 if sample_rate else 0  # the harmonic comb: one more input channel a layer
        last = max(1, width // 2) if comb else 1
        channels = [width * 2 ** (layers - 1 - i) for i in range(layers)] + [last]
        self.start = (channels[0], hop // 2 ** layers, START_FRAMES)
        self.dense = nn.Linear(latent + conditioning.size, channels[0] * self.start[1] * START_FRAMES)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(channels[i] + comb, channels[i + 1], 5, stride=2, padding=2,
                                                    output_padding=1) for i in range(layers))
        self.out = nn.Conv2d(last + 1, 2, 3, padding=1) if comb else None  # the envelope and the harmonics' gain
        if self.out is not None:  # start with the comb drawn (at 1 of the image's 3 spreads) for the GAN to shape
            with torch.no_grad():
                self.out.bias[1] = 1.0
        self.spectrogram = Spectrogram(hop, START_FRAMES * 2 ** layers, griffin_lim_iterations)

    @property
    def samples(self) -> int:
        return self.spectrogram.frames * self.spectrogram.hop

    def represent(self, audio: torch.Tensor) -> torch.Tensor:
        """Real sounds as the critic sees them: the normalised log-magnitude image."""
        return self.spectrogram(audio)

    def to_audio(self, image: torch.Tensor) -> torch.Tensor:
        return self.spectrogram.to_audio(image)

    def pitch_signal(self, pitch: torch.Tensor) -> torch.Tensor | None:
        """The pitch as a signal beside the image, for the critic too: its harmonic comb ``[B, bins]``."""
        if self.out is None:
            return None
        hop = self.spectrogram.hop
        return harmonic_comb(self.conditioning.keys(pitch), hop, self.sample_rate / (2 * hop))

    def forward(self, z: torch.Tensor, pitch: torch.Tensor, instrument: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([z, self.conditioning.one_hot(pitch, instrument)], dim=1)
        x = F.relu(self.dense(x)).reshape(len(z), *self.start)  # [B, C, bins / 2^layers, 4]
        comb = self.pitch_signal(pitch)  # [B, bins] or None
        for i, up in enumerate(self.ups):
            if comb is not None:
                x = torch.cat([x, _beside(comb, x)], dim=1)  # [B, C + 1, F, T]
            x = up(x)  # [B, C / 2, 2 F, 2 T]
            if i < len(self.ups) - 1:
                x = F.relu(x)
        if comb is None:
            return torch.tanh(x[:, 0])  # [B, bins, frames]
        x = self.out(torch.cat([F.relu(x), _beside(comb, x)], dim=1))  # [B, 2, bins, frames]
        return torch.tanh(x[:, 0] + x[:, 1] * comb[:, :, None])  # the comb's bumps, as loud as drawn


def _beside(comb: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The comb ``[B, bins]`` pooled to ``x``'s frequency resolution and spread over its frames:
    ``[B, 1, F, T]``."""
    pooled = F.adaptive_avg_pool1d(comb[:, None], x.shape[2])  # [B, 1, F]
    return pooled[..., None].expand(-1, -1, -1, x.shape[3])


class SpecDiscriminator(nn.Module):
    """A normalised log-magnitude image ``[B, bins, frames]`` (and the harmonic comb beside it) -> a
    real/fake score and class logits."""

    def __init__(self, width: int, layers: int, hop: int, conditioning: Conditioning, pitch_signal: bool = False):
        super().__init__()
        channels = [2 if pitch_signal else 1] + [width * 2 ** i for i in range(layers)]
        self.convs = nn.ModuleList(nn.Conv2d(channels[i], channels[i + 1], 5, stride=2, padding=2)
                                   for i in range(layers))
        features = channels[-1] * (hop // 2 ** layers) * START_FRAMES
        self.score = nn.Linear(features, 1)
        self.pitch = nn.Linear(features, len(conditioning.pitches))
        self.instrument = nn.Linear(features, len(conditioning.instruments)) if conditioning.instruments else None

    def forward(self, image: torch.Tensor, comb: torch.Tensor | None = None) -> Judgement:
        x = image[:, None]  # [B, 1, F, T]
        if comb is not None:
            x = torch.cat([x, _beside(comb, x)], dim=1)  # [B, 2, F, T]
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)  # [B, C, F / 2, T / 2]
        x = x.flatten(1)
        return Judgement(self.score(x)[:, 0], self.pitch(x),
                         self.instrument(x) if self.instrument is not None else None)
