"""Start-up: how long the common commands take from a cold process, and what they import.

Each command runs in a fresh interpreter, as a user starts it, several times in interleaved
rounds (so that a busy machine slows every command alike); the table gives the median. The
ratios lead: against ``python -c "import click"`` (the floor of any click program) and against
``cadenza --help``. The last column lists the heavy libraries each command imported: help
should import none of torch, transformers or Lightning.

``CADENZA_BENCH_BASELINE=<git commit>`` also measures that commit's code (from ``git archive``,
run with this environment) in the same rounds, for a before/after comparison.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Start-up time of the command line"

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("CADENZA_BENCH_ROUNDS", "5"))
HEAVY = ("torch", "transformers", "lightning", "music21", "matplotlib", "scipy", "gradio", "miditok")

# What is run ({out}: a scratch folder, which is also the working directory).
COMMANDS = [
    ["--help"],
    ["generate", "--help"],
    ["generate", "markov", "--help"],
    ["generate", "pretrained/folk", "--help"],
    ["generate", "pretrained/folk", "-n", "1", "--out", "{out}"],
    ["train", "--help"],
    ["train", "transformer", "--help"],
    ["corpus", "list"],
]

# Runs the CLI the way the `cadenza` script does, then reports the heavy libraries it loaded.
PROBE = """
import sys
from cadenza.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
finally:
    print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def _run(source: Path | None, args: list[str], out: str) -> tuple[float, str]:
    """Seconds one cold run of ``cadenza ARGS`` took, and the heavy libraries it imported."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    if source is not None:  # the baseline's code before this checkout's (an editable install)
        env["PYTHONPATH"] = str(source / "src")
    command = [sys.executable, "-c", PROBE.format(heavy=HEAVY), *(a.format(out=out) for a in args)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"cadenza {shlex.join(args)} failed: {done.stderr.strip()[-300:]}")
    heavy = [line for line in done.stderr.splitlines() if line.startswith("heavy:")]
    return seconds, heavy[-1][len("heavy:"):] if heavy else "?"


def _floor(out: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import click"], check=True, cwd=out)
    return time.perf_counter() - started


def _baseline(commit: str, folder: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run() -> str:
    commit = os.environ.get("CADENZA_BENCH_BASELINE")
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as old:
        sources = {"now": None}
        if commit:
            sources["before"] = _baseline(commit, Path(old))
        times = {(s, i): [] for s in sources for i in range(len(COMMANDS))}
        heavy, floor = {}, []
        for _ in range(ROUNDS):
            floor.append(_floor(out))
            for i, args in enumerate(COMMANDS):
                for name, source in sources.items():
                    seconds, heavy[name, i] = _run(source, args, out)
                    times[name, i].append(seconds)
    click = statistics.median(floor)
    median = {key: statistics.median(values) for key, values in times.items()}
    help_now = median["now", 0]
    shown = [shlex.join(["cadenza", *(a.replace("{out}", "DIR") for a in args)]) for args in COMMANDS]
    lead = (f"**Against `cadenza --help`, same run** ({help_now:.2f} s, itself {help_now / click:.1f}x "
            "`python -c \"import click\"`): "
            + "; ".join(f"`{shown[i]}` **{median['now', i] / help_now:.1f}x**" for i in range(1, len(COMMANDS))) + ".")
    header = "| command | × `import click` | × `cadenza --help` | seconds | heavy libraries imported |"
    rule = "|---|---|---|---|---|"
    if commit:
        speedups = "; ".join(f"`{shown[i]}` **{median['before', i] / median['now', i]:.1f}x**"
                             for i in range(len(COMMANDS)))
        lead = (f"**Faster than the code at {commit[:10]}, same run** (its seconds / these): {speedups}.\n\n"
                + lead)
        header += " before: × `import click` | before: seconds | before: heavy libraries |"
        rule += "---|---|---|"
    lines = [lead, "", header, rule]
    for i in range(len(COMMANDS)):
        row = (f"| `{shown[i]}` | {median['now', i] / click:.1f} | {median['now', i] / help_now:.2f} | "
               f"{median['now', i]:.2f} | {heavy['now', i] or 'none'} |")
        if commit:
            row += (f" {median['before', i] / click:.1f} | {median['before', i]:.2f} | "
                    f"{heavy['before', i] or 'none'} |")
        lines.append(row)
    lines += ["", f"Medians of {ROUNDS} cold runs each, in interleaved rounds; `python -c \"import click\"` "
                  f"took {click:.2f} s. `generate pretrained/folk -n 1` includes generating one tune "
                  "(a 3.5M-parameter GPT-2 from the package) and writing its MIDI and PNG files."]
    return "\n".join(lines)
