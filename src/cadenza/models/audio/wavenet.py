"""WaveNet: audio one sample at a time, a softmax over 256 mu-law classes.

van den Oord, Dieleman, Zen, Simonyan, Vinyals, Graves, Kalchbrenner, Senior &
Kavukcuoglu 2016, "WaveNet: A Generative Model for Raw Audio"
(https://arxiv.org/abs/1609.03499); fast generation after Paine, Khorrami,
Chang, Zhang, Ramachandran, Hasegawa-Johnson & Huang 2016, "Fast Wavenet
Generation Algorithm" (https://arxiv.org/abs/1611.09482).

Reproduced: the 8-bit mu-law softmax output (section 2.2), stacks of dilated
causal convolutions of kernel 2 (dilations 1, 2, ..., 2^(L-1), repeated)
with gated units tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c) (2.3),
residual and skip connections (2.4), global conditioning (an embedding of the
note's pitch and one of the General MIDI program) and local conditioning on
frame-rate controls upsampled to the sample rate (2.5). Trained by teacher
forcing with the cross entropy of the next sample's class.

Two generators: ``generate_naive`` re-runs the receptive field for every
sample; ``generate_fast`` keeps, a layer, a queue of the last ``d`` inputs of
its dilated convolution (Paine et al.), so a sample costs one step a layer.
Both draw their uniforms up front and sample by the inverse CDF, so from the
same draws they give the same samples (tests/test_wavenet.py). ``stream()``
runs the fast one block by block. The network, its output distributions and
the two generators, the heart of the technique, are in
:mod:`cadenza.models.audio.wavenet_net`: they need torch, which this module
imports only when it builds or runs a network, so listing the models does
not load it.

Changed: the local conditioning is DDSP's controls (f0 Hz and loudness dB a
frame of ``hop`` samples), upsampled by repetition, not linguistic features
or a mel spectrogram; the global pitch is given a frame too (constant over a
training crop: the clip's ``pitch`` label, else the crop's median f0; when
streaming, the pitch of each frame's f0), so a score plays note by note. The
network's input is the previous sample's mu-law level (a scalar) rather than
a one-hot vector; the first layer is a 1x1 convolution, so the receptive
field is ``1 + sum of dilations`` past samples.

Changed, by default (``excitation="sine"``): beside the previous sample, the
input layer sees a sine and a cosine at the frame's f0, sample by sample,
their phase a running sum of f0 / sample rate (the excitation of neural
source-filter models: Wang, Takaki & Yamagishi 2019, "Neural source-filter
waveform models for statistical parametric speech synthesis",
https://arxiv.org/abs/1904.12088). At this CPU scale the paper's
conditioning alone did not learn to follow pitch: after 2,000 steps on the
``notes`` set, notes asked for at 110 and 220 Hz came out with their
strongest partials at 128-323 Hz, none at the pitch asked for
(docs/models/wavenet.md).
``excitation="none"`` is the paper's input, and runs saved before the option
existed load with it.

Output: the paper's softmax over 256 classes, or (``output=logistic_mixture``)
a discretised mixture of logistics (Salimans, Karpathy, Chen & Kingma 2017,
"PixelCNN++", https://arxiv.org/abs/1701.05517; used for WaveNet audio by
Parallel WaveNet) over the same 256 mu-law levels rather than 16-bit PCM,
so both outputs give a distribution over the same classes: the same
samplers, the same bits per sample, one uniform a sample.

Generation a user can live with: the fast generator runs several notes side
by side (``generate(n=8)`` costs little more than one note: the per-sample
cost is Python overhead), with a progress bar on a terminal. A pitch outside
the range seen in training is refused (its embedding never learned anything);
a score's notes outside it keep their f0 and borrow the nearest trained pitch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cadenza.audio.features import LOUDNESS_FLOOR_DB, midi_to_hz
from cadenza.audio.io import Audio
from cadenza.config import SEED, option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import Streaming
from cadenza.models.audio_model import InstrumentModel
from cadenza.models.base import LogProb, register
from cadenza.models.base import Sampling as BaseSampling
from cadenza.realtime.controls import Envelope
from cadenza.train.engine import TrainingConfig
from cadenza.utils import no_grad, progress_bar

CLASSES = 256
OUTPUTS = ("softmax", "logistic_mixture")
EXCITATIONS = ("sine", "none")


@dataclass
class Config(TrainingConfig):
    sample_rate: int = option(16000, "Audio sample rate in Hz.", min=8000, max=192_000)
    hop: int = option(64, "Samples a control frame (f0, loudness).", min=8, max=4096)
    layers: int = option(20, "Dilated layers in all.", min=1, max=256)
    cycle: int = option(10, "Layers a stack: dilations 1, 2, ..., 2^(cycle-1), then again.", min=1, max=16)
    residual: int = option(64, "Channels of the residual stream.", min=1, max=4096)
    skip: int = option(128, "Channels of the skip connections and the output layers.", min=1, max=4096)
    conditioning: int = option(32, "Width of the conditioning vector (controls + pitch + program).", min=1, max=4096)
    example_seconds: float = option(0.5, "Length of a training crop.", above=0, max=60)
    program: int = option(40, "General MIDI program of the audio when the set has no program labels.", min=0, max=127)
    max_audio_minutes: float = option(10.0, "Minutes of audio rendered when fit is given scores.", above=0, max=10_000)
    output: str = option("softmax", "Output distribution over the 256 mu-law classes: softmax (a logit a "
                                    "class), or logistic_mixture (Salimans et al. 2017, discretised to them).")
    mixtures: int = option(10, "Logistic components when output is logistic_mixture.", min=1, max=256)
    excitation: str = option("sine", "Extra input at the sample rate: sine (a sine and a cosine at f0, as neural "
                                     "source-filter models do) or none (the paper's: f0 only as a frame control).")

    def __post_init__(self):
        if self.sample_rate < 8000 or self.hop < 8 or self.sample_rate % self.hop:
            raise ValueError("sample_rate must be at least 8000 and a multiple of hop (at least 8)")
        if self.layers < 1 or self.cycle < 1 or self.residual < 1 or self.skip < 1 or self.conditioning < 1:
            raise ValueError("layers, cycle, residual, skip and conditioning must be positive")
        if not self.example_seconds * self.sample_rate >= 2 * self.hop:
            raise ValueError("a training crop must be at least 2 frames long")
        if not 0 <= self.program <= 127 or not self.max_audio_minutes > 0:
            raise ValueError("program must be 0-127 and max_audio_minutes positive")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.excitation not in EXCITATIONS:
            raise ValueError(f"excitation must be one of {', '.join(EXCITATIONS)}, got {self.excitation!r}")
        if self.mixtures < 1:
            raise ValueError("mixtures must be at least 1")

    @property
    def dilations(self) -> list[int]:
        return [2 ** (i % self.cycle) for i in range(self.layers)]


@dataclass
class Sampling(BaseSampling):
    pitch: int | None = option(None, "MIDI pitch of the note (0-127); default: the most common in training.",
                               min=0, max=127)
    instrument: int | None = option(None, "General MIDI program (one seen in training); default: the most "
                                          "common.", min=0, max=127)
    midi: str | None = option(None, "Score to play (.mid, ...) instead of one note.", kind="file")
    progress: bool = option(True, "Show a progress bar with the time left (on a terminal).")


def frame_pitch(f0) -> np.ndarray:
    """The MIDI pitch (0-127, int64) nearest each f0 in Hz."""
    f0 = np.maximum(np.asarray(f0, dtype=np.float64), 1.0)
    return np.clip(np.round(69 + 12 * np.log2(f0 / 440)), 0, 127).astype(np.int64)


def level(classes):
    """The mu-law level 2q/255 - 1 of classes (the network's input for the next sample)."""
    return 2 * np.asarray(classes, np.float32) / (CLASSES - 1) - 1


def decode(classes) -> np.ndarray:
    y = level(classes).astype(np.float64)
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(CLASSES - 1)) / (CLASSES - 1)).astype(np.float32)


