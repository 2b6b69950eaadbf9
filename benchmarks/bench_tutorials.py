"""Tutorials: how long each notebook of docs/tutorials takes to execute, as the tests run it.

Each notebook is read with jupytext and executed with nbclient in a fresh kernel, one after
the other, in a scratch folder (``scripts/build_tutorials.py``'s runner, the one
``tests/test_tutorials.py`` and ``make docs`` use). Wall-clock time counts from the kernel's
start to its shutdown; CPU time is the kernel's own (user + system, children included), which
moves less than wall time when other jobs share the machine. The lead line sets the slowest
notebook against the mean and the total against CI's budget for the tutorials (3 minutes),
both from this run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

TITLE = "Tutorials: execution time of each notebook"

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 180.0  # all tutorials together, on CI's 2 cores (the "within a few minutes")
PER_NOTEBOOK_S = 30.0  # each, on one core


def _runner():
    spec = importlib.util.spec_from_file_location("build_tutorials", ROOT / "scripts" / "build_tutorials.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run() -> str:
    import nbformat

    import cadenza

    tutorials = _runner()
    cadenza.corpus("bach", progress=False)  # the corpus cache is built before the clock starts
    rows = []
    for path in tutorials.notebooks():
        with tempfile.TemporaryDirectory() as scratch:
            done = tutorials.execute(path, workdir=scratch)
        kinds = tutorials.output_kinds(done.notebook)
        size = len(nbformat.writes(done.notebook).encode())
        rows.append((path.stem, done.seconds, done.cpu_seconds, kinds["image"], kinds["audio"], size))
        print(f"  {path.stem}: {done.seconds:.1f} s", file=sys.stderr, flush=True)
    walls = [r[1] for r in rows]
    cpus = [r[2] for r in rows]
    mean = sum(walls) / len(walls)
    slowest = max(rows, key=lambda r: r[1])
    total = sum(walls)
    lead = (f"**Slowest notebook against the mean, same run: {slowest[1] / mean:.2f}x** (`{slowest[0]}`, "
            f"{slowest[1]:.1f} s against {mean:.1f} s); **all {len(rows)} one after the other: {total:.0f} s, "
            f"{total / BUDGET_S:.2f}x the {BUDGET_S:.0f} s CI budget** ({sum(cpus):.0f} s of kernel CPU; "
            f"`pytest -n 2` runs two at a time).")
    lines = [lead, "",
             "| notebook | wall (s) | kernel CPU (s) | × the mean | figures | audio players | notebook size (KB) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, wall, cpu, images, audio, size in rows:
        flag = " (over 30 s)" if wall > PER_NOTEBOOK_S else ""
        lines.append(f"| `{name}` | {wall:.1f}{flag} | {cpu:.1f} | {wall / mean:.2f} | {images} | {audio} | "
                     f"{size / 1024:.0f} |")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines += ["", f"One kernel at a time, each with one torch thread (OMP_NUM_THREADS in the kernel: 1; here: "
                  f"{threads}). Every neural notebook pays for importing torch and Lightning (several seconds "
                  "of CPU each) before it trains; the per-notebook goal is well under "
                  f"{PER_NOTEBOOK_S:.0f} s on one core."]
    return "\n".join(lines)
