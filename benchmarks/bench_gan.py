"""The conditional GAN measured (issue #16): pitch accuracy of generated notes, Fréchet distances and
NDB against the real test notes beside the real-vs-real line, diversity (no mode collapse), and
training minutes, for each shipped GAN that exists (``pretrained/gan-notes``, ``pretrained/gan-drums``,
``pretrained/specgan-notes``, ``pretrained/specgan-drums``;
``python benchmarks/bench_gan.py RUN`` measures another run). The notes GANs are given the pitch as a
signal too (``pitch_signal``); where the one-hot-only baselines exist
(``python scripts/train_gan.py notes [--model specgan] --one-hot-only`` writes
``runs/pretrained-gan-notes-one-hot`` and ``runs/pretrained-specgan-notes-one-hot``) they are measured
in the same run, and the pitch accuracy is given as a ratio against them.

Generated sets mirror the test split: one sound a test clip, with its class (and instrument), seed
= its index. Pitch accuracy: CREPE's f0 of each generated note against the pitch it was asked for
(:func:`cadenza.evaluate.audio.pitch_accuracy`); Fréchet CREPE / log-mel and NDB:
:func:`cadenza.evaluate.audio_compare.evaluate_audio_set` against the set's train split, with its
test split as the real-vs-real line, all cut to the generator's length. Diversity: the mean pairwise
distance between the log-mel statistics of the sounds of one class, generated against real.
Conditioning: the share of generated sounds whose nearest training sound (the same log-mel
statistics) is of the kind, or for notes the instrument, asked for, beside the real test clips' share
(a GAN that ignores its class scores near chance, 1 / classes).

The spectrogram GAN hears its spectrograms through Griffin-Lim, so the floor under its numbers is
what Griffin-Lim does to real notes: the test notes round-tripped through SpecGAN's image (per-bin
statistics of the train split) and 4, 16 and 64 iterations, measured the same way, with the
multi-scale mel distance of each round trip to its original.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

TITLE = "GAN: pitch accuracy, Fréchet distances and NDB against real notes, diversity"
RUNS = {"pretrained/gan-notes": "notes", "pretrained/gan-drums": "drums", "pretrained/specgan-notes": "notes",
        "pretrained/specgan-drums": "drums"}
GRIFFIN_LIM_ITERATIONS = (4, 16, 64)
ROOT = Path(__file__).resolve().parents[1]
BASELINES = {"pretrained/gan-notes": ROOT / "runs" / "pretrained-gan-notes-one-hot",
             "pretrained/specgan-notes": ROOT / "runs" / "pretrained-specgan-notes-one-hot"}


def _generated(model, test) -> tuple[list, list]:
    """One sound a test clip the model knows the class of: (clips, classes and instruments asked for)."""
    c = model.config
    clips, asked, instruments = [], [], []
    for i, labels in enumerate(test.labels):
        value = labels.get(c.label)
        if value is None or str(value) not in {str(v) for v in model.classes_}:
            continue
        options = {"pitch": int(value)} if c.label == "pitch" else {"kind": str(value)}
        if c.instrument_label:
            if labels.get(c.instrument_label) not in model.instruments_:
                continue
            options["instrument"] = int(labels[c.instrument_label])
        clips.append(model.generate(1, seed=i, **options)[0])
        asked.append(value)
        instruments.append(options.get("instrument"))
    return clips, asked, instruments


_REFERENCES: dict = {}


def reference(data: str, samples: int):
    """The set's train and test clips cut to the generator's length (as the GAN was trained on them),
    analysed once: a generated 1 s note is not judged against a 1.5 s recording's tail."""
    from cadenza.audio.io import Audio
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.audio_compare import AudioReference

    if (data, samples) not in _REFERENCES:
        splits = []
        for split in ("train", "test"):
            s = audio_set(data, split, progress=False)
            splits.append([Audio(np.asarray(a, np.float32)[None, :samples], s.sample_rate) for a in s.audio])
        _REFERENCES[data, samples] = AudioReference.from_clips(splits[0], splits[1], f"{data} (first {samples} "
                                                               "samples)")
    return _REFERENCES[data, samples]


def _features(clips) -> np.ndarray:
    """Each clip's log-mel statistics (mean and spread of each band over time): ``[clips, 2 * bands]``."""
    from cadenza.evaluate.audio_compare import logmel_statistics

    return np.stack([logmel_statistics(c).mean(0) for c in clips])


def _diversity(features: np.ndarray, classes) -> float:
    """Mean pairwise distance of log-mel statistics between sounds of the same class, over classes."""
    distances = []
    for value in set(map(str, classes)):
        rows = features[[i for i, c in enumerate(classes) if str(c) == value]]
        if len(rows) >= 2:
            d = np.linalg.norm(rows[:, None] - rows[None], axis=-1)
            distances.append(d[np.triu_indices(len(rows), 1)].mean())
    return float(np.mean(distances)) if distances else float("nan")


