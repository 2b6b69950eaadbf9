"""Audio evaluation: a clip against its target, and a generated set against a reference set.

A clip against its target (resynthesis, codecs, timbre transfer):

- **multi-scale mel distance**: L1 between log10 mel magnitudes at seven
  window lengths (32 to 2048 samples with 5 to 320 mel bands, hop a quarter
  window), summed over the scales: the mel distance of R. Kumar et al. 2023,
  "High-Fidelity Audio Compression with Improved RVQGAN" (DAC), NeurIPS.
  The mel filters are Cadenza's (HTK scale, unnormalised), so the digits
  compare with each other, not with DAC's table;
- **multi-resolution STFT distance**: the spectral loss of J. Engel et al.
  2020, "DDSP: Differentiable Digital Signal Processing", ICLR
  (:func:`cadenza.audio.dsp.spectral_distance`, per FFT size);
- **SI-SDR**: J. Le Roux, S. Wisdom, H. Erdogan and J. R. Hershey 2019,
  "SDR - half-baked or well done?", ICASSP: both signals made zero-mean,
  the reference scaled by the factor that best fits the estimate, then
  10 log10 of the scaled reference's energy over the residual's (a perfect
  copy is capped at ``MAX_SI_SDR_DB``);
- **f0 error** (semitones, over the reference's voiced frames) and
  **loudness error** (dB, over its sounding frames): the resynthesis
  measures of the DDSP paper, with CREPE (J. W. Kim et al. 2018, "CREPE: A
  Convolutional Representation for Pitch Estimation", ICASSP) and the
  A-weighted loudness of :mod:`cadenza.audio.features`;
- **pitch accuracy** of generated notes against the pitch they were asked
  for: the share within 50 cents and the median error in cents (GANSynth,
  J. Engel et al. 2019, ICLR, measures pitch with a classifier; here CREPE).

A generated set against a reference set: :mod:`cadenza.evaluate.audio_compare`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from cadenza.audio import dsp
from cadenza.audio.features import (
    LOUDNESS_FLOOR_DB,
    check_audio,
    hz_to_midi,
    loudness,
    mel_filterbank,
    pitch,
    stft,
)
from cadenza.audio.io import Audio
from cadenza.audio.resample import resample
from cadenza.errors import CadenzaError

RATE = 16000  # sets are compared at CREPE's rate, mono
HOP = 256  # frames of the loudness, pitch and log-mel statistics
MAX_SI_SDR_DB = 100.0
DAC_WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)
DAC_MELS = (5, 10, 20, 40, 80, 160, 320)
SOUNDING_DB = LOUDNESS_FLOOR_DB + 40  # frames above -60 dB count as sounding


# --- clips -----------------------------------------------------------------------------------

def _samples(clip, sample_rate: int | None, what: str) -> tuple[np.ndarray, int]:
    if isinstance(clip, Audio):
        return clip.samples, clip.sample_rate
    if sample_rate is None:
        raise CadenzaError(f"{what}: a bare array needs its sample_rate")
    return check_audio(clip, what), int(sample_rate)


def _aligned(estimate, reference, sample_rate: int | None, mono: bool = True):
    """Two float64 signals at the reference's rate, cut to the shorter, and that rate.

    A bare array takes ``sample_rate``, else the rate of the other clip when that is an :class:`Audio`.
    """
    known = [c.sample_rate for c in (estimate, reference) if isinstance(c, Audio)]
    rate = sample_rate if sample_rate is not None else (known[0] if known else None)
    est, est_rate = _samples(estimate, rate, "estimate")
    ref, rate = _samples(reference, rate, "reference")
    est = resample(est, est_rate, rate)
    if mono:
        est, ref = est.mean(axis=0, keepdims=True), ref.mean(axis=0, keepdims=True)
    elif est.shape[0] != ref.shape[0]:
        raise CadenzaError(f"estimate has {est.shape[0]} channels, reference {ref.shape[0]}")
    n = min(est.shape[1], ref.shape[1])
    if n == 0:
        raise CadenzaError("estimate or reference is empty")
    return est[:, :n].astype(np.float64), ref[:, :n].astype(np.float64), rate


def mono16k(clip, sample_rate: int | None = None) -> np.ndarray:
    """A clip (:class:`Audio` or ``[channels, samples]`` with its rate) as 1-D float32 at 16 kHz."""
    samples, rate = _samples(clip, sample_rate, "clip")
    return resample(samples.mean(axis=0, keepdims=True), rate, RATE)[0]


# --- a clip against its target -----------------------------------------------------------------

def si_sdr(estimate, reference, sample_rate: int | None = None, max_db: float = MAX_SI_SDR_DB) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019) over all channels; at most ``max_db``.

    Bare arrays need no rate (none is used); :class:`Audio` clips at two rates are resampled."""
    bare = not isinstance(estimate, Audio) and not isinstance(reference, Audio)
    est, ref, _ = _aligned(estimate, reference, 1 if bare and sample_rate is None else sample_rate, mono=False)
    est = (est - est.mean(axis=1, keepdims=True)).reshape(-1)
    ref = (ref - ref.mean(axis=1, keepdims=True)).reshape(-1)
    energy = ref @ ref
    if energy <= 0:
        raise CadenzaError("SI-SDR: the reference is silent (or constant)")
    target = (est @ ref) / energy * ref  # the reference scaled to best fit the estimate
    residual = est - target
    noise = residual @ residual
    if target @ target <= 0:  # a silent estimate (or one orthogonal to the reference) keeps nothing of it
        return float(-max_db)
    if noise <= (target @ target) * 10 ** (-max_db / 10):
        return float(max_db)
    return float(min(10 * math.log10((target @ target) / noise), max_db))


