"""A neural codec measured: rate against distortion beside Opus and mu-law, codebook use, speed, memory.

The measures follow the codec papers' evaluations (SoundStream, Zeghidour et
al. 2021, https://arxiv.org/abs/2107.03312; EnCodec, Défossez et al. 2022,
https://arxiv.org/abs/2210.13438; DAC, Kumar et al. 2023,
https://arxiv.org/abs/2306.06546): the same held-out clips
coded at each bitrate the codec gives and by reference codecs, each decoded
clip scored against its original by the multi-scale mel distance (DAC), the
SI-SDR and the multi-resolution STFT distance (DDSP) of
:mod:`cadenza.evaluate.audio`.

Baselines:

- **Opus** (RFC 6716, libopus; Valin, Vos & Terriberry 2012), the codec the
  papers compare against, at 6, 8 and 12 kbps. Through ``opusenc
  --bitrate`` (Debian ``opus-tools``) when it is installed, else through
  libsndfile (soundfile's ``format="OGG", subtype="OPUS"``): libsndfile 1.2
  maps ``compression_level`` q in [0, 1] to a target of
  ``(1 - q) * 250000 + 6000`` bits a second a channel (``src/ogg_opus.c``,
  ``SFC_SET_COMPRESSION_LEVEL``), so any target from 6 to 256 kbps is set
  exactly. Either way libopus runs in constrained VBR (libopus's default,
  which libsndfile keeps; opusenc is told ``--cvbr``, since its own default,
  unconstrained VBR, spent 12-18 kbps at a 12 kbps target here), so the
  bitrate spent varies with the music: the one reported is measured, the
  Opus packets' bytes (the Ogg pages' payload less the two header packets)
  times 8 over the clip's seconds. The Ogg container adds about 0.6 kbps
  (a lacing byte a 20 ms packet, a page header a second) and about 0.6 KB
  of headers a file (512 bytes of them libsndfile's comment padding),
  reported apart.
- **mu-law PCM** at the codec's own bitrates: peak-normalised, resampled
  down to ``kbps * 1000 / bits`` samples a second (a few less, so that the
  gain, 32 bits a clip, fits the budget too), companded (G.711's curve,
  mu = 2^bits - 1) and quantised to ``bits`` bits, then decoded and
  resampled back (soxr).
  :func:`rate_distortion` tries each of :data:`MULAW_BITS` at every bitrate
  and keeps the split with the lowest mean mel distance on the clips
  themselves (an oracle choice: the strongest simple baseline, not a fair
  codec), and says which it kept.

Nothing here imports torch until a metric or the codec needs it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cadenza.errors import CadenzaError

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the rates libopus codes at without resampling
OPUS_KBPS = (6.0, 8.0, 12.0)  # the baseline points
OPUS_MIN_KBPS, OPUS_MAX_KBPS = 6.0, 256.0  # a mono stream's usable range (libopus, libsndfile, opusenc)
MULAW_BITS = (1, 2, 4, 8)  # bits a sample tried by the mu-law baseline
GAIN_BITS = 32  # the mu-law baseline sends the clip's peak as one float
METRICS = ("mel", "si_sdr", "spectral")
BETTER = {"mel": -1, "si_sdr": 1, "spectral": -1}  # the direction in which each metric improves


# --- Opus ------------------------------------------------------------------------------------

def ogg_packets(data: bytes) -> list[int]:
    """The byte length of each packet in an Ogg stream (RFC 3533: a page is ``OggS``, 22 header
    bytes, a segment count and the segment table; a packet ends with a lacing value below 255)."""
    packets, pos, size = [], 0, 0
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS" or pos + 27 > len(data):
            raise ValueError(f"not an Ogg page at byte {pos}")
        count = data[pos + 26]
        table = data[pos + 27:pos + 27 + count]
        for lace in table:
            size += lace
            if lace < 255:
                packets.append(size)
                size = 0
        pos += 27 + count + sum(table)
    return packets


def opus_payload_bytes(data: bytes) -> int:
    """Bytes of Opus audio packets in an Ogg Opus file: every packet but the two headers
    (``OpusHead`` and ``OpusTags``, RFC 7845)."""
    return sum(ogg_packets(data)[2:])


def opusenc_path() -> str | None:
    """The ``opusenc`` program (Debian ``opus-tools``), or None."""
    return shutil.which("opusenc")


def _check_kbps(kbps: float) -> float:
    kbps = float(kbps)
    if not OPUS_MIN_KBPS <= kbps <= OPUS_MAX_KBPS:
        raise CadenzaError(f"Opus codes a mono stream at {OPUS_MIN_KBPS:g} to {OPUS_MAX_KBPS:g} kbps, "
                           f"not {kbps:g}")
    return kbps


def _mono_samples(samples) -> np.ndarray:
    from cadenza.audio.features import check_audio

    audio = check_audio(samples, "samples")
    if audio.shape[0] != 1:
        audio = audio.mean(axis=0, keepdims=True)
    return audio[0]


def _opus_bytes_soundfile(x: np.ndarray, rate: int, kbps: float) -> bytes:
    import soundfile as sf

    level = 1.0 - (kbps * 1000.0 - 6000.0) / 250000.0  # libsndfile: bitrate = (1 - level) * 250000 + 6000
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format="OGG", subtype="OPUS", compression_level=min(max(level, 0.0), 1.0))
    return buffer.getvalue()


def _opus_bytes_opusenc(x: np.ndarray, rate: int, kbps: float, program: str) -> bytes:
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="cadenza-opus-") as folder:
        wav, out = Path(folder) / "in.wav", Path(folder) / "out.opus"
        sf.write(wav, x, rate, subtype="FLOAT")
        done = subprocess.run([program, "--quiet", "--cvbr", "--bitrate", f"{kbps:g}", str(wav), str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"opusenc failed: {done.stderr.strip()[-300:]}")
        return out.read_bytes()


def opus_encode(samples, sample_rate: int, kbps: float, method: str = "auto") -> tuple[bytes, str]:
    """An Ogg Opus file of mono ``samples`` coded at a ``kbps`` target, and how (``"opusenc"`` or
    ``"soundfile"``; ``"auto"``: opusenc when installed). Rates Opus does not code at are
    resampled to 48 kHz first."""
    kbps = _check_kbps(kbps)
    x = _mono_samples(samples)
    if sample_rate not in OPUS_RATES:
        from cadenza.audio.resample import resample

        x, sample_rate = resample(x, sample_rate, 48000)[0], 48000
    if method not in ("auto", "opusenc", "soundfile"):
        raise ValueError(f"method must be auto, opusenc or soundfile, not {method!r}")
    program = opusenc_path() if method in ("auto", "opusenc") else None
    if method == "opusenc" and program is None:
        raise CadenzaError("opusenc is not installed (Debian: apt install opus-tools)")
    if program is not None:
        return _opus_bytes_opusenc(x, sample_rate, kbps, program), "opusenc"
    return _opus_bytes_soundfile(x, sample_rate, kbps), "soundfile"


def opus_decode(data: bytes, sample_rate: int, samples: int) -> np.ndarray:
    """Decode an Ogg Opus file to ``samples`` mono samples at ``sample_rate`` (cut or padded: the
    encoder pads its last packet)."""
    import soundfile as sf

    from cadenza.audio.resample import resample

    decoded, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    decoded = resample(decoded.T.mean(axis=0, keepdims=True), rate, sample_rate)[0]
    return np.pad(decoded[:samples], (0, max(0, samples - len(decoded))))


def opus_roundtrip(samples: np.ndarray, sample_rate: int, kbps: float,
                   method: str = "auto") -> tuple[np.ndarray, float]:
    """``samples`` (mono) coded by Opus at a ``kbps`` target and decoded: ``(decoded [samples],
    actual_kbps)``, the actual rate being the Opus packets' bits a second of input (no container).
    See :func:`opus_encode` for ``method``."""
    x = _mono_samples(samples)
    data, _ = opus_encode(x, sample_rate, kbps, method)
    seconds = len(x) / sample_rate
    return opus_decode(data, sample_rate, len(x)), opus_payload_bytes(data) * 8 / seconds / 1000


# --- mu-law PCM ------------------------------------------------------------------------------

def mulaw_rate(kbps: float, bits: int) -> int:
    """Samples a second that ``bits``-bit PCM sends at ``kbps`` (rounded down)."""
    if bits < 1 or kbps <= 0:
        raise CadenzaError(f"mu-law needs at least 1 bit and a positive bitrate, got {bits} bits, {kbps:g} kbps")
    return int(math.floor(kbps * 1000 / bits))


def mulaw_quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Samples in [-1, 1] (clipped) companded with mu = 2^bits - 1, quantised to ``2^bits`` levels
    (the levels ``2q / mu - 1``, as :mod:`cadenza.nn.mulaw`) and expanded back."""
    mu = 2.0 ** bits - 1
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)  # [-1, 1]
    q = np.rint((y + 1) / 2 * mu)  # 0 .. mu
    y = 2 * q / mu - 1
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def mulaw_baseline(samples, sample_rate: int, kbps: float, bits: int = 4) -> tuple[np.ndarray, float]:
    """``samples`` (mono) sent as ``bits``-bit mu-law PCM within ``kbps``: peak-normalised,
    resampled to the rate whose samples and 32-bit gain fit the budget (:func:`mulaw_rate` less
    the gain's share; never above ``sample_rate``), quantised, resampled back. Returns
    ``(decoded [samples], actual_kbps)``: the PCM's bits plus the gain, a second."""
    from cadenza.audio.resample import resample

    x = _mono_samples(samples)
    seconds = len(x) / sample_rate
    mulaw_rate(kbps, bits)  # checks the arguments
    rate = min(int(math.floor((kbps * 1000 - GAIN_BITS / seconds) / bits)), int(sample_rate))
    if rate < 1:
        raise CadenzaError(f"{kbps:g} kbps is less than one {bits}-bit sample a second")
    peak = float(np.abs(x).max()) or 1.0
    budget = int(math.floor((kbps * 1000 * seconds - GAIN_BITS) / bits))  # samples the bitrate pays for
    low = resample(x / peak, sample_rate, rate)[0][:max(budget, 1)]
    decoded = resample(mulaw_quantize(low, bits), rate, sample_rate)[0] * peak
    decoded = np.pad(decoded[:len(x)], (0, max(0, len(x) - len(decoded))))
    return decoded.astype(np.float32), (len(low) * bits + GAIN_BITS) / seconds / 1000


