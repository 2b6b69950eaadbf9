"""Train the shipped DDSP violin (``pretrained/ddsp-violin``) from the embedded corpus.

    python scripts/train_ddsp.py [--minutes 18]

Essen melodies played by the General MIDI violin of TimGM6mb.sf2 (the
``violin`` audio set, true f0 from the score), the ``laptop`` preset, seed 0.
Training state goes to ``runs/pretrained-ddsp-violin`` (re-running resumes);
the run's ``cadenza.json`` and ``model.safetensors`` are then copied into the
package. Prints the valid loss and the held-out resynthesis numbers.
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
    parser.add_argument("--minutes", type=float, default=18.0, help="training time budget")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "pretrained-ddsp-violin")
    args = parser.parse_args()
    torch.set_num_threads(2)

    started = time.perf_counter()
    # train, evaluate on the valid split (resynthesis metrics), save: what `cadenza train` does
    model = workflow.train("ddsp", "violin", args.work, preset="laptop", config={"seed": 0},
                           trainer={"max_minutes": args.minutes}).model
    target = pretrained_dir() / "ddsp-violin"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("cadenza.json", "model.safetensors"):
        shutil.copy2(args.work / name, target / name)
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    print(f"copied to {target}")


if __name__ == "__main__":
    main()
