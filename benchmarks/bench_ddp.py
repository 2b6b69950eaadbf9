"""Training on two processes (Lightning DDP, gloo on CPU) against one process with the same
global batch: how far the valid losses drift apart, and what the second process costs or
saves in wall time on this machine.

Both runs are the CLI, as a user runs it (``cadenza train lstm --devices 2 --strategy
ddp``), on the first 48 Bach training chorales written out as MIDI: an LSTM of the
``laptop`` width without dropout or random transposition (so that the only difference
between the runs is the order of float sums), 60 steps, a global batch of 16 windows. Each
process has one torch thread. The wall time includes start-up (Lightning starts the second
process by running the command again), which is why two processes on a small model are
slower, not faster: DDP pays off when a step costs far more than the gradient exchange.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Training on two processes (DDP) against one"

STEPS, EVERY = 60, 10
MODEL = ["lstm", "--layers", "2", "--hidden", "256", "--embedding", "64", "--context", "128", "--dropout", "0",
         "--transpose", "0", "--steps-per-epoch", str(EVERY), "--max-steps", str(STEPS), "--patience", "0",
         "--seed", "0"]


def _train(args, data: Path, out: Path) -> float:
    command = [str(Path(sys.executable).parent / "cadenza"), "train", *MODEL, *args, "--data", str(data),
               "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - started


def run() -> str:
    import numpy as np

    import cadenza
    from cadenza.train.engine import read_metrics

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = scratch / "chorales"
        data.mkdir()
        for i, score in enumerate(cadenza.corpus("bach", split="train", progress=False)[:48]):
            score.dump_midi(str(data / f"chorale{i:02d}.mid"))
        one = _train(["--batch-size", "16"], data, scratch / "one")
        two = _train(["--batch-size", "8", "--devices", "2", "--strategy", "ddp"], data, scratch / "two")
        losses = [[float(r["valid_loss"]) for r in read_metrics(scratch / run / "logs") if r.get("valid_loss")]
                  for run in ("one", "two")]
    a, b = np.array(losses[0]), np.array(losses[1])
    drift = float(np.max(np.abs(a - b) / a))
    rows = "\n".join(f"| {EVERY * (i + 1)} | {x:.5f} | {y:.5f} | {abs(x - y) / x:.1e} |"
                     for i, (x, y) in enumerate(zip(a, b)))
    return "\n".join([
        f"**Same run:** two processes took **{two / one:.2f}x** the wall time of one; their valid losses "
        f"differ from one process's by at most **{drift:.1e}** (relative).", "",
        "| step | valid loss, one process (batch 16) | two processes (batch 8 each) | relative difference |",
        "|---:|---:|---:|---:|", rows, "",
        f"Wall time, start-up included: one process {one:.1f} s, two processes {two:.1f} s ({STEPS} steps, "
        f"LSTM 2 x 256, context 128, one torch thread a process, {os.cpu_count()} cores)."])


if __name__ == "__main__":
    print(run())