def multiscale_mel_distance(estimate, reference, sample_rate: int | None = None, windows=DAC_WINDOWS,
                            mels=DAC_MELS, eps: float = 1e-5) -> float:
    """DAC's mel distance: sum over scales of mean |log10 mel(est) - log10 mel(ref)|, magnitudes floored at eps."""
    est, ref, rate = _aligned(estimate, reference, sample_rate)
    total = 0.0
    for window, n_mels in zip(windows, mels, strict=True):
        bank = mel_filterbank(rate, window, n_mels).T  # [bins, mels]
        a = np.abs(stft(est[0], window, max(window // 4, 1))) @ bank
        b = np.abs(stft(ref[0], window, max(window // 4, 1))) @ bank
        total += float(np.mean(np.abs(np.log10(np.maximum(a, eps)) - np.log10(np.maximum(b, eps)))))
    return total


def spectral_distance(estimate, reference, sample_rate: int | None = None) -> float:
    """The DDSP multi-resolution STFT distance (FFT sizes 2048 to 64), mono."""
    est, ref, _ = _aligned(estimate, reference, sample_rate)
    return dsp.spectral_distance(est[0].astype(np.float32), ref[0].astype(np.float32))


def f0_error(estimate, reference, sample_rate: int | None = None, hop: int = HOP, method: str = "auto",
             threshold: float = 0.5) -> float:
    """Mean |f0 difference| in semitones over the frames where the reference is voiced (NaN if none)."""
    est, ref, rate = _aligned(estimate, reference, sample_rate)
    f_est, _ = pitch(est, rate, hop, method)
    f_ref, confidence = pitch(ref, rate, hop, method)
    voiced = confidence >= threshold
    if not voiced.any():
        return math.nan
    return float(np.mean(np.abs(hz_to_midi(f_est) - hz_to_midi(f_ref))[voiced]))


def loudness_error(estimate, reference, sample_rate: int | None = None, hop: int = HOP,
                   floor_db: float = SOUNDING_DB) -> float:
    """Mean |A-weighted loudness difference| in dB over the reference's frames above ``floor_db``."""
    est, ref, rate = _aligned(estimate, reference, sample_rate)
    ours, theirs = loudness(est, rate, hop), loudness(ref, rate, hop)
    sounding = theirs > floor_db
    return float(np.mean(np.abs(ours - theirs)[sounding])) if sounding.any() else math.nan


def pitch_accuracy(clips, pitches, sample_rate: int | None = None, hop: int = HOP, method: str = "auto",
                   threshold: float = 0.5, tolerance_cents: float = 50.0) -> dict:
    """Generated notes against the MIDI pitches they were conditioned on.

    A clip's pitch is the median (in cents) of the f0 of its voiced frames
    (tracker confidence >= ``threshold``, louder than -60 dB). Returns
    ``accuracy`` (share of clips within ``tolerance_cents``; a clip with no
    voiced frame is a miss), ``median_cents`` (median absolute error over the
    clips with a pitch) and ``unvoiced`` (clips without one).
    """
    clips, pitches = list(clips), list(pitches)
    if not clips or len(clips) != len(pitches):
        raise CadenzaError(f"pitch accuracy needs one pitch a clip, got {len(clips)} clips, {len(pitches)} pitches")
    errors = []
    for clip, key in zip(clips, pitches):
        mono = mono16k(clip, sample_rate)
        f0, confidence = pitch(mono, RATE, hop, method)
        voiced = (confidence >= threshold) & (loudness(mono, RATE, hop) > SOUNDING_DB)
        errors.append(100 * (np.median(hz_to_midi(f0[voiced])) - key) if voiced.any() else math.nan)
    errors = np.abs(np.asarray(errors, dtype=np.float64))
    found = errors[~np.isnan(errors)]
    return {"accuracy": float(np.mean(np.nan_to_num(errors, nan=np.inf) <= tolerance_cents)),
            "median_cents": float(np.median(found)) if found.size else math.nan,
            "unvoiced": int(np.isnan(errors).sum()), "clips": len(clips)}


# --- resynthesis of an instrument played by f0 and loudness (DDSP and its kin) ----------------------

def harmonic_baseline(f0: np.ndarray, loudness_db: np.ndarray, sample_rate: int, hop: int,
                      n_harmonics: int = 20) -> np.ndarray:
    """A plain harmonic-sine instrument: 1/k amplitudes, level from the loudness curve
    (calibrated so that its own A-weighted loudness matches the curve on average)."""
    f0_t = torch.from_numpy(np.asarray(f0, np.float32))[None]
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
    shape = (1 / k) * dsp.nyquist_mask(f0_t, n_harmonics, sample_rate)
    shape = shape / shape.sum(-1, keepdim=True)
    level = torch.from_numpy(10 ** (np.asarray(loudness_db, np.float32) / 20))[None, :, None]
    audio, _, _ = dsp.harmonic_synth(f0_t, level * shape, hop, sample_rate)
    audio = audio[0].numpy()
    measured = loudness(audio, sample_rate, hop)
    loud = np.asarray(loudness_db) > LOUDNESS_FLOOR_DB + 40
    gain_db = float(np.median(np.asarray(loudness_db)[loud] - measured[loud])) if loud.any() else 0.0
    return (audio * 10 ** (gain_db / 20)).astype(np.float32)


def resynthesis_metrics(model, data, max_seconds: float = 30.0) -> dict:
    """Resynthesise held-out clips from their own f0 and loudness and measure the result:
    loudness L1 (dB), f0 L1 (semitones, CREPE on the output against the true f0), and the
    multi-resolution spectral distance of the model and of a harmonic-sine baseline.

    ``model`` is a :class:`~cadenza.models.abilities.Streaming` model whose stream takes
    control frames ``[frames, 2]`` (f0 Hz, loudness dB), as ``controls`` f0 and loudness
    declare; each clip is one step of a fresh stream (seed 0). ``data`` is an AudioSet
    (audio, f0, confidence, loudness a frame at the model's rate and hop).
    """
    from types import SimpleNamespace

    c = SimpleNamespace(sample_rate=model.sample_rate, hop=model.hop)

    def render(controls):
        stream = model.stream(0)
        stream.init_state()
        return stream.step(controls)

    totals = {"loud": [], "f0": [], "f0_input": [], "ddsp": [], "sine": []}
    used = 0.0
    for i in range(len(data)):
        if used >= max_seconds:
            break
        f0, ld, target = data.f0[i], data.loudness[i], data.audio[i]
        frames = min(len(f0), int((max_seconds - used) * c.sample_rate / c.hop))
        f0, ld, target = f0[:frames], ld[:frames], target[:frames * c.hop]
        used += frames * c.hop / c.sample_rate
        out = render(np.stack([f0, ld], 1))[0]
        sine = harmonic_baseline(f0, ld, c.sample_rate, c.hop)
        loud = ld > LOUDNESS_FLOOR_DB + 40
        totals["loud"].append(np.abs(loudness(out, c.sample_rate, c.hop) - ld)[loud])
        tracked, confidence = pitch(out, c.sample_rate, c.hop)
        # Judge f0 where a note sounds (true f0 known) and the note is well under way.
        sounding = data.confidence[i][:frames] > 0.5
        sounding &= np.concatenate([[False] * 5, sounding[:-5]])[:frames]
        sounding &= ld > LOUDNESS_FLOOR_DB + 40
        totals["f0"].append(np.abs(hz_to_midi(tracked) - hz_to_midi(f0))[sounding])
        reference, _ = pitch(target, c.sample_rate, c.hop)
        totals["f0_input"].append(np.abs(hz_to_midi(reference) - hz_to_midi(f0))[sounding])
        totals["ddsp"].append(dsp.spectral_distance(out, target))
        totals["sine"].append(dsp.spectral_distance(sine, target))
    def mean(parts):
        return float(np.mean(np.concatenate(parts))) if sum(map(len, parts)) else math.nan
    return {
        "valid_seconds": round(used, 1),
        "loudness_l1_db": round(mean(totals["loud"]), 3),
        "f0_l1_semitones": round(mean(totals["f0"]), 4),
        "f0_l1_semitones_of_input": round(mean(totals["f0_input"]), 4),
        "spectral_distance": round(float(np.mean(totals["ddsp"])), 4),
        "spectral_distance_sine_baseline": round(float(np.mean(totals["sine"])), 4),
    }


__all__ = ["f0_error", "harmonic_baseline", "loudness_error", "mono16k", "multiscale_mel_distance", "pitch_accuracy",
           "resynthesis_metrics", "si_sdr", "spectral_distance"]
