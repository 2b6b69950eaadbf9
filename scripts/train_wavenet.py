"""Train the shipped WaveNets (``pretrained/wavenet-notes``, ``pretrained/wavenet-violin``).

    python scripts/train_wavenet.py notes  [--minutes 35]
    python scripts/train_wavenet.py violin [--minutes 35]

``notes``: the rendered ``notes`` set (5 GM programs x 25 pitches x 3 velocities,
true f0), conditioned on pitch, program, f0 and loudness. ``violin``: Essen
melodies on the GM violin (the set ``pretrained/ddsp-violin`` learned from), so
the two models can be compared on the same controls and data. The ``laptop``
preset, seed 0, one torch thread (the machine is shared). Training state goes to
``runs/pretrained-wavenet-SET`` (re-running with a larger ``--minutes`` resumes: the
budget counts the minutes already spent); the run's ``cadenza.json``
and ``model.safetensors`` are then copied into the package (about 0.5 MB).
Prints the valid loss and held-out numbers.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.models.base import pretrained_dir

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", choices=["notes", "violin"], help="the audio set to learn")
    parser.add_argument("--minutes", type=float, default=35.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--excitation", choices=["sine", "none"], default="sine",
                        help="the sine excitation at f0 (as shipped), or none (the paper's input)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = ROOT / "runs" / f"pretrained-wavenet-{args.data}"

    started = time.perf_counter()
    # train, evaluate on the valid split, save: what `cadenza train` does
    model = workflow.train("wavenet", args.data, work, preset="laptop",
                           config={"seed": 0, "excitation": args.excitation},
                           trainer={"max_minutes": args.minutes}).model
    target = pretrained_dir() / f"wavenet-{args.data}"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("cadenza.json", "model.safetensors"):
        shutil.copy2(work / name, target / name)
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    print(f"copied to {target}")


if __name__ == "__main__":
    main()
