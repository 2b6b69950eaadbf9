"""``cadenza smf``: a trained Sound Model Factory played from a control file (time, x, y, pitch).
The work is in :mod:`cadenza.models.audio.smf`; MIDI goes through ``cadenza stream`` and ``cadenza play``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console, seed_option

smf_app = typer.Typer(help="A trained Sound Model Factory played from a control file.", no_args_is_help=True)
app.add_typer(smf_app, name="smf")


def _smf(run: Path):
    """A trained smf run, or one clear error."""
    from cadenza.errors import CadenzaError
    from cadenza.models.base import load, run_class

    cls = run_class(run)
    if cls.name != "smf":
        raise CadenzaError(f"{run}: a {cls.name} run; this needs an smf run "
                           "(cadenza train smf --data notes --gan pretrained/specgan-notes --preset laptop --out RUN)")
    return load(run)


@smf_app.command("render")
def render_command(
    run: Path = typer.Argument(..., help="A trained smf run."),
    controls: Path = typer.Option(..., "--controls", "-c", help="CSV with columns time,x,y,pitch (seconds, 0-1, "
                                  "0-1, MIDI key) and optionally onset (0/1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    seed: int = seed_option("Seed of the noise source."),
) -> None:
    """Play a parameter path: x and y glide from row to row, the pitch holds; a note starts at the
    first row, where the pitch changes and where onset is 1."""
    model = _smf(run)
    started = time.perf_counter()
    audio = model.render_file(controls, seed=seed)
    elapsed = time.perf_counter() - started
    audio.write(out)
    console.print(f"{out}: {audio.seconds:.1f} s played by {run}, "
                  f"{audio.seconds / max(elapsed, 1e-9):.0f}x faster than real time", soft_wrap=True)