_TRAIN_FEATURES: dict = {}


def _nearest_share(features: np.ndarray, wanted: list, data: str, samples: int, key: str) -> float:
    """The share of clips (their :func:`_features`) whose nearest training clip (cut to ``samples``) has
    ``key`` equal to what ``wanted`` says."""
    from cadenza.audio.io import Audio
    from cadenza.data.audio_sets import audio_set

    if (data, samples, key) not in _TRAIN_FEATURES:
        train = audio_set(data, "train", progress=False)
        keep = [i for i, lab in enumerate(train.labels) if lab.get(key) not in (None, "pattern")]
        cut = [Audio(np.asarray(train.audio[i], np.float32)[None, :samples], train.sample_rate) for i in keep]
        _TRAIN_FEATURES[data, samples, key] = _features(cut), [str(train.labels[i][key]) for i in keep]
    train_features, train_values = _TRAIN_FEATURES[data, samples, key]
    nearest = np.linalg.norm(features[:, None] - train_features[None], axis=-1).argmin(1)
    return float(np.mean([train_values[j] == str(w) for j, w in zip(nearest, wanted)]))


def _measure(run: str, data: str | None = None, name: str | None = None) -> tuple[dict, list[str]]:
    """One run measured against the ``data`` set's test sounds (default: the set it was trained on)."""
    import cadenza
    from cadenza.audio.io import Audio
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.audio import pitch_accuracy
    from cadenza.evaluate.audio_compare import clips_of, evaluate_audio_set

    model = cadenza.load(run)
    data = data or model.data_spec_.get("audio_set", "notes")
    test = audio_set(data, "test", progress=False)
    started = time.perf_counter()
    clips, asked, instruments = _generated(model, test)
    seconds = time.perf_counter() - started
    c = model.config
    known = [i for i, lab in enumerate(test.labels) if lab.get(c.label) not in (None, "pattern")]
    every = clips_of(test)
    real = [Audio(every[i].samples[:, : c.samples], every[i].sample_rate) for i in known]
    real_classes = [test.labels[i][c.label] for i in known]
    # the conditioning heard: drums by their kind, notes by their instrument (their pitch is measured by CREPE)
    key, wanted = (c.instrument_label, instruments) if c.instrument_label else (c.label, asked)
    real_wanted = [test.labels[i].get(key) for i in known]
    made, heard = _features(clips), _features(real)
    result = evaluate_audio_set(clips, reference(data, c.samples), label=run)
    generated, line = result["generated"], result["real_vs_real"]
    out = {"clips": len(clips), "frechet_crepe": generated["frechet_crepe"], "real_crepe": line["frechet_crepe"],
           "frechet_logmel": generated["frechet_logmel"], "real_logmel": line["frechet_logmel"],
           "ndb": generated["ndb_over_k"], "real_ndb": line["ndb_over_k"],
           "diversity": _diversity(made, asked), "real_diversity": _diversity(heard, real_classes),
           "conditioning": _nearest_share(made, wanted, data, c.samples, key),
           "real_conditioning": _nearest_share(heard, real_wanted, data, c.samples, key),
           "key": key, "chance": 1 / len(model.instruments_ if c.instrument_label else model.classes_),
           "seconds": seconds, "minutes": model.metrics_.get("train_seconds", float("nan")) / 60,
           "steps": model.metrics_.get("train_steps")}
    lines = [f"`{name or run}` (the checkpoint kept: step {out['steps']}; {out['minutes']:.0f} min of training; "
             f"{len(clips)} sounds, one a test clip, made in {seconds:.1f} s):", "",
             "| measure | generated | real test vs train |", "|---|---:|---:|",
             f"| Fréchet CREPE | {out['frechet_crepe']:.1f} | {out['real_crepe']:.1f} |",
             f"| Fréchet log-mel | {out['frechet_logmel']:.1f} | {out['real_logmel']:.1f} |",
             f"| NDB/K | {out['ndb']:.3f} | {out['real_ndb']:.3f} |",
             f"| diversity within a class (log-mel distance) | {out['diversity']:.2f} | "
             f"{out['real_diversity']:.2f} |",
             f"| nearest training sound of the {key} asked for (chance {out['chance']:.0%}) | "
             f"{out['conditioning']:.0%} | {out['real_conditioning']:.0%} |"]
    if model.config.label == "pitch":
        pitch = pitch_accuracy(clips, [int(a) for a in asked])
        out["pitch"] = pitch
        lines += ["", f"Pitch: {pitch['accuracy']:.0%} of the notes within 50 cents of the pitch asked for, median "
                      f"error {pitch['median_cents']:.0f} cents, {pitch['unvoiced']} of {pitch['clips']} unvoiced."]
    return out, lines


