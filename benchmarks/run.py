"""Run the benchmarks and record their results in docs/benchmarks.md.

Each ``benchmarks/bench_<name>.py`` defines ``TITLE`` and ``run() -> str``
(a markdown body whose first line states its ratios against a peer, or a
named baseline, measured in the same run). Every section of
docs/benchmarks.md carries the command, the machine, its load and the date
of its own measurement, so running one benchmark
(``python benchmarks/run.py markov``) updates its section and keeps the rest.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py foundation # one
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# Sections whose name (on the command line and in docs/benchmarks.md) is not their file's stem.
NAMES = {"vae_export": "vae-export"}
HEADER = """# Benchmarks

Measured by `make bench` (`python benchmarks/run.py [NAME ...]`), one section a
benchmark file in `benchmarks/`. Each section says when, on what machine and
under what load (the 1-minute load average at its start and end) it was
measured; numbers are as measured, not edited. The machine is shared and
noisy: absolute figures did not reproduce on another 2-core machine (1.5-2.5x
lower), while ratios measured in one run did. So each section leads with its
ratios against a peer (or, where there is none, a named baseline) measured in
the same run; the absolute numbers after them are context for that machine
and load.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch_version}, {platform.system()} {platform.release()}")


def load() -> str:
    """The 1-minute load average of the machine, as the section header shows it."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    return f"{os.getloadavg()[0]:.1f}"


def sections(text: str) -> dict[str, str]:
    pattern = re.compile(r"<!-- bench:([\w-]+) -->\n(.*?)<!-- /bench:\1 -->\n", re.S)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def main(argv: list[str]) -> int:
    stems = {p.stem[len("bench_"):]: p for p in sorted((ROOT / "benchmarks").glob("bench_*.py"))}
    available = {NAMES.get(stem, stem): p for stem, p in stems.items()}
    chosen = argv or list(available)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"error: unknown benchmark {unknown[0]!r} (available: {', '.join(available)})", file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name in chosen:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", available[name])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {name}: {module.TITLE}", flush=True)
        load_before = load()
        started = time.perf_counter()
        body = module.run().strip()
        elapsed = time.perf_counter() - started
        print(body, flush=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        # Read the page again just before writing: another run may have recorded its section meanwhile.
        recorded = sections(DOC.read_text()) if DOC.exists() else {}
        recorded[name] = (f"## {module.TITLE}\n\n"
                          f"`python benchmarks/run.py {name}` — {stamp}, {elapsed:.0f} s; {machine()}; "
                          f"load average {load_before} at the start, {load()} at the end, on "
                          f"{os.cpu_count()} cores\n\n"
                          f"{body}\n\n")
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(HEADER + "\n" + "".join(f"<!-- bench:{k} -->\n{v}<!-- /bench:{k} -->\n"
                                                for k, v in sorted(recorded.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
