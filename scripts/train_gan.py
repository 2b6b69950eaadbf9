"""Train a shipped GAN (``pretrained/gan-notes``, ``gan-drums``, ``specgan-notes``, ``specgan-drums``).

    python scripts/train_gan.py notes [--minutes 45] [--threads 2]
    python scripts/train_gan.py drums [--minutes 45]
    python scripts/train_gan.py notes --model specgan [--minutes 30] [--max-steps 8000]
    python scripts/train_gan.py drums --model specgan [--minutes 35]

``notes``: the rendered ``notes`` set (5 GM programs x 25 keys x 3 velocities,
NSynth-like), conditioned on pitch and instrument (``--instrument-label
program``), the ``laptop`` preset, which gives the pitch as a signal too
(``pitch_signal``: a harmonic excitation, or comb; ``--one-hot-only`` trains
without it, as the first shipped GANs were). ``drums``: the drum set's one-shots,
conditioned on their kind, the ``drums`` preset. Seed 0. The checkpoint kept is
the one whose notes were nearest the held-out ones (the Fréchet distance of
log-mel statistics at each validation), not the last. ``--model specgan``
trains the spectrogram GAN on the same data. Training state goes to
``runs/pretrained-MODEL-SET`` (re-running with a larger ``--minutes`` resumes);
the run is then written into the package with fp16 weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.models.base import load, pretrained_dir
from cadenza.models.half_precision import save_half_precision

ROOT = Path(__file__).resolve().parents[1]
SETS = {"notes": ("laptop", {"instrument_label": "program"}), "drums": ("drums", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", choices=sorted(SETS), help="the one-shots to learn")
    parser.add_argument("--model", choices=("gan", "specgan"), default="gan",
                        help="gan (WaveGAN, waveforms) or specgan (spectrograms and Griffin-Lim)")
    parser.add_argument("--loss", choices=("wgan-gp", "hinge"), default=None,
                        help="override the preset's loss (hinge: one critic step a generator step)")
    parser.add_argument("--one-hot-only", action="store_true",
                        help="notes: the pitch one-hot only, without the harmonic signal (the first GANs)")
    parser.add_argument("--minutes", type=float, default=45.0, help="training time budget")
    parser.add_argument("--diversity", type=float, default=None,
                        help="weight of the mode-seeking term (MSGAN) against collapse (default: the preset's, 0)")
    parser.add_argument("--no-ship", action="store_true", help="train into runs/ only; leave the package alone")
    parser.add_argument("--max-steps", type=int, default=None, help="override the preset's step budget (batches)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset, config = SETS[args.data]
    suffix = ""
    if args.loss:
        config, suffix = {**config, "loss": args.loss}, f"-{args.loss}"
    if args.one_hot_only:
        config, suffix = {**config, "pitch_signal": False}, suffix + "-one-hot"
    if args.diversity is not None:
        config, suffix = {**config, "diversity_weight": args.diversity}, suffix + "-diverse"
    if args.max_steps:
        config = {**config, "max_steps": args.max_steps}
    work = ROOT / "runs" / f"pretrained-{args.model}-{args.data}{suffix}"
    started = time.perf_counter()
    model = workflow.train(args.model, args.data, work, preset=preset, config={"seed": 0, **config},
                           trainer={"max_minutes": args.minutes}).model
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    if not args.no_ship:
        target = save_half_precision(work, pretrained_dir() / f"{args.model}-{args.data}")
        load(target)  # the fp16 copy loads
        print(f"written to {target}")


if __name__ == "__main__":
    main()