# --- codebooks -------------------------------------------------------------------------------

def codebook_usage(tokens_list, codebook_size: int) -> dict:
    """How each codebook's codes are used over ``tokens_list`` (arrays ``[codebooks, frames]``):
    per codebook, the perplexity of its codes' frequencies (exp of their entropy: ``K`` when all
    ``K`` are used equally, 1 when one code is), the share of codes never used (dead), and the
    frames counted."""
    arrays = [np.asarray(t) for t in tokens_list]
    if not arrays or any(a.ndim != 2 for a in arrays):
        raise CadenzaError("codebook_usage needs a list of [codebooks, frames] token arrays")
    levels = max(a.shape[0] for a in arrays)
    counts = np.zeros((levels, codebook_size), np.int64)
    for a in arrays:
        if a.size and (a.min() < 0 or a.max() >= codebook_size):
            raise CadenzaError(f"tokens must lie in 0-{codebook_size - 1}")
        for level in range(a.shape[0]):
            counts[level] += np.bincount(a[level].astype(np.int64), minlength=codebook_size)
    perplexity, dead = [], []
    for row in counts:
        total = row.sum()
        p = row[row > 0] / max(total, 1)
        perplexity.append(float(np.exp(-(p * np.log(p)).sum())) if total else 0.0)
        dead.append(float((row == 0).mean()))
    return {"codebook_size": int(codebook_size), "frames": [int(r.sum()) for r in counts],
            "perplexity": perplexity, "dead_share": dead,
            "used": [int((r > 0).sum()) for r in counts]}


