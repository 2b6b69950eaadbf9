"""WaveNet trained: its likelihood against two baselines, its notes' pitch, generation
speed (several notes at once against one at a time), and the DDSP paper's argument
reproduced: WaveNet and DDSP on the same controls and the same violin data.

The models are the shipped runs ``pretrained/wavenet-notes``,
``pretrained/wavenet-violin`` and ``pretrained/ddsp-violin`` (made by
``scripts/train_wavenet.py`` and ``scripts/train_ddsp.py``). One torch thread.
"""

from __future__ import annotations

import os
import time

import numpy as np

TITLE = "WaveNet trained: likelihood against baselines, side by side with DDSP"
PITCHES = list(range(40, 81, 4))  # within the notes set's 36-84
NOTE_SECONDS = 1.0
RESYNTHESIS_SECONDS = 10.0


def _clips(data):
    """Each clip's samples that a model's log_prob scores: whole frames."""
    return [np.asarray(a[:len(f) * data.hop], np.float32) for a, f in zip(data.audio, data.f0)]


def _likelihood(model, train, test, ratios: list[str]) -> list[str]:
    from cadenza.evaluate.audio_likelihood import linear_prediction_bits, unigram_bits

    started = time.perf_counter()
    ours = model.log_prob(test).bits_per_event
    seconds = time.perf_counter() - started
    unigram = unigram_bits(_clips(train), _clips(test))
    lpc = linear_prediction_bits(_clips(train), _clips(test), order=32)
    ratios.append(f"held-out bits per sample: linear prediction **{lpc / ours:.2f}x** and the unigram "
                  f"**{unigram / ours:.2f}x** WaveNet's")
    return ["| model (notes test split, 256 mu-law classes) | bits per sample | against WaveNet |",
            "|---|---:|---:|",
            f"| **WaveNet** (`pretrained/wavenet-notes`) | **{ours:.3f}** | 1.00x |",
            f"| linear prediction, order 32, Laplace residual | {lpc:.3f} | {lpc / ours:.2f}x |",
            f"| unigram over the classes | {unigram:.3f} | {unigram / ours:.2f}x |",
            f"| uniform | 8.000 | {8 / ours:.2f}x |", "",
            f"{sum(map(len, _clips(test))) / test.sample_rate:.0f} s of held-out notes; WaveNet scored them "
            f"in {seconds:.1f} s (teacher forcing, one pass)."]


def _speed(model, ratios: list[str]) -> list[str]:
    n, length = 8, int(0.5 * model.config.sample_rate)
    model.generate(n=1, seed=0, length=256, progress=False)  # warm-up
    started = time.perf_counter()
    for i in range(n):
        model.generate(n=1, seed=i, length=length, progress=False)
    alone = time.perf_counter() - started
    started = time.perf_counter()
    model.generate(n=n, seed=0, length=length, progress=False)
    together = time.perf_counter() - started
    rate = model.config.sample_rate
    ratios.append(f"8 notes side by side **{alone / together:.1f}x** faster than one at a time")
    return ["| generation, 8 notes of 0.5 s | seconds | samples/s | real-time factor at "
            f"{rate // 1000} kHz |", "|---|---:|---:|---:|",
            f"| one at a time | {alone:.1f} | {n * length / alone:.0f} | 1/{alone / (n * 0.5):.1f} |",
            f"| **side by side (one batch)** | {together:.1f} | {n * length / together:.0f} | "
            f"1/{together / (n * 0.5):.1f} |", "",
            f"Side by side is **{alone / together:.1f}x** faster than one at a time. One note alone runs at "
            f"1/{alone / (n * 0.5):.1f} of real time (the issue's goal: 1/8 or better)."]


