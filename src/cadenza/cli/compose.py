"""``cadenza compose``: run a recipe that chains techniques (see :mod:`cadenza.compose`).

Thin: the recipe is read and checked whole by the library before anything runs, so a
mistake anywhere in it is one line and exit code 2 with nothing written; then a line a
step as it finishes.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cadenza.cli.app import app, console, number_option
from cadenza.config import SEED


@app.command("compose")
def compose_command(
    recipe: Path = typer.Argument(..., help="A recipe: a TOML file of steps (see docs/recipes.md, "
                                            "examples/recipes/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for every step's files, mix.wav and report.md."),
    seed: int = number_option(None, "--seed", help="Replace the recipe's seed.", min=SEED.min, max=SEED.max),
    tiny: bool = typer.Option(False, "--tiny", help="A quick run: short pieces, small searches, small corpora."),
) -> None:
    """Run a recipe: generate, transform, render, mix and evaluate, writing every intermediate."""
    from cadenza.compose import read_recipe, run_recipe

    checked = read_recipe(recipe, tiny=tiny, seed=seed)
    width = len(str(len(checked.steps)))

    def progress(event) -> None:
        if event.seconds is None:
            status.update(f"[{event.index}/{event.total}] {escape(event.name)} ({event.kind}) ...")
            return
        console.print(f"[{event.index:>{width}}/{event.total}] {escape(event.name)} ({event.kind}): "
                      f"{event.seconds:.2f} s, {event.summary}", highlight=False, soft_wrap=True)

    with console.status("starting") as status:
        report = run_recipe(checked, out, on_step=progress)
    made = f"{report.final} ({report.final_seconds:.1f} s of audio), " if report.final else ""
    console.print(f"{escape(checked.name)}: {made}{out / 'report.md'}; {report.seconds:.1f} s in all",
                  highlight=False, soft_wrap=True)
