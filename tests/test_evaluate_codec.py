"""The codec's evaluation: Opus and mu-law baselines at the bitrates asked for, codebook usage
by hand, rate against distortion with known answers (a stand-in codec whose noise halves with
each codebook) and on a tiny trained codec, speed and the long-file memory probe."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cadenza.audio.io import Audio
from cadenza.errors import CadenzaError
from cadenza.evaluate import codec as ec

RATE = 16000


@pytest.fixture(scope="module")
def tone():
    return ec.probe_signal(1.0, RATE)


# --- Opus ------------------------------------------------------------------------------------

def ogg_page(lacing: list[int], flags: int = 0) -> bytes:
    """A hand-made Ogg page: capture pattern, 22 header bytes, segment count, table, body."""
    return b"OggS" + bytes([0, flags]) + bytes(20) + bytes([len(lacing)]) + bytes(lacing) + bytes(sum(lacing))


def test_ogg_packets_follow_the_lacing_values():
    # two header packets, then a 300-byte packet laced 255 + 45 across two pages, then 10 and 0 bytes
    data = ogg_page([19]) + ogg_page([40]) + ogg_page([255]) + ogg_page([45, 10, 0], flags=1)
    assert ec.ogg_packets(data) == [19, 40, 300, 10, 0]
    assert ec.opus_payload_bytes(data) == 310
    with pytest.raises(ValueError):
        ec.ogg_packets(b"RIFF" + bytes(30))


@pytest.mark.parametrize("kbps", [6, 12])
def test_opus_roundtrip_keeps_the_length_near_the_bitrate_and_beats_silence(tone, kbps):
    decoded, actual = ec.opus_roundtrip(tone, RATE, kbps, method="soundfile")
    assert decoded.shape == tone.shape and decoded.dtype == np.float32
    assert 0.7 * kbps < actual < 1.3 * kbps  # VBR: near the target, measured on the packets alone
    data, how = ec.opus_encode(tone, RATE, kbps, method="soundfile")
    assert how == "soundfile" and len(data) > ec.opus_payload_bytes(data)  # the container costs bytes too
    assert ec.mel(decoded, tone, RATE) < 0.5 * ec.mel(np.zeros_like(tone), tone, RATE)
    assert ec.scores(decoded, tone, RATE)["si_sdr"] > 0


def test_opus_spends_more_bits_for_less_distortion(tone):
    (low, low_kbps), (high, high_kbps) = (ec.opus_roundtrip(tone, RATE, k, method="soundfile") for k in (6, 24))
    assert high_kbps > 2 * low_kbps
    assert ec.mel(high, tone, RATE) < ec.mel(low, tone, RATE)


def test_opus_at_a_rate_it_does_not_code_resamples(tone):
    from cadenza.audio.resample import resample

    x = resample(tone, RATE, 22050)[0]
    decoded, actual = ec.opus_roundtrip(x, 22050, 12, method="soundfile")
    assert decoded.shape == x.shape and 6 < actual < 18


def test_opus_refuses_bitrates_it_cannot_give(tone, monkeypatch):
    with pytest.raises(CadenzaError, match="6 to 256 kbps"):
        ec.opus_roundtrip(tone, RATE, 3)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert ec.opusenc_path() is None
    with pytest.raises(CadenzaError, match="opusenc is not installed"):
        ec.opus_encode(tone, RATE, 6, method="opusenc")
    assert ec.opus_encode(tone, RATE, 6)[1] == "soundfile"  # auto falls back


@pytest.mark.skipif(shutil.which("opusenc") is None, reason="opusenc (Debian opus-tools) not installed")
def test_opusenc_hits_its_bitrate(tone):
    decoded, actual = ec.opus_roundtrip(tone, RATE, 12, method="opusenc")
    assert decoded.shape == tone.shape and 0.7 * 12 < actual < 1.3 * 12
    assert ec.opus_encode(tone, RATE, 12)[1] == "opusenc"


# --- mu-law ----------------------------------------------------------------------------------

def test_mulaw_bitrate_arithmetic(tone):
    assert ec.mulaw_rate(6, 8) == 750 and ec.mulaw_rate(6, 4) == 1500 and ec.mulaw_rate(1.5, 1) == 1500
    assert ec.mulaw_rate(0.5, 3) == 166  # rounded down: never above the bitrate
    decoded, actual = ec.mulaw_baseline(tone, RATE, 6.0, bits=8)
    assert decoded.shape == tone.shape
    assert actual == pytest.approx((746 * 8 + 32) / 1000, abs=0.008)  # 1 s: 746 samples of 8 bits and the gain
    assert actual <= 6.0
    _, capped = ec.mulaw_baseline(tone, RATE, 1000.0, bits=8)  # 125 kHz asked: the clip's 16 kHz at most
    assert capped == pytest.approx((RATE * 8 + 32) / 1000, rel=1e-3)
    with pytest.raises(CadenzaError):
        ec.mulaw_rate(6, 0)


def test_mulaw_quantiser_levels_and_error():
    x = np.linspace(-1, 1, 200_001)  # finer than the smallest step (8.6e-5 at 8 bits)
    for bits in (1, 2, 4, 8):
        assert len(np.unique(ec.mulaw_quantize(x, bits))) == 2 ** bits
    assert set(np.unique(ec.mulaw_quantize(x, 1))) == {-1.0, 1.0}
    assert np.abs(ec.mulaw_quantize(x, 8) - x).max() < 0.025  # G.711's curve: about 2% of |x| + 1/255


def test_mulaw_baseline_improves_with_bitrate(tone):
    low, _ = ec.mulaw_baseline(tone, RATE, 16, bits=4)
    high, _ = ec.mulaw_baseline(tone, RATE, 128, bits=8)
    assert ec.scores(high, tone, RATE)["si_sdr"] > ec.scores(low, tone, RATE)["si_sdr"] + 10


# --- codebooks and helpers -------------------------------------------------------------------

def test_codebook_usage_by_hand():
    k = 8
    uniform = np.arange(k)[None].repeat(2, 0)  # two codebooks, every code once
    one_code = np.full((1, 5), 3)
    half = np.array([[0, 1, 2, 3, 0, 1, 2, 3]])
    usage = ec.codebook_usage([uniform], k)
    assert usage["perplexity"] == pytest.approx([k, k]) and usage["dead_share"] == [0.0, 0.0]
    usage = ec.codebook_usage([one_code], k)
    assert usage["perplexity"] == pytest.approx([1.0]) and usage["dead_share"] == [7 / 8] and usage["used"] == [1]
    assert ec.codebook_usage([half], k)["perplexity"] == pytest.approx([4.0])
    both = ec.codebook_usage([uniform, one_code], k)  # clips with different numbers of codebooks
    assert both["frames"] == [k + 5, k] and both["dead_share"] == [0.0, 0.0]
    counts = np.bincount(np.r_[np.arange(k), np.full(5, 3)], minlength=k) / (k + 5)
    assert both["perplexity"][0] == pytest.approx(np.exp(-(counts * np.log(counts)).sum()))
    with pytest.raises(CadenzaError):
        ec.codebook_usage([np.array([[0, 8]])], k)


def test_monotone_follows_each_metric_direction():
    rows = [{"mel": 3, "si_sdr": 1, "spectral": 2}, {"mel": 2, "si_sdr": 1, "spectral": 3}]
    assert ec.monotone(rows, "mel") and ec.monotone(rows, "si_sdr") and not ec.monotone(rows, "spectral")


def test_a_silent_estimate_has_no_si_sdr(tone):
    assert ec.scores(np.zeros_like(tone), tone, RATE)["si_sdr"] == -100.0


def test_excerpts_take_the_seconds_asked_spread_over_the_clips():
    clips = [np.full(RATE * 12, 0.1 * (i + 1), np.float32) for i in range(5)]  # 60 s, 15 segments of 4 s
    picked = ec.excerpts(clips, RATE, seconds=10, segment_seconds=4)
    assert sum(len(a) for a in picked) == 10 * RATE and [len(a) / RATE for a in picked] == [4, 4, 2]
    levels = [float(a.samples[0, 0]) for a in picked]
    assert levels[0] == pytest.approx(0.1) and levels[-1] == pytest.approx(0.5)  # first and last clips
    quiet = [np.zeros(RATE * 3, np.float32), np.r_[np.full(RATE, 0.2), np.zeros(RATE // 10)].astype(np.float32)]
    assert [len(a) for a in ec.excerpts(quiet, RATE, seconds=10)] == [RATE + RATE // 10]  # silence skipped
    assert ec.excerpts(quiet[:1], RATE, seconds=10) == []


# --- rate against distortion with a known answer ---------------------------------------------

class NoisyCodec:
    """A stand-in codec: tokens name the clip; decoding k codebooks gives the clip plus white
    noise of amplitude ``0.5 ** k`` (``growing``: ``0.5 ** (n_q - k)``), so the SI-SDR rises by
    20 log10 2 = 6.02 dB a codebook."""

    sample_rate, frame_samples, n_q, codebook_size = RATE, 320, 4, 16

    def __init__(self, growing=False):
        self.clips, self.growing = [], growing

    def bitrates(self):
        return [0.8 * k for k in range(1, self.n_q + 1)]  # 4 bits a code, 200 frames a second

    def codebooks_for(self, kbps):
        return [round(r, 6) for r in self.bitrates()].index(round(kbps, 6)) + 1

    def encode(self, audio, bitrate=None):
        self.clips.append(audio.samples[0])
        frames = -(-len(audio) // self.frame_samples)
        tokens = np.zeros((self.n_q, frames), np.int64)
        tokens[0] = len(self.clips) - 1
        tokens[1:] = np.arange(frames) % self.codebook_size
        return tokens

    def decode(self, tokens):
        x = self.clips[int(tokens[0, 0])]
        k = tokens.shape[0]
        level = 0.5 ** ((self.n_q - k) if self.growing else k)
        noise = np.random.default_rng(int(tokens[0, 0])).standard_normal(tokens.shape[1] * self.frame_samples)
        out = np.pad(x, (0, len(noise) - len(x))) + 0.05 * level * noise
        return Audio(out[None].astype(np.float32), RATE)


def test_rate_distortion_known_answer():
    clips = [Audio(ec.probe_signal(0.5, RATE, seed=s)[None], RATE) for s in (0, 1)]
    result = ec.rate_distortion(NoisyCodec(), clips, opus_kbps=(12, 6), mulaw_bits=(2, 8))
    rows = result["codec"]
    assert [r["kbps"] for r in rows] == pytest.approx([0.8, 1.6, 2.4, 3.2]) and [r["codebooks"] for r in rows] == [
        1, 2, 3, 4]
    assert len(rows[0]["per_clip"]) == 2
    assert rows[0]["mel"] == pytest.approx(np.mean([c["mel"] for c in rows[0]["per_clip"]]))
    steps = np.diff([r["si_sdr"] for r in rows])
    assert steps == pytest.approx([6.02] * 3, abs=0.3)
    assert result["monotone"] == {"mel": True, "si_sdr": True, "spectral": True}
    assert [r["kbps"] for r in result["opus"]] == [6.0, 12.0] and result["opus_method"] in ("soundfile", "opusenc")
    assert all(0.6 * r["kbps"] < r["actual_kbps"] < r["file_kbps"] for r in result["opus"])
    assert [r["kbps"] for r in result["mulaw"]] == [r["kbps"] for r in rows]
    for row in result["mulaw"]:
        assert set(row["tried"]) == {2, 8} and row["mel"] == pytest.approx(min(row["tried"].values()))
        assert row["kbps"] - 0.05 <= row["actual_kbps"] <= row["kbps"] + 1e-9  # samples and gain within budget
    assert result["usage"]["frames"] == [2 * 25] * 4 and result["usage"]["used"][0] == 2
    assert result["clips"] == 2 and result["seconds"] == pytest.approx(1.0)

    subset = ec.rate_distortion(NoisyCodec(), clips[:1], bitrates=[3.2, 0.8], opus_kbps=(), mulaw_bits=())
    assert [r["codebooks"] for r in subset["codec"]] == [1, 4] and subset["opus"] == [] and subset["mulaw"] == []


def test_rate_distortion_reports_quality_that_falls_with_bitrate():
    clips = [Audio(ec.probe_signal(0.5, RATE)[None], RATE)]
    result = ec.rate_distortion(NoisyCodec(growing=True), clips, opus_kbps=(), mulaw_bits=())
    assert result["monotone"] == {"mel": False, "si_sdr": False, "spectral": False}


# --- a tiny trained codec --------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_codec():
    import support
    from cadenza.data.audio_sets import from_scores
    from cadenza.models.audio.codec import Codec

    data = from_scores([support.melody([67, 69, 71, 72], beats=0.25)], 73, "tiny")
    return Codec(**{**Codec.tiny_config, "max_steps": 1, "adversarial_start": 5}).fit(data), data


def test_rate_distortion_of_a_tiny_codec(tiny_codec):
    codec, data = tiny_codec
    clip = Audio(np.asarray(data.audio[0][:6000], np.float32)[None], data.sample_rate)
    result = ec.rate_distortion(codec, [clip, clip.resample(22050)], opus_kbps=(6,), mulaw_bits=(4,))
    assert [r["kbps"] for r in result["codec"]] == sorted(codec.bitrates())
    assert [r["codebooks"] for r in result["codec"]] == list(range(1, codec.n_q + 1))
    assert all(np.isfinite(r[m]) for r in result["codec"] for m in ec.METRICS)
    assert set(result["monotone"]) == set(ec.METRICS) and all(isinstance(v, bool) for v in result["monotone"].values())
    frames = -(-6000 // codec.frame_samples)
    assert result["usage"]["frames"] == [2 * frames] * codec.n_q
    assert all(1 <= p <= codec.codebook_size for p in result["usage"]["perplexity"])


def test_speed_and_memory_of_a_tiny_codec(tiny_codec):
    codec, _ = tiny_codec
    result = ec.speed(codec, seconds=0.5, blocks=20)
    assert result["encode_rtf"] > 0 and result["decode_rtf"] > 0 and result["seconds"] == 0.5
    stream = result["decode_stream"]
    assert stream["blocks"] == 20 and stream["block_samples"] == codec.frame_samples
    assert stream["deadline_ms"] == pytest.approx(1000 * codec.frame_samples / codec.sample_rate)
    assert result["encode_stream"]["blocks"] == 20 and result["encode_stream"]["p99_ms"] > 0

    memory = ec.long_file_memory(codec, minutes=0.05, block_seconds=0.5)
    assert memory["frames"] == 0.05 * 60 * codec.sample_rate / codec.frame_samples
    assert memory["peak_mb"] >= memory["baseline_mb"] > 50 and memory["realtime"] > 0
    with pytest.raises(ValueError):
        ec.long_file_memory(codec, mode="neither")


def test_held_out_metrics_name_each_bitrate(tiny_codec):
    codec, data = tiny_codec
    metrics = ec.held_out_metrics(codec, data, seconds=1.0)
    rates = codec.bitrates()
    assert set(metrics) == {f"valid_mel_distance_{rates[k]:g}kbps" for k in (0, 1, 2)}
    assert all(np.isfinite(v) and v > 0 for v in metrics.values())
