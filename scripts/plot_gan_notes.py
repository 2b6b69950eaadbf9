"""Spectrograms of real test notes beside the shipped GANs' notes at the same key and program
(``docs/models/gan-notes.png``), with the one-hot-only SpecGAN's above them where
``runs/pretrained-specgan-notes-one-hot`` holds it.

    python scripts/plot_gan_notes.py [--out docs/models/gan-notes.png]
"""

from __future__ import annotations

import argparse

import matplotlib
import numpy as np

import cadenza
from cadenza.data.audio_sets import audio_set

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen

MODELS = {"gan-notes (WaveGAN)": "pretrained/gan-notes", "specgan-notes (SpecGAN)": "pretrained/specgan-notes"}
# the first shipped GANs (one-hot pitch only), drawn above where they are kept in runs/
BASELINES = {"SpecGAN, one-hot pitch only": "runs/pretrained-specgan-notes-one-hot"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/models/gan-notes.png")
    parser.add_argument("--notes", type=int, default=4, help="test notes shown (the first of the split)")
    args = parser.parse_args()
    test = audio_set("notes", "test", progress=False)
    asked = [(int(lab["pitch"]), int(lab["program"])) for lab in test.labels[: args.notes]]
    rows = {"real test notes": [np.asarray(a[:16384]) for a in test.audio[: args.notes]]}
    from cadenza.models.base import is_run

    chosen = {**{k: v for k, v in BASELINES.items() if is_run(v)}, **MODELS}
    for label, run in chosen.items():
        model = cadenza.load(run)
        rows[label] = [model.generate(1, seed=i, pitch=p, instrument=g)[0].samples[0] for i, (p, g) in enumerate(asked)]
    fig, axes = plt.subplots(len(rows), len(asked), figsize=(3 * len(asked), 2.3 * len(rows)), sharey=True,
                             squeeze=False)
    for r, (label, clips) in enumerate(rows.items()):
        for c, clip in enumerate(clips):
            ax = axes[r, c]
            ax.specgram(clip + 1e-7, NFFT=512, Fs=16000, noverlap=384, cmap="magma", vmin=-140)
            ax.set_ylim(0, 4000)
            if c == 0:
                ax.set_ylabel(f"{label}\nHz")
            if r == 0:
                ax.set_title(f"key {asked[c][0]}, program {asked[c][1]}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=50)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
