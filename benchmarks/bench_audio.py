"""Audio and DDSP: streamed vs offline output, synthesis speed, streaming latency,
resynthesis quality on held-out violin audio, and timbre transfer on real recordings.

The model is the trained run named by ``$CADENZA_DDSP_RUN`` (default
``pretrained/ddsp-violin``, the shipped checkpoint made by
``scripts/train_ddsp.py``); without one, speed and equality are measured
on a ``laptop``-preset model trained for a few steps (the weights do not change
the cost) and the quality sections say they were skipped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from peak_memory import peak_rss_mb, reset_peak_rss

TITLE = "Audio: DDSP streaming, speed and resynthesis quality"

SAMPLES = Path("/usr/share/sonic-pi/samples")
# (file, semitones to shift into the violin's range)
# guit_e_slide is a known failure of pretrained/ddsp-violin: its output for that slide is
# mostly noise (CREPE confidence about 0.2), at any shift. Kept in the table on purpose.
RECORDINGS = [("guit_harmonics", 0), ("ambi_glass_hum", 12), ("guit_e_slide", 0), ("bass_woodsy_c", 24)]


def _model():
    import cadenza
    from cadenza.data.audio_sets import from_scores
    from cadenza.models.audio.ddsp import DDSP
    from cadenza.models.base import is_run

    run = os.environ.get("CADENZA_DDSP_RUN", "pretrained/ddsp-violin")
    if is_run(run):
        return cadenza.load(run), run, True
    bach = cadenza.corpus("bach", split="train", progress=False)[:2]
    model = DDSP(**{**DDSP.presets["laptop"], "max_steps": 2})
    return model.fit(from_scores(bach, 40, "bach", max_seconds=20)), "laptop preset, 2 steps (untrained)", False


def _controls(model, seconds: float):
    rng = np.random.default_rng(0)
    frames = int(seconds * model.config.sample_rate / model.config.hop)
    notes = np.repeat(rng.integers(60, 84, frames // 50 + 1), 50)[:frames]
    f0 = 440 * 2 ** ((notes - 69) / 12)
    ld = np.where(np.arange(frames) % 50 < 40, -20.0, -70.0)
    return np.stack([f0, ld], 1).astype(np.float32)


def _thread_times(model, default_threads: int, repeats: int) -> tuple[float, float, list[float]]:
    """Median seconds to render a 30 s melody block by block on one torch thread (the library's
    way) and on ``default_threads``, alternated; and the default-thread times."""
    import torch

    controls = _controls(model, 30.0)
    block = model.render_block_frames

    def on_default_threads():
        torch.set_num_threads(default_threads)
        try:
            stream = model.stream(0)
            stream.init_state()
            return [stream.step(controls[i:i + block]) for i in range(0, len(controls), block)]
        finally:
            torch.set_num_threads(1)

    times = {"one": [], "default": []}
    model.render_controls(controls[:500])  # warm up
    for _ in range(repeats):
        for name, render in (("one", lambda: model.render_controls(controls)), ("default", on_default_threads)):
            started = time.perf_counter()
            render()
            times[name].append(time.perf_counter() - started)
    return float(np.median(times["one"])), float(np.median(times["default"])), times["default"]


def _threads_ratio(model, default_threads: int, repeats: int = 5) -> str:
    """One thread against torch's default, on the machine as it is and with a busy process on
    every core (what a laptop running a DAW, or this shared machine, looks like)."""
    import subprocess
    import sys

    rows = []
    for label in ("as found", f"{default_threads} busy processes beside it"):
        busy = [] if label == "as found" else [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(default_threads)]
        try:
            one, default, spread = _thread_times(model, default_threads, repeats)
        finally:
            for process in busy:
                process.kill()
                process.wait()
        rows.append(f"| {label} | **{default / one:.2f}x** | {one:.2f} | {default:.2f} "
                    f"({min(spread):.2f}-{max(spread):.2f}) |")
    return "\n".join([
        f"**One torch thread against torch's default {default_threads}**, rendering a 30 s melody block by block "
        f"(what render, transfer, stream, play and audio models' generate do), alternated in the same run, "
        f"medians of {repeats} (above 1x: one thread is faster):", "",
        f"| machine | default time / one-thread time | one thread (s) | {default_threads} threads (s, range) |",
        "|---|---:|---:|---:|", *rows, "",
        "On an idle machine the default threads can be faster (first row); with the cores busy they contend "
        "and vary (second row), so the audio paths use one thread, the steady choice."])


def run() -> str:
    import torch

    from cadenza.realtime import LatencyMeter, run_blocks

    # torch starts with a thread a core; read the cores, not torch.get_num_threads(): an earlier
    # benchmark in the same process may have set it to 1
    default_threads = os.cpu_count() or 1
    torch.set_num_threads(1)
    model, source, trained = _model()
    c = model.config
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [_threads_ratio(model, default_threads), "",
             f"Model: {source}; {c.n_harmonics} harmonics, {c.n_noise_bands} noise bands, GRU {c.gru}, "
             f"reverb {c.reverb_seconds} s, {c.sample_rate} Hz, hop {c.hop}. One torch thread; "
             f"load average {load:.1f} on {os.cpu_count()} cores when measured (timings scale with it).", ""]

    # Streamed == offline.
    controls = _controls(model, 10.0)
    offline = model.render_controls(controls, seed=1)
    lines += ["| block (samples) | max abs difference, streamed vs offline |", "|---:|---:|"]
    for block in (64, 128, 256, 512, 1024):
        per = block // c.hop
        streamed = run_blocks(model.stream(1), [controls[i:i + per] for i in range(0, len(controls), per)])
        lines.append(f"| {block} | {np.abs(streamed - offline).max():.2e} |")

    # Offline speed and streaming latency.
    controls = _controls(model, 30.0)
    model.render_controls(controls[:500])
    reset_peak_rss()
    started = time.perf_counter()
    audio = model.render_controls(controls)
    offline_rtf = audio.shape[-1] / c.sample_rate / (time.perf_counter() - started)
    lines += ["", f"Offline synthesis of 30 s: **{offline_rtf:.0f}x** faster than real time (target >= 100x); "
                  f"peak RSS {peak_rss_mb():.0f} MB.", "",
              "| block | deadline (ms) | median (ms) | p99 (ms) | max (ms) | misses | real-time factor | "
              "peak RSS (MB) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for block in (64, 256, 1024):
        per = block // c.hop
        meter = LatencyMeter(c.sample_rate)
        reset_peak_rss()
        run_blocks(model.stream(0), [controls[i:i + per] for i in range(0, len(controls), per)], meter)
        r = meter.report()
        lines.append(f"| {block} | {r['deadline_ms']} | {r['median_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                     f"{r['deadline_misses']} | {r['real_time_factor']} | {peak_rss_mb():.0f} |")
    lines += ["", "Target: p99 < 4 ms for 256-sample blocks at 16 kHz. Peak RSS is the process's resident "
                  "memory high-water mark over each step (reset before it; `benchmarks/peak_memory.py`)."]
    lines += _evaluation()

    if not trained:
        lines += ["", "Quality: skipped (no trained run; train one with "
                      "`cadenza train ddsp --data violin --preset laptop --out runs/ddsp-violin`)."]
        return "\n".join(lines)
    lines += _quality(model)
    lines += _transfer(model)
    return "\n".join(lines)


def _quality(model) -> list[str]:
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.audio import resynthesis_metrics

    m = model.metrics_
    # Held-out audio rendered with the SoundFont the model learned from: a run made before
    # runs recorded it (pretrained/ddsp-violin) was trained on TimGM6mb renders.
    if "soundfont" not in (model.data_spec_ or {}) and not os.environ.get("CADENZA_SOUNDFONT"):
        from cadenza.music.render import _timgm6mb

        os.environ["CADENZA_SOUNDFONT"] = str(_timgm6mb())
    test = audio_set("violin", "test", progress=False)
    reset_peak_rss()
    started = time.perf_counter()
    t = resynthesis_metrics(model, test, max_seconds=60.0)
    seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    lines = ["", f"Training: {m.get('train_steps')} steps in {m.get('train_seconds', 0) / 60:.1f} min "
                 f"({m.get('stopped_by')}) on {model.data_spec_.get('seconds')} s of violin audio "
                 "(Essen melodies on GM program 40, true f0); held out: the test split rendered with "
                 f"{Path(os.environ.get('CADENZA_SOUNDFONT', 'the default SoundFont')).name}.", "",
             "Resynthesis of held-out audio from its own f0 and loudness (test split, "
             f"{t['valid_seconds']} s; {seconds:.0f} s to measure, peak RSS {rss:.0f} MB):", "",
             "| metric | DDSP | harmonic-sine baseline | DDSP paper (NSynth, other data) |", "|---|---:|---:|---:|",
             f"| loudness L1 (dB) | {t['loudness_l1_db']} | | 0.07 (their loudness scale) |",
             f"| f0 L1 (semitones; CREPE on the output vs the true f0) | {t['f0_l1_semitones']} | | 0.02 |",
             f"| f0 L1 of the input itself (tracker floor) | {t['f0_l1_semitones_of_input']} | | |",
             f"| multi-resolution spectral distance | {t['spectral_distance']} | "
             f"{t['spectral_distance_sine_baseline']} | |"]
    return lines


def _evaluation() -> list[str]:
    """Cost of the audio evaluation suite (cadenza.evaluate.audio), and its real-vs-real line on `notes`."""
    from cadenza.audio.io import Audio
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate import audio as ev
    from cadenza.evaluate import audio_compare as sets

    rng = np.random.default_rng(0)
    t = np.arange(10 * 16000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)).astype(np.float32)
    noisy = (clean + 0.03 * rng.standard_normal(len(t))).astype(np.float32)
    minute = Audio(np.tile(noisy, 6), 16000)
    rows = []

    def timed(label, fn):
        reset_peak_rss()
        started = time.perf_counter()
        value = fn()
        rows.append(f"| {label} | {time.perf_counter() - started:.2f} | {peak_rss_mb():.0f} |")
        return value

    timed("SI-SDR, 10 s", lambda: ev.si_sdr(noisy, clean, 16000))
    timed("multi-scale mel distance (7 scales), 10 s", lambda: ev.multiscale_mel_distance(noisy, clean, 16000))
    timed("multi-resolution STFT distance, 10 s", lambda: ev.spectral_distance(noisy, clean, 16000))
    timed("f0 error (CREPE tiny on both), 10 s", lambda: ev.f0_error(noisy, clean, 16000))
    timed("loudness error, 10 s", lambda: ev.loudness_error(noisy, clean, 16000))
    timed("CREPE tiny embedding, 60 s (one frame every 50 ms)", lambda: sets.crepe_embedding(minute))
    timed("log-mel statistics, 60 s", lambda: sets.logmel_statistics(minute))
    a, b = rng.standard_normal((2000, 256)), rng.standard_normal((1000, 256)) + 0.1
    timed("Fréchet distance, 256 dimensions (2,000 vs 1,000 vectors)", lambda: sets.frechet_features(a, b))
    timed("NDB, K = 50 (k-means on 2,000 vectors of 64)", lambda: sets.ndb(a[:, :64], b[:, :64], bins=50))
    audio_set("notes", "train", progress=False)  # rendered once into the cache, not timed
    ref = timed("reference `notes`: train and test splits analysed (CREPE on up to 120 s each)",
                lambda: sets.AudioReference.load("notes", progress=False))
    valid = sets.clips_of(audio_set("notes", "valid", progress=False))
    result = timed(f"`evaluate_audio_set`: {len(valid)} clips (the valid split) against it",
                   lambda: sets.evaluate_audio_set(valid, ref, label="notes valid"))
    lines = ["", "### Audio evaluation (`cadenza.evaluate.audio`, `cadenza.evaluate.audio_compare`)", "",
             "| step | seconds | peak RSS (MB) |", "|---|---:|---:|", *rows, "",
             "Real audio against real audio, the line generated sets are read against "
             f"(`notes` train split: {ref.train.clips} clips, {len(ref.centres)} NDB bins):", "",
             "| set | clips | Fréchet CREPE | Fréchet log-mel | NDB/K |", "|---|---:|---:|---:|---:|"]
    for record in (ref.real, result["generated"]):
        lines.append(f"| {record['label']} | {record['clips']} | {record['frechet_crepe']:.1f} | "
                     f"{record['frechet_logmel']:.1f} | {record['ndb']}/{record['bins']} "
                     f"({record['ndb_over_k']:.3f}) |")
    return lines


def _transfer(model) -> list[str]:
    from cadenza.audio.features import hz_to_midi, pitch
    from cadenza.audio.io import Audio, read_audio
    from cadenza.audio.resample import resample

    if not SAMPLES.is_dir():
        return ["", "Timbre transfer: skipped (apt-get install sonic-pi-samples for CC0 recordings)."]
    lines = ["", "Timbre transfer on real recordings (Debian sonic-pi-samples, CC0); f0 error = |CREPE(output) - "
                 "CREPE(input) - shift| on the input's voiced frames (confidence >= 0.5):", "",
             "| recording | seconds | shift (semitones) | voiced frames | median f0 error (cents) | "
             "90th percentile (cents) |", "|---|---:|---:|---:|---:|---:|"]
    for name, shift in RECORDINGS:
        path = SAMPLES / f"{name}.flac"
        if not path.is_file():
            continue
        audio, rate = read_audio(path)
        out = model.transfer(Audio(audio, rate), pitch_shift=shift)[0].samples
        hop = model.config.hop
        mono = resample(audio.mean(axis=0, keepdims=True), rate, model.config.sample_rate)
        f_in, conf_in = pitch(mono, model.config.sample_rate, hop)
        f_out, _ = pitch(out, model.config.sample_rate, hop)
        n = min(len(f_in), len(f_out))
        voiced = conf_in[:n] >= 0.5
        cents = np.abs(hz_to_midi(f_out[:n]) - hz_to_midi(f_in[:n]) - shift)[voiced] * 100
        lines.append(f"| {name} | {audio.shape[1] / rate:.1f} | {shift} | {voiced.sum()} | "
                     f"{np.median(cents):.1f} | {np.percentile(cents, 90):.1f} |")
    lines += ["", "Target: median error under 50 cents."]
    return lines


if __name__ == "__main__":
    print(run())
