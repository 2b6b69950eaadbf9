"""A neural audio codec: audio to a few integer tokens a frame and back, at several bitrates.

Zeghidour, Luebs, Omran, Skoglund & Tagliasacchi 2021, "SoundStream: An
End-to-End Neural Audio Codec" (https://arxiv.org/abs/2107.03312); Défossez,
Copet, Synnaeve & Adi 2022, "High Fidelity Neural Audio Compression"
(EnCodec, https://arxiv.org/abs/2210.13438); Kumar, Seetharaman, Luebs, Kumar
& Kumar 2023, "High-Fidelity Audio Compression with Improved RVQGAN" (DAC,
https://arxiv.org/abs/2306.06546).

Reproduced: a convolutional encoder of strided residual blocks down to a
latent frame every ``prod(strides)`` samples (50 frames a second at 16 kHz
for the preset), a residual vector quantiser with quantiser dropout so that
one model serves every bitrate from one codebook (0.5 kbps with 1024 codes)
to all of them (6 kbps with 12), and a mirrored decoder; Snake activations
and weight normalisation (DAC); codebooks learned by moving averages,
initialised by k-means, with dead-code restarts (SoundStream, EnCodec), or as
an option DAC's factorised cosine lookups learned by gradient. Trained on multi-scale mel and
multi-resolution STFT losses, then with multi-period and multi-resolution
STFT discriminators and feature matching after a reconstruction-only warm-up
(:mod:`cadenza.models.audio.codec_system`). Causal by default (SoundStream,
EnCodec's streaming model): encoding and decoding stream frame by frame with
cached convolutions, and the codes of a frame do not depend on how the input
was cut into blocks (descript-audio-codec issue 39 is the complaint about a
non-causal codec whose codes do). The Vocos decoder is made causal too: frame ``t``'s
inverse-STFT window starts at sample ``t * hop`` (Vocos centres it), and its depthwise
convolutions see the past only.

Also reproduced, as options the shipped preset uses: a Vocos decoder (Siuzdak 2023, "Vocos:
Closing the gap between time-domain and Fourier-based neural vocoders", https://arxiv.org/abs/2306.00814,
whose section 4.2 decodes EnCodec's tokens): ConvNeXt blocks at the frame rate, a head to the
log-magnitude and phase of each STFT bin, and an inverse STFT (``decoder="fourier"``); and
Mimi's quantisation bypass (Défossez et al. 2024, "Moshi", https://arxiv.org/abs/2410.00037,
section 3.3): a share of the training crops decode the unquantised latent
(``quantize_share``).

Changed: a much smaller network (a few MB) for a CPU, 16 kHz mono; fixed loss
weights (DAC's) rather than EnCodec's balancer; a dead-code threshold of 0.01
uses a batch rather than EnCodec's 2: with batches of 256 frames for 1,024
codes a higher one restarts codes at every step, and the codec collapsed (the
encoder's output went nearly constant in time; docs/models/codec.md). The
network is in :mod:`cadenza.models.audio.codec_net`.

Token files (``.npz``, no pickles) record the codec's identity (a hash of its
weights) and are refused by any other codec. ``generate`` decodes tokens drawn
independently from each codebook's usage in training: the sound of the
codebooks without a language model over them, the baseline for ``maskgit``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cadenza.audio.io import Audio
from cadenza.config import option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import Codec as CodecAbility
from cadenza.models.abilities import Transfer
from cadenza.models.audio_model import AudioModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.nn.weights import cached_weights
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad, one_thread

TOKEN_FORMAT = "cadenza-codec-tokens"
BLOCK_SECONDS = 10.0  # encode and decode a long input this much at a time (bounded memory)


@dataclass
class Config(TrainingConfig):
    sample_rate: int = option(16000, "Audio sample rate in Hz.", min=8000, max=192_000)
    strides: list[int] = option([4, 4, 4, 5], "Downsampling factor of each encoder block; their product is the "
                                              "samples a token frame (320: 50 frames a second at 16 kHz).",
                                min=1, max=64)
    channels: int = option(8, "Channels of the encoder's first layer (doubled by each block).", min=1, max=1024)
    decoder: Literal["convolutional", "fourier"] = option(
        "convolutional", "convolutional: transposed convolutions up to the sample rate (SEANet, DAC); fourier: "
                         "ConvNeXt blocks at the frame rate and an inverse STFT (Vocos).")
    decoder_channels: int = option(128, "Channels of the decoder's first block (halved by each block); the "
                                        "width of a fourier decoder.", min=1, max=8192)
    decoder_layers: int = option(8, "ConvNeXt blocks of a fourier decoder.", min=1, max=64)
    latent: int = option(64, "Dimensions of a latent frame (what the quantiser sees).", min=1, max=4096)
    n_q: int = option(12, "Codebooks (residual quantiser levels); bitrate = codebooks x log2(codes) x frame "
                          "rate.", min=1, max=64)
    codebook_size: int = option(1024, "Codes a codebook.", min=2, max=65_536)
    codebook_dim: int = option(0, "Look codes up in this many dimensions through projections (DAC: 8); "
                                  "0: in the latent itself.", min=0, max=4096)
    l2_normalize: bool = option(False, "Look codes up by cosine similarity, on the unit sphere (DAC).")
    ema_codebooks: bool = option(True, "Codebooks learn by moving averages (SoundStream, EnCodec) rather "
                                        "than by gradient with a codebook loss (VQ-VAE, DAC).")
    quantizer_dropout: float = option(0.5, "Share of training crops given a random number of codebooks, so one "
                                           "model serves every bitrate (DAC: 0.5).", min=0, max=1)
    quantize_share: float = option(1.0, "Share of training crops decoded through the quantiser; the others decode "
                                        "the encoder's latent itself (Mimi, Moshi 2024: 0.5).", min=0, max=1)
    commitment_weight: float = option(0.25, "Weight of the VQ commitment loss, a codebook.", min=0, max=100)
    dead_code_threshold: float = option(0.01, "Restart codes whose average use a batch falls below this.",
                                        min=0, max=1000)
    causal: bool = option(True, "Causal convolutions: streams frame by frame; codes independent of chunking.")
    example_seconds: float = option(0.64, "Length of a training crop.", above=0, max=60)
    adversarial_start: int = option(1000, "Steps of reconstruction-only warm-up before the discriminators join "
                                          "(at max_steps or more: never).", min=0, max=10_000_000)
    mel_weight: float = option(15.0, "Weight of the multi-scale mel loss (DAC: 15).", min=0, max=1000)
    stft_weight: float = option(1.0, "Weight of the multi-resolution STFT loss.", min=0, max=1000)
    adversarial_weight: float = option(1.0, "Weight of the generator's adversarial loss.", min=0, max=1000)
    feature_weight: float = option(2.0, "Weight of the feature-matching loss (DAC: 2).", min=0, max=1000)
    discriminator_channels: list[int] = option([8, 16, 32, 32], "Channels of each period discriminator's "
                                                               "convolutions.", min=1, max=4096)
    stft_discriminator_channels: int = option(8, "Channels of the STFT discriminators' convolutions.",
                                              min=1, max=4096)
    adversarial_items: int = option(4, "Crops of a batch the discriminators see (0: all; fewer saves CPU time).",
                                    min=0, max=65_536)
    gradient_clip: float = option(1000.0, "Clip the gradient norm at this (DAC: 1000).", above=0, max=1e9)

    def __post_init__(self):
        if not self.strides or min(self.strides) < 1:
            raise ValueError("strides must be a non-empty list of factors of at least 1")
        if self.channels < 1 or self.decoder_channels < 2 ** len(self.strides) or self.latent < 1:
            raise ValueError("channels and latent must be positive, and decoder_channels at least "
                             "2^(number of strides) (it is halved by each block)")
        if self.n_q < 1 or self.codebook_size < 2:
            raise ValueError("n_q must be at least 1 and codebook_size at least 2")
        if self.example_seconds * self.sample_rate < 2 * np.prod(self.strides):
            raise ValueError("a training crop must hold at least 2 token frames")
        if not self.discriminator_channels:
            raise ValueError("discriminator_channels must not be empty")

    @property
    def frame_samples(self) -> int:
        return int(np.prod(self.strides))

    @property
    def crop_samples(self) -> int:
        """A training crop: ``example_seconds`` rounded to whole frames (at least 2)."""
        frames = int(round(self.example_seconds * self.sample_rate)) // self.frame_samples
        return max(2, frames) * self.frame_samples


@dataclass
class Sampling(BaseSampling):
    bitrate: float | None = option(None, "kbps: decode this many codebooks' worth (default: all).", above=0,
                                   max=10_000)


@dataclass
class TransferOptions:
    bitrate: float | None = option(None, "kbps to code at (default: the highest the model gives).", above=0,
                                   max=10_000)


@register
class Codec(AudioModel, CodecAbility, Transfer):
    """Neural audio codec (SoundStream, EnCodec, DAC): audio to tokens at several bitrates and back.

    Strided convolutions, residual VQ with quantiser dropout, multi-scale spectral and adversarial
    losses; causal, so it encodes and decodes frame by frame."""

    name = "codec"
    controls = ("audio", "tokens")
    Config = Config
    Sampling = Sampling
    TransferOptions = TransferOptions
    presets = {
        # ~45 minutes on one CPU core: a Vocos-style decoder (every learned layer at the frame rate)
        "laptop": dict(decoder="fourier", decoder_channels=256, decoder_layers=6, batch_size=8, learning_rate=5e-4,
                       max_steps=5000, steps_per_epoch=250, patience=0, adversarial_start=4000),
        "gpu": dict(channels=32, decoder_channels=768, latent=128, batch_size=32, example_seconds=1.0,
                    max_steps=200_000, steps_per_epoch=2000, patience=0, adversarial_start=20_000,
                    discriminator_channels=[32, 128, 512, 1024], stft_discriminator_channels=32, adversarial_items=0,
                    dead_code_threshold=1.0),
    }
    tiny_config = dict(strides=[2, 4], channels=4, decoder_channels=16, latent=8, n_q=3, codebook_size=16,
                       example_seconds=0.05, batch_size=2, max_steps=2, steps_per_epoch=2, adversarial_start=1,
                       discriminator_channels=[4, 4], stft_discriminator_channels=2)
    tiny_sampling = dict(length=20)

    # --- what it is --------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_samples(self) -> int:
        """Audio samples a token frame."""
        return self.config.frame_samples

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.frame_samples

    @property
    def n_q(self) -> int:
        return self.config.n_q

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def bitrates(self) -> list[float]:
        """The kbps it gives: one codebook, two, ..., all of them."""
        return [round(self._kbps(k), 6) for k in range(1, self.n_q + 1)]

    def _kbps(self, codebooks: int) -> float:
        return codebooks * float(np.log2(self.codebook_size)) * self.frame_rate / 1000

    def codebooks_for(self, bitrate: float | None) -> int:
        """How many codebooks give ``bitrate`` kbps (None: all), or one clear error."""
        if bitrate is None:
            return self.n_q
        for k, kbps in enumerate(self.bitrates(), start=1):
            if abs(kbps - bitrate) < 1e-3 * max(1.0, kbps):
                return k
        rates = ", ".join(f"{r:g}" for r in self.bitrates())
        raise CadenzaError(f"this codec cannot give {bitrate:g} kbps; it gives {rates} kbps")

    @property
    def identity(self) -> str:
        """A hash of the weights: tokens are only decoded by the codec that made them."""
        self._check_fitted()
        if getattr(self, "identity_", None) is None:
            digest = hashlib.sha256()
            for name, value in sorted(self.net_.state_dict().items()):
                digest.update(name.encode())
                digest.update(value.detach().cpu().numpy().tobytes())
            self.identity_ = digest.hexdigest()[:16]
        return self.identity_

    # --- training --------------------------------------------------------------------

    def _datasets(self, train, valid):
        from cadenza.data.audio_crops import crop_datasets

        crops, valid_crops, _ = crop_datasets(train, valid, self.config.crop_samples)
        if len(crops) == 0:
            raise CadenzaError(f"{self.name}: the training audio is silent")
        return crops, valid_crops, None

    def _system(self):
        import torch

        from cadenza.models.audio.codec_net import CodecNet
        from cadenza.models.audio.codec_system import CodecSystem

        torch.manual_seed(self.config.seed)
        return CodecSystem(CodecNet(self.config), self.config)

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()
        self.identity_ = None
        self.usage_ = self._usage(system.trainer.datamodule.train_set if system._trainer else None)

    @no_grad
    def _usage(self, crops, most: int = 256) -> np.ndarray:
        """How often each code of each codebook is used on (at most ``most``) training crops: ``[n_q, K]``."""
        import torch

        counts = np.ones((self.n_q, self.codebook_size), np.float64)  # add-one: every code is possible
        if crops is None or not len(crops):
            return counts.astype(np.float32)
        keep = np.unique(np.linspace(0, len(crops) - 1, min(len(crops), most)).astype(int))
        with one_thread():
            for start in range(0, len(keep), 16):
                batch = torch.stack([crops[int(i)] for i in keep[start:start + 16]])
                codes = self.net_.encode(batch).numpy()  # [b, n_q, F]
                for level in range(self.n_q):
                    counts[level] += np.bincount(codes[:, level].ravel(), minlength=self.codebook_size)
        return counts.astype(np.float32)

    # --- state -----------------------------------------------------------------------

    def _state(self):
        return {**self.net_arrays(), "usage": self.usage_}, {}

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.audio.codec_net import CodecNet
        from cadenza.models.run_check import FLOAT32, ArraySpec

        return {**self.net_spec(CodecNet(self.config), half=True),
                "usage": ArraySpec((self.n_q, self.codebook_size), FLOAT32)}

    def _load_state(self, arrays, extra):
        from cadenza.models.audio.codec_net import CodecNet

        self.load_net(CodecNet(self.config), arrays)
        self.usage_ = np.array(arrays["usage"], np.float32)
        if not (np.isfinite(self.usage_).all() and (self.usage_ > 0).all()):
            raise ValueError("usage counts must be positive")
        self.identity_ = None

    # --- coding ------------------------------------------------------------------------

    def prepare(self, audio: Audio) -> tuple[np.ndarray, list[str]]:
        """``audio`` as mono samples at the model's rate ``[samples]``, and notes on what changed."""
        return self.mono_samples(audio, self.frame_samples, "code")

    def encode(self, audio: Audio, bitrate: float | None = None) -> np.ndarray:
        """Tokens ``[codebooks, frames]`` (int64) of ``audio``; ``bitrate`` kbps picks how many
        codebooks (default: all). A frame is ``frame_samples`` samples; the last is padded with
        silence. Long audio is encoded ``BLOCK_SECONDS`` at a time through the stream."""
        self._check_fitted()
        codebooks = self.codebooks_for(bitrate)
        samples, _ = self.prepare(audio)
        return self.encode_samples(samples)[:codebooks]

    @no_grad
    def encode_samples(self, samples: np.ndarray) -> np.ndarray:
        import torch

        with one_thread(), cached_weights():
            if not self.config.causal:
                return self.net_.encode(torch.from_numpy(samples)[None])[0].numpy()
            block = int(BLOCK_SECONDS * self.sample_rate)
            padded = np.pad(samples, (0, -len(samples) % self.frame_samples))
            stream = self.encode_stream()
            stream.init_state()
            return np.concatenate([stream.step(padded[i:i + block]) for i in range(0, len(padded), block)], axis=1)

    def check_tokens(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or not 1 <= tokens.shape[0] <= self.n_q or tokens.shape[1] < 1:
            raise CadenzaError(f"tokens must be [codebooks (1-{self.n_q}), frames], got shape {list(tokens.shape)}")
        if not np.issubdtype(tokens.dtype, np.integer) or tokens.min() < 0 or tokens.max() >= self.codebook_size:
            raise CadenzaError(f"tokens must be integers 0-{self.codebook_size - 1}")
        return tokens.astype(np.int64)

    @no_grad
    def decode(self, tokens: np.ndarray) -> Audio:
        """Audio from tokens ``[codebooks, frames]`` (the first codebooks, any number of them)."""
        import torch

        self._check_fitted()
        tokens = self.check_tokens(tokens)
        with one_thread(), cached_weights():
            if not self.config.causal:
                return Audio(self.net_.decode(torch.from_numpy(tokens)[None]).numpy(), self.sample_rate)
            block = int(BLOCK_SECONDS * self.frame_rate)
            stream = self.decode_stream()
            stream.init_state()
            return Audio(np.concatenate([stream.step(tokens[:, i:i + block])
                                         for i in range(0, tokens.shape[1], block)], axis=1), self.sample_rate)

    def encode_stream(self) -> EncodeStream:
        self._check_streams()
        return EncodeStream(self)

    def decode_stream(self) -> DecodeStream:
        self._check_streams()
        return DecodeStream(self)

    def _check_streams(self) -> None:
        self._check_fitted()
        if not self.config.causal:
            raise CadenzaError(f"{self.name}: a non-causal codec does not stream (train with causal=True)")

    def transfer(self, audio: Audio, seed: int = 0, **options) -> tuple[Audio, list[str]]:
        """Resynthesis: ``audio`` encoded at ``bitrate`` kbps and decoded again."""
        self._check_fitted()
        o = self.transfer_options(options)
        codebooks = self.codebooks_for(o.bitrate)
        samples, notes = self.prepare(audio)
        decoded = self.decode(self.encode_samples(samples)[:codebooks])
        notes.append(f"coded at {self._kbps(codebooks):g} kbps ({codebooks} of {self.n_q} codebooks)")
        return Audio(decoded.samples[:, :len(samples)], self.sample_rate), notes

    # --- generation ------------------------------------------------------------------

    def _generate_one(self, rng, options):
        codebooks = self.codebooks_for(options.bitrate)
        frames = options.length or int(round(2 * self.frame_rate))
        logits = np.log(self.usage_[:codebooks]) / options.temperature  # [k, K]
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        cumulative = np.cumsum(p, axis=1)  # inverse-CDF draws: same seed, same tokens anywhere
        tokens = np.stack([np.minimum(np.searchsorted(cumulative[k], rng.random(frames)), self.codebook_size - 1)
                           for k in range(codebooks)])
        return self.decode(tokens)


class _CodecStream:
    """The cached state of the codec's causal convolutions, carried from block to block."""

    def __init__(self, model: Codec):
        self.model, self.sample_rate, self.channels = model, model.sample_rate, 1

    def init_state(self) -> None:
        self.state = None


class EncodeStream(_CodecStream):
    """Blocks of samples in, the token frames they complete out ``[n_q, frames]``."""

    @no_grad
    def step(self, block) -> np.ndarray:
        import torch

        block = np.asarray(block, np.float32).reshape(-1)
        with cached_weights():
            codes, self.state = self.model.net_.encode_stream(torch.from_numpy(block)[None], self.state)
        return codes[0].numpy()


class DecodeStream(_CodecStream):
    """Blocks of token frames ``[codebooks, frames]`` in, audio ``[1, frames * frame_samples]`` out."""

    @no_grad
    def step(self, block) -> np.ndarray:
        import torch

        codes = torch.from_numpy(self.model.check_tokens(block))[None]
        with cached_weights():
            audio, self.state = self.model.net_.decode_stream(codes, self.state)
        return audio.numpy()


# --- token files ---------------------------------------------------------------------------


def save_half_precision(run: str | os.PathLike, target: str | os.PathLike) -> Path:
    """A copy of codec run ``run`` with fp16 weights and codebooks (the usage counts stay fp32).
    The copy is a codec of its own: its codes may differ from the fp32 run's where two codes are
    nearly equally near, so it has its own identity."""
    from cadenza.models.half_precision import save_half_precision as save

    return save(run, target, keep_fp32=lambda name: name == "usage")


def write_tokens(path: str | os.PathLike, tokens: np.ndarray, model: Codec, samples: int,
                 run: str | None = None) -> Path:
    """An ``.npz`` of ``tokens`` and what decodes them: the codec's identity and run, the
    sample rate and the length of the audio they came from."""
    from cadenza.utils import write_array_file

    tokens = model.check_tokens(tokens)
    header = {"format": TOKEN_FORMAT, "version": 1, "codec": model.identity, "run": run,
              "sample_rate": model.sample_rate, "frame_samples": model.frame_samples, "samples": int(samples),
              "codebooks": int(tokens.shape[0]), "bitrate_kbps": model.bitrates()[tokens.shape[0] - 1]}
    dtype = np.uint16 if model.codebook_size <= 65_536 else np.int64
    return write_array_file(path, "tokens", tokens.astype(dtype), header)


def read_tokens(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """``(tokens [codebooks, frames], header)`` of a token file, or one clear error."""
    from cadenza.utils import read_array_file

    tokens, header = read_array_file(path, "tokens", TOKEN_FORMAT, "token file")
    if not isinstance(header.get("codec"), str) or not isinstance(header.get("samples"), int):
        raise CadenzaError(f"{path}: token file header is damaged")
    return tokens, header


def decode_file(path: str | os.PathLike, model: Codec) -> Audio:
    """The audio of a token file, decoded by ``model`` if it is the codec that made the tokens."""
    return decode_tokens(*read_tokens(path), model, path)


def decode_tokens(tokens: np.ndarray, header: dict, model: Codec, path: str | os.PathLike) -> Audio:
    """The audio of tokens read from the token file ``path``, if ``model`` made them."""
    if header["codec"] != model.identity:
        raise CadenzaError(f"{path}: tokens made by codec {header['codec']}, not by this one ({model.identity}); "
                           f"decode with the run that encoded them ({header.get('run') or 'unknown'})")
    audio = model.decode(tokens)
    return Audio(audio.samples[:, :header["samples"]], audio.sample_rate)
