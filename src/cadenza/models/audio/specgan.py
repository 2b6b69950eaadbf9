"""A conditional spectrogram GAN of one-shot sounds (SpecGAN, with GANSynth's conditioning): it
generates a log-magnitude spectrogram and hears it through Griffin-Lim.

Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis"
(https://arxiv.org/abs/1802.04208), SpecGAN; Engel et al. 2019, "GANSynth:
Adversarial Neural Audio Synthesis" (https://arxiv.org/abs/1902.08710) for
the pitch conditioning; Griffin & Lim 1984 and Perraudin, Balazs & Søndergaard
2013 (fast Griffin-Lim) for the phase.

Reproduced: SpecGAN's representation (STFT with ``n_fft`` 256 and ``hop`` 128
at 16 kHz, the Nyquist bin dropped, 128 x 128; log magnitude normalised per
bin over the training set, clipped at 3 spreads, scaled to [-1, 1]), its 2-D
DCGAN generator and critic (5 x 5 kernels, stride 2), 16 Griffin-Lim
iterations to invert; the waveform GAN's training recipe (WGAN-GP with 5 critic
steps, or hinge; Adam 1e-4; the averaged generator; the checkpoint chosen by
the Fréchet distance of log-mel statistics, computed on the Griffin-Lim audio
so that it judges what is heard) and conditioning (one-hot pitch and
instrument in, auxiliary classifier out, as GANSynth does) — see
:mod:`cadenza.models.audio.gan`.

Changed: GANSynth's instantaneous-frequency channel and mel-frequency
resolution are left out (the phase comes from Griffin-Lim, with momentum
0.99, seeded so a spectrogram always gives the same sound); the network is
narrower for a CPU (``width`` 16 rather than 64); the per-bin statistics
count only bins within 100 dB of the loudest (digital silence after a drum
hit set the scale). With ``pitch_signal`` (the ``laptop`` and ``gpu``
presets) the pitch's harmonic comb on the image's
frequency axis is an input of every generator layer and of the critic, and the
generator draws the image as an envelope plus a gain times the comb
(:mod:`cadenza.models.audio.specgan_net`): with the one-hot alone, 4 % of its
notes were at their pitch after 90 CPU minutes. What Griffin-Lim costs on
its own, round-tripping real notes through the same spectrogram, is measured
in ``benchmarks/bench_gan.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.config import option
from cadenza.models.audio.gan import GAN
from cadenza.models.audio.gan import Config as GANConfig
from cadenza.models.base import register


@dataclass
class Config(GANConfig):
    hop: int = option(128, "STFT hop in samples; the window is twice it and the image has hop bins "
                           "(SpecGAN at 16 kHz: 128, a 128 x 128 image).", min=4, max=4096)
    griffin_lim: int = option(16, "Griffin-Lim iterations that turn a generated magnitude into sound "
                                  "(SpecGAN: 16).", min=1, max=1000)
    shuffle: int = option(0, "Unused: phase shuffle is for waveform critics.", min=0, max=0)

    def __post_init__(self):
        super().__post_init__()
        if self.hop % 2 ** self.layers:
            raise ValueError(f"hop ({self.hop}) must be a multiple of 2^layers ({2 ** self.layers})")

    @property
    def samples(self) -> int:
        return self.hop * 4 * 2 ** self.layers


@register
class SpecGAN(GAN):
    """SpecGAN (Donahue et al. 2019): a DCGAN of normalised log-magnitude spectrograms heard through
    Griffin-Lim, conditioned on pitch or drum kind (AC-GAN, as GANSynth), WGAN-GP, averaged generator."""

    name = "specgan"
    Config = Config
    # presets are the waveform GAN's (laptop, drums, gpu): the same batch, learning rate and step budget
    tiny_config = dict(GAN.tiny_config, shuffle=0, hop=16, griffin_lim=4)

    def _generator(self, classes: list, instruments: list):
        from cadenza.models.audio.gan_net import Conditioning
        from cadenza.models.audio.specgan_net import SpecGenerator

        c = self.config
        return SpecGenerator(c.latent, c.width, c.layers, c.hop, Conditioning(tuple(classes), tuple(instruments)),
                             c.griffin_lim, c.sample_rate if c.pitch_signal else None)

    def _system(self):
        import torch

        from cadenza.models.audio.gan_system import GANSystem
        from cadenza.models.audio.specgan_net import SpecDiscriminator

        c = self.config
        torch.manual_seed(c.seed)
        generator = self._generator(self.classes_, self.instruments_)
        generator.spectrogram.fit(self.__dict__.pop("_train_set").audio)  # per-bin statistics, saved with the weights
        discriminator = SpecDiscriminator(c.width, c.layers, c.hop, generator.conditioning, c.pitch_signal)
        return GANSystem(generator, discriminator, c)
