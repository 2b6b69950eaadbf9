"""``cadenza gan``: the latent space of a trained GAN (waveform or spectrogram) heard as one file:
interpolation between two seeds (straight or spherical) and random walks.
The work is in :mod:`cadenza.models.audio.gan`."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.cli.app import app, console, number_option
from cadenza.config import SEED

gan_app = typer.Typer(help="A trained GAN's latent space as sound: interpolation between seeds, random walks.",
                      no_args_is_help=True)
app.add_typer(gan_app, name="gan")


def _gan(run: Path):
    """A trained GAN run, or one clear error."""
    from cadenza.errors import CadenzaError
    from cadenza.models.audio.gan import GAN
    from cadenza.models.base import load, run_class

    cls = run_class(run)
    if not issubclass(cls, GAN):
        raise CadenzaError(f"{run}: a {cls.name} run; this needs a gan or specgan run "
                           "(cadenza train gan --data notes --preset laptop --out RUN)")
    return load(run)


def _class_option():
    return typer.Option(None, "--pitch", "-p", help="MIDI key (pitch-conditioned model) or class such as snare "
                        "(drums) [default: drawn from the first seed].")


def _instrument_option():
    return number_option(None, "--instrument", help="GM program, for an instrument-conditioned model "
                         "[default: drawn].", min=0, max=127)


@gan_app.command("interpolate")
def interpolate_command(
    run: Path = typer.Argument(..., help="A trained gan run."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write (the sounds one after another)."),
    seeds: tuple[int, int] = typer.Option((0, 1), "--seeds", help="The two seeds whose latents are the ends."),
    steps: int = number_option(8, "--steps", help="Sounds from the first seed's to the second's, both included.",
                               min=2, max=256),
    linear: bool = typer.Option(False, "--linear", help="Along the straight line rather than the great circle "
                                "(slerp keeps the latents' norm, where a Gaussian's samples lie)."),
    pitch: str | None = _class_option(),
    instrument: int | None = _instrument_option(),
    gap: float = number_option(0.1, "--gap", help="Seconds of silence between the sounds.", min=0, max=10),
) -> None:
    """Hear the way from one seed's sound to another's: the generator's sounds at evenly spaced
    latents between the two, one after another in one file."""
    for seed in seeds:
        SEED.check(seed, "--seeds")
    model = _gan(run)
    audio = model.interpolate(seeds[0], seeds[1], steps, spherical=not linear, pitch=pitch, instrument=instrument,
                              gap=gap)
    audio.write(out)
    console.print(f"{out}: {steps} sounds from seed {seeds[0]} to seed {seeds[1]} "
                  f"({'straight line' if linear else 'spherical'}), {audio.seconds:.1f} s", soft_wrap=True)


@gan_app.command("walk")
def walk_command(
    run: Path = typer.Argument(..., help="A trained gan run."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write (the sounds one after another)."),
    seed: int = number_option(0, "--seed", help="Where the walk starts (and its random steps).",
                              min=SEED.min, max=SEED.max),
    steps: int = number_option(8, "--steps", help="Sounds in the walk.", min=2, max=256),
    step_size: float = number_option(0.3, "--step-size", help="Standard deviation of each step (the latent's "
                                     "own is 1).", above=0, max=10),
    pitch: str | None = _class_option(),
    instrument: int | None = _instrument_option(),
    gap: float = number_option(0.1, "--gap", help="Seconds of silence between the sounds.", min=0, max=10),
) -> None:
    """A random walk through the latent space: each sound a small step from the one before."""
    model = _gan(run)
    audio = model.walk(seed, steps, step_size, pitch=pitch, instrument=instrument, gap=gap)
    audio.write(out)
    console.print(f"{out}: a walk of {steps} sounds from seed {seed}, {audio.seconds:.1f} s", soft_wrap=True)
