"""Train the shipped Sound Model Factory (``pretrained/smf``) from the shipped GAN.

    python scripts/train_smf.py [--gan pretrained/specgan-notes] [--minutes 20] [--threads 2]

The ``laptop`` preset on ``pretrained/specgan-notes`` (python scripts/train_gan.py notes --model
specgan; its notes were nearer the real ones than the WaveGAN's at the same budget): an 8 x 8
grid from corner seeds 0-3, SOM re-spacing (kept where it is more even), five keys spread over the
GAN's, the GAN's first instrument, seed 0. Training state goes to ``runs/pretrained-smf``
(re-running with a larger ``--minutes`` resumes); the run is then written into the package with
fp16 network weights (the grid's latents stay fp32). The smf's ``gan`` option names
``pretrained/specgan-notes``, so the shipped run finds its GAN wherever the package is installed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.models.base import is_run, load, pretrained_dir
from cadenza.models.half_precision import save_half_precision

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default="pretrained/specgan-notes", help="the trained gan run to learn from")
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    if not is_run(args.gan):
        raise SystemExit(f"error: {args.gan} is not a trained run (python scripts/train_gan.py notes)")
    torch.set_num_threads(args.threads)
    work = ROOT / "runs" / "pretrained-smf"
    started = time.perf_counter()
    # the smf does not read the data (the GAN makes its sounds); "notes" is the set the GAN learned
    model = workflow.train("smf", "notes", work, preset="laptop", config={"seed": 0, "gan": args.gan},
                           trainer={"max_minutes": args.minutes}).model
    target = save_half_precision(work, pretrained_dir() / "smf", keep_fp32=lambda name: not name.startswith("net."))
    load(target)  # the fp16 copy loads
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