@register
class WaveNet(InstrumentModel, Streaming):
    """WaveNet (van den Oord et al. 2016): mu-law softmax, dilated causal gated convolutions,
    conditioned on pitch, instrument and frame-rate f0 and loudness; cached fast generation."""

    name = "wavenet"
    controls = ("pitch", "instrument", "f0", "loudness", "midi")
    Config = Config
    Sampling = Sampling
    presets = {
        "laptop": dict(layers=10, cycle=10, residual=32, skip=64, conditioning=16, example_seconds=0.25,
                       batch_size=8, learning_rate=2e-3, max_steps=4000, steps_per_epoch=200, patience=4),
        "gpu": dict(layers=30, cycle=10, residual=64, skip=256, batch_size=16, max_steps=100000,
                    steps_per_epoch=1000),
    }
    tiny_config = dict(layers=4, cycle=4, residual=8, skip=8, conditioning=4, example_seconds=0.05,
                       batch_size=2, max_steps=2, steps_per_epoch=2, max_audio_minutes=0.1)
    tiny_sampling = dict(length=200)
    earlier_defaults = {"excitation": "none"}  # runs saved before the sine excitation existed

    # --- data ------------------------------------------------------------------------

    def _labels(self, data, key: str):
        """A label of every clip, or None where the set does not carry it."""
        if data.labels is None or any(key not in lab for lab in data.labels):
            return None
        return data.label(key).astype(np.int64)

    def _global(self, data, clips: np.ndarray, f0: np.ndarray):
        """Pitch and program of each crop: the labels, else the crop's median f0 and ``program``."""
        pitches, programs = self._labels(data, "pitch"), self._labels(data, "program")
        pitch = pitches[clips] if pitches is not None else frame_pitch(np.median(f0, axis=1)) if len(f0) \
            else np.zeros(0, np.int64)
        program = programs[clips] if programs is not None else np.full(len(clips), self.config.program, np.int64)
        return np.asarray(pitch, np.int64), np.asarray(program, np.int64)

    def _datasets(self, train, valid):
        from cadenza.models.audio.wavenet_net import Examples

        self.calibrate(train)
        frames = max(2, int(round(self.config.example_seconds * self.config.sample_rate / self.config.hop)))
        examples = train.examples(frames, stride=max(1, frames // 2))
        if len(examples["f0"]) == 0:
            examples = train.examples(frames, stride=max(1, frames // 2), min_loudness_db=LOUDNESS_FLOOR_DB)
        if len(examples["f0"]) == 0:
            raise CadenzaError(f"{self.name}: the audio is shorter than one {self.config.example_seconds} s crop")
        pitch, program = self._global(train, examples["clip"], examples["f0"])
        self.programs_ = sorted({int(p) for p in program})
        values, counts = np.unique(pitch, return_counts=True)
        self.default_pitch_ = int(values[np.argmax(counts)])
        self.pitch_range_ = [int(values.min()), int(values.max())]
        self.default_program_ = int(np.bincount(program).argmax())
        arrays = self.valid_windows(valid, frames)
        valid_set = Examples(arrays, *self._global(valid, arrays["clip"], arrays["f0"])) if arrays else None
        return Examples(examples, pitch, program), valid_set, None

    def _system(self):
        import torch

        from cadenza.models.audio.wavenet_net import WaveNetNet
        from cadenza.models.audio.wavenet_system import WaveNetSystem

        torch.manual_seed(self.config.seed)
        return WaveNetSystem(WaveNetNet(self.config), self.config)

    # --- state -----------------------------------------------------------------------

    def _state(self):
        arrays = self.net_arrays()
        extra = {"envelope": asdict(self.envelope_), "programs": self.programs_,
                 "default_pitch": self.default_pitch_, "default_program": self.default_program_,
                 "pitch_range": self.pitch_range_}
        return arrays, extra

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.audio.wavenet_net import WaveNetNet

        # Config's bounds on layers and cycle keep the list of dilations (made before any module,
        # so before load's size guard can count) short.
        return self.net_spec(WaveNetNet(self.config))

    def _load_state(self, arrays, extra):
        from cadenza.models.audio.wavenet_net import WaveNetNet
        from cadenza.models.run_check import check_config, check_fields

        check_fields(extra, {"envelope": dict, "programs": list[int], "default_pitch": int, "default_program": int},
                     "cadenza.json", "state")
        check_config(Envelope, extra["envelope"], "cadenza.json", "envelope field")
        midi = [*extra["programs"], extra["default_pitch"], extra["default_program"]]
        if not all(0 <= value <= 127 for value in midi):
            raise ValueError("programs and pitches must be 0-127")
        self.load_net(WaveNetNet(self.config), arrays)
        self.envelope_ = Envelope(**extra["envelope"])
        self.programs_ = list(extra["programs"])
        self.default_pitch_, self.default_program_ = extra["default_pitch"], extra["default_program"]
        self.pitch_range_ = [int(p) for p in extra["pitch_range"]]

    # --- likelihood --------------------------------------------------------------------

    @no_grad
    def _log_prob(self, data) -> LogProb:
        """Total log-likelihood (nats) of every sample of every clip, each clip from silence;
        ``bits_per_event`` is bits per sample."""
        import torch

        from cadenza.nn.mulaw import mu_law_quantize

        total, count, hop = 0.0, 0, self.config.hop
        pitches, programs = self._labels(data, "pitch"), self._labels(data, "program")
        for i in range(len(data)):
            frames = len(data.f0[i])
            audio = torch.from_numpy(np.asarray(data.audio[i][:frames * hop], np.float32))
            if frames == 0:
                continue
            pitch = int(pitches[i]) if pitches is not None else int(frame_pitch(np.median(data.f0[i])))
            program = int(programs[i]) if programs is not None else self.default_program_
            target = mu_law_quantize(audio, CLASSES)
            previous = torch.cat([torch.zeros(1), torch.from_numpy(level(target[:-1].numpy()))])
            controls = torch.from_numpy(np.stack([data.f0[i], data.loudness[i]], -1).astype(np.float32))
            out = self.net_(previous[None], controls[None], torch.full((1, frames), pitch),
                            torch.full((1, frames), program))
            total -= float(self.net_.nll(out, target[None], reduction="sum"))
            count += len(target)
        return LogProb(total, count)

    # --- synthesis -------------------------------------------------------------------

    def _check_instrument(self, instrument) -> int:
        program = self.default_program_ if instrument is None else instrument
        if program not in self.programs_:
            raise CadenzaError(f"unknown instrument {program}: this model knows GM programs "
                               f"{', '.join(map(str, self.programs_))}")
        return int(program)

    def stream(self, seed: int = 0, instrument: int | None = None) -> WaveNetStream:
        """A :class:`cadenza.realtime.Stream` over blocks of control frames ``[frames, 2]``."""
        self._check_fitted()
        return WaveNetStream(self, SEED.check(seed, "seed"), self._check_instrument(instrument))

    def render_controls(self, controls, seed: int = 0, pitch=None, instrument: int | None = None,
                        temperature: float = 1.0) -> np.ndarray:
        """Audio ``[1, frames*hop]`` for control frames ``[frames, 2]``: the stream run once."""
        stream = self.stream(seed, instrument)
        stream.pitch, stream.temperature = pitch, temperature
        stream.init_state()
        return stream.step(controls)

    def _check_pitch(self, pitch) -> int:
        pitch = self.default_pitch_ if pitch is None else pitch
        low, high = self.pitch_range_
        if not low <= pitch <= high:
            raise CadenzaError(f"pitch {pitch} is outside the range this model was trained on ({low}-{high})")
        return int(pitch)

    def _generate_one(self, rng, options):
        return self._generate_many([rng], options)[0]

    def _generate_many(self, rngs, options):
        """Notes of one pitch are generated side by side, one fast generator for the batch; a
        score plays through the stream, one piece at a time. Either way piece ``i`` gets the
        same draws as the stream would give it alone."""
        from cadenza.models.audio.wavenet_net import FastGenerator

        seeds = [int(rng.integers(2**31)) for rng in rngs]
        if options.midi:
            from cadenza.music.io import read_score

            score = read_score(options.midi)
            frames = None if options.length is None else -(-options.length // self.config.hop)
            pieces = [self.render_score(score, seed, frames) for seed in seeds]
            return [Audio(a.samples[:, :options.length], a.sample_rate) for a in pieces]
        pitch, program = self._check_pitch(options.pitch), self._check_instrument(options.instrument)
        length = options.length or self.config.sample_rate
        hop = self.config.hop
        frames = -(-length // hop)
        note = np.array([[midi_to_hz(pitch), self.envelope_.level(100)]], np.float32)
        controls = np.tile(note, (len(seeds), frames, 1))
        uniforms = np.stack([np.random.default_rng(seed).random(frames * hop) for seed in seeds])
        generator = FastGenerator(self.net_, len(seeds))
        with progress_bar(frames * hop, f"{self.name}: {len(seeds)} x {length} samples",
                           options.progress) as advance:
            classes = generator.run(controls, pitch, program, uniforms, options.temperature, advance)
        return [Audio(decode(row)[None, :length], self.config.sample_rate) for row in classes]


class WaveNetStream:
    """The streaming engine's WaveNet: blocks of control frames in, audio out; the fast
    generator's queues and the uniforms' position carried from block to block."""

    def __init__(self, model: WaveNet, seed: int, program: int):
        from cadenza.models.audio.wavenet_net import FastGenerator

        self.model, self.seed, self.program = model, seed, program
        self.sample_rate, self.channels, self.hop = model.config.sample_rate, 1, model.config.hop
        self.pitch, self.temperature = None, 1.0  # pitch None: each frame's f0 gives it
        self.generator = FastGenerator(model.net_)

    def init_state(self) -> None:
        self.generator.reset()
        self.rng = np.random.default_rng(self.seed)

    def step(self, block) -> np.ndarray:
        """``block`` ``[frames, 2]`` (f0 Hz, loudness dB) -> audio ``[1, frames * hop]``."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != 2:
            raise CadenzaError(f"a block must be control frames [frames, 2], got shape {list(block.shape)}")
        # A score's notes outside the trained range keep their f0; the pitch embedding, which was
        # never trained there, is held at the nearest trained pitch.
        pitch = np.clip(frame_pitch(block[:, 0]), *self.model.pitch_range_) if self.pitch is None else self.pitch
        uniforms = self.rng.random(len(block) * self.hop)
        classes = self.generator.run(block, pitch, self.program, uniforms, self.temperature)
        return decode(classes)[None]
