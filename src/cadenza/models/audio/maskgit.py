"""MaskGIT over codec tokens: music by filling in masked tokens, VampNet-style.

Chang, Zhang, Jiang, Liu & Freeman 2022, "MaskGIT: Masked Generative Image
Transformer" (https://arxiv.org/abs/2202.04200); Garcia, Seetharaman, Kumar &
Pardo 2023, "VampNet: Music Generation via Masked Acoustic Token Modeling"
(https://arxiv.org/abs/2307.04686). Implemented from the papers (VampNet's code
and weights are non-commercial; none of either is used here).

Reproduced: a bidirectional transformer over the tokens of a neural codec
(:mod:`cadenza.models.audio.codec`), each frame the sum of its codebooks'
embeddings with a MASK entry a codebook (VampNet 3.2); MaskGIT's training, the
cosine schedule ``gamma(r) = cos(pi/2 r)`` with the loss on masked tokens only
(MaskGIT 3.1); MaskGIT's iterative parallel decoding, the most confident draws
kept at each step so that the masked count follows the schedule (MaskGIT 3.2);
VampNet's sampling, typical filtering and an annealed temperature (VampNet 3.4);
prompts as masks (periodic, prefix and suffix, inpainting, codebook-level, onsets:
:mod:`cadenza.models.audio.maskgit_masks`; VampNet 3.3); and VampNet's looping,
audio longer than a window vamped window by window, each window keeping the part
it shares with the previous output as its prompt.

Changed, on purpose: ONE network over the first ``codebooks`` codebooks of the
codec (default 8 of the preset codec's 12: 4 kbps at 50 frames a second with 1024
codes) rather than VampNet's two, a coarse model over the first 4 codebooks and a
coarse-to-fine model that adds the other 10. Decoding uses those codebooks only
(the codec decodes any first k). The coarse-to-fine role is a prompt: a
``codebooks:K`` mask keeps the first K codebooks and regenerates the rest, and a
``coarse_share`` of the training windows are masked that way so the network learns
it. Positions by rotary embeddings rather than VampNet's relative attention bias;
onsets (spectral flux) rather than a beat tracker for rhythm prompts. Clips are
concatenated before they are cut into training windows (a window may straddle two
clips, as a language model's training text straddles documents).

Text prompts (``prompt_tokens`` > 0; 0, the default, is the model above, unchanged): a
caption of each training clip (:mod:`cadenza.data.audio_captions`: its kind, instrument,
register, key, dynamics, tempo, from the audio set's labels and true f0) is encoded by the
frozen sentence encoder (:mod:`cadenza.nn.text_encoder`) and enters the network as
``prompt_tokens`` prefix vectors before the frames (:class:`cadenza.nn.prompt.PromptAdapter`,
as :mod:`cadenza.models.symbolic.text_transformer` does before BOS). Training windows are then
cut within clips, so each has its clip's caption; each draw of a window takes one of its
clip's ``captions`` paraphrases, and ``prompt_dropout`` of the draws the learned empty prompt,
so the same network is also unprompted and supports classifier-free guidance at every
decoding step (Ho & Salimans 2021, "Classifier-free diffusion guidance",
https://arxiv.org/abs/2207.12598). VampNet's prompts are masks only; the text prefix is this
toolkit's addition, in the manner of prefix conditioning (Li & Liang 2021, "Prefix-tuning").

No likelihood of audio is defined (a masked model gives none directly);
:meth:`MaskGIT.masked_metrics` gives the accuracy and NLL a token of masked tokens
at a fixed mask share, beside a unigram baseline, which the benchmark reports.

The codec is part of the model: a run records the codec's path and identity (a
hash of its weights), and loading refuses a codec whose identity differs. With
``codec="fit"`` (or ``fit:PRESET``, ``fit:tiny``) ``fit`` first trains a new codec
on the same audio and keeps it inside the run (``RUN/codec/``): one step for
anyone without a codec, and how the contract test builds a tiny maskgit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.audio.io import Audio
from cadenza.config import SEED, build_dataclass, option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import Transfer
from cadenza.models.audio_model import AudioModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad, one_thread, progress_bar

CODEC_IN_RUN = "codec"  # the folder of a run that holds a codec trained with it (codec="fit...")
SILENT_PEAK = 1e-5  # -100 dBFS: input this quiet is refused


@dataclass
class Config(TrainingConfig):
    codec: str = option("pretrained/codec", "The codec whose tokens the model learns: a codec run "
                                            "(pretrained/codec, runs/...), or fit / fit:PRESET / fit:tiny to train "
                                            "one on the same audio first (kept inside this run).", kind="run")
    codebooks: int = option(8, "The first codebooks of the codec modelled and generated (8 of 12 at 50 Hz "
                               "with 1024 codes: 4 kbps).", min=1, max=64)
    window: int = option(100, "Token frames a training window and a generation window (100: 2 s at 50 Hz).",
                         min=4, max=4096)
    width: int = option(128, "Transformer width.", min=8, max=8192)
    layers: int = option(4, "Transformer blocks.", min=1, max=96)
    heads: int = option(4, "Attention heads (width / heads must be even).", min=1, max=128)
    dropout: float = option(0.1, "Dropout of embeddings, attention and MLPs.", min=0, max=0.9)
    coarse_share: float = option(0.2, "Share of training windows whose first codebooks are kept whole (the "
                                      "prompts of a codebooks:K mask).", min=0, max=1)
    max_audio_minutes: float = option(60.0, "Minutes of training audio encoded (the rest is left out).",
                                      above=0, max=100_000)
    prompt_tokens: int = option(0, "Text prompts: vectors a caption becomes before the frames (the prefix); 0: "
                                   "no text prompts (windows may straddle clips).", min=0, max=64)
    prompt_dropout: float = option(0.15, "With text prompts: share of training windows whose caption is replaced "
                                         "by the learned empty prompt (what unprompted generation and guidance "
                                         "need).", min=0, max=1)
    captions: int = option(4, "With text prompts: paraphrased captions written for each training clip (a "
                              "window draws one each time it is seen).", min=1, max=32)

    def __post_init__(self):
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads}), "
                             "with an even size a head")
        if not isinstance(self.codec, str) or not self.codec.strip():
            raise ValueError("codec must name a codec run, or fit")


@dataclass
class Decoding:
    """Options of the parallel decoder, shared by generation and vamping."""

    steps: int = option(12, "Decoding steps a window (network passes): more is slower and usually better.",
                        min=1, max=1000)
    typical_mass: float = option(0.15, "Typical filtering: the probability mass of the most typical codes "
                                       "kept (1: off).", above=0, max=1)
    noise: float = option(4.5, "Gumbel noise on the confidences at the first step, annealed to 0 (MaskGIT's "
                               "choice temperature).", min=0, max=100)
    anneal: bool = option(True, "Lower the temperature linearly to temperature/steps at the last step.")
    prompt: str | None = option(None, "A text prompt, e.g. 'a fast drum pattern' or 'a low violin note' (a run "
                                      "trained with prompt_tokens) [default: none: unprompted].")
    guidance: float = option(2.0, "Classifier-free guidance of the text prompt: 0 ignores it, 1 follows it as "
                                  "trained, above 1 follows it more closely (each step runs twice).", min=0, max=20)
    overlap: int | None = option(None, "Token frames a window shares with the previous one (default: a "
                                       "quarter of the window).", min=1, max=4095)
    progress: bool = option(True, "Show a progress bar with the time left (on a terminal).")


@dataclass
class Sampling(BaseSampling, Decoding):
    """Generation from nothing."""

    length: int | None = option(None, "Token frames of each clip (default: one window); a longer clip is "
                                      "generated window by window.", min=1, max=1_000_000)


@dataclass
class VampOptions(Decoding):
    mask: str = option("periodic:7", "Which input tokens are kept: periodic:N, prefix:S, suffix:S, "
                                     "inpaint:A-B, codebooks:K, onsets[:W], none; joined by + or ,.")
    temperature: float = option(1.0, "Sampling temperature: below 1 is more conservative.", above=0, max=100)
    seconds: float | None = option(None, "Length of the output (default: the input's); longer continues "
                                         "after the input, or repeats it with loop.", above=0, max=3600)
    loop: bool = option(False, "With seconds longer than the input: repeat the input and its mask (a loop "
                               "with variations) rather than continue after it.")


@dataclass
class Prompt:
    """What a vamp starts from (:meth:`MaskGIT.prompt`)."""

    tokens: np.ndarray  # [codebooks, frames] of the input (0 where nothing is kept)
    keep: np.ndarray  # [codebooks, frames] booleans: True where the input's token is kept
    samples: int  # of the output
    audio: Audio  # the input as the codec hears it: mono at its rate, cut to the output's length
    notes: list[str]


@register
class MaskGIT(AudioModel, Transfer):
    """MaskGIT/VampNet masked codec-token transformer: vamps, inpaints, continues and loops audio.

    A bidirectional transformer fills in masked tokens of a codec by iterative parallel
    decoding; prompts are masks over a recording's tokens (:meth:`vamp`, :meth:`loop`)."""

    name = "maskgit"
    controls = ("audio", "tokens", "text")
    Config = Config
    Sampling = Sampling
    TransferOptions = VampOptions
    presets = {
        # 2.9M parameters, 2.1M of them the embedding tables and output heads over 8 x 1024 codes
        # (the transformer is 0.8M); a step took 1.2 s on 2 busy CPU cores (load 4.6), so a
        # 20-minute budget (scripts/train_vamp.py) stops it before max_steps on such a machine.
        "laptop": dict(width=128, layers=4, heads=4, window=100, batch_size=16, learning_rate=1e-3,
                       max_steps=3000, steps_per_epoch=250, patience=4),
        "gpu": dict(width=512, layers=12, heads=8, window=250, batch_size=32, learning_rate=3e-4,
                    max_steps=200_000, steps_per_epoch=2000, patience=10),
    }
    tiny_config = dict(codec="fit:tiny", codebooks=2, window=16, width=16, layers=1, heads=2, batch_size=2,
                       max_steps=2, steps_per_epoch=2, max_audio_minutes=0.05)
    tiny_sampling = dict(length=24, steps=3, progress=False)

    # --- the codec -----------------------------------------------------------------------

    @property
    def codec(self):
        """The codec whose tokens this model learns (loaded with the model)."""
        self._check_fitted()
        return self.codec_

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate

    def _trains_codec(self) -> bool:
        return self.config.codec == "fit" or self.config.codec.startswith("fit:")

    def _open_codec(self, path) -> object:
        """The codec run at ``path``, or one clear error."""
        from cadenza.models.abilities import Codec
        from cadenza.models.base import load, run_class

        what = f"{self.name}: the codec {str(path)!r}"
        try:
            cls = run_class(path)
        except CadenzaError as exc:
            raise CadenzaError(f"{what} cannot be loaded ({exc}); train one (cadenza train codec ...) and give "
                               "codec=RUN, or codec=fit to train one here") from None
        if not issubclass(cls, Codec):
            raise CadenzaError(f"{what} is a {cls.name} run, not a codec")
        return load(path)

    def _fit_codec(self, train, valid):
        """A codec trained on the training audio (``codec="fit[:PRESET]"``)."""
        from cadenza.models.base import get

        cls = get("codec")
        preset = self.config.codec.partition(":")[2] or "laptop"
        if preset != "tiny" and preset not in cls.presets:
            raise CadenzaError(f"{self.name}: the codec has no preset {preset!r} (presets: "
                               f"{', '.join(['tiny', *cls.presets])})")
        settings = dict(cls.tiny_config if preset == "tiny" else cls.presets[preset])
        if hasattr(train, "sample_rate"):  # an AudioSet: the codec takes its rate
            settings["sample_rate"] = train.sample_rate
        workdir, progress, trainer = self._fit_context
        codec = cls(**settings)
        codec.fit(train, valid=valid or None, workdir=None if workdir is None else Path(workdir) / CODEC_IN_RUN,
                  progress=progress, trainer=trainer)
        return codec

    # --- data ----------------------------------------------------------------------------

    def fit(self, data, valid=None, workdir=None, progress: bool = False, trainer=None):
        """Encode the training audio with the codec (once), then train on windows of its tokens."""
        self._fit_context = (workdir, progress, trainer)
        return super().fit(data, valid=valid, workdir=workdir, progress=progress, trainer=trainer)

    def _training_data(self, data, split: str = "train"):
        """An AudioSet (at any rate: the codec resamples) or a list of Audio clips."""
        if not isinstance(data, (str, os.PathLike)) and not hasattr(data, "sample_rate"):
            items = list(data)
            if items and all(isinstance(i, Audio) for i in items):
                return items
            data = items
        return super()._training_data(data, split)

    def _check_audio_set(self, data) -> None:
        """Any sample rate: the codec resamples."""

    @staticmethod
    def _clips(data) -> list[Audio]:
        if isinstance(data, list):
            return data
        return [Audio(np.asarray(a, np.float32)[None], data.sample_rate) for a in data.audio]

    def _encode(self, data, what: str, minutes: float | None = None) -> list[np.ndarray]:
        """Tokens ``[codebooks, frames]`` of each clip (silent or too short clips left out), up to
        ``minutes`` of audio (default ``max_audio_minutes``), with a progress bar."""
        return [tokens for _, tokens in self._encode_clips(data, what, minutes)]

    def _encode_clips(self, data, what: str, minutes: float | None = None,
                      least_frames: int = 0) -> list[tuple[int, np.ndarray]]:
        """``(clip index, tokens [codebooks, frames])`` of each clip :meth:`_encode` keeps; a clip
        shorter than ``least_frames`` frames is padded with silence to that length first."""
        clips = self._clips(data)
        budget = (self.config.max_audio_minutes if minutes is None else minutes) * 60
        tokens, seconds = [], 0.0
        workdir, progress, _ = getattr(self, "_fit_context", (None, False, None))
        with progress_bar(len(clips), f"{self.name}: encoding the {what} audio", progress) as advance:
            for index, clip in enumerate(clips):
                if seconds >= budget:
                    break
                if clip.seconds > budget - seconds:
                    clip = Audio(clip.samples[:, :int(math.ceil((budget - seconds) * clip.sample_rate))],
                                 clip.sample_rate)
                seconds += clip.seconds
                advance(1)
                if clip.seconds * self.codec_.sample_rate < self.codec_.frame_samples \
                        or not np.abs(clip.samples).max() > SILENT_PEAK:
                    continue
                least = int(math.ceil(least_frames * self.codec_.frame_samples * clip.sample_rate
                                      / self.codec_.sample_rate))
                if clip.samples.shape[1] < least:
                    clip = Audio(np.pad(clip.samples, ((0, 0), (0, least - clip.samples.shape[1]))), clip.sample_rate)
                tokens.append((index, np.asarray(self.codec_.encode(clip))[:self.config.codebooks].astype(np.int64)))
        return tokens

    def _windows(self, tokens: list[np.ndarray], stride: int) -> np.ndarray:
        """Windows ``[n, codebooks, window]`` of the clips' tokens laid end to end."""
        stream = np.concatenate(tokens, axis=1) if tokens else np.zeros((self.config.codebooks, 0), np.int64)
        size = self.config.window
        if stream.shape[1] < size:
            return np.zeros((0, self.config.codebooks, size), np.int64)
        starts = range(0, stream.shape[1] - size + 1, stride)
        return np.stack([stream[:, s:s + size] for s in starts])

    def _clip_windows(self, clips: list[tuple[int, np.ndarray]], stride: int) -> tuple[np.ndarray, list[int]]:
        """Windows ``[n, codebooks, window]`` cut within each clip (none straddles two; the last
        ends at the clip's end), and the clip index of each: what a prompted model trains on, each
        window under its clip's caption."""
        size, windows, owners = self.config.window, [], []
        for index, tokens in clips:
            frames = tokens.shape[1]
            starts = list(range(0, frames - size + 1, stride))
            if starts and starts[-1] + size < frames:
                starts.append(frames - size)
            for start in starts:
                windows.append(tokens[:, start:start + size])
                owners.append(index)
        if not windows:
            return np.zeros((0, self.config.codebooks, size), np.int64), []
        return np.stack(windows), owners

    def _datasets(self, train, valid):
        from cadenza.models.audio.maskgit_system import TokenWindows

        self.codec_ = self._fit_codec(train, valid) if self._trains_codec() else self._open_codec(self.config.codec)
        codec = self.codec_
        if self.config.codebooks > codec.n_q:
            raise CadenzaError(f"{self.name}: codebooks={self.config.codebooks}, but the codec has {codec.n_q}")
        prompted = self.config.prompt_tokens > 0
        clips = self._encode_clips(train, "training", least_frames=self.config.window if prompted else 0)
        tokens = [t for _, t in clips]
        stride = max(1, self.config.window // 2)
        windows, owners = self._clip_windows(clips, stride) if prompted else (self._windows(tokens, stride), None)
        if not len(windows):
            frames = sum(t.shape[1] for t in tokens)
            raise CadenzaError(f"{self.name}: the training audio gives {frames} token frames, fewer than one "
                               f"window of {self.config.window} ({self.config.window / codec.frame_rate:.2f} s); "
                               "give more audio or a smaller window")
        counts = np.ones((self.config.codebooks, codec.codebook_size), np.float64)  # add-one
        for clip in tokens:
            for q in range(self.config.codebooks):
                counts[q] += np.bincount(clip[q], minlength=codec.codebook_size)
        self.token_counts_ = counts.astype(np.float32)
        self.codec_identity_ = codec.identity
        valid_windows = valid_owners = None
        if valid is not None and len(valid):
            if prompted:
                spread, spread_owners = self._clip_windows(
                    self._encode_clips(valid, "validation", least_frames=self.config.window), self.config.window)
            else:
                spread, spread_owners = self._windows(self._encode(valid, "validation"), self.config.window), None
            if len(spread):
                keep = np.unique(np.linspace(0, len(spread) - 1, min(len(spread), 64)).astype(int))
                valid_windows = spread[keep]
                valid_owners = None if spread_owners is None else [spread_owners[i] for i in keep]
        if not prompted:
            return TokenWindows(windows), None if valid_windows is None else TokenWindows(valid_windows), None
        from cadenza.models.audio.maskgit_system import captioned_datasets

        _, progress, _ = getattr(self, "_fit_context", (None, False, None))
        train_set, valid_set, self._caption_vectors = captioned_datasets(
            (train, windows, owners), (valid, valid_windows, valid_owners), self.config, progress)
        return train_set, valid_set, None

    def _network(self, codebook_size: int):
        from cadenza.models.audio.maskgit_net import MaskGITNet

        c = self.config
        return MaskGITNet(c.codebooks, codebook_size, c.width, c.layers, c.heads, c.dropout, c.prompt_tokens)

    def _system(self):
        import torch

        from cadenza.models.audio.maskgit_system import MaskGITSystem

        torch.manual_seed(self.config.seed)
        net = self._network(self.codec_.codebook_size)
        if getattr(self, "_caption_vectors", None) is not None:  # standardise the prompt on the training captions
            net.adapter.standardise_on(self._caption_vectors)
            self._caption_vectors = None
        return MaskGITSystem(net, self.config)

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()

    # --- state -----------------------------------------------------------------------

    def _state(self):
        arrays = {**self.net_arrays(), "token_counts": self.token_counts_}
        codec = self.codec_
        extra = {"codec_identity": self.codec_identity_, "codebook_size": int(codec.codebook_size),
                 "frame_rate": float(codec.frame_rate), "sample_rate": int(codec.sample_rate)}
        return arrays, extra

    def _save_files(self, directory: Path) -> None:
        if self._trains_codec():
            self.codec_.save(directory / CODEC_IN_RUN)

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.run_check import FLOAT32, ArraySpec, check_fields

        check_fields(extra, {"codec_identity": str, "codebook_size": int}, directory, "state")
        size = extra["codebook_size"]
        if not 2 <= size <= 65_536:
            raise ValueError(f"codebook_size must be 2-65536, got {size}")
        # the network's floats may be stored as fp16 (a shipped run: save_half_precision)
        return {**self.net_spec(self._network(size), half=True),
                "token_counts": ArraySpec((self.config.codebooks, size), FLOAT32)}

    def _load_state(self, arrays, extra):
        self.load_net(self._network(extra["codebook_size"]), arrays)
        self.token_counts_ = np.array(arrays["token_counts"], np.float32)
        if not (self.token_counts_ > 0).all():
            raise ValueError("token counts must be positive")
        self.codec_identity_ = extra["codec_identity"]

    def _load_files(self, directory: Path) -> None:
        """Load the codec (the one in the run, or the run the config names) and refuse one whose
        weights are not those the model learned the tokens of."""
        path = directory / CODEC_IN_RUN if self._trains_codec() else self.config.codec
        codec = self._open_codec(path)
        if codec.identity != self.codec_identity_:
            raise CadenzaError(f"the codec {str(path)!r} is not the one this model learned (its identity is "
                               f"{codec.identity}, the model's {self.codec_identity_}): give codec= the run it "
                               "was trained with")
        if codec.codebook_size != self.net_.codebook_size or codec.n_q < self.config.codebooks:
            raise CadenzaError(f"the codec {str(path)!r} does not give this model's tokens")
        self.codec_ = codec

    # --- decoding ------------------------------------------------------------------------

    def _decoding(self, options) -> dict:
        overlap = options.overlap if options.overlap is not None else max(1, self.config.window // 4)
        if overlap >= self.config.window:
            raise CadenzaError(f"overlap must be below the window ({self.config.window} frames), got {overlap}")
        return dict(steps=options.steps, temperature=options.temperature, typical_mass=options.typical_mass,
                    noise=options.noise, anneal=options.anneal, overlap=overlap, **self._text(options))

    def _text(self, options) -> dict:
        """The text prompt's decoding options: ``prompt`` (its vector, or None for the empty prompt)
        and ``guidance``; one clear error for a prompt to a run trained without text prompts, or an
        empty prompt."""
        import torch

        from cadenza.models.prompting import check_prompt, prompt_vector

        if options.prompt is None:
            return dict(prompt=None, guidance=options.guidance)
        if not self.config.prompt_tokens:
            raise CadenzaError(f"this {self.name} run was trained without text prompts (prompt_tokens=0), so it "
                               "cannot follow a prompt: leave --prompt out, or train one with prompt_tokens=2 "
                               "(python scripts/train_vamp.py)")
        text = check_prompt(options.prompt, "a fast drum pattern", "the sound")
        return dict(prompt=torch.from_numpy(prompt_vector(text)), guidance=options.guidance)

    @no_grad
    def _fill(self, tokens: np.ndarray, keep: np.ndarray, generator, decoding: dict, advance=None) -> np.ndarray:
        """``tokens`` ``[codebooks, frames]`` with every token ``keep`` does not keep drawn, a
        window at a time: each window after the first keeps the ``overlap`` frames it shares
        with the previous output as its prompt (VampNet's looping)."""
        import torch

        from cadenza.models.audio.maskgit_net import sample

        size, overlap = self.config.window, decoding["overlap"]
        out, keep = np.array(tokens, np.int64), np.array(keep, bool)
        frames, start = out.shape[1], 0
        options = {k: v for k, v in decoding.items() if k != "overlap"}
        while True:
            end = min(start + size, frames)
            window_keep = keep[:, start:end].copy()
            if start > 0:
                window_keep[:, :overlap] = True  # the previous window's output is this one's prompt
            if not window_keep.all():
                filled = sample(self.net_, torch.from_numpy(out[None, :, start:end]),
                                torch.from_numpy(window_keep[None]), generator=generator, **options)
                out[:, start:end] = filled[0].numpy()
            if advance is not None:
                advance(end - start if start == 0 else end - start - overlap)
            if end >= frames:
                return out
            start = end - overlap

    def vamp_tokens(self, tokens: np.ndarray, keep: np.ndarray, seed: int = 0, **options) -> np.ndarray:
        """Tokens ``[codebooks, frames]`` (the model's ``codebooks`` first ones) with the
        positions ``keep`` ``[codebooks, frames]`` does not keep generated; the kept ones are
        returned unchanged. Options as :class:`Decoding` (and ``temperature``)."""
        import torch

        self._check_fitted()
        o = build_dataclass(VampOptions, options, f"{self.name} option")
        tokens, keep = np.asarray(tokens), np.asarray(keep, bool)
        shape = (self.config.codebooks, tokens.shape[-1] if tokens.ndim == 2 else 0)
        if tokens.ndim != 2 or tokens.shape != shape or keep.shape != shape or not shape[1]:
            raise CadenzaError(f"tokens and keep must both be [{shape[0]} codebooks, frames], got "
                               f"{list(tokens.shape)} and {list(keep.shape)}")
        if not np.issubdtype(tokens.dtype, np.integer) or (tokens[keep] < 0).any() \
                or (tokens[keep] >= self.net_.codebook_size).any():
            raise CadenzaError(f"tokens must be integers 0-{self.net_.codebook_size - 1}")
        generator = torch.Generator().manual_seed(SEED.check(seed, "seed"))
        with one_thread(), progress_bar(shape[1], f"{self.name}: {shape[1]} frames", o.progress) as advance:
            return self._fill(np.where(keep, tokens, 0), keep, generator, self._decoding(o), advance)

    def decode_tokens(self, tokens: np.ndarray, samples: int | None = None) -> Audio:
        """The codec's audio of ``tokens`` ``[codebooks, frames]``, cut to ``samples``."""
        audio = self.codec.decode(tokens)
        return audio if samples is None else Audio(audio.samples[:, :samples], audio.sample_rate)

    def _generate_many(self, rngs, options):
        import torch

        frames = options.length or self.config.window
        decoding = self._decoding(options)
        pieces = []
        with progress_bar(frames * len(rngs), f"{self.name}: {len(rngs)} x {frames} frames",
                          options.progress) as advance:
            for rng in rngs:
                generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
                empty = np.zeros((self.config.codebooks, frames), np.int64)
                filled = self._fill(empty, np.zeros_like(empty, bool), generator, decoding, advance)
                pieces.append(self.decode_tokens(filled))
        return pieces

    # --- prompts ---------------------------------------------------------------------------

    def _prepare(self, audio: Audio) -> tuple[Audio, list[str]]:
        """``audio`` mono at the codec's rate, or one clear error; notes on what changed."""
        if not isinstance(audio, Audio):
            raise CadenzaError(f"{self.name} vamps an Audio clip, got {type(audio).__name__}")
        audio, notes = audio.conformed(self.sample_rate)
        least = 2 * self.codec.frame_samples
        if len(audio) < least:
            raise CadenzaError(f"input audio: too short ({audio.seconds:.3f} s; at least two token frames, "
                               f"{least / self.sample_rate:.3f} s)")
        if not np.abs(audio.samples).max() > SILENT_PEAK:
            raise CadenzaError("input audio: silent (nothing to vamp on)")
        return audio, notes

    def vamp(self, audio: Audio, mask: str = "periodic:7", seed: int = 0, **options) -> Audio:
        """``audio`` re-imagined: the tokens ``mask`` keeps come from the input, the others are
        generated (see :mod:`cadenza.models.audio.maskgit_masks` for masks). ``seconds`` longer
        than the input continues after it (or, with ``loop``, repeats it); options as
        :class:`VampOptions`."""
        return self.transfer(audio, seed=seed, mask=mask, **options)[0]

    def loop(self, audio: Audio, seconds: float, mask: str = "periodic:7", seed: int = 0, **options) -> Audio:
        """``seconds`` of variations on ``audio`` repeated: the input and its mask tiled, vamped
        window by window (VampNet's looping)."""
        return self.vamp(audio, mask=mask, seed=seed, seconds=seconds, loop=True, **options)

    def prompt(self, audio: Audio, mask: str = "periodic:7", seconds: float | None = None,
               loop: bool = False) -> Prompt:
        """The prompt of a vamp: ``audio``'s tokens and the ``keep`` array ``mask`` makes of them,
        laid out to ``seconds`` (default: the input's length; longer continues after the input
        or, with ``loop``, repeats it; shorter keeps its start), or one clear error (a bad mask,
        one that keeps every token or, unless it says none, no token). :meth:`transfer` vamps it."""
        from cadenza.models.audio.maskgit_masks import build, check_prompt, parse

        self._check_fitted()
        parse(mask)  # a bad mask fails before any work
        audio, notes = self._prepare(audio)
        codec, k = self.codec, self.config.codebooks
        samples = len(audio) if seconds is None else int(round(seconds * self.sample_rate))
        if samples < len(audio):  # a shorter output: the start of the input, masked as a whole
            audio = self._prepare(Audio(audio.samples[:, :samples], audio.sample_rate))[0]
        tokens = np.asarray(codec.encode(audio))[:k].astype(np.int64)  # [k, frames]
        frames = tokens.shape[1]
        keep = build(mask, k, frames, codec.frame_rate, audio.samples[0], audio.sample_rate)
        total = max(1, math.ceil(samples / codec.frame_samples))
        if total <= frames:
            tokens, keep = tokens[:, :total], keep[:, :total]
        elif loop:
            repeats = math.ceil(total / frames)
            tokens, keep = np.tile(tokens, repeats)[:, :total], np.tile(keep, repeats)[:, :total]
            notes.append(f"looped the input {total / frames:.1f} times")
        else:
            tokens = np.pad(tokens, ((0, 0), (0, total - frames)))
            keep = np.pad(keep, ((0, 0), (0, total - frames)))
            notes.append(f"continued {(total - frames) / codec.frame_rate:.1f} s after the input")
        check_prompt(mask, keep)
        return Prompt(tokens, keep, samples, audio, notes)

    def transfer(self, audio: Audio, seed: int = 0, **options) -> tuple[Audio, list[str]]:
        """Vamping as a transfer (``cadenza transfer``, the studio): the output and notes."""
        self._check_fitted()
        o = build_dataclass(VampOptions, options, "vamp option")
        self._decoding(o)  # a bad overlap or text prompt fails before the audio is encoded
        prompt = self.prompt(audio, o.mask, o.seconds, o.loop)
        notes = prompt.notes + [f"kept {prompt.keep.mean():.0%} of the tokens ({o.mask}), generated the rest in "
                                f"{o.steps} steps a window"]
        if o.prompt is not None:
            notes.append(f"followed the text prompt {o.prompt.strip()!r} with guidance {o.guidance:g}")
        filled = self.vamp_tokens(prompt.tokens, prompt.keep, seed=seed, **options)
        return self.decode_tokens(filled, prompt.samples), notes

    # --- evaluation ------------------------------------------------------------------------

    @no_grad
    def masked_metrics(self, data, share: float = 0.5, seed: int = 0) -> dict:
        """How well the model fills in masked tokens of ``data`` (an audio set or Audio clips):
        each clip cut into windows, ``share`` of each window's tokens masked (a seeded uniform
        choice), each masked token scored from one pass. Returns the tokens scored, the
        accuracy of the argmax, the NLL (nats and bits a token), and the same for a unigram
        baseline (each codebook's token frequencies in training, add-one). A model trained with
        text prompts is scored unprompted (the learned empty prompt)."""
        import torch

        from cadenza.models.audio.maskgit_net import masked_loss

        self._check_fitted()
        if not 0 < share <= 1:
            raise CadenzaError(f"share must be above 0 and at most 1, got {share}")
        data = self._training_data(data, split="test")
        if data is None:
            raise CadenzaError(f"{self.name}: masked_metrics needs at least one clip")
        unigram = np.log(self.token_counts_ / self.token_counts_.sum(1, keepdims=True))  # [k, V]
        generator = torch.Generator().manual_seed(SEED.check(seed, "seed"))
        nats = correct = count = unigram_nats = unigram_correct = 0.0
        with one_thread():
            for clip in self._encode(data, "evaluation", minutes=math.inf):
                for start in range(0, clip.shape[1], self.config.window):
                    window = torch.from_numpy(clip[:, start:start + self.config.window])[None]  # [1, k, t]
                    n = window.numel()
                    rank = torch.rand(n, generator=generator).argsort().argsort()
                    mask = (rank < max(1, math.ceil(share * n))).view_as(window)
                    total, masked, right = masked_loss(self.net_, window, mask)
                    nats, count, correct = nats + float(total), count + int(masked), correct + int(right)
                    rows = torch.arange(window.shape[1])[:, None].expand(-1, window.shape[2])[mask[0]].numpy()
                    targets = window[mask].numpy()
                    unigram_nats -= float(unigram[rows, targets].sum())
                    unigram_correct += float((unigram.argmax(1)[rows] == targets).sum())
        if not count:
            raise CadenzaError(f"{self.name}: no tokens to score (is the audio silent?)")
        return {"tokens": int(count), "share": share, "accuracy": correct / count, "nats_per_token": nats / count,
                "bits_per_token": nats / count / math.log(2), "unigram_accuracy": unigram_correct / count,
                "unigram_bits_per_token": unigram_nats / count / math.log(2)}


def save_half_precision(run: str | os.PathLike, target: str | os.PathLike) -> Path:
    """A copy of maskgit run ``run`` with the network's weights in fp16 (the token counts and a
    text prompt's adapter, with its standardisation, stay fp32); a codec the run trained itself
    (``RUN/codec``) is copied as it is."""
    from cadenza.models.half_precision import save_half_precision as save

    return save(run, target, keep_fp32=lambda name: not name.startswith("net.") or name.startswith("net.adapter."),
                folders=(CODEC_IN_RUN,))
