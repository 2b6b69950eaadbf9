"""Spectrograms of real test sounds beside the shipped GANs' at the same class: notes at the same key
and program (``docs/models/gan-notes.png``, with the one-hot-only SpecGAN's above them where
``runs/pretrained-specgan-notes-one-hot`` holds it), or one drum of each kind
(``docs/models/gan-drums.png``).

    python scripts/plot_gan_notes.py [--set notes|drums] [--out PNG]
"""

from __future__ import annotations

import argparse

import matplotlib
import numpy as np

import cadenza
from cadenza.data.audio_sets import audio_set

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen

MODELS = {data: {f"gan-{data} (WaveGAN)": f"pretrained/gan-{data}",
                 f"specgan-{data} (SpecGAN)": f"pretrained/specgan-{data}"} for data in ("notes", "drums")}
# the first shipped GANs (one-hot pitch only), drawn above where they are kept in runs/
BASELINES = {"notes": {"SpecGAN, one-hot pitch only": "runs/pretrained-specgan-notes-one-hot"}, "drums": {}}
TOP_HZ = {"notes": 4000, "drums": 8000}
SAMPLES = 16384  # the GANs' 1.024 s at 16 kHz


def _asked(data: str, count: int) -> tuple[list[dict], list[np.ndarray], list[str]]:
    """What to ask each model for (generate's options), the real clips, and the column titles."""
    test = audio_set(data, "test", progress=False)
    if data == "notes":
        chosen = list(range(count))
        options = [{"pitch": int(test.labels[i]["pitch"]), "instrument": int(test.labels[i]["program"])}
                   for i in chosen]
        titles = [f"key {o['pitch']}, program {o['instrument']}" for o in options]
    else:  # the first test one-shot of each kind
        first = {}
        for i, lab in enumerate(test.labels):
            first.setdefault(lab.get("kind"), i)
        chosen = [i for kind, i in sorted(first.items()) if kind not in (None, "pattern")][:count]
        options = [{"kind": test.labels[i]["kind"]} for i in chosen]
        titles = [o["kind"] for o in options]
    real = [np.asarray(test.audio[i][:SAMPLES], np.float32) for i in chosen]
    return options, [np.pad(clip, (0, SAMPLES - len(clip))) for clip in real], titles  # one time axis for all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(MODELS), default="notes", help="notes or drum one-shots")
    parser.add_argument("--out", default=None, help="the picture (default: docs/models/gan-SET.png)")
    parser.add_argument("--count", type=int, default=None, help="columns (default: 4 notes, 7 drum kinds)")
    args = parser.parse_args()
    out = args.out or f"docs/models/gan-{args.set}.png"
    options, real, titles = _asked(args.set, args.count or (4 if args.set == "notes" else 7))
    rows = {f"real test {args.set}": real}
    from cadenza.models.base import is_run

    chosen = {**{k: v for k, v in BASELINES[args.set].items() if is_run(v)}, **MODELS[args.set]}
    for label, run in chosen.items():
        model = cadenza.load(run)
        rows[label] = [model.generate(1, seed=i, **o)[0].samples[0] for i, o in enumerate(options)]
    fig, axes = plt.subplots(len(rows), len(options), figsize=(3 * len(options), 2.3 * len(rows)), sharey=True,
                             squeeze=False)
    for r, (label, clips) in enumerate(rows.items()):
        for c, clip in enumerate(clips):
            ax = axes[r, c]
            floor = 1e-7 * np.random.default_rng(0).standard_normal(len(clip))  # digital silence: black, not -inf
            ax.specgram(clip + floor, NFFT=512, Fs=16000, noverlap=384, cmap="magma", vmin=-140)
            ax.set_ylim(0, TOP_HZ[args.set])
            if c == 0:
                ax.set_ylabel(f"{label}\nHz")
            if r == 0:
                ax.set_title(titles[c])
    fig.tight_layout()
    fig.savefig(out, dpi=50)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
