"""Text prompts for maskgit: does a prompted vamp model make what it is asked for?

The run is ``$CADENZA_VAMP_RUN`` or the first argument (default ``pretrained/vamp``,
made by ``python scripts/train_vamp.py``); the real clips are the test split of the audio
set it was trained on (``$CADENZA_VAMP_DATA`` or the second argument names another).

Three contrasts, each a pair of prompts whose difference the audio shows by a measure already
in the repository:

- kind: "a drum pattern" against "a violin melody": the pitched share (sounding frames where
  the pitch tracker of :func:`cadenza.audio.features.pitch` is confident, above 0.5) should be
  lower, and the spectral flatness (:func:`cadenza.evaluate.audio_compare.analyse`) higher;
- register: "a low note" against "a high note": the median pitch (MIDI) of the confident frames;
- tempo: "a slow drum pattern" against "a fast drum pattern": onsets a second (spectral flux,
  :func:`cadenza.models.audio.maskgit_masks.onset_times`).

Each prompt is written from the facts alone with the held-out phrasings
(:data:`cadenza.data.audio_captions.UNSEEN_FRAMES`, never trained on; every fact said), a fresh
phrasing a seed, and once with the training phrasings. A clip is generated from nothing
(``SECONDS`` long, 12 decoding steps). The score of a contrast is its **ordering share**: over
every pair (a clip made for the first prompt, one made for the second), the share where the
measure orders them the way the prompts differ, ties counted half: 0.5 is chance, 1 is always.
The same seeds serve both prompts of a contrast, so its two arms differ by the prompt alone.
Beside it: the same model unprompted (guidance 0, the learned empty prompt: the two arms are
then the same clips and the share is 0.5 exactly; their means say where the model sits
unasked), and the real held-out clips whose facts match each prompt, cut to the same length
(what the measure can tell apart in real audio: the ceiling).

    python benchmarks/run.py vamp_prompts
    python benchmarks/bench_vamp_prompts.py [RUN [DATA]]   # print the section, write nothing
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

TITLE = "maskgit with text prompts: does the audio follow the prompt?"
RUN = "pretrained/vamp"
SEEDS = 8  # clips a prompt and condition
SECONDS = 2.0  # of each clip, generated or real
STEPS = 12
MAX_REAL = 16  # real clips an arm at most
VOICED = 0.5


def contrasts():
    """``(name, measure, direction, first facts, second facts)``: direction +1 where the first
    prompt's clips should measure lower than the second's, -1 higher."""
    from cadenza.data.audio_captions import ClipFacts

    pattern, violin = ClipFacts("pattern"), ClipFacts("solo", ("violin",))
    low, high = ClipFacts("note", register="low"), ClipFacts("note", register="high")
    slow, fast = ClipFacts("pattern", tempo="slow"), ClipFacts("pattern", tempo="fast")
    return [("kind", "pitched share", +1, pattern, violin), ("kind", "spectral flatness", -1, pattern, violin),
            ("register", "median pitch (MIDI)", +1, low, high), ("tempo", "onsets a second", +1, slow, fast)]


def matches(asked, facts) -> bool:
    """Whether a real clip's facts say all that ``asked`` says."""
    from dataclasses import fields

    for f in fields(asked):
        value = getattr(asked, f.name)
        if value not in (None, ()) and getattr(facts, f.name) != value:
            return False
    return True


def measures(audio) -> dict[str, float]:
    """The measures of one clip (NaN where it has no sounding or pitched frame)."""
    from cadenza.audio.features import hz_to_midi, loudness, pitch
    from cadenza.audio.io import Audio
    from cadenza.evaluate.audio import HOP, RATE, SOUNDING_DB, mono16k
    from cadenza.evaluate.audio_compare import analyse
    from cadenza.models.audio.maskgit_masks import onset_times

    mono = mono16k(audio)
    if len(mono) < 1024:
        mono = np.pad(mono, (0, 1024 - len(mono)))
    f0, confidence = pitch(mono, RATE, HOP)
    sounding = loudness(mono, RATE, HOP)[:len(f0)] > SOUNDING_DB
    pitched = sounding & (confidence[:len(sounding)] > VOICED)
    return {"pitched share": float(pitched.sum() / sounding.sum()) if sounding.any() else math.nan,
            "spectral flatness": analyse([Audio(mono[None], RATE)], crepe=None).stats["spectral_flatness"],
            "median pitch (MIDI)": float(np.median(hz_to_midi(f0[:len(pitched)][pitched]))) if pitched.any()
            else math.nan,
            "onsets a second": len(onset_times(mono, RATE)) / (len(mono) / RATE)}


def ordering(first: list[float], second: list[float], direction: int) -> float:
    """The share of (first, second) pairs ordered as ``direction`` says, ties half; NaN without pairs."""
    a = np.array([v for v in first if math.isfinite(v)])
    b = np.array([v for v in second if math.isfinite(v)])
    if not len(a) or not len(b):
        return math.nan
    diff = (b[None, :] - a[:, None]) * direction
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _data(model, data):
    from cadenza.data.audio_sets import audio_set

    if data is None:
        data = os.environ.get("CADENZA_VAMP_DATA") or (model.data_spec_ or {}).get("audio_set")
    if data is None:
        raise SystemExit("say which audio holds the real clips: CADENZA_VAMP_DATA or a DATA argument")
    return audio_set(data, "test", progress=False) if isinstance(data, (str, os.PathLike)) else data


def _real(data, asked, seconds: float) -> list:
    from cadenza.audio.io import Audio
    from cadenza.data.audio_captions import set_facts

    facts = set_facts(data)
    clips = [Audio(np.asarray(a[:int(seconds * data.sample_rate)], np.float32)[None], data.sample_rate)
             for a, f in zip(data.audio, facts) if matches(asked, f)]
    return clips[:MAX_REAL]


