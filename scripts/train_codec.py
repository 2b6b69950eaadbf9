"""Train the shipped codec (``pretrained/codec``).

    python scripts/train_codec.py [--minutes 45] [--threads 1] [--quantize-share 1]

Data: a mix of the rendered music sets, ``violin+ensemble+drums+notes`` (solo
melodies, four-part chorales, drum patterns and one-shots, single notes of
five instruments: about 40 minutes of training audio at 16 kHz). The
``laptop`` preset (a Vocos decoder), seed 0: reconstruction losses for the
first 4,000 steps, then the discriminators join. The shipped codec was trained
with ``--minutes 45 --threads 1`` (4,328 steps); a second run beside it with
``--quantize-share 0.5 --run codec-mimi --no-ship`` (Mimi's bypass) ended
worse (docs/models/codec.md). Training state goes to ``runs/RUN`` (default
``runs/pretrained-codec``; re-running with a larger ``--minutes`` resumes: the
budget counts the minutes already spent); the run's ``cadenza.json`` and
``model.safetensors`` (weights and codebooks in fp16, about 9 MB) are then
written into the package. Prints the valid mel distance; ``python
benchmarks/run.py codec`` measures the rate-distortion table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.models.audio.codec import save_half_precision
from cadenza.models.base import load, pretrained_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = "violin+ensemble+drums+notes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=45.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data", default=DATA, help="audio sets to learn, joined by +")
    parser.add_argument("--quantize-share", type=float, default=1.0,
                        help="share of training crops decoded through the quantiser (Mimi: 0.5)")
    parser.add_argument("--run", default="pretrained-codec", help="the run's folder under runs/")
    parser.add_argument("--no-ship", action="store_true", help="train only; do not copy into the package")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = ROOT / "runs" / args.run
    started = time.perf_counter()
    # train, evaluate on the valid split, save: what `cadenza train` does
    model = workflow.train("codec", args.data, work, preset="laptop",
                           config={"seed": 0, "quantize_share": args.quantize_share},
                           trainer={"max_minutes": args.minutes}).model
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    if args.no_ship:
        return
    target = save_half_precision(work, pretrained_dir() / "codec")
    load(target)  # the fp16 copy loads
    print(f"written to {target}")


if __name__ == "__main__":
    main()