# --- rate against distortion -----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _openblas_thread_setters() -> tuple:
    """``(get, set)`` for each OpenBLAS loaded in this process (numpy's own among them), found the
    way threadpoolctl finds them: by the library's path in ``/proc/self/maps`` and its symbols."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()
                            and line.split()[-1].startswith("/")})
    except OSError:
        return ()
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"),
                               ("openblas", "")):
            get, put = f"{prefix}_get_num_threads{suffix}", f"{prefix}_set_num_threads{suffix}"
            if hasattr(lib, get) and hasattr(lib, put):
                found.append((getattr(lib, get), getattr(lib, put)))
                break
    return tuple(found)


@contextlib.contextmanager
def single_threaded():
    """torch on one thread (:func:`cadenza.utils.one_thread`) and numpy's OpenBLAS on one thread
    too, restored after. The metrics are many small FFTs and products: on a shared 2-core
    machine under load, the default threads only contend (the mel distance of a 5 s clip:
    0.35 s on the default threads, 0.09 s on one, same machine, same minute)."""
    from cadenza.utils import one_thread

    setters = _openblas_thread_setters()
    before = [get() for get, _ in setters]
    for _, put in setters:
        put(1)
    try:
        with one_thread():
            yield
    finally:
        for (_, put), threads in zip(setters, before):
            put(threads)


def mel(decoded: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """The multi-scale mel distance of ``decoded`` to ``reference`` (mono, same rate)."""
    from cadenza.evaluate.audio import multiscale_mel_distance

    with single_threaded():
        return multiscale_mel_distance(decoded[None], reference[None], sample_rate)


def scores(decoded: np.ndarray, reference: np.ndarray, sample_rate: int, mel_distance: float | None = None) -> dict:
    """The three distances of ``decoded`` to ``reference`` (mono, same rate and length)."""
    from cadenza.evaluate.audio import si_sdr, spectral_distance

    d, r = decoded[None], reference[None]
    with single_threaded():
        sdr = si_sdr(d, r, sample_rate)
        return {"mel": mel(decoded, reference, sample_rate) if mel_distance is None else float(mel_distance),
                "si_sdr": float(sdr), "spectral": spectral_distance(d, r, sample_rate)}


def _mean(rows: list[dict]) -> dict:
    return {m: float(np.mean([r[m] for r in rows])) for m in METRICS}


def monotone(rows: list[dict], metric: str) -> bool:
    """Whether ``metric`` never gets worse from one row to the next (rows in rising bitrate)."""
    values = [r[metric] * BETTER[metric] for r in rows]
    return all(b >= a for a, b in zip(values, values[1:]))


def prepare_clips(codec, clips) -> list[np.ndarray]:
    """Each clip mono at the codec's rate, float32 ``[samples]``."""
    from cadenza.audio.io import Audio

    out = []
    for i, clip in enumerate(clips):
        if not isinstance(clip, Audio):
            raise CadenzaError(f"clip {i}: expected an Audio, got {type(clip).__name__}")
        clip = clip.mono()
        if clip.sample_rate != codec.sample_rate:
            clip = clip.resample(codec.sample_rate)
        out.append(np.asarray(clip.samples[0], np.float32))
    if not out:
        raise CadenzaError("rate_distortion needs at least one clip")
    return out