def _prompts(asked, seeds: int, frames, rng) -> list[str]:
    from cadenza.data.audio_captions import caption

    return [caption(asked, rng, frames, keep=1.0) for _ in range(seeds)]


def run(run_path: str | None = None, data=None, seeds: int = SEEDS, seconds: float = SECONDS,
        steps: int = STEPS) -> str:
    import torch

    import cadenza
    from cadenza.data.audio_captions import TRAIN_FRAMES, UNSEEN_FRAMES
    from cadenza.models.base import is_run

    torch.set_num_threads(1)
    started = time.perf_counter()
    run_path = str(run_path or os.environ.get("CADENZA_VAMP_RUN", RUN))
    if not is_run(run_path):
        return f"Skipped: no maskgit run at {run_path} (python scripts/train_vamp.py makes one)."
    model = cadenza.load(run_path)
    if not model.config.prompt_tokens:
        return f"Skipped: {run_path} was trained without text prompts (prompt_tokens=0)."
    data = _data(model, data)
    frames = max(1, math.ceil(seconds * model.frame_rate))
    conditions = [("unprompted (guidance 0)", UNSEEN_FRAMES, 0.0),
                  ("held-out phrasings, guidance 1", UNSEEN_FRAMES, 1.0),
                  ("held-out phrasings, guidance 3", UNSEEN_FRAMES, 3.0),
                  ("training phrasings, guidance 3", TRAIN_FRAMES, 3.0)]
    rng = np.random.default_rng(0)
    cache: dict = {}  # (facts, condition) -> measures of its clips
    examples: list[str] = []
    timing = []

    def measured(asked, label, frames_of, guidance):
        key = (asked, label)
        if key not in cache:
            prompts = _prompts(asked, seeds, frames_of, rng)
            if label.startswith("held-out") and len(examples) < 6 and prompts[0] not in examples:
                examples.append(prompts[0])
            clips = []
            for seed, prompt in enumerate(prompts):
                t = time.perf_counter()
                clips += model.generate(n=1, seed=seed, length=frames, steps=steps, progress=False,
                                        prompt=prompt, guidance=guidance)
                timing.append(time.perf_counter() - t)
            cache[key] = [measures(c) for c in clips]
        return cache[key]

    rows = []
    for name, measure, direction, first, second in contrasts():
        for label, frames_of, guidance in conditions:
            a = [m[measure] for m in measured(first, label, frames_of, guidance)]
            b = [m[measure] for m in measured(second, label, frames_of, guidance)]
            rows.append((name, measure, label, a, b, ordering(a, b, direction)))
        for asked in (first, second):
            if (asked, "real") not in cache:
                cache[(asked, "real")] = [measures(c) for c in _real(data, asked, seconds)]
        a = [m[measure] for m in cache[(first, "real")]]
        b = [m[measure] for m in cache[(second, "real")]]
        rows.append((name, measure, "real held-out clips", a, b, ordering(a, b, direction)))

    def mean(values):
        finite = [v for v in values if math.isfinite(v)]
        return f"{np.mean(finite):.3g} ({len(finite)})" if finite else "-"

    def share(value):
        return "-" if not math.isfinite(value) else f"{value:.2f}"

    lead = []
    for name, measure, *_ in contrasts():
        by = {r[2]: r[5] for r in rows if r[0] == name and r[1] == measure}
        lead.append(f"{name} ({measure}) {share(by['held-out phrasings, guidance 3'])} at guidance 3 against "
                    f"{share(by['unprompted (guidance 0)'])} unprompted and {share(by['real held-out clips'])} "
                    "for real clips")
    c = model.config
    lines = [f"**Same run:** ordering share (0.5 chance, 1 always as asked), held-out phrasings: {'; '.join(lead)}.",
             "",
             f"Run `{run_path}`: {c.codebooks} codebooks, width {c.width}, {c.layers} layers, window {c.window}, "
             f"a {c.prompt_tokens}-vector prompt prefix; trained {model.metrics_.get('train_steps', '?')} steps. "
             f"{seeds} clips a prompt and condition, {seconds:g} s each ({frames} frames), {steps} decoding steps, "
             f"one torch thread; real clips: {getattr(data, 'name', 'given')} ({getattr(data, 'split', '')}), at "
             f"most {MAX_REAL} an arm, cut to {seconds:g} s. A mean cell is the mean measure (clips with a value).",
             "",
             "| contrast | measure | clips | first prompt | second prompt | first mean | second mean | ordering |",
             "|---|---|---|---|---|---:|---:|---:|"]
    names = {name: (first, second) for name, _, _, first, second in contrasts()}
    for name, measure, label, a, b, value in rows:
        first, second = names[name]
        lines.append(f"| {name} | {measure} | {label} | {_describe(first)} | {_describe(second)} | {mean(a)} | "
                     f"{mean(b)} | {share(value)} |")
    lines += ["", "Prompts of the held-out phrasings (examples):", ""] + [f"- {e!r}" for e in examples]
    per = float(np.mean(timing)) if timing else float("nan")
    lines += ["", f"{per:.2f} s a generated clip (guidance above 1 runs each step twice); whole benchmark "
                  f"{time.perf_counter() - started:.0f} s."]
    return "\n".join(lines)


def _describe(facts) -> str:
    words = [facts.tempo, facts.register, *facts.instruments, {"pattern": "drum pattern", "solo": "melody"}
             .get(facts.kind, facts.kind)]
    return " ".join(w for w in words if w)


if __name__ == "__main__":
    print(run(*(sys.argv[1:3])))
