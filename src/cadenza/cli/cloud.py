"""Cloud commands: cloud-check (the checks live in :mod:`cadenza.cloud`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.cli.app import app, console


@app.command("cloud-check")
def cloud_check_command(
    task: Path = typer.Argument(..., help="A SkyPilot task file, e.g. examples/cloud/sky-train.yaml."),
    env: list[str] | None = typer.Option(None, "--env", help="NAME=VALUE: an env of the task, as given to "
                                         "sky jobs launch --env (repeatable)."),
    skypilot: bool = typer.Option(False, "--skypilot", help="Also load it with SkyPilot's own loader "
                                  "(pip install 'cadenza\\[cloud]')."),  # "\\[" is a bracket, not rich markup
) -> None:
    """Check a cloud recipe (a SkyPilot task file) offline: its fields and its cadenza train commands."""
    from cadenza.cli import command
    from cadenza.cloud import check_task, skypilot_check

    recipe = check_task(task, command(), env)
    lines = recipe.summary()
    if skypilot:
        lines.append(f"  SkyPilot loads it: {skypilot_check(task, env)}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