def excerpts(clips, sample_rate: int, seconds: float, segment_seconds: float = 5.0, min_seconds: float = 0.5,
             quiet_peak: float = 1e-3) -> list:
    """About ``seconds`` of held-out audio from ``clips`` (arrays ``[samples]``) as
    :class:`~cadenza.audio.io.Audio` excerpts, spread over the whole list: each clip is cut into
    segments of ``segment_seconds`` (a remainder shorter than ``min_seconds`` dropped, as are
    segments whose peak is below ``quiet_peak``), segments are taken at evenly spaced positions of
    that list until ``seconds`` are reached, and the last is cut to fit. Deterministic."""
    from cadenza.audio.io import Audio

    length, shortest = int(segment_seconds * sample_rate), max(1, int(min_seconds * sample_rate))
    segments = []
    for clip in clips:
        clip = np.asarray(clip, np.float32).reshape(-1)
        for start in range(0, len(clip), length):
            piece = clip[start:start + length]
            if len(piece) >= shortest and np.abs(piece).max() >= quiet_peak:
                segments.append(piece)
    if not segments:
        return []
    want = int(seconds * sample_rate)
    mean_length = np.mean([len(s) for s in segments])
    count = min(len(segments), max(1, int(math.ceil(want / mean_length))))
    order = list(np.unique(np.linspace(0, len(segments) - 1, count).round().astype(int)))
    order += [i for i in range(len(segments)) if i not in set(order)]  # if the spread ones fall short
    out, total = [], 0
    for i in order:
        if total >= want:
            break
        piece = segments[i][:want - total]
        if len(piece) >= shortest:
            out.append(Audio(piece[None].copy(), sample_rate))
        total += len(piece)
    return out


