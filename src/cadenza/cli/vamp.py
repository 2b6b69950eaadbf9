"""``cadenza vamp``: a recording re-imagined by a masked token model (maskgit), VampNet-style."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console, number_option, seed_option
from cadenza.errors import CadenzaError

# cadenza.models.audio.maskgit_masks.GRAMMAR, written out: the CLI imports no model code to start
MASKS = "periodic:N, prefix:SECONDS, suffix:SECONDS, inpaint:START-END, codebooks:K, onsets[:WIDTH] or none, " \
        "joined by + or ,"
MAX_MINUTES = 20.0  # a longer recording is refused from its header


def _maskgit(run: Path):
    """A trained maskgit run, or one clear error (before its weights are read)."""
    from cadenza.models.base import load, run_class

    cls = run_class(run)
    if cls.name != "maskgit":
        raise CadenzaError(f"{run}: a {cls.name} run ({cls.domain}); vamp needs a maskgit run "
                           "(cadenza train maskgit --data violin --out RUN)")
    return load(run)


@app.command("vamp")
def vamp_command(
    source: Path = typer.Argument(..., help="Recording to vamp on (.wav, .flac or .ogg)."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained maskgit run."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write (.wav, .flac or .ogg)."),
    mask: str = typer.Option("periodic:7", help=f"Tokens kept from the input: {MASKS}."),
    steps: int = number_option(12, "--steps", help="Decoding steps a window.", min=1, max=1000),
    seed: int = seed_option("Seed of the sampler."),
    temperature: float = number_option(1.0, "--temperature", help="Sampling temperature.", above=0, max=100),
    typical_mass: float = number_option(0.15, "--typical-mass", help="Typical filtering mass (1: off).",
                                        above=0, max=1),
    seconds: float | None = number_option(None, "--seconds", help="Length of the output (default: the "
                                          "input's); longer continues after the input.", above=0, max=3600),
    loop: bool = typer.Option(False, "--loop", help="With --seconds longer than the input: repeat it with "
                                                    "variations rather than continue after it."),
    prompt: str | None = typer.Option(None, "--prompt", help="A text prompt, e.g. 'a fast drum pattern' (a run "
                                                             "trained with text prompts)."),
    guidance: float = number_option(2.0, "--guidance", help="Classifier-free guidance of --prompt: 0 ignores it, "
                                    "1 follows it as trained, above 1 more closely.", min=0, max=20),
) -> None:
    """Keep some codec tokens of a recording (--mask) and let a maskgit model generate the rest.

    Masks: periodic:7 (every 7th frame), prefix:2 (continue after 2 s), suffix:1, inpaint:1-2.5,
    codebooks:2 (keep the coarse codebooks), onsets, none; join with + to keep what any keeps.
    A run trained with text prompts also follows --prompt ("a low violin note"), with --guidance."""
    from cadenza.audio.io import AUDIO_SUFFIXES, Audio
    from cadenza.models.audio.maskgit_masks import parse

    if out.suffix.lower() not in AUDIO_SUFFIXES:
        raise CadenzaError(f"{out}: cannot write {out.suffix or 'no'!r} audio (use {', '.join(AUDIO_SUFFIXES)})")
    parse(mask)  # a bad mask fails before the model loads
    model = _maskgit(model_dir)
    try:
        audio = Audio.read(source, max_seconds=MAX_MINUTES * 60)
    except CadenzaError as exc:
        message = str(exc)
        raise CadenzaError(message if str(source) in message else f"{source}: {message}") from None
    started = time.perf_counter()
    try:
        result, notes = model.transfer(audio, seed=seed, mask=mask, steps=steps, temperature=temperature,
                                       typical_mass=typical_mass, seconds=seconds, loop=loop, prompt=prompt,
                                       guidance=guidance)
    except CadenzaError as exc:
        message = str(exc)
        raise CadenzaError(message.replace("input audio", str(source), 1) if message.startswith("input audio")
                           else message) from None
    elapsed = time.perf_counter() - started
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    result.write(out)
    console.print(f"{out}: {result.seconds:.1f} s in {elapsed:.1f} s")
