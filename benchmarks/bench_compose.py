"""Recipes (issue #17 part 3): each shipped example recipe run in full, its wall time against the
seconds of audio it makes (x real time), and the wall time of each step.

The baseline is real time: a recipe at 1x takes as long to compose, render and mix as its mix
lasts. Each recipe runs once, in a fresh process's order (the first one pays for importing
torch and loading the corpus cache, as a user's first run does); the per-step times show where
the time goes (fitting the Markov chain, the genetic algorithm's generations, the neural
instruments). ``python benchmarks/bench_compose.py --tiny`` runs the tests' tiny sizes instead.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

TITLE = "Recipes: each example composed in full, x real time, and where its time goes"
ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("folk-violin", "groove", "chorale-vae", "prompted-jig")


def run(tiny: bool = False) -> str:
    from cadenza.compose import read_recipe, run_recipe

    rows, details = [], []
    for name in RECIPES:
        path = ROOT / "examples" / "recipes" / f"{name}.toml"
        with tempfile.TemporaryDirectory() as folder:
            clock = time.perf_counter()
            recipe = read_recipe(path, tiny=tiny)
            checked = time.perf_counter() - clock
            report = run_recipe(recipe, Path(folder) / "out")
        total = checked + report.seconds
        rows.append((name, len(recipe.steps), report.final_seconds, total, checked))
        steps = ", ".join(f"{s['name']} {s['seconds']:.2f}" for s in report.steps)
        writing = sum(s["write_seconds"] for s in report.steps)
        slowest = max(report.steps, key=lambda s: s["seconds"])
        details.append(f"- `{name}` ({recipe.name}): {steps} s; writing every intermediate (MIDI, MusicXML, "
                       f"WAV, pictures) {writing:.2f} s; slowest step: {slowest['name']} ({slowest['kind']})")
    ratios = ", ".join(f"{name} {audio / total:.2f}x" for name, _, audio, total, _ in rows)
    lines = [f"Each example recipe against real time (seconds of final mix per second of wall time, "
             f"checking + running + writing every intermediate){' at tiny sizes' if tiny else ''}: {ratios}.",
             "", "| recipe | steps | mix (s of audio) | wall time (s) | of which checking the recipe (s) "
                 "| x real time |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {steps} | {audio:.1f} | {total:.1f} | {checked:.2f} | {audio / total:.2f} |"
              for name, steps, audio, total, checked in rows]
    lines += ["", "Wall time of each step's work (s), in run order (the first step that needs torch pays for "
              "importing it, a model step for loading its checkpoint):", "", *details]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(tiny="--tiny" in sys.argv[1:]))
