"""The RAVE-style VAE measured (issue #14): reconstruction of held-out audio beside the PQMF
alone and the codec at similar data rates, before and after phase 2, decoding speed and block
latency on one thread at 16 and 44.1 kHz, the memory of a 10-minute transfer, the latent's
fidelity curve, and the f0 error of timbre transfer on real recordings beside DDSP's.

The model is the run named on the command line (``python benchmarks/bench_vae.py RUN``) or by
``$CADENZA_VAE_RUN``, default ``pretrained/vae-violin`` (made by ``scripts/train_vae.py``). The
44.1 kHz speed rows use the ``44k`` preset's network with random weights: the cost of a
convolutional decoder does not depend on its weights. Everything runs on one thread.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TITLE = "VAE (RAVE-style): reconstruction, phases, speed, memory, latent, timbre transfer"
RUN = "pretrained/vae-violin"
CODEC = "pretrained/codec"
ROOT = Path(__file__).resolve().parents[1]
FIDELITY_PLOT = ROOT / "docs" / "models" / "vae-fidelity.png"
HELD_OUT_SECONDS = 60.0
SPEED_SECONDS = 20.0
BLOCK = 2048
LONG_MINUTES = 10.0
SAMPLES = Path("/usr/share/sonic-pi/samples")
RECORDINGS = [("guit_harmonics", 0), ("ambi_glass_hum", 12), ("guit_e_slide", 0), ("bass_woodsy_c", 24)]


def _fmt(row: dict) -> str:
    return f"{row['mel']:.3f} | {row['spectral']:.3f} | {row['si_sdr']:.1f}"


def _reconstruction(model) -> tuple[dict, list[str]]:
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.codec import excerpts
    from cadenza.evaluate.latent import latent_kbps, reconstruction
    from cadenza.models.base import is_run, load

    data = audio_set("violin", "test", progress=False)
    clips = excerpts(data.audio, data.sample_rate, HELD_OUT_SECONDS)
    codec = load(CODEC) if is_run(CODEC) else None
    dims = model.pca_.dims_for(model.config.fidelity)
    rates = (1.5, 3.0, 6.0)
    result = reconstruction(model, clips, codec, rates if codec is not None else ())
    lines = [f"Held out: {result['clips']} excerpts of the violin test split, {result['seconds']:.0f} s. The "
             f"VAE's latent: {model.latent_size} values a frame at {model.frame_rate:g} frames a second; "
             f"{dims} PCA axes keep {model.config.fidelity:.0%} of its variance, {latent_kbps(model, dims):g} kbps "
             f"at 8 bits a value ({latent_kbps(model):g} kbps for all {model.latent_size}).", "",
             "| coder | data rate | mel distance | spectral distance | SI-SDR (dB) |", "|---|---:|---:|---:|---:|",
             f"| **VAE** (transfer: encode, decode) | {latent_kbps(model, dims):g}-{latent_kbps(model):g} kbps "
             f"| {_fmt(result['model'])} |",
             f"| PQMF only ({model.config.n_bands} bands, analysis then synthesis) | uncoded | "
             f"{_fmt(result['pqmf'])} |"]
    for row in result["codec"]:
        lines.append(f"| codec `{CODEC}` | {row['kbps']:g} kbps | {_fmt(row)} |")
    m = model.metrics_
    if "valid_mel_phase1_end" in m:
        lines += ["", "Before and after phase 2 (the run's valid crops, the training log):", "",
                  "| when | step | valid spectral distance | valid mel distance |", "|---|---:|---:|---:|",
                  f"| end of phase 1 (representation) | {m['valid_step_phase1_end']} | "
                  f"{m['valid_spectral_phase1_end']:.3f} | {m['valid_mel_phase1_end']:.3f} |",
                  f"| end of phase 2 (adversarial) | {m['valid_step_final']} | {m['valid_spectral_final']:.3f} | "
                  f"{m['valid_mel_final']:.3f} |"]
    return result, lines


def _net_speed(model, seconds: float) -> dict:
    """Offline decode and the streamed transfer (2048-sample blocks) of ``model``, one thread."""
    from cadenza.audio.io import Audio
    from cadenza.realtime.stream import LatencyMeter, run_blocks

    rate = model.sample_rate
    t = np.arange(int(seconds * rate)) / rate
    signal = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    latent = model.encode(Audio(signal, rate))
    model.decode(latent[:, :8])  # warm up
    times = []
    for _ in range(3):  # the best of 3: a shared machine only ever slows a run down
        started = time.perf_counter()
        model.decode(latent)
        times.append(time.perf_counter() - started)
    decode = seconds / min(times)
    meter = LatencyMeter(rate)
    stream = model.stream()
    run_blocks(stream, [signal[i:i + BLOCK] for i in range(0, len(signal), BLOCK)], meter)
    return {"decode": decode, **meter.report()}


def _speed(model) -> tuple[dict, list[str]]:
    import torch

    from cadenza.models.audio.vae import VAE
    from cadenza.models.audio.vae_net import VAENet
    from cadenza.models.base import is_run, load
    from cadenza.utils import one_thread

    big = VAE(**VAE.presets["44k"])
    torch.manual_seed(0)
    big.net_, big.data_spec_ = VAENet(big.config).eval(), {}
    rows = {}
    with one_thread():
        rows["16"] = _net_speed(model, SPEED_SECONDS)
        rows["44"] = _net_speed(big, SPEED_SECONDS)
        codec_rt = None
        if is_run(CODEC):
            from cadenza.audio.io import Audio

            codec = load(CODEC)
            tokens = codec.encode(Audio(np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32)
                                        * 0.1, 16000))
            tiled, times = np.tile(tokens, (1, int(SPEED_SECONDS / 4))), []
            for _ in range(3):  # the best of 3, as for the VAE
                started = time.perf_counter()
                codec.decode(tiled)
                times.append(time.perf_counter() - started)
            codec_rt = SPEED_SECONDS / min(times)
    params = sum(p.numel() for p in model.net_.parameters()) / 1e6
    big_params = sum(p.numel() for p in big.net_.parameters()) / 1e6
    lines = ["| model | rate | parameters | decode (x real time) | stream of 2048-sample blocks: median / p99 "
             "(ms) | deadline (ms) | stream x real time |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, m, p in (("16", model, params), ("44", big, big_params)):
        r = rows[key]
        name = "shipped" if key == "16" else "`44k` preset (random weights)"
        lines.append(f"| {name} | {m.sample_rate} Hz | {p:.2f} M | {r['decode']:.0f}x | {r['median_ms']:.2f} / "
                     f"{r['p99_ms']:.2f} | {r['deadline_ms']:.0f} | {r['real_time_factor']:.0f}x |")
    if codec_rt is not None:
        lines.append(f"| codec `{CODEC}` (decode only) | 16000 Hz | | {codec_rt:.0f}x | | | |")
    lines += ["", "Target: decode at least 20x real time on one thread at 44.1 kHz (RAVE reports about 20x "
                  "at 48 kHz on a laptop CPU)."]
    return {**rows, "codec": codec_rt}, lines


def _long_transfer(run: str) -> tuple[dict, list[str]]:
    """Peak RSS of ``cadenza transfer`` on a 10-minute file, in a fresh process."""
    import soundfile as sf

    from cadenza.evaluate.codec import probe_signal

    with tempfile.TemporaryDirectory(prefix="cadenza-vae-long-") as folder:
        path = Path(folder) / "long.wav"
        rate = 16000
        with sf.SoundFile(path, "w", rate, 1, subtype="FLOAT") as f:
            for minute in range(int(LONG_MINUTES)):
                f.write(probe_signal(60.0, rate, seed=minute))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        started = time.perf_counter()
        cli = str(Path(sys.executable).parent / "cadenza")
        done = subprocess.run([cli, "transfer", str(path), "--model", run,
                               "--out", str(Path(folder) / "out.wav")], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode:
        return {}, [f"10-minute transfer failed: {done.stderr.strip().splitlines()[-1:]}"]
    result = {"peak_mb": peak, "seconds": seconds}
    return result, [f"`cadenza transfer` of a {LONG_MINUTES:g}-minute file (a fresh process, one thread): peak RSS "
                    f"**{peak:.0f} MiB** (target under 1 GB; the audio alone is "
                    f"{LONG_MINUTES * 60 * rate * 4 / 2**20:.0f} MiB as float32), {seconds:.0f} s "
                    f"({LONG_MINUTES * 60 / seconds:.0f}x real time, loading included)."]


def _latent(model) -> tuple[dict, list[str]]:
    from cadenza.models.latent import active_dimensions

    pca = model.pca_
    pca.plot(FIDELITY_PLOT, title=f"{RUN}: variance kept by PCA axes")
    dims, share = active_dimensions(pca, model.config.fidelity)
    curve = pca.fidelity_curve()
    lines = [f"The latent's PCA (training set): {dims} of {model.latent_size} axes keep "
             f"{model.config.fidelity:.0%} of the variance (a share of {share:.2f} of the dimensions matter); "
             f"plot: docs/models/vae-fidelity.png.", "",
             "| fidelity | axes |", "|---:|---:|", *(f"| {f:.2f} | {d} |" for f, d in pca.table()), "",
             "Variance kept by the first axes: " + ", ".join(f"{k + 1}: {curve[k]:.3f}"
                                                             for k in range(min(8, len(curve)))) + "."]
    return {"dims": dims, "share": share}, lines


def _f0_errors(model, shift: int, name: str) -> dict | None:
    from cadenza.audio.features import hz_to_midi, pitch
    from cadenza.audio.io import Audio, read_audio
    from cadenza.audio.resample import resample

    path = SAMPLES / f"{name}.flac"
    if not path.is_file():
        return None
    audio, rate = read_audio(path)
    options = {"pitch_shift": shift} if shift and "pitch_shift" in model.TransferOptions.__dataclass_fields__ else {}
    out = model.transfer(Audio(audio, rate), **options)[0].samples
    applied = shift if options else 0
    hop = 64
    mono = resample(audio.mean(axis=0, keepdims=True), rate, model.sample_rate)
    f_in, conf_in = pitch(mono, model.sample_rate, hop)
    f_out, _ = pitch(out, model.sample_rate, hop)
    n = min(len(f_in), len(f_out))
    voiced = conf_in[:n] >= 0.5
    cents = np.abs(hz_to_midi(f_out[:n]) - hz_to_midi(f_in[:n]) - applied)[voiced] * 100
    return {"shift": applied, "voiced": int(voiced.sum()), "median": float(np.median(cents)),
            "p90": float(np.percentile(cents, 90))}


def _transfer(model) -> tuple[dict, list[str]]:
    from cadenza.models.base import is_run, load

    if not SAMPLES.is_dir():
        return {}, ["Timbre transfer: skipped (apt-get install sonic-pi-samples for CC0 recordings)."]
    ddsp = load("pretrained/ddsp-violin") if is_run("pretrained/ddsp-violin") else None
    lines = ["Timbre transfer on real recordings (Debian sonic-pi-samples, CC0), the recordings of DDSP's "
             "table; f0 error = |CREPE(output) - CREPE(input) - shift| on the input's voiced frames "
             "(confidence >= 0.5). The VAE has no pitch control: it plays each recording at its own pitch; DDSP "
             "shifts into the violin's range as in its table.", "",
             "| recording | VAE median (cents) | VAE 90th pct | DDSP shift | DDSP median (cents) | DDSP 90th pct |",
             "|---|---:|---:|---:|---:|---:|"]
    result = {}
    for name, shift in RECORDINGS:
        vae = _f0_errors(model, 0, name)
        if vae is None:
            continue
        other = _f0_errors(ddsp, shift, name) if ddsp is not None else None
        result[name] = {"vae": vae, "ddsp": other}
        ddsp_cells = (f"{other['shift']} | {other['median']:.1f} | {other['p90']:.1f}" if other else "| |")
        lines.append(f"| {name} | {vae['median']:.1f} | {vae['p90']:.1f} | {ddsp_cells} |")
    return result, lines


def run(run: str | None = None) -> str:
    import cadenza

    run = run or os.environ.get("CADENZA_VAE_RUN", RUN)
    model = cadenza.load(run)
    started = time.perf_counter()
    recon, recon_lines = _reconstruction(model)
    speed, speed_lines = _speed(model)
    long, long_lines = _long_transfer(run)
    _, latent_lines = _latent(model)
    _, transfer_lines = _transfer(model)
    codec = {row["kbps"]: row for row in recon["codec"]}
    nearest = min(codec, key=lambda k: abs(k - 1.5)) if codec else None
    headline = ["**Same run:** the VAE's held-out mel distance is "
                + (f"**{recon['model']['mel'] / codec[nearest]['mel']:.2f}x** the codec's at {nearest:g} kbps"
                   if nearest is not None else f"{recon['model']['mel']:.3f}")
                + f" (the PQMF bank alone: {recon['pqmf']['mel']:.3f})"]
    if speed["codec"]:
        headline.append(f"it decodes **{speed['16']['decode'] / speed['codec']:.1f}x** as fast as the codec "
                        f"({speed['16']['decode']:.0f}x real time at 16 kHz; **{speed['44']['decode']:.0f}x** at "
                        f"44.1 kHz with the `44k` preset's network, target 20x)")
    if long:
        headline.append(f"a 10-minute transfer peaks at {long['peak_mb']:.0f} MiB")
    lines = ["; ".join(headline) + ".", "",
             f"Model `{run}`: {model.metrics_.get('train_steps', '?')} steps in "
             f"{model.metrics_.get('train_seconds', 0) / 60:.0f} min; one torch thread; measured in "
             f"{time.perf_counter() - started:.0f} s.", "", "### Reconstruction", "", *recon_lines,
             "", "### Speed", "", *speed_lines, "", "### Memory", "", *long_lines, "", "### Latent", "",
             *latent_lines, "", "### Timbre transfer", "", *transfer_lines]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else None))
