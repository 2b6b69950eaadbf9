"""A conditional GAN of one-shot sounds: WaveGAN on waveforms, conditioned on pitch (or drum kind)
and optionally instrument, with latent interpolation and walks.

Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis" (WaveGAN,
https://arxiv.org/abs/1802.04208); Odena, Olah & Shlens 2017 (AC-GAN,
https://arxiv.org/abs/1610.09585) and Engel et al. 2019 (GANSynth,
https://arxiv.org/abs/1902.08710) for the conditioning; Gulrajani et al. 2017
(WGAN-GP, https://arxiv.org/abs/1704.00028) for the loss.

Reproduced: WaveGAN's generator (dense to 16 frames, five transposed
convolutions of stride 4: 16,384 samples, ~1 s at 16 kHz) and discriminator
(five strided convolutions with phase shuffle; :mod:`cadenza.models.audio.gan_net`);
WGAN-GP with 5 critic steps a generator step and Adam (1e-4, betas 0.5 and
0.9), or the hinge loss; a one-hot class input to the generator and an
auxiliary classifier in the discriminator (AC-GAN, as GANSynth conditions on
pitch); an exponential moving average of the generator's weights
(:mod:`cadenza.models.audio.gan_system`).

Changed: a narrower network for a CPU (``width`` 16 rather than 64), kernels
of 24 rather than 25 in the generator so that each layer exactly quadruples
the length; the checkpoint kept is the one with the lowest Fréchet distance
between log-mel statistics of the averaged generator's notes and the held-out
notes, measured at every validation (WaveGAN's users report quality peaking
and then collapsing on small data), not the last one. With ``pitch_signal``
(the ``laptop`` and ``gpu`` presets) the pitch also enters as a harmonic
excitation that the generator shapes with learned filters and smooth gains,
and that the critic hears beside the sound (a neural source-filter stage, Wang
et al. 2019; :mod:`cadenza.models.audio.gan_net`): with the one-hot alone,
WaveGAN made no note at its pitch after 40 CPU minutes on ``notes``.
``diversity_weight`` adds MSGAN's mode-seeking term (Mao et al. 2019,
https://arxiv.org/abs/1903.05628) against collapse, measured on log-mel
statistics rather than pixels (:mod:`cadenza.models.audio.gan_system`).
Before training, the generator's last stage is scaled so that its first sounds
are as loud as the training sounds (a data-dependent initialisation, Salimans
& Kingma 2016): untrained, it played 2-10x too loud, and Adam's small steps
took that down too slowly for a CPU's budget.

Data: labelled one-shots (``notes``: ``pitch`` and ``program`` labels;
``drums``: the one-shots' ``kind``, kick, snare and so on; drum patterns are
left out), each cut or padded to the generator's length from its onset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadenza.audio.io import Audio
from cadenza.config import option
from cadenza.errors import CadenzaError
from cadenza.models.audio_model import AudioModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad

LOSSES = ("wgan-gp", "hinge")


@dataclass
class Config(TrainingConfig):
    sample_rate: int = option(16000, "Audio sample rate in Hz.", min=8000, max=192_000)
    latent: int = option(100, "Dimensions of the latent vector z (WaveGAN: 100).", min=1, max=4096)
    width: int = option(16, "Channels of the generator's last hidden layer and the discriminator's first "
                            "(WaveGAN's d: 64).", min=1, max=1024)
    layers: int = option(5, "Upsampling layers: the sound is 16 x 4^layers samples (5: 16,384).", min=1, max=8)
    shuffle: int = option(2, "Phase shuffle: each discriminator layer's output moved by up to this many samples.",
                          min=0, max=64)
    label: str = option("pitch", "The label that conditions the sound (pitch for notes, kind for drums).")
    instrument_label: str | None = option(None, "A second conditioning label, e.g. program (the instrument).")
    loss: str = option("wgan-gp", "wgan-gp (WaveGAN's) or hinge.")
    n_critic: int = option(5, "Critic steps a generator step (wgan-gp; hinge takes 1).", min=1, max=100)
    gp_weight: float = option(10.0, "Weight of the gradient penalty (WGAN-GP: 10).", min=0, max=1000)
    class_weight: float = option(1.0, "Weight of the auxiliary classifier's losses (AC-GAN).", min=0, max=1000)
    ema_decay: float = option(0.999, "Decay of the moving average of the generator's weights.", above=0, below=1)
    diversity_weight: float = option(0.0, "Weight of the mode-seeking term (MSGAN, Mao et al. 2019): the generator is "
                                          "asked that two latents of one class give sounds whose log-mel statistics "
                                          "differ (0: off).", min=0, max=1000)
    pitch_signal: bool = option(False, "Give generator and critic the pitch as a signal too, not only one-hot: "
                                       "a harmonic excitation shaped by learned filters (gan) or a harmonic comb "
                                       "over frequency (specgan). Needs label pitch.")

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.pitch_signal and self.label != "pitch":
            raise ValueError(f"pitch_signal needs label 'pitch' (MIDI keys), got label {self.label!r}")

    @property
    def samples(self) -> int:
        return 16 * 4 ** self.layers


@dataclass
class Sampling(BaseSampling):
    pitch: int | None = option(None, "MIDI key to play (a pitch-conditioned model; default: drawn from the "
                                     "trained keys).", min=0, max=127)
    kind: str | None = option(None, "Class to play for a model conditioned on another label (drums: kick, "
                                    "snare, ...; default: drawn).")
    instrument: int | None = option(None, "Instrument (GM program) for an instrument-conditioned model "
                                          "(default: drawn).", min=0, max=127)


@register
class GAN(AudioModel):
    """WaveGAN (Donahue et al. 2019) conditioned on pitch or drum kind (AC-GAN), WGAN-GP, averaged generator."""

    name = "gan"
    controls = ("pitch", "instrument")
    Config = Config
    Sampling = Sampling
    presets = {
        # notes: 5 programs x 25 keys, the pitch one-hot and as a signal; ~60 minutes on one CPU core
        "laptop": dict(batch_size=16, learning_rate=1e-4, max_steps=6000, steps_per_epoch=500, patience=0,
                       pitch_signal=True),
        # drums: 7 kinds from ~150 one-shots. The classifier's weight is GANSynth's 10 (its released configs):
        # at 1 the adversarial term (~20-40) drowned it and every kind came out the same sound
        "drums": dict(label="kind", batch_size=16, learning_rate=1e-4, max_steps=6000, steps_per_epoch=500,
                      patience=0, class_weight=10.0),
        "gpu": dict(width=64, batch_size=64, max_steps=200_000, steps_per_epoch=5000, patience=0, pitch_signal=True),
    }
    # the contract's tiny data is one flute clip labelled by program only
    tiny_config = dict(label="program", latent=4, width=2, layers=2, shuffle=1, n_critic=2, batch_size=2,
                       max_steps=4, steps_per_epoch=2, patience=0)
    tiny_sampling = dict()

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    # --- data ------------------------------------------------------------------------

    def _examples(self, data) -> dict | None:
        """The one-shots of ``data`` as a dict of arrays (audio cut to the generator's length, class
        indices), or None when there are none."""
        c = self.config
        if data is None or not len(data):
            return None
        if data.labels is None:
            raise CadenzaError(f"{self.name}: audio set {data.name} has no labels; a conditional GAN needs "
                               f"one-shots labelled {c.label!r} (notes, drums)")
        keep = [i for i, lab in enumerate(data.labels) if c.label in lab and lab[c.label] != "pattern"
                and (c.instrument_label is None or c.instrument_label in lab)]
        if not keep:
            raise CadenzaError(f"{self.name}: no clip of {data.name} is labelled {c.label!r}"
                               + (f" and {c.instrument_label!r}" if c.instrument_label else ""))
        audio = np.zeros((len(keep), c.samples), np.float32)
        for row, i in enumerate(keep):
            clip = np.asarray(data.audio[i], np.float32)[: c.samples]
            audio[row, : len(clip)] = clip
        labels = [data.labels[i] for i in keep]
        return {"audio": audio, "label": [lab[c.label] for lab in labels],
                "instrument": [lab[c.instrument_label] for lab in labels] if c.instrument_label else None}

    def _datasets(self, train, valid):
        from cadenza.models.audio.gan_system import OneShots

        examples = self._examples(train)
        self.classes_ = sorted(set(examples["label"]), key=_order)
        if self.config.pitch_signal and not all(isinstance(v, (int, np.integer)) for v in self.classes_):
            raise CadenzaError(f"{self.name}: pitch_signal needs MIDI keys as the {self.config.label!r} labels "
                               f"of {train.name}")
        self.instruments_ = sorted(set(examples["instrument"]), key=_order) if examples["instrument"] else []
        held_out = self._examples(valid) if valid else None
        if held_out is not None:  # classes the model was not trained on cannot be asked for
            known = [i for i, (lab, ins) in enumerate(zip(held_out["label"], held_out["instrument"]
                                                          or [None] * len(held_out["label"])))
                     if lab in self.classes_ and (ins is None or ins in self.instruments_)]
            # the Fréchet measure needs two held-out sounds at least: with fewer, train without validation
            held_out = {k: ([v[i] for i in known] if isinstance(v, list) else v[known]) if v is not None else None
                        for k, v in held_out.items()} if len(known) >= 2 else None
        train_set = OneShots(examples, self.classes_, self.instruments_)
        valid_set = OneShots(held_out, self.classes_, self.instruments_) if held_out else None
        self.metrics_["train_one_shots"] = len(train_set)
        self._train_set = train_set  # for the waveform generator's initial level
        return train_set, valid_set, None

    def _generator(self, classes: list, instruments: list):
        from cadenza.models.audio.gan_net import Conditioning, Generator

        c = self.config
        return Generator(c.latent, c.width, c.layers, Conditioning(tuple(classes), tuple(instruments)),
                         c.sample_rate if c.pitch_signal else None)

    def _system(self):
        import torch

        from cadenza.models.audio.gan_net import Discriminator
        from cadenza.models.audio.gan_system import GANSystem

        c = self.config
        torch.manual_seed(c.seed)
        generator = self._generator(self.classes_, self.instruments_)
        train = self.__dict__.pop("_train_set")
        # the generator starts as loud as the training sounds
        generator.match_level(train.audio[:64], train.pitch[:64],
                              train.instrument[:64] if train.instrument is not None else None)
        discriminator = Discriminator(c.width, c.layers, generator.samples, generator.conditioning, c.shuffle,
                                      c.pitch_signal)
        return GANSystem(generator, discriminator, c)

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()

    # --- state -----------------------------------------------------------------------

    def _state(self):
        return self.net_arrays(), {"classes": list(self.classes_), "instruments": list(self.instruments_)}

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.run_check import check_fields

        check_fields(extra, {"classes": list, "instruments": list}, "cadenza.json", "state")
        return self.net_spec(self._generator(extra["classes"], extra["instruments"]), half=True)

    def _load_state(self, arrays, extra):
        self.classes_, self.instruments_ = list(extra["classes"]), list(extra["instruments"])
        self.load_net(self._generator(self.classes_, self.instruments_), arrays)

    # --- generation ------------------------------------------------------------------

    def class_index(self, options, rng) -> tuple[int, int | None]:
        """The class and instrument indices asked for by ``options`` (drawn where not given)."""
        c = self.config
        asked = options.pitch if c.label == "pitch" else options.kind
        other = options.kind if c.label == "pitch" else options.pitch
        if other is not None:
            flag = "--kind" if c.label == "pitch" else "--pitch"
            raise CadenzaError(f"this {self.name} is conditioned on {c.label!r}, not on what {flag} sets")
        if asked is None:
            index = int(rng.integers(len(self.classes_)))
        else:
            names = [str(v) for v in self.classes_]  # labels saved in JSON come back as they went in
            if str(asked) not in names:
                raise CadenzaError(f"{c.label} {asked} was not in the training data; this model knows "
                                   f"{_range(self.classes_)}")
            index = names.index(str(asked))
        if not self.instruments_:
            if options.instrument is not None:
                raise CadenzaError(f"this {self.name} is not conditioned on an instrument")
            return index, None
        if options.instrument is None:
            return index, int(rng.integers(len(self.instruments_)))
        if options.instrument not in self.instruments_:
            raise CadenzaError(f"instrument {options.instrument} was not in the training data; this model knows "
                               f"{_range(self.instruments_)}")
        return index, self.instruments_.index(options.instrument)

    @no_grad
    def render(self, z: np.ndarray, index: int, instrument: int | None = None) -> np.ndarray:
        """The generator's sounds ``[n, samples]`` for latents ``z [n, latent]`` of one class."""
        import torch

        self._check_fitted()
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.config.latent))
        classes = torch.full((len(z),), index, dtype=torch.long)
        instruments = torch.full((len(z),), instrument, dtype=torch.long) if instrument is not None else None
        return self.net_.to_audio(self.net_(z, classes, instruments)).numpy()

    def latent_of(self, seed: int) -> np.ndarray:
        """The latent vector of ``seed`` ``[latent]`` (a standard normal draw)."""
        return np.random.default_rng(seed).standard_normal(self.config.latent).astype(np.float32)

    def _generate_one(self, rng, options):
        index, instrument = self.class_index(options, rng)
        z = rng.standard_normal(self.config.latent).astype(np.float32) * options.temperature
        return Audio(self.render(z[None], index, instrument), self.sample_rate)

    def _asking(self, value, instrument):
        """Sampling options asking for class ``value`` (a pitch, or a kind) and ``instrument``."""
        from cadenza.config import build_dataclass

        key = "pitch" if self.config.label == "pitch" else "kind"
        return build_dataclass(self.Sampling, {key: value, "instrument": instrument}, f"{self.name} option")

    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8, spherical: bool = True,
                    pitch=None, instrument: int | None = None, gap: float = 0.1) -> Audio:
        """The sounds of ``steps`` latents from seed ``a``'s to seed ``b``'s, one after another with
        ``gap`` seconds between them: along the straight line, or along the great circle (slerp,
        which keeps the latents' norm where a Gaussian's mass is; White 2016)."""
        if not 2 <= steps <= 256:
            raise CadenzaError(f"steps must be 2-256, got {steps}")
        a, b = self.latent_of(seed_a), self.latent_of(seed_b)
        path = np.stack([slerp(a, b, t) if spherical else (1 - t) * a + t * b for t in np.linspace(0, 1, steps)])
        index, ins = self.class_index(self._asking(pitch, instrument), np.random.default_rng(seed_a))
        return _in_a_row(self.render(path, index, ins), int(gap * self.sample_rate), self.sample_rate)

    def walk(self, seed: int, steps: int = 8, step_size: float = 0.3, pitch=None,
             instrument: int | None = None, gap: float = 0.1) -> Audio:
        """A random walk in the latent space from seed's latent: ``steps`` sounds, each latent a
        small Gaussian step (``step_size``) from the one before, renormalised to the start's norm."""
        rng = np.random.default_rng(seed)
        z = [self.latent_of(seed)]
        for _ in range(steps - 1):
            nxt = z[-1] + step_size * rng.standard_normal(self.config.latent).astype(np.float32)
            z.append(nxt * np.linalg.norm(z[0]) / np.linalg.norm(nxt))
        index, ins = self.class_index(self._asking(pitch, instrument), rng)
        return _in_a_row(self.render(np.stack(z), index, ins), int(gap * self.sample_rate), self.sample_rate)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between vectors ``a`` and ``b`` (White 2016, "Sampling Generative Networks")."""
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def _in_a_row(sounds: np.ndarray, gap: int, sample_rate: int) -> Audio:
    silence = np.zeros(gap, np.float32)
    return Audio(np.concatenate([part for s in sounds for part in (s, silence)])[None], sample_rate)


def _order(value):
    return (0, value, "") if isinstance(value, (int, np.integer)) else (1, 0, str(value))


def _range(values: list) -> str:
    if values and all(isinstance(v, (int, np.integer)) for v in values):
        return f"{min(values)}-{max(values)} ({len(values)} values)"
    return ", ".join(map(str, values))
