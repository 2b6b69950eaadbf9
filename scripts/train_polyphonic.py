"""Train the polyphonic frame model on a Boulanger-Lewandowski piano-roll file.

Reproduces the shipped checkpoints (fixed seed, wall-clock budget):

    .venv/bin/python scripts/train_polyphonic.py --data ../shared/data/polyphonic/JSB_Chorales.mat \
        --out src/cadenza/pretrained/jsb --minutes 30
    .venv/bin/python scripts/train_polyphonic.py --data ../shared/data/polyphonic/Nottingham.mat \
        --out src/cadenza/pretrained/nottingham --minutes 30 --preset nottingham

Training sees the train split only (transposed at random); the valid split
picks the weights (early stopping, best valid NLL) and then the width of the
transposition mixture (``--mixtures``, scored after training); the test
split is scored once, at the end. Checkpoints and Lightning logs go to ``--workdir`` (rerun
with the same one to resume); the run directory gets only the weights, the
numbers and the training curve, and a PNG of the curve goes to ``--plot``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path

import torch

import cadenza
from cadenza.data.polyphonic import load_piano_rolls
from cadenza.evaluate.polyphonic import evaluate_rolls


def curve(logs: Path) -> list[list[float]]:
    """``[step, valid NLL]`` pairs from the engine's CSV logs (earlier parts of a resumed run first)."""
    points = []
    for file in sorted(logs.glob("metrics-part*.csv")) + [logs / "metrics.csv"]:
        if file.is_file():
            with open(file, newline="") as handle:
                points += [[int(r["step"]), round(float(r["valid_loss"]), 4)]
                           for r in csv.DictReader(handle) if r.get("valid_loss")]
    return points


def plot(points, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(*zip(*points), marker="o", markersize=2, label="valid NLL")
    best = min(p[1] for p in points)
    ax.axhline(best, color="grey", linestyle=":", label=f"best {best:.3f}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("nats a frame")
    ax.set_ylim(top=min(max(p[1] for p in points), 12))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="JSB_Chorales.mat, Nottingham.mat, ...")
    parser.add_argument("--out", required=True, type=Path, help="Run directory to write (the shipped checkpoint).")
    parser.add_argument("--workdir", type=Path, help="Checkpoints and logs (default: runs/polyphonic-NAME).")
    parser.add_argument("--plot", type=Path, help="Training-curve PNG (default: docs/models/polyphonic-NAME.png).")
    parser.add_argument("--minutes", type=float, default=30.0, help="Wall-clock training budget.")
    parser.add_argument("--preset", default="jsb", help="Config preset of the polyphonic model.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Override config fields.")
    parser.add_argument("--mixtures", type=int, nargs="*", default=[0, 2, 4, 6, 8, 12],
                        help="Transposition-mixture widths to try on the valid split after training.")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    name = args.data.stem
    workdir = args.workdir or Path("runs") / f"polyphonic-{name}"
    train, valid = load_piano_rolls(args.data, "train"), load_piano_rolls(args.data, "valid")
    overrides = dict(item.split("=", 1) for item in args.set)
    model = cadenza.create("polyphonic", preset=args.preset, seed=args.seed, **overrides)
    print(f"training {model!r} on {len(train)} pieces of {name}, {args.minutes} min budget, "
          f"{args.threads} threads")
    started = time.perf_counter()
    model.fit_rolls(train, valid, workdir=workdir, progress=False,
                    data={"file": args.data.name, "split": "train", "pieces": len(train)},
                    trainer={"max_minutes": args.minutes})
    wall = time.perf_counter() - started

    # The mixture needs no training: pick its width on the valid split, like the weights.
    by_mixture = {}
    for width in args.mixtures:
        model.config = dataclasses.replace(model.config, mixture=width)
        by_mixture[width] = round(evaluate_rolls(model, valid).nll, 4)
        print(f"mixture {width}: valid NLL {by_mixture[width]}")
    if by_mixture:
        model.config = dataclasses.replace(model.config, mixture=min(by_mixture, key=by_mixture.get))
    valid_result = evaluate_rolls(model, valid)
    test = load_piano_rolls(args.data, "test")
    test_result = evaluate_rolls(model, test)
    chosen = model.config
    model.config = dataclasses.replace(chosen, mixture=0)
    alone = evaluate_rolls(model, test)  # reported beside, so the mixture's share is on record
    model.config = chosen
    points = curve(workdir / "logs")
    model.save(args.out, metrics={
        "dataset": name, "valid_nll": round(valid_result.nll, 4), "test_nll": round(test_result.nll, 4),
        "test_nll_without_mixture": round(alone.nll, 4),
        "test_frames": test_result.frames, "train_wall_seconds": round(wall, 1), "budget_minutes": args.minutes,
        "threads": args.threads, "valid_nll_by_mixture": by_mixture, "curve": points})
    plot(points, f"{name}: polyphonic frame model, {wall / 60:.1f} min",
         args.plot or Path("docs/models") / f"polyphonic-{name}.png")
    print(json.dumps({"valid_nll": valid_result.nll, "test_nll": test_result.nll,
                      "mixture": model.config.mixture,
                      "steps": model.metrics_["train_steps"], "stopped_by": model.metrics_["stopped_by"],
                      "wall_seconds": round(wall, 1)}))


if __name__ == "__main__":
    main()
