"""maskgit (MaskGIT / VampNet over codec tokens): how well it fills in masked tokens against a
unigram baseline, what decoding steps cost, how close periodic vamps stay to their input, and
what windowed looping costs against one long window.

The model is the run ``$CADENZA_MASKGIT_RUN`` (default ``pretrained/vamp``, made by
``scripts/train_vamp.py``), scored on the test split of the audio set it was trained on
(``$CADENZA_MASKGIT_DATA`` names another set or folder). One torch thread.

    python benchmarks/run.py maskgit
    python benchmarks/bench_maskgit.py RUN [DATA]      # print the section, write nothing
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np

TITLE = "maskgit: masked tokens against a unigram, decoding steps, periodic prompts, looping"
ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "models" / "maskgit-periodic.png"
SHARES = (0.25, 0.5, 0.75, 0.9)
STEPS = (4, 8, 12, 24, 36)
PERIODS = (3, 5, 7, 11, 15, 21, 31)
MAX_CLIPS, CLIP_SECONDS = 8, 8.0  # the periodic-prompt test: at most this much audio


def _data(model, data):
    """The held-out audio: ``data`` (an AudioSet, a set name or a folder), else the test split
    of the set the run was trained on."""
    from cadenza.data.audio_sets import audio_set

    if data is None:
        data = os.environ.get("CADENZA_MASKGIT_DATA") or (model.data_spec_ or {}).get("audio_set")
    if data is None:
        raise SystemExit("say which audio to score on: CADENZA_MASKGIT_DATA or a DATA argument")
    return audio_set(data, "test", progress=False) if isinstance(data, (str, os.PathLike)) else data


def _clips(data, model):
    """At most ``MAX_CLIPS`` clips of up to ``CLIP_SECONDS``, non-silent, as mono Audio."""
    from cadenza.audio.io import Audio

    clips = []
    for samples in data.audio:
        samples = np.asarray(samples, np.float32)[:int(CLIP_SECONDS * data.sample_rate)]
        if len(samples) >= 4 * model.codec.frame_samples and np.abs(samples).max() > 1e-3:
            clips.append(Audio(samples[None], data.sample_rate).resample(model.sample_rate))
        if len(clips) == MAX_CLIPS:
            break
    return clips


def frame_mel_distance(estimate: np.ndarray, reference: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """DAC's multi-scale mel distance, frame by frame ``[frames]``: each token frame (``hop``
    samples) compared at windows of 32-2048 samples centred on it."""
    from cadenza.audio.features import mel_filterbank, stft
    from cadenza.evaluate.audio import DAC_MELS, DAC_WINDOWS

    n = min(len(estimate), len(reference)) // hop * hop
    est, ref = estimate[hop // 2:n], reference[hop // 2:n]  # frame k centred on token frame k
    total = 0.0
    for window, mels in zip(DAC_WINDOWS, DAC_MELS, strict=True):
        bank = mel_filterbank(rate, window, mels).T  # [bins, mels]
        a, b = (np.abs(stft(x, window, hop)) @ bank for x in (est, ref))
        total = total + np.mean(np.abs(np.log10(np.maximum(a, 1e-5)) - np.log10(np.maximum(b, 1e-5))), axis=1)
    return np.asarray(total)


def _masked(model, data, ratios: list[str]) -> list[str]:
    rows = ["| share of tokens masked | tokens scored | accuracy | unigram accuracy | bits a token | unigram bits "
            "| unigram / model |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for share in SHARES:
        m = model.masked_metrics(data, share=share, seed=0)
        rows.append(f"| {share:.2f} | {m['tokens']} | {m['accuracy']:.3f} | {m['unigram_accuracy']:.3f} | "
                    f"{m['bits_per_token']:.3f} | {m['unigram_bits_per_token']:.3f} | "
                    f"{m['unigram_bits_per_token'] / m['bits_per_token']:.2f}x |")
        if share == 0.5:
            bits = m["bits_per_token"] / m["unigram_bits_per_token"]
            right = m["accuracy"] / max(m["unigram_accuracy"], 1e-9)
            ratios.append(f"with half the tokens masked, the model needs **{bits:.2f}x** the unigram's bits a "
                          f"masked token and is right **{right:.2f}x** as often")
    bits = math.log2(model.codec.codebook_size)
    return rows + ["", f"Each window of {model.config.window} frames has that share of its tokens masked (seeded, "
                       f"uniform), each masked token scored from one pass; the unigram is each codebook's token "
                       f"frequencies in training (add-one). Uniform: {bits:.0f} bits a token."]


def _speed(model, ratios: list[str]) -> list[str]:
    frames = model.config.window
    empty = np.zeros((model.config.codebooks, frames), np.int64)
    model.vamp_tokens(empty, np.zeros_like(empty, bool), steps=1, progress=False)  # warm-up
    seconds = frames / model.codec.frame_rate
    rows = ["| steps | seconds a window | real-time factor |", "|---:|---:|---:|"]
    times = {}
    for steps in STEPS:
        started = time.perf_counter()
        model.vamp_tokens(empty, np.zeros_like(empty, bool), steps=steps, seed=steps, progress=False)
        times[steps] = time.perf_counter() - started
        rows.append(f"| {steps} | {times[steps]:.2f} | {seconds / times[steps]:.1f}x |")
    ratios.append(f"36 steps cost **{times[36] / times[4]:.1f}x** 4 steps")
    return rows + ["", f"One window of {frames} frames ({seconds:.1f} s) from nothing, tokens only (the codec's "
                       "decoding not included). Real-time factor: seconds of audio a second of compute."]


def _vamp_tokens(model, tokens, keep, seed=0):
    return model.vamp_tokens(tokens, keep, seed=seed, progress=False)


def _periodic(model, clips, ratios: list[str], plot: Path | None) -> list[str]:
    from cadenza.models.audio.maskgit_masks import build

    codec, k = model.codec, model.config.codebooks
    hop, rate = codec.frame_samples, codec.sample_rate
    encoded = [np.asarray(codec.encode(c))[:k].astype(np.int64) for c in clips]
    floor = []  # the codec's own resynthesis: what even kept tokens sound like
    for clip, tokens in zip(clips, encoded):
        floor.append(frame_mel_distance(codec.decode(tokens).samples[0], clip.samples[0], rate, hop).mean())
    rows = ["| period N | tokens kept | mel distance, kept frames | mel distance, masked frames | masked tokens "
            "reproduced exactly |", "|---:|---:|---:|---:|---:|"]
    curve = []
    for period in PERIODS:
        kept_d, masked_d, same, masked_n, kept_n, all_n = [], [], 0, 0, 0, 0
        for clip, tokens in zip(clips, encoded):
            keep = build(f"periodic:{period}", k, tokens.shape[1], codec.frame_rate)
            out = _vamp_tokens(model, tokens, keep, seed=period)
            distance = frame_mel_distance(codec.decode(out).samples[0], clip.samples[0], rate, hop)
            frames = keep[0][:len(distance)]
            kept_d.append(distance[frames])
            masked_d.append(distance[~frames])
            same += int((out[~keep] == tokens[~keep]).sum())
            masked_n, kept_n, all_n = masked_n + int((~keep).sum()), kept_n + int(keep.sum()), all_n + keep.size
        kept, masked = float(np.concatenate(kept_d).mean()), float(np.concatenate(masked_d).mean())
        curve.append((period, kept, masked, same / masked_n))
        rows.append(f"| {period} | {kept_n / all_n:.1%} | {kept:.3f} | {masked:.3f} | {same / masked_n:.2%} |")
    by = {p: (kept, masked) for p, kept, masked, _ in curve}
    ratios.append(f"masked frames of a periodic:31 vamp are **{by[31][1] / by[3][1]:.2f}x** as far from the input "
                  "(mel distance) as those of periodic:3")
    if plot is not None:
        _plot(curve, float(np.mean(floor)), plot)
    seconds = sum(c.seconds for c in clips)
    return rows + ["", f"{len(clips)} test clips ({seconds:.0f} s), each vamped with periodic:N (every N-th frame "
                       f"kept, all {k} codebooks), {model.config.window}-frame windows, 12 steps, seed N. Multi-scale "
                       f"mel distance (DAC's, 32-2048-sample windows) a token frame, between the vamp and the input; "
                       f"the codec's own resynthesis is {np.mean(floor):.3f} (the floor). Plot: "
                       f"`{plot.relative_to(ROOT) if plot is not None and plot.is_relative_to(ROOT) else plot}`."]


def _plot(curve, floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    periods = [c[0] for c in curve]
    fig, left = plt.subplots(figsize=(6.4, 3.6))
    left.plot(periods, [c[1] for c in curve], "o-", label="kept frames")
    left.plot(periods, [c[2] for c in curve], "s-", label="masked frames")
    left.axhline(floor, color="grey", linestyle=":", label="codec resynthesis")
    left.set_xscale("log")
    left.minorticks_off()
    left.set_xticks(periods, [str(p) for p in periods])
    left.set_xlabel("periodic prompt: every N-th frame kept")
    left.set_ylabel("multi-scale mel distance to the input")
    right = left.twinx()
    right.plot(periods, [100 * c[3] for c in curve], "^--", color="tab:green", label="masked tokens reproduced")
    right.set_ylabel("masked tokens reproduced (%)")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, fontsize=8, loc="best")
    left.set_title("maskgit: periodic prompts")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _looping(model, clips, ratios: list[str]) -> list[str]:
    from cadenza.models.audio.maskgit_masks import build

    codec, k, window = model.codec, model.config.codebooks, model.config.window
    frames = 4 * window
    tokens = np.concatenate([np.asarray(codec.encode(c))[:k] for c in clips], axis=1).astype(np.int64)
    tokens = np.tile(tokens, math.ceil(frames / tokens.shape[1]))[:, :frames]
    keep = build("periodic:7", k, frames, codec.frame_rate)
    reference = codec.decode(tokens).samples[0]
    results = {}
    for name, size in (("windowed", window), ("one long window", frames)):
        model.config.window = size
        try:
            started = time.perf_counter()
            out = _vamp_tokens(model, tokens, keep, seed=1)
            elapsed = time.perf_counter() - started
        finally:
            model.config.window = window
        distance = frame_mel_distance(codec.decode(out).samples[0], reference, codec.sample_rate, codec.frame_samples)
        results[name] = (elapsed, float(distance[~keep[0][:len(distance)]].mean()))
    overlap = max(1, window // 4)
    rows = ["| decoding | seconds | mel distance, masked frames |", "|---|---:|---:|"]
    rows += [f"| {name} | {t:.2f} | {d:.3f} |" for name, (t, d) in results.items()]
    ratio = results["windowed"][0] / results["one long window"][0]
    ratios.append(f"windowed looping costs **{ratio:.2f}x** one long window")
    return rows + ["", f"{frames} frames ({frames / codec.frame_rate:.1f} s) vamped with periodic:7, 12 steps: in "
                       f"windows of {window} frames overlapping by {overlap} (each window's overlap is its prompt), or "
                       f"in one window of {frames} frames (longer than any the model was trained on). Mel distance to "
                       "the codec's resynthesis of the input."]


def run(run_path: str | None = None, data=None, plot: Path | None = PLOT) -> str:
    import torch

    import cadenza
    from cadenza.models.base import is_run

    torch.set_num_threads(1)
    run_path = run_path or os.environ.get("CADENZA_MASKGIT_RUN", "pretrained/vamp")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"One torch thread; load average {load:.1f} on {os.cpu_count()} cores when measured.", ""]
    if not is_run(run_path):
        return "\n".join(lines + [f"Skipped: no maskgit run at {run_path} (run scripts/train_vamp.py)."])
    model = cadenza.load(run_path)
    data = _data(model, data)
    clips = _clips(data, model)
    ratios: list[str] = []
    c = model.config
    lines += [f"Run `{run_path}`: {c.codebooks} codebooks of {model.codec.codebook_size} codes at "
              f"{model.codec.frame_rate:g} frames a second, width {c.width}, {c.layers} layers, window {c.window}; "
              f"{sum(p.numel() for p in model.net_.parameters()) / 1e6:.2f}M parameters; trained "
              f"{model.metrics_.get('train_steps', '?')} steps in "
              f"{model.metrics_.get('train_seconds', float('nan')) / 60:.0f} minutes. Held-out data: "
              f"{getattr(data, 'name', 'given')} ({getattr(data, 'split', '')}).", ""]
    lines += ["### Masked tokens against a unigram", ""] + _masked(model, data, ratios) + [""]
    lines += ["### Decoding steps", ""] + _speed(model, ratios) + [""]
    lines += ["### Periodic prompts", ""] + _periodic(model, clips, ratios, plot) + [""]
    lines += ["### Windowed looping against one long window", ""] + _looping(model, clips, ratios)
    return "\n".join([f"**Same run:** {'; '.join(ratios)}.", ""] + lines)


if __name__ == "__main__":
    print(run(*(sys.argv[1:3]), plot=None))
