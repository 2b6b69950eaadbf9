"""The Sound Model Factory: a trained GAN's latent space turned into a playable instrument.

Wyse, Kamath & Gupta 2022, "Sound Model Factory: An Integrated System Architecture for
Generative Audio Modelling", EvoMUSART (https://arxiv.org/abs/2206.13085).

Reproduced: the pipeline. A conditional GAN (:mod:`cadenza.models.audio.gan`) makes the data;
four latent vectors (from four seeds) are the corners of a square of its latent space, and an
``grid x grid`` grid fills it (:mod:`cadenza.models.audio.smf_grid`: bilinear, no slerp); a
self-organising map re-spaces the grid so that neighbouring sounds are more evenly far apart by
their log-mel features (the neighbour-distance CV before and after is measured and kept in
``metrics_``: ``grid_cv_bilinear``, ``grid_cv_som``). Added: a re-spacing by the feature
distance walked along each axis (``grid_cv_arc_length``); the most even of the bilinear, SOM and
arc-length grids is kept (``grid_spacing``). The GAN renders every grid point at each of a
spread of its trained pitches; an RNN conditioned on the continuous parameters (x, y in [0, 1],
pitch) learns to make those sounds from sequences of them laid end to end with the parameters
switching at the sounds' boundaries, so that it follows parameter changes; then it plays at any
(x, y) between the grid points and any pitch between the trained ones, in real time
(``stream()``, ``cadenza stream``, ``cadenza play``: MIDI notes set the pitch, CC ``cc_x`` and
``cc_y`` (1 and 2) set x and y) or from a control file (``cadenza smf render RUN --controls
FILE.csv``).

Changed: the paper's RNN is sample-level (one GRU step an audio sample); here a frame-level
GRU (one step every ``hop`` samples) drives DDSP's harmonic-plus-noise synthesiser
(:mod:`cadenza.audio.dsp`, as :mod:`cadenza.models.audio.ddsp` does), which is what runs in
real time on a CPU. f0 is not learned: it is the pitch parameter's equal-tempered frequency,
and the network predicts the amplitude, the harmonic distribution and the noise filter a frame
(:mod:`cadenza.models.audio.smf_net`). The paper's sounds were textures; the GAN's here are
one-second one-shot notes, so the model takes a fourth control, a note **onset** (1 on the
frame a note starts): the network counts the frames since the last onset (its input is the
note's age, carried across blocks), and a note fades to silence when its one-shot would have
ended; before any onset the model is silent. Note-offs are ignored (a one-shot rings out, as the
GAN's do). One latent grid serves every pitch (the SOM runs at the middle pitch), so x and y
mean the same timbre at every pitch. Loss: DDSP's multi-resolution spectral loss
(:mod:`cadenza.models.audio.smf_system`).

Data: ``gan`` names a trained gan or specgan run conditioned on pitch (``pretrained/specgan-notes``, or a run
folder); then the data given to ``fit`` is not used (the GAN makes the training sounds; the CLI
still asks for ``--data``: give the set the GAN learned). ``gan="fit"`` (``fit:PRESET``,
``fit:tiny``) trains the GAN first on the data given to ``fit`` and keeps it in the run
(``RUN/gan/``): the paper's whole pipeline in one command, and how the contract test builds a
tiny smf. Data labelled by pitch (``notes``) is used as it is; other monophonic audio is cut
into one-shots at its notes (runs of frames of one rounded f0), labelled by that pitch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.audio.io import Audio
from cadenza.config import SEED, option
from cadenza.errors import CadenzaError
from cadenza.models.abilities import Streaming
from cadenza.models.audio.ddsp import DDSPStream
from cadenza.models.audio.gan import GAN
from cadenza.models.audio_model import AudioModel
from cadenza.models.base import Sampling as BaseSampling
from cadenza.models.base import register
from cadenza.train.engine import TrainingConfig

GAN_IN_RUN = "gan"  # the folder of a run that holds a GAN trained with it (gan="fit...")
CONTROL_COLUMNS = ("time", "x", "y", "pitch")  # a control file's columns (and optionally onset)


@dataclass
class Config(TrainingConfig):
    gan: str = option("pretrained/specgan-notes",
                      "The GAN whose sounds the model learns: a gan or specgan run conditioned on pitch "
                      "(pretrained/specgan-notes, runs/...), or fit / fit:PRESET / fit:tiny to train one on the "
                      "data first (kept inside this run).", kind="run")
    instrument: int | None = option(None, "GM program, for an instrument-conditioned GAN (default: its first).",
                                    min=0, max=127)
    pitches: list[int] = option([], "MIDI keys the grid is rendered at, each one the GAN was trained on "
                                    "(default: n_pitches spread over the GAN's keys).", min=0, max=127)
    n_pitches: int = option(5, "Keys spread over the GAN's, when pitches is not given.", min=1, max=128)
    grid: int = option(8, "Grid points a side (the grid is grid x grid).", min=2, max=64)
    corner_seeds: list[int] = option([0, 1, 2, 3], "Seeds of the four corners' latents: (x0 y0), (x1 y0), "
                                                   "(x0 y1), (x1 y1).", min=SEED.min, max=SEED.max)
    som: bool = option(True, "Re-space the grid with a self-organising map and by feature arc length, keeping "
                             "the most even of those and the bilinear grid.")
    som_factor: int = option(4, "Density of the SOM's sample: this many points a grid step a side.", min=1, max=16)
    sequences: int = option(256, "Training sequences, each several grid sounds end to end.", min=1, max=100_000)
    sounds_per_sequence: int = option(4, "Grid sounds a training sequence.", min=1, max=64)
    sample_rate: int = option(16000, "Audio sample rate in Hz (the GAN's).", min=8000, max=192_000)
    hop: int = option(64, "Samples a control frame (64 at 16 kHz: 250 frames a second).", min=8, max=4096)
    n_harmonics: int = option(40, "Sinusoids of the harmonic synthesiser.", min=1, max=1024)
    n_noise_bands: int = option(33, "Frequency bands of the noise filter.", min=2, max=1024)
    hidden: int = option(64, "Width of the MLPs.", min=1, max=8192)
    gru: int = option(128, "Width of the GRU.", min=1, max=8192)
    mlp_layers: int = option(1, "Layers of each MLP (dense, layer norm, ReLU).", min=1, max=16)
    example_seconds: float = option(1.0, "Length of a training crop.", above=0, max=60)
    fft_sizes: list[int] = option([1024, 512, 256, 128, 64], "FFT sizes of the spectral loss.", min=16, max=65_536)
    cc_x: int = option(1, "MIDI controller that sets x when playing from MIDI (1: the mod wheel).", min=0, max=127)
    cc_y: int = option(2, "MIDI controller that sets y when playing from MIDI.", min=0, max=127)

    def __post_init__(self):
        if not isinstance(self.gan, str) or not self.gan.strip():
            raise ValueError("gan must name a gan run, or fit")
        if len(self.corner_seeds) != 4:
            raise ValueError(f"corner_seeds must be 4 seeds, got {len(self.corner_seeds)}")
        if self.sample_rate % self.hop:
            raise ValueError("sample_rate must be a multiple of hop")
        if not self.fft_sizes or min(self.fft_sizes) < 16:
            raise ValueError("fft_sizes must be a non-empty list of sizes of at least 16")
        if self.cc_x == self.cc_y:
            raise ValueError("cc_x and cc_y must be different controllers")


@dataclass
class Sampling(BaseSampling):
    length: int | None = option(None, "Control frames of each clip (default: notes x the GAN's sound length).",
                                min=1, max=1_000_000)
    pitch: float | None = option(None, "MIDI key to play (default: drawn from the trained keys).", min=0, max=127)
    notes: int = option(4, "Notes in a row, x and y walking slowly from one to the next.", min=1, max=1000)


@register
class SMF(AudioModel, Streaming):
    """Sound Model Factory (Wyse et al. 2022): a GAN's latent grid, SOM-respaced, played by a GRU synth."""

    name = "smf"
    controls = ("pitch", "latent", "midi")
    Config = Config
    Sampling = Sampling
    presets = {
        # from pretrained/specgan-notes: 2,500 steps in 8 minutes on one shared core
        "laptop": dict(batch_size=8, learning_rate=3e-3, max_steps=2500, steps_per_epoch=250, patience=4),
        "gpu": dict(grid=12, hidden=256, gru=512, mlp_layers=2, n_harmonics=60, n_noise_bands=65, sequences=1024,
                    batch_size=32, learning_rate=1e-3, max_steps=30_000, steps_per_epoch=1000),
    }
    # the contract's tiny data is melodies on the flute: fit:tiny cuts them into notes for a tiny GAN
    tiny_config = dict(gan="fit:tiny", grid=3, som_factor=2, n_pitches=3, sequences=6, sounds_per_sequence=3,
                       hidden=8, gru=8, n_harmonics=8, n_noise_bands=9, example_seconds=0.05, fft_sizes=[256, 64],
                       batch_size=2, max_steps=2, steps_per_epoch=2, patience=0)
    tiny_sampling = dict(notes=2)

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    # --- the GAN -------------------------------------------------------------------------

    def _trains_gan(self) -> bool:
        return self.config.gan == "fit" or self.config.gan.startswith("fit:")

    def _open_gan(self, path):
        """The gan run at ``path`` (conditioned on pitch), or one clear error."""
        from cadenza.models.base import load, run_class

        what = f"{self.name}: the GAN {str(path)!r}"
        try:
            cls = run_class(path)
        except CadenzaError as exc:
            raise CadenzaError(f"{what} cannot be loaded ({exc}); train one (cadenza train gan --data notes "
                               "--preset laptop --out RUN) and give gan=RUN, or gan=fit to train one here") from None
        if not issubclass(cls, GAN):
            raise CadenzaError(f"{what} is a {cls.name} run, not a gan or specgan run")
        return self._check_gan(load(path), what)

    def _check_gan(self, gan, what: str):
        if not gan.is_fitted():
            raise CadenzaError(f"{what} is not trained")
        if gan.config.label != "pitch":
            raise CadenzaError(f"{what} is conditioned on {gan.config.label!r}, not pitch; the smf plays notes")
        if gan.sample_rate != self.config.sample_rate:
            raise CadenzaError(f"{what} makes {gan.sample_rate} Hz audio; set sample_rate={gan.sample_rate}")
        return gan

    def _fit_gan(self, train, valid):
        """A GAN trained on the training audio (``gan="fit[:PRESET]"``), conditioned on pitch
        (and program where the clips have more than one)."""
        from cadenza.models.base import get

        cls = get("gan")
        preset = self.config.gan.partition(":")[2] or "laptop"
        if preset != "tiny" and preset not in cls.presets:
            raise CadenzaError(f"{self.name}: the gan has no preset {preset!r} (presets: "
                               f"{', '.join(['tiny', *cls.presets])})")
        settings = dict(cls.tiny_config if preset == "tiny" else cls.presets[preset])
        train = note_one_shots(train)
        valid = note_one_shots(valid, required=False) if valid else None
        programs = {lab.get("program") for lab in train.labels}
        settings.update(label="pitch", sample_rate=self.config.sample_rate,
                        instrument_label="program" if len(programs) > 1 and None not in programs else None)
        workdir, progress, trainer = getattr(self, "_fit_context", (None, False, None))
        gan = cls(**settings)
        gan.fit(train, valid=valid, workdir=None if workdir is None else Path(workdir) / GAN_IN_RUN,
                progress=progress, trainer=trainer)
        return self._check_gan(gan, f"{self.name}: the GAN trained on {train.name}")

    def gan_model(self):
        """The GAN this model learned from: the run ``gan`` names, or the one kept in the run."""
        self._check_fitted()
        if getattr(self, "gan_", None) is None:
            if self._trains_gan():
                folder = getattr(self, "run_dir_", None)
                if folder is None:
                    raise CadenzaError(f"{self.name}: the GAN trained with this model was not saved")
                self.gan_ = self._open_gan(Path(folder) / GAN_IN_RUN)
            else:
                self.gan_ = self._open_gan(self.config.gan)
        return self.gan_

    def gan_class(self, gan, pitch: int) -> int:
        return [str(v) for v in gan.classes_].index(str(pitch))

    # --- data ----------------------------------------------------------------------------

    def fit(self, data, valid=None, workdir=None, progress: bool = False, trainer=None):
        """Render the (re-spaced) grid with the GAN (trained first with ``gan="fit"``), then train
        the GRU synthesiser on sequences of its sounds."""
        self._fit_context = (workdir, progress, trainer)
        return super().fit(data, valid=valid, workdir=workdir, progress=progress, trainer=trainer)

    def _choose(self, gan) -> tuple[list[int], int | None]:
        """The keys the grid is rendered at and the GAN's instrument index, or one clear error."""
        c = self.config
        keys = sorted(int(v) for v in gan.classes_)
        if c.pitches:
            bad = [p for p in c.pitches if p not in keys]
            if bad:
                raise CadenzaError(f"{self.name}: pitch {bad[0]} is not one the GAN was trained on (it knows "
                                   f"{min(keys)}-{max(keys)}, {len(keys)} keys)")
            pitches = sorted(set(c.pitches))
        else:
            pitches = [keys[i] for i in np.unique(np.linspace(0, len(keys) - 1, min(c.n_pitches, len(keys)))
                                                  .round().astype(int))]
        if not gan.instruments_:
            if c.instrument is not None:
                raise CadenzaError(f"{self.name}: the GAN is not conditioned on an instrument")
            return pitches, None
        if c.instrument is None:
            return pitches, 0
        if c.instrument not in gan.instruments_:
            raise CadenzaError(f"{self.name}: instrument {c.instrument} was not in the GAN's training data (it "
                               f"knows {', '.join(map(str, gan.instruments_))})")
        return pitches, gan.instruments_.index(c.instrument)

    def _datasets(self, train, valid):
        from cadenza.models.audio.smf_grid import respaced_grid
        from cadenza.models.audio.smf_net import Crops
        from cadenza.utils import one_thread

        c = self.config
        gan = self._fit_gan(train, valid) if self._trains_gan() else self._open_gan(c.gan)
        self.gan_ = gan
        pitches, instrument = self._choose(gan)
        corners = np.stack([gan.latent_of(s) for s in c.corner_seeds])
        reference = pitches[len(pitches) // 2]
        with one_thread():
            grid = respaced_grid(gan, corners, c.grid, self.gan_class(gan, reference), instrument, c.som, c.som_factor)
            flat = grid["latents"].reshape(c.grid * c.grid, -1)
            sounds = np.stack([gan.render(flat, self.gan_class(gan, p), instrument) for p in pitches])  # [P, N*N, T]
        self.pitches_, self.instrument_ = pitches, (None if instrument is None else int(gan.instruments_[instrument]))
        self.grid_, self.corners_ = grid["latents"], corners.astype(np.float32)
        self.sound_frames_ = int(math.ceil(sounds.shape[-1] / c.hop))
        self.metrics_.update({"grid_cv_bilinear": round(grid["cv_bilinear"], 4),
                              "grid_cv_som": None if grid["cv_som"] is None else round(grid["cv_som"], 4),
                              "grid_cv_arc_length": None if grid["cv_arc_length"] is None
                              else round(grid["cv_arc_length"], 4),
                              "grid_som_stiffness": grid["stiffness"], "grid_spacing": grid["spacing"],
                              "grid_pitches": list(pitches)})
        example = max(4, int(round(c.example_seconds * c.sample_rate / c.hop)))
        rng = np.random.default_rng(c.seed)
        train_set = Crops(*self._crops(sounds, c.sequences, example, rng))
        valid_set = Crops(*self._crops(sounds, max(2, c.sequences // 16), example, rng))
        return train_set, valid_set, None

    def _crops(self, sounds: np.ndarray, count: int, example: int, rng) -> tuple:
        """``count`` sequences of ``sounds_per_sequence`` random grid sounds (any cell, any pitch)
        end to end, the parameters switching at each sound's onset, cut into crops of
        ``example`` frames from a random offset: (frames, since, audio) arrays."""
        from cadenza.models.audio.smf_net import NEVER

        c, n, sf, hop = self.config, self.config.grid, self.sound_frames_, self.config.hop
        padded = np.zeros(sounds.shape[:2] + (sf * hop,), np.float32)
        padded[..., :sounds.shape[-1]] = sounds
        coords = np.linspace(0.0, 1.0, n)
        frames_out, since_out, audio_out = [], [], []
        total = sf * c.sounds_per_sequence
        for _ in range(count):
            picks = rng.integers(0, [len(self.pitches_), n * n], size=(c.sounds_per_sequence, 2))
            frames = np.zeros((total, 4), np.float32)
            audio = np.concatenate([padded[p, cell] for p, cell in picks])
            for k, (p, cell) in enumerate(picks):
                frames[k * sf:(k + 1) * sf] = (coords[cell % n], coords[cell // n], self.pitches_[p], 0.0)
                frames[k * sf, 3] = 1.0
            since = np.arange(total) % sf
            start = int(rng.integers(0, max(1, min(example, total - example + 1))))
            for s in range(start, total - example + 1, example):
                frames_out.append(frames[s:s + example])
                since_out.append(float(since[s - 1]) if s > 0 else NEVER)
                audio_out.append(audio[s * hop:(s + example) * hop])
        if not frames_out:
            raise CadenzaError(f"{self.name}: a training crop ({example} frames) is longer than a sequence "
                               f"({total} frames); lower example_seconds or raise sounds_per_sequence")
        return np.stack(frames_out), np.array(since_out, np.float32), np.stack(audio_out)

    def _network(self, sound_frames: int):
        from cadenza.models.audio.smf_net import SMFNet

        return SMFNet(self.config, sound_frames)

    def _system(self):
        import torch

        from cadenza.models.audio.smf_system import SMFSystem

        torch.manual_seed(self.config.seed)
        return SMFSystem(self._network(self.sound_frames_), self.config)

    def _finish(self, system, result) -> None:
        self.net_ = system.model.eval()

    # --- state -----------------------------------------------------------------------

    def _state(self):
        arrays = {**self.net_arrays(), "grid": self.grid_, "corners": self.corners_}
        return arrays, {"pitches": list(self.pitches_), "instrument": self.instrument_,
                        "sound_frames": int(self.sound_frames_)}

    def _save_files(self, directory: Path) -> None:
        if self._trains_gan() and getattr(self, "gan_", None) is not None:
            self.gan_.save(directory / GAN_IN_RUN)

    def _expected_arrays(self, extra, directory, header):
        from cadenza.models.run_check import FLOAT32, ArraySpec, check_fields

        check_fields(extra, {"pitches": list, "sound_frames": int}, directory, "state")
        if not 1 <= extra["sound_frames"] <= 1_000_000:
            raise ValueError(f"sound_frames must be 1-1000000, got {extra['sound_frames']}")
        n = self.config.grid
        # the network's floats may be stored as fp16 (a shipped run); the latents stay fp32
        return {**self.net_spec(self._network(extra["sound_frames"]), half=True),
                "grid": ArraySpec((n, n, None), FLOAT32), "corners": ArraySpec((4, None), FLOAT32)}

    def _load_state(self, arrays, extra):
        pitches = extra["pitches"]
        if not pitches or not all(isinstance(p, int) and 0 <= p <= 127 for p in pitches):
            raise ValueError("pitches must be a non-empty list of MIDI keys")
        instrument = extra.get("instrument")
        if instrument is not None and not isinstance(instrument, int):
            raise ValueError("instrument must be a GM program or null")
        self.load_net(self._network(extra["sound_frames"]), arrays)
        self.grid_, self.corners_ = np.array(arrays["grid"]), np.array(arrays["corners"])
        self.pitches_, self.instrument_, self.sound_frames_ = list(pitches), instrument, extra["sound_frames"]
        self.gan_ = None

    def _load_files(self, directory: Path) -> None:
        self.run_dir_ = directory  # a GAN trained with the model is loaded from here when asked for

    # --- playing ---------------------------------------------------------------------

    def stream(self, seed: int = 0) -> SMFStream:
        """A :class:`cadenza.realtime.Stream` over blocks of control frames ``[frames, 4]``
        (x, y, pitch, onset)."""
        self._check_fitted()
        return SMFStream(self, SEED.check(seed, "seed"))

    def tracker(self):
        """MIDI notes (pitch, onsets) and CC ``cc_x`` / ``cc_y`` (x, y) -> control frames."""
        from cadenza.realtime.controls import ParameterTracker

        return ParameterTracker(self.config.sample_rate, self.config.hop, (self.config.cc_x, self.config.cc_y),
                                first_pitch=float(self.pitches_[len(self.pitches_) // 2]))

    def render_controls(self, frames: np.ndarray, seed: int = 0) -> Audio:
        """Audio for control frames ``[frames, 4]`` (x, y, pitch, onset): the streaming step run
        over them block by block."""
        self._check_fitted()
        return Audio(self.render_frames(check_controls(frames), seed), self.config.sample_rate)

    def render_file(self, path: str | os.PathLike, seed: int = 0) -> Audio:
        """Play a control file (CSV: ``time,x,y,pitch`` and optionally ``onset``; see :func:`read_controls`)."""
        self._check_fitted()
        return self.render_controls(read_controls(path, self.config.sample_rate / self.config.hop,
                                                  self.sound_frames_), seed)

    def _generate_one(self, rng, options):
        """``notes`` notes at one pitch (drawn from the trained keys unless given), a note every
        sound length, while x and y walk in straight lines between random points, one a note; a
        temperature below 1 keeps the points that much nearer the square's centre."""
        sf = self.sound_frames_
        pitch = float(options.pitch) if options.pitch is not None else float(rng.choice(self.pitches_))
        count = options.length or options.notes * sf
        notes = int(math.ceil(count / sf))
        points = 0.5 + (rng.uniform(0, 1, size=(notes + 1, 2)) - 0.5) * min(options.temperature, 1.0)
        t = np.arange(count) / sf  # in notes
        frames = np.zeros((count, 4), np.float32)
        frames[:, 0] = np.interp(t, np.arange(notes + 1), points[:, 0])
        frames[:, 1] = np.interp(t, np.arange(notes + 1), points[:, 1])
        frames[:, 2] = pitch
        frames[::sf, 3] = 1.0
        return self.render_controls(frames, int(rng.integers(2**31)))


def check_controls(frames, what: str = "controls") -> np.ndarray:
    """Control frames ``[frames, 4]`` (x, y in [0, 1], pitch 0-127, onset 0 or 1) as float32, or
    one clear error."""
    try:
        out = np.asarray(frames, dtype=np.float32)
    except (TypeError, ValueError):
        raise CadenzaError(f"{what}: not numbers") from None
    if out.ndim != 2 or out.shape[1] != 4:
        raise CadenzaError(f"{what}: control frames are [frames, 4] (x, y, pitch, onset), got {list(out.shape)}")
    if not np.isfinite(out).all():
        raise CadenzaError(f"{what}: NaN or infinite values")
    for column, name, low, high in ((0, "x", 0, 1), (1, "y", 0, 1), (2, "pitch", 0, 127)):
        values = out[:, column]
        bad = values[(values < low) | (values > high)]
        if len(bad):
            raise CadenzaError(f"{what}: {name} must be between {low} and {high}, got {bad[0]:g}")
    if not np.isin(out[:, 3], (0.0, 1.0)).all():
        raise CadenzaError(f"{what}: onset must be 0 or 1")
    return out


def read_controls(path: str | os.PathLike, frame_rate: float, tail_frames: int) -> np.ndarray:
    """A control file as control frames ``[frames, 4]``, or one clear error.

    CSV with a header naming the columns ``time`` (seconds, increasing), ``x``, ``y`` (0-1),
    ``pitch`` (MIDI key 0-127) and optionally ``onset`` (0/1). x and y glide linearly from row
    to row; the pitch holds from its row to the next; a note starts at the first row, at every
    row whose pitch differs from the row before, and where ``onset`` is 1. The frames run to the
    last row's time plus ``tail_frames`` (a one-shot's length)."""
    import csv

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CadenzaError(f"{path}: no such control file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CadenzaError(f"{path}: cannot read the control file ({exc.__class__.__name__})") from None
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise CadenzaError(f"{path}: empty control file (columns time,x,y,pitch[,onset])")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in CONTROL_COLUMNS if c not in header]
    if missing:
        raise CadenzaError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           "(a control file has columns time,x,y,pitch[,onset])")
    names = [*CONTROL_COLUMNS, *(["onset"] if "onset" in header else [])]
    table = []
    for number, row in enumerate(rows[1:], start=2):
        values = []
        for name in names:
            cell = row[header.index(name)].strip() if header.index(name) < len(row) else ""
            try:
                value = float(cell)
            except ValueError:
                raise CadenzaError(f"{path} line {number}: {name} must be a number, got {cell!r}") from None
            if not math.isfinite(value):
                raise CadenzaError(f"{path} line {number}: {name} must be a finite number, got {cell!r}")
            values.append(value)
        table.append(values)
    if not table:
        raise CadenzaError(f"{path}: no rows after the header")
    table = np.array(table, np.float64)
    checks = {"time": (0, 86_400), "x": (0, 1), "y": (0, 1), "pitch": (0, 127), "onset": (0, 1)}
    for column, name in enumerate(names):
        low, high = checks[name]
        bad = np.flatnonzero((table[:, column] < low) | (table[:, column] > high))
        if len(bad):
            raise CadenzaError(f"{path} line {bad[0] + 2}: {name} must be between {low} and {high}, "
                               f"got {table[bad[0], column]:g}")
    times = table[:, 0]
    if (np.diff(times) < 0).any():
        line = int(np.flatnonzero(np.diff(times) < 0)[0]) + 3
        raise CadenzaError(f"{path} line {line}: time must not go back")
    count = int(math.ceil(times[-1] * frame_rate)) + tail_frames
    t = np.arange(count) / frame_rate
    frames = np.zeros((count, 4), np.float32)
    frames[:, 0] = np.interp(t, times, table[:, 1])
    frames[:, 1] = np.interp(t, times, table[:, 2])
    row = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    frames[:, 2] = table[row, 3]
    starts = np.zeros(len(table), bool)
    starts[0] = True
    starts[1:] = table[1:, 3] != table[:-1, 3]
    if "onset" in names:
        starts |= table[:, 4] >= 0.5
    frames[np.minimum(np.ceil(times[starts] * frame_rate - 1e-9).astype(int), count - 1), 3] = 1.0
    return frames


def note_one_shots(data, required: bool = True, max_notes: int = 4000):
    """``data`` (an AudioSet) as one-shots labelled by ``pitch``: as it is when its clips are
    labelled so (``notes``), else cut at its notes: each run of frames whose f0 rounds to one
    MIDI key (confidence at least 0.5, four frames or more) from its first frame to the clip's
    end, labelled by that key (up to ``max_notes``). None (or one clear error when ``required``)
    when there are none."""
    from cadenza.data.audio_sets import AudioSet

    if data is None:
        return None
    if data.labels is not None and all("pitch" in lab for lab in data.labels):
        return data
    audio, labels = [], []
    for clip, f0, confidence in zip(data.audio, data.f0, data.confidence):
        voiced = (np.asarray(confidence) >= 0.5) & (np.asarray(f0) > 0)
        keys = np.where(voiced, np.round(69 + 12 * np.log2(np.maximum(np.asarray(f0, np.float64), 1e-3) / 440)), -1)
        edges = np.flatnonzero(np.diff(np.concatenate([[-2], keys, [-2]])) != 0)
        for start, end in zip(edges[:-1], edges[1:]):
            if keys[start] >= 0 and end - start >= 4 and len(audio) < max_notes:
                audio.append(np.asarray(clip[start * data.hop:], np.float32))
                labels.append({"pitch": int(keys[start])})
    if not audio:
        if required:
            raise CadenzaError(f"{data.name}: no notes to learn (no clip is labelled by pitch, and no steady f0 "
                               "was found)")
        return None
    zeros = [np.zeros(max(1, len(a) // data.hop), np.float32) for a in audio]
    return AudioSet(f"{data.name}-notes", data.split, data.sample_rate, data.hop, audio, zeros, zeros,
                    zeros, labels=labels, meta=dict(data.meta))


class SMFStream(DDSPStream):
    """The streaming engine's smf: blocks of control frames ``[frames, 4]`` in, audio out, state
    carried (DDSP's stream, with the smf's four controls)."""

    def step(self, block: np.ndarray) -> np.ndarray:
        """``block`` ``[frames, 4]`` (x, y, pitch, onset) -> audio ``[1, frames * hop]``."""
        import torch

        block = check_controls(np.asarray(block, np.float32).reshape(-1, 4), "control block")
        count = len(block) * self.hop
        if not count:
            return np.zeros((1, 0), np.float32)
        noise = self.next_noise(count)
        with torch.inference_mode():
            audio, self.state = self.net(torch.from_numpy(block)[None], self.state, noise[None])
        return audio.numpy().astype(np.float32, copy=False)
