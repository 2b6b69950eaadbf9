"""DDSP: a learned instrument made of a harmonic synthesiser, filtered noise and a room.

Engel, Hantrakul, Gu & Roberts 2020, "DDSP: Differentiable Digital Signal
Processing", ICLR (https://arxiv.org/abs/2001.04643).

Reproduced: the supervised decoder of the paper's timbre-transfer model.
f0 and A-weighted loudness a frame (250 frames a second at 16 kHz) go
through MLPs and a GRU to the controls of an additive synthesiser (overall
amplitude and a normalised distribution over harmonics, zero above Nyquist)
and of a filtered-noise synthesiser (a frequency response a frame); a
learned reverb adds the room. Trained end to end with the multi-resolution
spectral loss (magnitude + log magnitude, FFT sizes 2048 to 64).

Changed: the GRU and the control upsampling are causal (each frame's
samples glide from the previous frame to this one) so the same code streams
block by block in real time (``stream()``) and renders offline with the
same samples; inference noise comes from a fixed table read by absolute
position (seeded), for the same reason. Loudness is an A-weighted power in
dB (see :func:`cadenza.audio.features.loudness`). No timbre latent z (the
paper's optional encoder); ``tiny`` is a much smaller decoder for a CPU.
Playing a score uses a causal note-to-loudness envelope calibrated on the
training set (:mod:`cadenza.realtime.controls`).

The decoder and the synthesisers are in :mod:`cadenza.models.audio.ddsp_net`
(torch, imported when a network is built, not when the model is listed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cadenza.audio.features import LOUDNESS_FLOOR_DB, check_audio, loudness, pitch
from cadenza.audio.io import Audio
from cadenza.config import SEED, option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import Streaming, Transfer
from cadenza.models.audio_model import InstrumentModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.realtime.controls import Envelope
from cadenza.train.engine import TrainingConfig
from cadenza.utils import one_thread, progress_bar


@dataclass
class Config(TrainingConfig):
    sample_rate: int = option(16000, "Audio sample rate in Hz.", min=8000, max=192_000)
    hop: int = option(64, "Samples a control frame (64 at 16 kHz: 250 frames a second).", min=8, max=4096)
    n_harmonics: int = option(60, "Sinusoids of the harmonic synthesiser.", min=1, max=1024)
    n_noise_bands: int = option(65, "Frequency bands of the noise filter.", min=2, max=1024)
    hidden: int = option(256, "Width of the MLPs.", min=1, max=8192)
    gru: int = option(512, "Width of the GRU.", min=1, max=8192)
    mlp_layers: int = option(3, "Layers of each MLP (dense, layer norm, ReLU).", min=1, max=16)
    reverb_seconds: float = option(0.5, "Length of the learned impulse response.", above=0, max=4)
    example_seconds: float = option(2.0, "Length of a training example.", above=0, max=60)
    fft_sizes: list[int] = option([2048, 1024, 512, 256, 128, 64], "FFT sizes of the spectral loss.",
                                  min=16, max=65_536)
    program: int = option(40, "General MIDI program that plays the scores when fit is given scores (40: violin).",
                          min=0, max=127)
    max_audio_minutes: float = option(10.0, "Minutes of audio rendered when fit is given scores.", above=0, max=10_000)

    def __post_init__(self):
        if self.sample_rate < 8000 or self.hop < 8 or self.sample_rate % self.hop:
            raise ValueError("sample_rate must be at least 8000 and a multiple of hop (at least 8)")
        if self.n_harmonics < 1 or self.n_noise_bands < 2 or self.hidden < 1 or self.gru < 1 or self.mlp_layers < 1:
            raise ValueError("n_harmonics, hidden, gru and mlp_layers must be positive, n_noise_bands at least 2")
        if not 0 < self.reverb_seconds <= 4 or not self.example_seconds * self.sample_rate >= 4 * self.hop:
            raise ValueError("reverb_seconds must be in (0, 4] and an example at least 4 frames long")
        if not self.fft_sizes or min(self.fft_sizes) < 16:
            raise ValueError("fft_sizes must be a non-empty list of sizes of at least 16")
        if not 0 <= self.program <= 127 or not self.max_audio_minutes > 0:
            raise ValueError("program must be 0-127 and max_audio_minutes positive")


@dataclass
class Sampling(BaseSampling):
    midi: str | None = option(None, "Score to play (.mid, .musicxml, .abc, ...); default: a held-out melody "
                                    "kept from training.", kind="file")
    pitch_shift: float = option(0.0, "Transpose by this many semitones.", min=-48, max=48)
    loudness_shift: float = option(0.0, "Add this many dB of loudness.", min=-60, max=60)


@dataclass
class TransferOptions:
    pitch_shift: float = option(0.0, "Transpose by this many semitones.", min=-48, max=48)
    loudness_shift: float = option(0.0, "Add this many dB of loudness.", min=-60, max=60)
    auto_level: bool = option(True, "Match the input's level to the instrument's range first.")
    pitch_method: str = option("auto", "Pitch tracker: auto (CREPE where installed), crepe or yin.")
    progress: bool = option(True, "Show a progress bar with the time left (on a terminal).")


@register
class DDSP(InstrumentModel, Streaming, Transfer):
    """DDSP (Engel et al. 2020): a learned instrument (harmonic + noise + reverb) driven by f0 and loudness."""

    name = "ddsp"
    controls = ("f0", "loudness", "midi", "audio")
    Config = Config
    Sampling = Sampling
    TransferOptions = TransferOptions
    presets = {
        "laptop": dict(hidden=64, gru=96, mlp_layers=1, n_harmonics=40, n_noise_bands=33, reverb_seconds=0.25,
                     example_seconds=1.0, fft_sizes=[1024, 512, 256, 128, 64], batch_size=8,
                     learning_rate=3e-3, max_steps=4000, steps_per_epoch=200, patience=4),
        "gpu": dict(batch_size=32, learning_rate=1e-3, max_steps=30000, steps_per_epoch=1000),
    }
    tiny_config = dict(hidden=16, gru=16, mlp_layers=1, n_harmonics=8, n_noise_bands=9, reverb_seconds=0.05,
                       example_seconds=0.25, fft_sizes=[256, 64], batch_size=2, max_steps=2, steps_per_epoch=2,
                       max_audio_minutes=0.2)
    tiny_sampling = dict(length=200)

    # --- data ------------------------------------------------------------------------

    def _datasets(self, train, valid):
        from cadenza.models.audio.ddsp_net import Examples

        self.calibrate(train)
        self.demo_ = _demo_controls(valid if valid else train)
        frames = int(round(self.config.example_seconds * self.config.sample_rate / self.config.hop))
        examples = train.examples(frames, stride=frames // 2)
        if len(examples["f0"]) == 0:
            examples = train.examples(frames, stride=frames // 2, min_loudness_db=LOUDNESS_FLOOR_DB)
        if len(examples["f0"]) == 0:
            raise CadenzaError(f"{self.name}: the audio is shorter than one {self.config.example_seconds} s example")
        arrays = self.valid_windows(valid, frames)
        return Examples(examples), Examples(arrays) if arrays is not None else None, None

    def _system(self):
        import torch

        from cadenza.models.audio.ddsp_net import DDSPNet
        from cadenza.models.audio.ddsp_system import DDSPSystem

        torch.manual_seed(self.config.seed)
        return DDSPSystem(DDSPNet(self.config), self.config)

    # --- state -----------------------------------------------------------------------

    def _state(self):
        arrays = {**self.net_arrays(), "demo": self.demo_}
        return arrays, {"envelope": asdict(self.envelope_)}

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.audio.ddsp_net import DDSPNet
        from cadenza.models.run_check import FLOAT32, ArraySpec

        # the demo melody's control frames: f0 (Hz) and loudness (dB), as long as it is
        return {**self.net_spec(DDSPNet(self.config)), "demo": ArraySpec((None, 2), FLOAT32)}

    def _load_state(self, arrays, extra):
        from cadenza.models.audio.ddsp_net import DDSPNet
        from cadenza.models.run_check import check_config, check_fields

        check_fields(extra, {"envelope": dict}, "cadenza.json", "state")
        check_config(Envelope, extra["envelope"], "cadenza.json", "envelope field")
        self.load_net(DDSPNet(self.config), arrays)
        self.demo_ = np.array(arrays["demo"])
        self.envelope_ = Envelope(**extra["envelope"])

    # --- synthesis -------------------------------------------------------------------

    def stream(self, seed: int = 0) -> DDSPStream:
        """A :class:`cadenza.realtime.Stream` over blocks of control frames ``[frames, 2]``."""
        self._check_fitted()
        return DDSPStream(self, SEED.check(seed, "seed"))

    def render_controls(self, controls: np.ndarray, seed: int = 0, progress=None) -> np.ndarray:
        """Audio ``[1, frames*hop]`` for control frames ``[frames, 2]`` (f0 Hz, loudness dB):
        the streaming step run over them block by block (:meth:`Streaming.render_frames`,
        which calls ``progress(seconds)`` after each block)."""
        return self.render_frames(controls, seed, progress)

    def render_score(self, score, seed: int = 0, max_frames: int | None = None, pitch_shift: float = 0.0,
                     loudness_shift: float = 0.0) -> Audio:
        """Play a score with the learned instrument (monophonic: the newest note wins)."""
        from cadenza.realtime.controls import ScoreControls

        self._check_fitted()
        source = ScoreControls(score, self.tracker())
        if not source.events:
            raise CadenzaError("the score has no pitched notes to play")
        frames = source.total_frames if max_frames is None else min(max_frames, source.total_frames)
        controls = shift_controls(source.read(frames), pitch_shift, loudness_shift)
        return Audio(self.render_controls(controls, seed), self.config.sample_rate)

    def transfer(self, audio: Audio, seed: int = 0, **options) -> tuple[Audio, list[str]]:
        """Timbre transfer: the f0 and loudness of ``audio`` played by the learned instrument.
        Returns the audio and notes saying what was adapted (resampling, mixing, level).

        A long recording goes through in bounded memory: the pitch tracker and the loudness
        take a batch of frames at a time, and the instrument plays block by block (the
        streaming path: the blocks join into one whole render's samples, to float rounding)."""
        self._check_fitted()
        with one_thread():
            return self._transfer(audio, seed, self.transfer_options(options))

    def _transfer(self, audio: Audio, seed: int, o: TransferOptions) -> tuple[Audio, list[str]]:
        c = self.config
        if not isinstance(audio, Audio):
            raise CadenzaError(f"transfer takes an Audio clip, got {type(audio).__name__}")
        audio, notes = audio.conformed(c.sample_rate)
        samples = check_audio(audio.samples, "input audio")
        if samples.shape[1] < max(c.hop, 1024):
            raise CadenzaError(f"input audio: too short ({samples.shape[1] / c.sample_rate * 1000:.0f} ms; "
                               f"at least {1024 / c.sample_rate * 1000:.0f} ms needed)")
        if not np.abs(samples).max() > 1e-5:
            raise CadenzaError("input audio: silent (no pitch anywhere)")
        seconds = samples.shape[1] / c.sample_rate
        with progress_bar(seconds, f"{self.name}: tracking pitch", o.progress) as advance:
            f0, confidence = pitch(samples, c.sample_rate, c.hop, o.pitch_method, advance)
        ld = loudness(samples, c.sample_rate, c.hop)
        voiced = confidence >= 0.5
        if not voiced.any():
            raise CadenzaError("input audio: no pitch found anywhere (silence or noise)")
        # Unvoiced frames keep the nearest voiced f0: the tracker's guesses there are noise.
        index = np.arange(len(f0))
        f0 = np.interp(index, index[voiced], f0[voiced]).astype(np.float32)
        loudness_shift = o.loudness_shift
        if o.auto_level:
            # Bring the input's voiced level to the training set's note level (the paper's
            # loudness adjustment): a quiet recording should not play a quiet instrument.
            shift = self.envelope_.level(100) - float(np.percentile(ld[voiced], 90))
            notes.append(f"loudness adjusted by {shift:+.1f} dB to the instrument's range")
            loudness_shift += shift
        controls = shift_controls(np.stack([f0, ld], 1), o.pitch_shift, loudness_shift)
        with progress_bar(seconds, f"{self.name}: playing", o.progress) as advance:
            return Audio(self.render_controls(controls, seed, advance), c.sample_rate), notes

    # --- the Generator API -------------------------------------------------------------

    def _generate_one(self, rng, options):
        seed = int(rng.integers(2**31))
        if options.midi:
            from cadenza.music.io import read_score

            return self.render_score(read_score(options.midi), seed, options.length, options.pitch_shift,
                                     options.loudness_shift)
        controls = self.demo_[:options.length] if options.length else self.demo_
        controls = shift_controls(controls, options.pitch_shift, options.loudness_shift)
        return Audio(self.render_controls(controls, seed), self.config.sample_rate)


def shift_controls(controls: np.ndarray, semitones: float, db: float) -> np.ndarray:
    out = np.array(controls, dtype=np.float32, copy=True)
    out[:, 0] *= 2 ** (semitones / 12)
    out[:, 1] = np.maximum(out[:, 1] + db, LOUDNESS_FLOOR_DB)
    return out


def _demo_controls(data, seconds: float = 8.0) -> np.ndarray:
    """The first clip's controls (up to ``seconds``), played by ``generate`` without a score."""
    frames = int(seconds * data.sample_rate / data.hop)
    return np.stack([data.f0[0][:frames], data.loudness[0][:frames]], 1).astype(np.float32)


class DDSPStream:
    """The streaming engine's DDSP: blocks of control frames in, audio out, state carried."""

    def __init__(self, model: DDSP, seed: int = 0):
        from cadenza.audio import dsp

        self.model, self.net = model, model.net_
        self.sample_rate, self.channels, self.hop = model.config.sample_rate, 1, model.config.hop
        self.noise = dsp.noise_table(seed)

    def init_state(self) -> None:
        self.state, self.position = None, 0

    def step(self, block: np.ndarray) -> np.ndarray:
        """``block`` ``[frames, 2]`` (f0 Hz, loudness dB) -> audio ``[1, frames * hop]``."""
        import torch

        block = np.asarray(block, dtype=np.float32).reshape(-1, 2)
        noise = self.next_noise(len(block) * self.hop)
        with torch.inference_mode():
            controls = torch.from_numpy(block)
            audio, self.state = self.net(controls[None, :, 0], controls[None, :, 1], self.state, noise[None])
        return audio.numpy().astype(np.float32)

    def next_noise(self, count: int):
        """The next ``count`` samples of the seeded noise table (wrapping), so that a stream's noise
        does not depend on how it is cut into blocks."""
        index = (self.position + np.arange(count)) % len(self.noise)
        self.position += count
        return self.noise[index]