def _pitch(model) -> list[str]:
    from cadenza.evaluate.audio import pitch_accuracy

    rows = ["| GM program | pitch accuracy (within 50 cents) | median error (cents) | unvoiced |",
            "|---|---:|---:|---:|"]
    for program in model.programs_:
        clips = [model.generate(n=1, seed=p, pitch=p, instrument=program, progress=False,
                                length=int(NOTE_SECONDS * model.config.sample_rate))[0] for p in PITCHES]
        result = pitch_accuracy(clips, PITCHES)
        rows.append(f"| {program} | {result['accuracy']:.2f} | {result['median_cents']:.0f} | "
                    f"{result['unvoiced']}/{result['clips']} |")
    return rows + ["", f"Notes of {NOTE_SECONDS:.0f} s at pitches {PITCHES[0]}-{PITCHES[-1]} (every 4 semitones), "
                       "seed = pitch, f0 tracked by CREPE (torchcrepe) against the pitch asked for."]


def _side_by_side(test, ratios: list[str]) -> list[str]:
    import cadenza
    from cadenza.evaluate.audio import multiscale_mel_distance, resynthesis_metrics

    rows = ["| model (violin test split, own f0 and loudness) | multi-scale mel distance | f0 L1 (semitones) "
            "| loudness L1 (dB) | spectral distance | training minutes | synthesis real-time factor |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    speeds = {}
    frames = int(RESYNTHESIS_SECONDS * test.sample_rate / test.hop)
    controls = np.stack([test.f0[0][:frames], test.loudness[0][:frames]], 1)
    target = test.audio[0][:len(controls) * test.hop]
    for run in ("pretrained/ddsp-violin", "pretrained/wavenet-violin"):
        model = cadenza.load(run)
        stream = model.stream(0)
        stream.init_state()
        started = time.perf_counter()
        out = stream.step(controls)[0]
        speed = speeds[run] = len(out) / test.sample_rate / (time.perf_counter() - started)
        mel = multiscale_mel_distance(out[None], target[None], test.sample_rate)
        m = resynthesis_metrics(model, test, max_seconds=RESYNTHESIS_SECONDS)
        minutes = model.metrics_.get("train_seconds", float("nan")) / 60
        rows.append(f"| `{run}` | {mel:.3f} | {m['f0_l1_semitones']:.3f} | {m['loudness_l1_db']:.2f} | "
                    f"{m['spectral_distance']:.3f} | {minutes:.0f} | {speed:.2f}x |")
    ratios.append(f"DDSP synthesises **{speeds['pretrained/ddsp-violin'] / speeds['pretrained/wavenet-violin']:.0f}x** "
                  "faster than WaveNet on the same violin controls")
    return rows + ["", f"The first {RESYNTHESIS_SECONDS:.0f} s of the violin test split, each model driven by the "
                       "clip's true f0 and loudness (seed 0); mel distance on the first clip, the rest over "
                       f"{RESYNTHESIS_SECONDS:.0f} s. Real-time factor: seconds of audio a second of compute, one "
                       "thread (above 1 is faster than real time)."]


def run() -> str:
    import torch

    import cadenza
    from cadenza.data.audio_sets import audio_set
    from cadenza.models.base import is_run

    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"One torch thread; load average {load:.1f} on {os.cpu_count()} cores when measured.", ""]
    if not is_run("pretrained/wavenet-notes") or not is_run("pretrained/wavenet-violin"):
        return "\n".join(lines + ["Skipped: the shipped WaveNets are missing (run scripts/train_wavenet.py)."])
    notes = cadenza.load("pretrained/wavenet-notes")
    ratios: list[str] = []
    lines += ["### Several notes at once", ""] + _speed(notes, ratios) + [""]
    lines += ["### Held-out likelihood", ""] + _likelihood(
        notes, audio_set("notes", "train", progress=False), audio_set("notes", "test", progress=False),
        ratios) + [""]
    lines += ["### Pitch accuracy of conditioned notes", ""] + _pitch(notes) + [""]
    lines += ["### WaveNet and DDSP on the same controls", ""] + _side_by_side(
        audio_set("violin", "test", progress=False), ratios)
    return "\n".join([f"**Same run:** {'; '.join(ratios)}.", ""] + lines)


if __name__ == "__main__":
    print(run())