def held_out_metrics(codec, data, seconds: float = 30.0) -> dict:
    """Mean mel distance of up to ``seconds`` of an audio set's clips coded at the codec's lowest,
    middle and highest bitrates: ``{"valid_mel_distance_6kbps": ...}`` (what a trained run records)."""
    from cadenza.audio.io import Audio

    clips = excerpts(data.audio, data.sample_rate, seconds)
    if not clips:
        return {}
    rates = codec.bitrates()
    levels = sorted({1, (len(rates) + 1) // 2, len(rates)})
    sums = dict.fromkeys(levels, 0.0)
    with single_threaded():
        for clip in prepare_clips(codec, clips):
            tokens = codec.encode(Audio(clip[None], codec.sample_rate))
            for k in levels:
                sums[k] += mel(codec.decode(tokens[:k]).samples[0, :len(clip)], clip, codec.sample_rate)
    return {f"valid_mel_distance_{rates[k - 1]:g}kbps": round(total / len(clips), 4) for k, total in sums.items()}


def rate_distortion(codec, clips, bitrates=None, opus_kbps=OPUS_KBPS, mulaw_bits=MULAW_BITS,
                    opus_method: str = "auto") -> dict:
    """Mean distances of ``clips`` (:class:`~cadenza.audio.io.Audio`) coded by ``codec`` at each of
    ``bitrates`` (default: every one it gives), by Opus at ``opus_kbps`` and by mu-law PCM at the
    codec's bitrates (the best of ``mulaw_bits`` splits by mel distance), and the codec's
    codebook usage on the clips.

    Returns ``{"codec": rows, "opus": rows, "mulaw": rows, "monotone": {metric: bool},
    "usage": codebook_usage, "clips", "seconds", "sample_rate", "opus_method"}``; a row is
    ``{"kbps", "mel", "si_sdr", "spectral"}`` (means over the clips; ``per_clip`` holds each
    clip's) plus ``codebooks`` (codec), ``actual_kbps``
    (baselines; Opus's counts its packets only, ``file_kbps`` the whole Ogg files) and ``bits``,
    ``rate``, ``tried`` (mu-law: the mean mel distance of each split tried), rows in rising
    bitrate. Each clip is encoded once
    with every codebook and decoded from its first ``k`` (a residual quantiser's codes at ``k``
    codebooks are the first ``k`` of all of them)."""
    with single_threaded():
        return _rate_distortion(codec, clips, bitrates, opus_kbps, mulaw_bits, opus_method)


def _rate_distortion(codec, clips, bitrates, opus_kbps, mulaw_bits, opus_method) -> dict:
    from cadenza.audio.io import Audio

    rate = int(codec.sample_rate)
    refs = prepare_clips(codec, clips)
    kbps_list = sorted(codec.bitrates() if bitrates is None else [float(b) for b in bitrates])
    levels = [codec.codebooks_for(b) for b in kbps_list]
    tokens = [np.asarray(codec.encode(Audio(x[None], rate))) for x in refs]  # [n_q, frames] each
    codec_rows = []
    for kbps, k in zip(kbps_list, levels):
        per_clip = []
        for x, t in zip(refs, tokens):
            decoded = np.asarray(codec.decode(t[:k]).samples, np.float32)[0][:len(x)]
            per_clip.append(scores(np.pad(decoded, (0, len(x) - len(decoded))), x, rate))
        codec_rows.append({"kbps": kbps, "codebooks": k, **_mean(per_clip), "per_clip": per_clip})

    opus_rows, method = [], None
    for kbps in sorted(opus_kbps):
        per_clip, payload, file_bytes = [], 0, 0
        for x in refs:
            data, method = opus_encode(x, rate, kbps, opus_method)
            per_clip.append(scores(opus_decode(data, rate, len(x)), x, rate))
            payload, file_bytes = payload + opus_payload_bytes(data), file_bytes + len(data)
        seconds = sum(len(x) for x in refs) / rate
        opus_rows.append({"kbps": float(kbps), "actual_kbps": payload * 8 / seconds / 1000,
                          "file_kbps": file_bytes * 8 / seconds / 1000, **_mean(per_clip), "per_clip": per_clip})

    mulaw_rows = []
    for kbps in kbps_list:
        tried = {}  # bits -> (coded clips, their mel distances): the full scores only for the best split
        for bits in mulaw_bits:
            if mulaw_rate(kbps, bits) >= 1:
                coded = [mulaw_baseline(x, rate, kbps, bits) for x in refs]
                tried[int(bits)] = coded, [mel(d, x, rate) for (d, _), x in zip(coded, refs)]
        if tried:
            bits = min(tried, key=lambda b: np.mean(tried[b][1]))
            coded, mels = tried[bits]
            actual = sum(a * len(x) for (_, a), x in zip(coded, refs)) / sum(len(x) for x in refs)
            per_clip = [scores(d, x, rate, m) for (d, _), x, m in zip(coded, refs, mels)]
            mulaw_rows.append({"kbps": kbps, "bits": bits, "rate": min(mulaw_rate(kbps, bits), rate),  # before the gain
                               "actual_kbps": actual, **_mean(per_clip), "per_clip": per_clip,
                               "tried": {b: float(np.mean(m)) for b, (_, m) in tried.items()}})

    return {"sample_rate": rate, "clips": len(refs), "seconds": float(sum(len(x) for x in refs) / rate),
            "codec": codec_rows, "opus": opus_rows, "mulaw": mulaw_rows, "opus_method": method,
            "monotone": {m: monotone(codec_rows, m) for m in METRICS},
            "usage": codebook_usage(tokens, codec.codebook_size)}


# --- speed and memory ------------------------------------------------------------------------

def probe_signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A deterministic music-like signal: a few harmonic notes with vibrato over soft noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    notes = 220.0 * 2 ** (rng.integers(0, 12, max(1, int(seconds * 2))) / 12)
    f0 = notes[np.minimum((t * 2).astype(int), len(notes) - 1)] * (1 + 0.005 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(h * phase) / h for h in range(1, 6)) * (0.5 + 0.5 * np.abs(np.sin(np.pi * t * 2)))
    return (0.25 * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def speed(codec, seconds: float = 10.0, audio=None, blocks: int = 500) -> dict:
    """One-thread real-time factors (seconds of audio a second of compute; above 1 is faster than
    real time) of ``encode`` and ``decode`` over ``seconds`` of audio (``audio``, else
    :func:`probe_signal`), and the latency of the streams one token frame a block (20 ms at 50
    frames a second) over ``blocks`` blocks: the decode stream's through
    :class:`~cadenza.realtime.stream.LatencyMeter`, the encode stream's the same way."""
    from cadenza.audio.io import Audio
    from cadenza.realtime.stream import LatencyMeter

    rate = int(codec.sample_rate)
    if audio is None:
        x = probe_signal(seconds, rate)
    else:
        x = prepare_clips(codec, [audio])[0][:int(seconds * rate)]
    clip = Audio(x[None], rate)
    with single_threaded():
        codec.decode(codec.encode(Audio(x[None, :codec.frame_samples * 4], rate)))  # warm-up
        started = time.perf_counter()
        tokens = codec.encode(clip)
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        codec.decode(tokens)
        decode_s = time.perf_counter() - started

        frames = min(blocks, tokens.shape[1])
        decoder, meter = codec.decode_stream(), LatencyMeter(rate)
        decoder.init_state()
        for i in range(frames):
            meter.measure(decoder.step, tokens[:, i:i + 1])
        encoder, times = codec.encode_stream(), []
        encoder.init_state()
        hop = codec.frame_samples
        for i in range(frames):
            started = time.perf_counter()
            encoder.step(x[i * hop:(i + 1) * hop])
            times.append(time.perf_counter() - started)
    deadline = hop / rate
    times = np.array(times)
    return {"seconds": len(x) / rate, "encode_rtf": len(x) / rate / encode_s, "decode_rtf": len(x) / rate / decode_s,
            "decode_stream": meter.report(),
            "encode_stream": {"blocks": len(times), "block_samples": hop, "deadline_ms": round(deadline * 1000, 3),
                              "median_ms": round(float(np.median(times)) * 1000, 4),
                              "p99_ms": round(float(np.percentile(times, 99)) * 1000, 4),
                              "max_ms": round(float(times.max()) * 1000, 4),
                              "deadline_misses": int((times > deadline).sum())}}


_MEMORY_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
import soundfile as sf

def rss_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

run, path, out_path, mode, block_seconds = sys.argv[1:6]
import cadenza
from cadenza.audio.io import Audio
from cadenza.utils import one_thread
codec = cadenza.load(run)
rate, hop = codec.sample_rate, codec.frame_samples
block = int(float(block_seconds) * rate) // hop * hop or hop
with one_thread():  # warm-up: first calls allocate torch's workspaces
    codec.decode(codec.encode(Audio(np.full((1, hop * 8), 0.1, np.float32), rate)))
baseline = rss_mb("VmRSS")
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark to the current RSS
    reset = True
except OSError:
    reset = False
started = time.perf_counter()
with one_thread():
    if mode == "stream":
        encoder, decoder = codec.encode_stream(), codec.decode_stream()
        encoder.init_state()
        parts, samples = [], 0
        with sf.SoundFile(path) as f:
            for chunk in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                samples += len(chunk)
                chunk = np.pad(chunk[:, 0], (0, -len(chunk) % hop))
                parts.append(encoder.step(chunk))
        tokens = np.concatenate(parts, axis=1)
        decoder.init_state()
        frames = block // hop
        with sf.SoundFile(out_path, "w", rate, 1, subtype="FLOAT") as f:
            for i in range(0, tokens.shape[1], frames):
                f.write(decoder.step(tokens[:, i:i + frames])[0])
    else:
        audio = Audio.read(path)
        samples = len(audio)
        tokens = codec.encode(audio)
        codec.decode(tokens).write(out_path)
seconds = time.perf_counter() - started
peak = rss_mb("VmHWM")  # the high-water mark since the reset (getrusage's where /proc is missing)
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "reset": reset,
                  "seconds": seconds, "samples": samples, "frames": int(tokens.shape[1])}))
