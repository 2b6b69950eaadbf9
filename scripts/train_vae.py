"""Train the shipped VAE (``pretrained/vae-violin``).

    python scripts/train_vae.py [--minutes 50] [--threads 2]

Data: the rendered ``violin`` set (Essen folk melodies on the GM violin, about
10 minutes of training audio at 16 kHz). The ``laptop`` preset, seed 0:
representation learning (spectral distance, KL weight warmed up over 2,000
steps) for 4,000 steps, then the encoder freezes and the decoder is fine-tuned
against the discriminators to step 5,000; then the latent's PCA and the prior.
Training state goes to ``runs/pretrained-vae-violin`` (re-running with a larger
``--minutes`` resumes: the budget counts the minutes already spent); the run's
``cadenza.json`` and ``model.safetensors`` (network weights in fp16; the PCA and
the prior in fp32) are then written into the package. ``python benchmarks/run.py
vae`` measures it.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from cadenza import workflow
from cadenza.models.base import load, pretrained_dir
from cadenza.models.half_precision import save_half_precision

ROOT = Path(__file__).resolve().parents[1]


def phase_metrics(logs: Path, adversarial_start: int) -> dict:
    """The valid spectral and mel distances at the last validation of phase 1 and at the end (from
    every sitting's log: a resumed run keeps the earlier ones as metrics-partNNN.csv)."""
    rows = []
    for log in sorted(logs.glob("metrics*.csv")):
        with open(log) as f:
            rows += [(int(r["step"]), float(r["valid_loss"]), float(r["valid_mel"]))
                     for r in csv.DictReader(f) if r.get("valid_loss")]
    rows.sort()
    metrics = {}
    for label, picked in (("phase1_end", [r for r in rows if r[0] < adversarial_start]), ("final", rows)):
        if picked:
            step, spectral, mel = picked[-1]
            metrics.update({f"valid_spectral_{label}": round(spectral, 4), f"valid_mel_{label}": round(mel, 4),
                            f"valid_step_{label}": step})
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=50.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--data", default="violin", help="the audio set (a single timbre) to learn")
    parser.add_argument("--name", default="vae-violin", help="name of the shipped run (pretrained/NAME)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = ROOT / "runs" / f"pretrained-{args.name}"
    started = time.perf_counter()
    # train, evaluate on the valid split, save: what `cadenza train` does
    model = workflow.train("vae", args.data, work, preset="laptop", config={"seed": 0},
                           trainer={"max_minutes": args.minutes}).model
    model.save(work, metrics=phase_metrics(work / "logs", model.config.adversarial_start))
    target = save_half_precision(work, pretrained_dir() / args.name, keep_fp32=lambda name: not name.startswith("net."))
    load(target)  # the fp16 copy loads
    print(f"trained in {time.perf_counter() - started:.0f} s: {model.metrics_}")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