def griffin_lim_floor(data: str = "notes") -> tuple[dict, list[str]]:
    """The test notes through SpecGAN's normalised image and back by Griffin-Lim, measured as a
    generated set would be."""
    import torch

    from cadenza.audio.io import Audio
    from cadenza.data.audio_sets import audio_set
    from cadenza.evaluate.audio import multiscale_mel_distance, pitch_accuracy
    from cadenza.evaluate.audio_compare import evaluate_audio_set
    from cadenza.models.audio.specgan import Config
    from cadenza.models.audio.specgan_net import Spectrogram

    c = Config()
    frames = c.samples // c.hop

    def cut(audio_list):
        out = torch.zeros(len(audio_list), c.samples)
        for i, clip in enumerate(audio_list):
            clip = torch.as_tensor(np.asarray(clip, np.float32)[: c.samples])
            out[i, : len(clip)] = clip
        return out

    train, test = audio_set(data, "train", progress=False), audio_set(data, "test", progress=False)
    spectrogram = Spectrogram(c.hop, frames)
    spectrogram.fit(cut(train.audio))
    real = cut(test.audio)
    out, lines = {}, ["", f"Griffin-Lim's floor: the {len(real)} test notes of `{data}` through SpecGAN's image "
                          "and back:", "", "| iterations | Fréchet log-mel | mel distance to the original | "
                          "notes within 50 cents of their pitch | seconds a note |", "|---:|---:|---:|---:|---:|"]
    keys = [int(lab["pitch"]) for lab in test.labels]
    with torch.no_grad():
        image = spectrogram(real)
        for iterations in GRIFFIN_LIM_ITERATIONS:
            spectrogram.iterations = iterations
            started = time.perf_counter()
            back = spectrogram.to_audio(image).numpy()
            seconds = (time.perf_counter() - started) / len(real)
            clips = [Audio(b[None], c.sample_rate) for b in back]
            frechet = evaluate_audio_set(clips, reference(data, c.samples), label=f"griffin-lim {iterations}")
            mel = float(np.mean([multiscale_mel_distance(b, r.numpy(), c.sample_rate) for b, r in zip(back, real)]))
            pitch = pitch_accuracy(clips, keys)["accuracy"]
            out[iterations] = {"frechet_logmel": frechet["generated"]["frechet_logmel"], "mel": mel,
                               "pitch": pitch, "seconds": seconds}
            lines.append(f"| {iterations} | {out[iterations]['frechet_logmel']:.1f} | {mel:.2f} | {pitch:.0%} | "
                         f"{seconds:.4f} |")
    return out, lines


def run(runs: list[str] | None = None) -> str:
    from cadenza.models.base import is_run

    chosen = {r: RUNS.get(r) for r in runs} if runs else {r: d for r, d in RUNS.items() if is_run(r)}
    if not chosen:
        return "No shipped GAN yet (python scripts/train_gan.py notes); nothing measured."
    head, body = [], []
    for run_dir, data in chosen.items():
        baseline, against = BASELINES.get(run_dir), None
        if not runs and baseline is not None and is_run(baseline):
            against, lines = _measure(str(baseline), data, str(baseline.relative_to(ROOT)))
            body += ["", "Baseline, one-hot pitch only:", "", *lines]
        out, lines = _measure(run_dir, data)
        pitch = ""
        if "pitch" in out:
            pitch = f", {out['pitch']['accuracy']:.0%} of notes at their pitch"
            if against is not None:
                pitch += f" (one-hot only: {against['pitch']['accuracy']:.0%})"
        head.append(f"`{run_dir}`: Fréchet log-mel **{out['frechet_logmel'] / out['real_logmel']:.1f}x** the "
                    f"real-vs-real line, diversity **{out['diversity'] / out['real_diversity']:.2f}x** the real "
                    f"sounds', {out['conditioning']:.0%} nearest a training sound of the "
                    f"{out['key']} asked for (real: {out['real_conditioning']:.0%})" + pitch)
        body += ["", *lines]
    if any("specgan" in run_dir for run_dir in chosen):
        floor, lines = griffin_lim_floor()
        head.append(f"Griffin-Lim alone (16 iterations) puts real notes at Fréchet log-mel "
                    f"{floor[16]['frechet_logmel']:.1f} and {floor[16]['pitch']:.0%} of them at their pitch")
        body += lines
    return "; ".join(head) + "." + "\n" + "\n".join(body)


if __name__ == "__main__":
    print(run(sys.argv[1:] or None))