"""


def long_file_memory(codec, minutes: float = 10.0, mode: str = "stream", block_seconds: float = 1.0,
                     timeout: float = 3600.0) -> dict:
    """Peak resident memory of a fresh process that encodes then decodes a ``minutes``-long file
    (:func:`probe_signal`): ``mode="stream"`` reads it ``block_seconds`` at a time through
    ``encode_stream``, keeps only the tokens, and decodes through ``decode_stream`` into a file;
    ``mode="whole"`` reads it into memory and calls ``encode`` and ``decode``. ``codec`` is a run
    directory, or a fitted codec (saved to a temporary folder first). Linux only for the
    reset peak (``/proc/self/clear_refs``); elsewhere the peak includes loading.

    Returns ``{"minutes", "mode", "baseline_mb" (RSS after loading the codec), "peak_mb",
    "growth_mb" (peak less baseline), "audio_mb" (the file as float32 in memory), "seconds",
    "realtime" (audio seconds a second of compute, both ways together), "frames"}``.
    """
    import json

    import soundfile as sf

    if mode not in ("stream", "whole"):
        raise ValueError(f"mode must be stream or whole, not {mode!r}")
    with tempfile.TemporaryDirectory(prefix="cadenza-codec-memory-") as folder:
        folder = Path(folder)
        if isinstance(codec, (str, os.PathLike)):
            from cadenza.models.base import resolve_run

            run, rate = str(resolve_run(codec)), None
        else:
            run, rate = str(codec.save(folder / "run")), int(codec.sample_rate)
        if rate is None:
            import cadenza

            rate = int(cadenza.load(run).sample_rate)
        path = folder / "long.wav"
        total = int(minutes * 60 * rate)
        with sf.SoundFile(path, "w", rate, 1, subtype="FLOAT") as f:  # written a minute at a time
            for start in range(0, total, 60 * rate):
                n = min(60 * rate, total - start)
                f.write(probe_signal(n / rate, rate, seed=start // (60 * rate)))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, run, str(path), str(folder / "out.wav"),
                               mode, str(block_seconds)], capture_output=True, text=True, env=env, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the memory probe failed: {done.stderr.strip()[-800:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    audio_seconds = result["samples"] / rate
    return {"minutes": minutes, "mode": mode, "baseline_mb": round(result["baseline_mb"], 1),
            "peak_mb": round(result["peak_mb"], 1), "growth_mb": round(result["peak_mb"] - result["baseline_mb"], 1),
            "audio_mb": round(total * 4 / 2 ** 20, 1), "seconds": round(result["seconds"], 2),
            "realtime": round(audio_seconds / result["seconds"], 2), "frames": result["frames"],
            "peak_reset": result["reset"]}
