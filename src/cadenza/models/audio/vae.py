"""A RAVE-style variational autoencoder: audio to a continuous latent at ~30 frames a second and back,
fast enough to play live on one core, with a prior to generate from nothing.

Caillon & Esling 2021, "RAVE: A variational autoencoder for fast and
high-quality neural audio synthesis" (https://arxiv.org/abs/2111.05011);
Caillon & Esling 2022, "Streamable Neural Audio Synthesis With Non-Causal
Convolutions" (https://arxiv.org/abs/2204.07064) for the cached streaming.

Reproduced: the multiband architecture (a PQMF bank, an encoder of strided
convolutions to a Gaussian latent, a decoder of upsampling and residual
blocks ending in a waveform branch, amplitude modulation and a
filtered-noise branch; :mod:`cadenza.models.audio.vae_net`), the two-phase
training (representation learning on the multi-scale spectral distance with
a warmed-up KL term, then adversarial fine-tuning of the decoder with the
encoder frozen; :mod:`cadenza.models.audio.vae_system`), the PCA of the
latent with RAVE's fidelity crop (:mod:`cadenza.models.latent`), and an
autoregressive prior over latent frames with a categorical output a
dimension (RAVE's prior is a WaveNet-like network; here a GRU).

Changed: a much smaller network for a CPU at 16 kHz (8 bands, a latent frame
every 512 samples: 31.25 frames a second, 16 dimensions); every convolution
causal and the PQMF's causal bank throughout, in training too (RAVE v1 trains
non-causal and v2 offers causal training), so offline encoding and decoding
*are* the streamed ones and a stream equals the offline pass at any block
size; the reconstruction is compared with the input delayed by the bank's
``delay``; the noise filter is applied chunk by chunk in the frequency domain
(no state between chunks); fixed loss weights.

Short clips are not dropped: a clip shorter than a training crop gives one
crop padded with silence (RAVE's users lost whole small data sets to this:
acids-ircam/RAVE#272, #329); the run's metrics count what was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cadenza.audio.io import Audio
from cadenza.config import option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import LatentSpace, Transfer
from cadenza.models.audio_model import AudioModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.nn.weights import cached_weights
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad, one_thread

BLOCK_SECONDS = 10.0  # long audio is encoded and decoded this much at a time (bounded memory)
PRIOR_BATCH = 16


@dataclass
class Config(TrainingConfig):
    sample_rate: int = option(16000, "Audio sample rate in Hz.", min=8000, max=192_000)
    n_bands: int = option(8, "PQMF bands (RAVE: 16 at 44.1-48 kHz).", min=2, max=64)
    ratios: list[int] = option([4, 4, 4], "Downsampling factor of each encoder block, after the PQMF; a latent "
                                          "frame is n_bands x their product samples (512: 31.25 a second at "
                                          "16 kHz).", min=1, max=64)
    channels: int = option(16, "Channels of the encoder's first layer (doubled by each block).", min=1, max=4096)
    decoder_channels: int = option(256, "Channels of the decoder's first block (halved by each block).",
                                   min=2, max=8192)
    latent: int = option(16, "Dimensions of a latent frame.", min=1, max=1024)
    noise: bool = option(True, "The filtered-noise branch of the decoder.")
    noise_hop: int = option(16, "Band samples a noise-filter chunk (its magnitude response has hop/2 + 1 bins).",
                            min=2, max=4096)
    example_seconds: float = option(1.024, "Length of a training crop.", above=0, max=60)
    kl_weight: float = option(0.1, "Weight of the KL term once warmed up (RAVE's beta).", min=0, max=100)
    kl_warmup: int = option(1000, "Steps over which the KL weight rises from 0.", min=0, max=10_000_000)
    adversarial_start: int = option(3000, "Step at which phase 2 starts: the encoder freezes and the "
                                          "discriminators join (at max_steps or more: never).", min=0,
                                    max=10_000_000)
    adversarial_learning_rate: float | None = option(None, "Learning rate of phase 2's decoder and discriminators "
                                                           "(default: learning_rate).", above=0, max=10)
    adversarial_distance_weight: float = option(1.0, "Weight of the spectral distance in phase 2 (RAVE sums it "
                                                     "over its 5 scales where the mean is used here: 5).",
                                                min=0, max=1000)
    adversarial_weight: float = option(1.0, "Weight of the decoder's adversarial loss.", min=0, max=1000)
    feature_weight: float = option(10.0, "Weight of the feature-matching loss (MelGAN: 10).", min=0, max=1000)
    discriminator_scales: int = option(3, "Scales of the multi-scale discriminator.", min=1, max=8)
    discriminator_channels: int = option(8, "Channels of the discriminators' first layers.", min=1, max=1024)
    adversarial_items: int = option(4, "Crops of a batch the discriminators see (0: all; fewer saves CPU time).",
                                    min=0, max=65_536)
    gradient_clip: float = option(1000.0, "Clip the gradient norm at this.", above=0, max=1e9)
    fidelity: float = option(0.95, "Share of the latent's variance the PCA crop keeps (RAVE's fidelity).",
                             above=0, max=1)
    prior_hidden: int = option(256, "Width of the prior's GRU.", min=1, max=8192)
    prior_bins: int = option(64, "Bins of a latent dimension in the prior's output.", min=2, max=4096)
    prior_steps: int = option(1500, "Training steps of the prior, after the VAE (0: no prior).", min=0,
                              max=10_000_000)
    prior_seconds: float = option(2.0, "Length of the prior's training windows.", above=0, max=600)

    def __post_init__(self):
        if not self.ratios or min(self.ratios) < 1:
            raise ValueError("ratios must be a non-empty list of factors of at least 1")
        if self.decoder_channels < 2 ** len(self.ratios):
            raise ValueError("decoder_channels must be at least 2^(number of ratios): each block halves it")
        if math.prod(self.ratios) % self.noise_hop:
            raise ValueError(f"noise_hop must divide the product of the ratios ({math.prod(self.ratios)}), so "
                             "that a latent frame holds whole noise chunks")
        if self.example_seconds * self.sample_rate < 2 * self.frame_samples:
            raise ValueError("a training crop must hold at least 2 latent frames")

    @property
    def frame_samples(self) -> int:
        return self.n_bands * math.prod(self.ratios)

    @property
    def crop_samples(self) -> int:
        """A training crop: ``example_seconds`` rounded to whole latent frames (at least 2)."""
        frames = int(round(self.example_seconds * self.sample_rate)) // self.frame_samples
        return max(2, frames) * self.frame_samples


@dataclass
class Sampling(BaseSampling):
    seconds: float = option(4.0, "Seconds of audio a piece (when length, in latent frames, is not given).",
                            above=0, max=3600)
    noise: bool = option(True, "Add the decoder's filtered noise.")


@dataclass
class TransferOptions:
    offsets: list[float] = option([], "Offsets added along the first latent PCA axes, in standard deviations "
                                      "(e.g. 1.5,0,-1: axis 0 up, axis 2 down).", min=-10, max=10)
    noise: bool = option(True, "Add the decoder's filtered noise.")


@register
class VAE(AudioModel, LatentSpace, Transfer):
    """RAVE-style VAE (Caillon & Esling 2021): PQMF bands, a causal convolutional encoder to a Gaussian
    latent, a decoder with waveform, amplitude and noise branches; two-phase training; a prior."""

    name = "vae"
    controls = ("audio", "latent")
    Config = Config
    Sampling = Sampling
    TransferOptions = TransferOptions
    presets = {
        # ~45 minutes on 2 CPU cores (scripts/train_vae.py)
        "laptop": dict(batch_size=8, learning_rate=5e-4, max_steps=5000, steps_per_epoch=250, patience=0,
                       kl_warmup=2000, adversarial_start=4000, adversarial_learning_rate=1e-4,
                       adversarial_distance_weight=5.0),
        # RAVE's layout at 44.1 kHz (16 bands, 43 frames a second), sized to decode ~40x real time on one thread
        "44k": dict(sample_rate=44100, n_bands=16, ratios=[4, 4, 4], channels=32, decoder_channels=384,
                    latent=32, example_seconds=1.486, batch_size=8, max_steps=400_000, steps_per_epoch=2000,
                    patience=0, kl_warmup=50_000, adversarial_start=200_000),
        "gpu": dict(channels=64, decoder_channels=1024, latent=32, batch_size=16, max_steps=300_000,
                    steps_per_epoch=2000, patience=0, kl_warmup=50_000, adversarial_start=200_000,
                    discriminator_channels=16, adversarial_items=0),
    }
    tiny_config = dict(n_bands=2, ratios=[2, 2], channels=4, decoder_channels=8, latent=3, noise_hop=2,
                       example_seconds=0.032, batch_size=2, max_steps=3, steps_per_epoch=3, kl_warmup=2,
                       adversarial_start=2, discriminator_scales=1, discriminator_channels=2, prior_hidden=8,
                       prior_bins=8, prior_steps=3, prior_seconds=0.05)
    tiny_sampling = dict(length=4)

    # --- what it is --------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_samples(self) -> int:
        """Audio samples a latent frame."""
        return self.config.frame_samples

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.frame_samples

    @property
    def latent_size(self) -> int:
        return self.config.latent

    @property
    def delay(self) -> int:
        """Samples by which the decoded audio lags the encoded audio (the causal PQMF's round trip)."""
        from cadenza.nn.pqmf import PQMF

        return PQMF(self.config.n_bands).delay

    # --- training --------------------------------------------------------------------

    def _datasets(self, train, valid):
        from cadenza.data.audio_crops import crop_datasets

        crops, valid_crops, self.data_summary_ = crop_datasets(train, valid, self.config.crop_samples)
        if len(crops) == 0:
            raise CadenzaError(f"{self.name}: the training audio is silent")
        return crops, valid_crops, None

    def _system(self):
        import torch

        from cadenza.models.audio.vae_net import VAENet
        from cadenza.models.audio.vae_system import VAESystem

        torch.manual_seed(self.config.seed)
        return VAESystem(VAENet(self.config), self.config)

    def _finish(self, system, result) -> None:
        from cadenza.models.latent import LatentPCA

        self.net_ = system.model.eval()
        clips = system.trainer.datamodule.train_set.clips if system._trainer else []
        latents = [self._encode_samples(c) for c in clips if len(c) >= self.frame_samples]
        latents = [z for z in latents if z.shape[1]] or [np.zeros((self.latent_size, 2), np.float32)]
        self.pca_ = LatentPCA().fit(latents)
        self.prior_ = self._fit_prior(latents)
        self.metrics_.update(getattr(self, "data_summary_", {}))
        self.metrics_["latent_dims_at_fidelity"] = self.pca_.dims_for(self.config.fidelity)

    def _fit_prior(self, latents: list[np.ndarray]):
        """The prior, trained on windows of the training set's latent means (a few seconds on a CPU)."""
        import torch

        from cadenza.models.audio.vae_net import LatentPrior

        c = self.config
        torch.manual_seed(c.seed)
        prior = LatentPrior(c.latent, c.prior_hidden, c.prior_bins)
        frames = np.concatenate(latents, axis=1)  # [D, all frames]
        prior.centre.copy_(torch.from_numpy(frames.mean(1)))
        prior.spread.copy_(torch.from_numpy(frames.std(1) + 1e-3))
        window = max(2, int(round(c.prior_seconds * self.frame_rate)))
        windows = [z[:, s:s + window].T for z in latents for s in range(0, max(1, z.shape[1] - window + 1),
                                                                          max(1, window // 2))]
        windows = [np.pad(w, ((0, window - len(w)), (0, 0)), mode="edge") for w in windows]
        data = torch.from_numpy(np.stack(windows).astype(np.float32))  # [N, window, D]
        optimizer = torch.optim.Adam(prior.parameters(), lr=1e-3)
        rng = np.random.default_rng(c.seed)
        losses = []
        for _ in range(c.prior_steps):
            batch = data[torch.from_numpy(rng.integers(len(data), size=PRIOR_BATCH))]
            loss = prior.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        if losses:
            self.metrics_["prior_train_nats"] = round(float(np.mean(losses[-50:])), 4)
        return prior.eval()

    # --- state -----------------------------------------------------------------------

    def _state(self):
        prior = {f"prior.{k}": v.detach().numpy() for k, v in self.prior_.state_dict().items()}
        return {**self.net_arrays(), **prior, **self.pca_.to_arrays()}, {}

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.audio.vae_net import LatentPrior, VAENet
        from cadenza.models.latent import LatentPCA
        from cadenza.models.run_check import module_spec

        c = self.config
        return {**self.net_spec(VAENet(c), half=True),
                **module_spec(LatentPrior(c.latent, c.prior_hidden, c.prior_bins), prefix="prior."),
                **LatentPCA.array_spec(c.latent)}

    def _load_state(self, arrays, extra):
        import torch

        from cadenza.models.audio.vae_net import LatentPrior, VAENet
        from cadenza.models.latent import LatentPCA

        c = self.config
        self.load_net(VAENet(c), arrays)
        prior = LatentPrior(c.latent, c.prior_hidden, c.prior_bins)
        prior.load_state_dict({k[6:]: torch.from_numpy(np.array(v, np.float32)) for k, v in arrays.items()
                               if k.startswith("prior.")})
        self.prior_ = prior.eval()
        self.pca_ = LatentPCA.from_arrays(arrays, c.latent)

    # --- the latent space ----------------------------------------------------------------

    def prepare(self, audio: Audio) -> tuple[np.ndarray, list[str]]:
        """``audio`` as mono samples at the model's rate ``[samples]``, and notes on what changed."""
        return self.mono_samples(audio, self.frame_samples, "encode")

    def encode(self, audio: Audio) -> np.ndarray:
        """The latent means ``[latent, frames]`` of ``audio``, one frame every ``frame_samples``
        samples (the last padded with silence)."""
        self._check_fitted()
        return self._encode_samples(self.prepare(audio)[0])

    @no_grad
    def _encode_samples(self, samples: np.ndarray) -> np.ndarray:
        padded = np.pad(np.asarray(samples, np.float32), (0, -len(samples) % self.frame_samples))
        stream = EncodeStream(self)  # not encode_stream(): _finish encodes before fit has returned
        block = int(BLOCK_SECONDS * self.sample_rate)
        with one_thread():
            return np.concatenate([stream.step(padded[i:i + block]) for i in range(0, len(padded), block)], axis=1)

    def check_latent(self, latent) -> np.ndarray:
        """``latent`` as float32 ``[latent_size, frames]``, finite, or one clear error."""
        from cadenza.models.latent import check_latent

        return check_latent(latent, self.latent_size)

    @no_grad
    def decode(self, latent: np.ndarray, seed: int = 0, noise: bool = True) -> Audio:
        """Audio ``[1, frames * frame_samples]`` from a latent ``[latent, frames]`` (``delay``
        samples late against the audio it was encoded from); ``seed`` draws the noise branch's noise."""
        self._check_fitted()
        latent = self.check_latent(latent)
        stream = self.decode_stream(seed, noise)
        block = max(1, int(BLOCK_SECONDS * self.frame_rate))
        with one_thread():
            return Audio(np.concatenate([stream.step(latent[:, i:i + block])
                                         for i in range(0, latent.shape[1], block)], axis=1), self.sample_rate)

    def encode_stream(self) -> EncodeStream:
        self._check_fitted()
        return EncodeStream(self)

    def decode_stream(self, seed: int = 0, noise: bool = True) -> DecodeStream:
        self._check_fitted()
        return DecodeStream(self, seed, noise)

    def stream(self, seed: int = 0, noise: bool = True) -> TransferStream:
        """Audio blocks in, resynthesised audio blocks out (``frame_samples`` multiples come back whole)."""
        self._check_fitted()
        return TransferStream(self, seed, noise)

    def apply_offsets(self, latent: np.ndarray, offsets) -> np.ndarray:
        """``latent [D, F]`` moved along its first PCA axes by ``offsets`` standard deviations."""
        from cadenza.models.latent import shift_latent

        offsets = list(offsets or [])
        if len(offsets) > self.latent_size:
            raise CadenzaError(f"{len(offsets)} offsets for a {self.latent_size}-dimensional latent")
        return shift_latent(latent, offsets, self.pca_) if offsets else latent

    def transfer(self, audio: Audio, seed: int = 0, **options) -> tuple[Audio, list[str]]:
        """Timbre transfer: ``audio`` re-synthesised through the decoder, its latent moved by ``offsets``
        (PCA axes, standard deviations); the output is aligned with the input."""
        self._check_fitted()
        o = self.transfer_options(options)
        samples, notes = self.prepare(audio)
        latent = self._encode_samples(np.pad(samples, (0, self.delay)))  # frames to cover the delay too
        latent = self.apply_offsets(latent, o.offsets)
        if o.offsets:
            notes.append("latent moved by " + ", ".join(f"{v:+g} sd on axis {i}" for i, v in enumerate(o.offsets) if v))
        decoded = self.decode(latent, seed, o.noise).samples[:, self.delay:self.delay + len(samples)]
        return Audio(decoded, self.sample_rate), notes

    # --- generation ------------------------------------------------------------------

    @no_grad
    def _generate_one(self, rng, options):
        import torch

        frames = options.length or max(1, int(round(options.seconds * self.frame_rate)))
        seed = int(rng.integers(2 ** 31))
        generator = torch.Generator().manual_seed(seed)
        with one_thread():
            latent = self.prior_.sample(frames, generator, options.temperature)[0].T.numpy()  # [D, F]
        return self.decode(latent, seed, options.noise)


class EncodeStream:
    """Blocks of samples in, the latent means of the frames they complete out ``[latent, frames]``."""

    def __init__(self, model: VAE):
        self.model, self.sample_rate, self.channels = model, model.sample_rate, 1
        self.init_state()

    def init_state(self) -> None:
        self.state = None

    @no_grad
    def step(self, block) -> np.ndarray:
        import torch


        block = np.asarray(block, np.float32).reshape(-1)
        with cached_weights():
            mean, self.state = self.model.net_.encode_stream(torch.from_numpy(block)[None], self.state)
        return mean[0].numpy()


class DecodeStream:
    """Blocks of latent frames ``[latent, frames]`` in, audio ``[1, frames * frame_samples]`` out."""

    def __init__(self, model: VAE, seed: int = 0, noise: bool = True):
        self.model, self.sample_rate, self.channels = model, model.sample_rate, 1
        self.seed, self.noise = seed, noise
        self.init_state()

    def init_state(self) -> None:
        import torch

        self.state = None
        self.generator = torch.Generator().manual_seed(self.seed)

    @no_grad
    def step(self, block) -> np.ndarray:
        import torch


        z = torch.from_numpy(self.model.check_latent(block))[None]
        with cached_weights():
            audio, self.state = self.model.net_.decode_stream(z, self.state, self.generator, self.noise)
        return audio.numpy()


class TransferStream:
    """Audio blocks in, the decoder's resynthesis out: the encode and decode streams chained. A block of
    ``frame_samples`` multiples comes back as long as it went in (``delay`` samples late)."""

    def __init__(self, model: VAE, seed: int = 0, noise: bool = True):
        self.model, self.sample_rate, self.channels = model, model.sample_rate, 1
        self.encoder, self.decoder = EncodeStream(model), DecodeStream(model, seed, noise)

    def init_state(self) -> None:
        self.encoder.init_state()
        self.decoder.init_state()

    def step(self, block) -> np.ndarray:
        latent = self.encoder.step(block)
        if not latent.shape[1]:
            return np.zeros((1, 0), np.float32)
        return self.decoder.step(latent)
