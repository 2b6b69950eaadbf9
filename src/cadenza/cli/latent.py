"""``cadenza latent``: the latent space of a trained model (vae, ...): its principal axes and
fidelity, interpolation between two sounds, and moves along its axes. The work is in
:mod:`cadenza.models.latent`; these commands read files, call it and write the result."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console, number_option
from cadenza.cli.audio import MAX_TRANSFER_MINUTES
from cadenza.errors import CadenzaError
from cadenza.utils import one_thread

latent_app = typer.Typer(help="The latent space of a trained model (vae, ...): principal axes and fidelity, "
                              "interpolation between sounds, moves along latent axes.", no_args_is_help=True)
app.add_typer(latent_app, name="latent")

MAX_STEPS, MAX_SECONDS = 100, 600.0  # as cadenza.models.latent, which the help must not import


def _latent(run: Path):
    """A trained run whose model declares the LatentSpace ability, or one clear error."""
    from cadenza.cli.audio import _model_with
    from cadenza.models.abilities import LatentSpace

    return _model_with(run, LatentSpace, "a model with a latent space",
                       "vae (cadenza train vae --data violin --out RUN)")


def _read(path: Path, model, max_minutes: float):
    """A recording at the model's rate, mono; what was changed is said as a note."""
    from cadenza.audio.io import Audio
    from cadenza.models.latent import model_rate

    audio = Audio.read(path, max_seconds=max_minutes * 60)
    rate = model_rate(model)
    if rate:
        audio, notes = audio.conformed(rate)
        for note in notes:
            console.print(f"[yellow]note:[/] {path.name}: {note}", highlight=False)
    return audio


def _axis_values(values: list[str], flag: str) -> dict[int, float]:
    """``["0=1.5", "2=-1"]`` as ``{0: 1.5, 2: -1.0}``, or one clear error naming the flag."""
    parsed: dict[int, float] = {}
    for text in values:
        axis, sep, value = text.partition("=")
        try:
            key, number = int(axis.strip()), float(value)
        except ValueError:
            key = None
        if not sep or key is None:
            raise CadenzaError(f"{flag}: expected AXIS=VALUE such as 0=1.5, got {text!r}")
        if key in parsed:
            raise CadenzaError(f"{flag}: axis {key} is given twice")
        parsed[key] = number
    return parsed


def _max_minutes():
    return number_option(MAX_TRANSFER_MINUTES, "--max-minutes", above=0,
                         help="Longest recording taken; a longer one is refused before it is decoded.")


@latent_app.command("pca")
def pca_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run of a model with a latent space (vae)."),
    data: str | None = typer.Option(None, "--data", "-d", help="Audio set (cadenza corpus list) or folder of "
                                    "audio files whose latent frames are analysed [default: the PCA the run "
                                    "stores]."),
    split: str = typer.Option("valid", "--split", help="Split of --data: train, valid, test or all."),
    plot: Path | None = typer.Option(None, "--plot", help="PNG of the fidelity curve to write."),
) -> None:
    """How many principal axes keep 80, 90, 95 and 99% of the latent's variance (RAVE's fidelity).

    Those axes are the dimensions along which the model's sound really changes. The recordings
    of --data are encoded, their latent frames pooled and a PCA fitted; without --data the PCA
    the run stored when it was trained is shown."""
    from cadenza.models.latent import FIDELITIES, fit_pca, model_pca

    model = _latent(model_dir)
    started = time.perf_counter()
    if data is None:
        pca = model_pca(model)
        if pca is None:
            raise CadenzaError(f"{model_dir}: the run stores no latent PCA; pass --data SET_OR_FOLDER to fit one")
        source = "the PCA stored in the run"
    else:
        from cadenza.data.audio_sets import audio_set

        clips_set = audio_set(data, split)
        if len(clips_set) == 0:
            raise CadenzaError(f"{data}: no clips in the {split} split")
        with one_thread():
            pca = fit_pca(model, [clips_set.clip(i) for i in range(len(clips_set))])
        source = (f"{len(clips_set)} clips ({clips_set.seconds:.0f} s) of {data} {split}, "
                  f"in {time.perf_counter() - started:.1f} s")
    console.print(f"latent PCA of {model_dir} ({pca.latent_size} dims) from {source}")
    if pca.degenerate:
        console.print("[yellow]note:[/] the latent frames do not vary at all (silence, or an untrained encoder): "
                      "no axis explains anything, so every one is kept", highlight=False)
    console.print("fidelity  dims  share of the latent")
    for fidelity, dims in pca.table(FIDELITIES):
        console.print(f"{fidelity:>8g}  {dims:>4}  {dims / pca.latent_size:>6.0%}", highlight=False)
    if plot is not None:
        pca.plot(plot, title=f"Latent fidelity of {model_dir.name} ({pca.latent_size} dims)")
        console.print(f"{plot}: the fidelity curve")


@latent_app.command("interpolate")
def interpolate_command(
    first: Path = typer.Argument(..., help="The sound to start from (.wav, .flac, .ogg)."),
    second: Path = typer.Argument(..., help="The sound to end on."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run of a model with a latent space (vae)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    steps: int = number_option(5, "--steps", help="Segments from the first sound to the second, both included "
                               "(ignored with --morph).", min=2, max=MAX_STEPS),
    morph: bool = typer.Option(False, "--morph", help="One continuous morph, the mixture moving from the first "
                               "sound to the second over time, instead of steps."),
    seconds: float | None = number_option(None, "--seconds", help="Length of a segment (of the morph with "
                                          "--morph); the latents are cut or looped [default: the shorter sound].",
                                          above=0, max=MAX_SECONDS),
    max_minutes: float = _max_minutes(),
) -> None:
    """Walk the latent space from one sound to another, in steps or as one continuous morph.

    Both sounds are encoded and mixtures (1 - t) * first + t * second of their latents decoded:
    in steps joined by short crossfades (the first step is the first sound's own decoding, the
    last the second's) or, with --morph, as one sound that changes over time."""
    from cadenza.models.latent import interpolate

    model = _latent(model_dir)
    a, b = _read(first, model, max_minutes), _read(second, model, max_minutes)
    started = time.perf_counter()
    with one_thread():
        audio = interpolate(model, a, b, steps=steps, morph=morph, seconds=seconds)
    elapsed = time.perf_counter() - started
    audio.write(out)
    how = "a continuous morph" if morph else f"{steps} steps"
    console.print(f"{out}: {audio.seconds:.1f} s, {how} from {first.name} to {second.name} in {elapsed:.1f} s")


@latent_app.command("offset")
def offset_command(
    source: Path = typer.Argument(..., help="The sound to move (.wav, .flac, .ogg)."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run of a model with a latent space (vae)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    axis: list[str] | None = typer.Option(None, "--axis", "-a", help="AXIS=VALUE: move every frame VALUE standard "
                                          "deviations along principal axis AXIS (0: the one that explains most); "
                                          "raw latent dimension AXIS by VALUE when the run stores no PCA. "
                                          "Repeat for several axes."),
    scale: list[str] | None = typer.Option(None, "--scale", help="AXIS=FACTOR: multiply the sound's deviation "
                                           "from the mean along AXIS (the data's mean; the clip's own for raw "
                                           "dimensions): 0 flattens, 2 exaggerates. Applied before --axis; repeat "
                                           "for several axes."),
    raw: bool = typer.Option(False, "--raw", help="Use raw latent dimensions even when the run stores a PCA."),
    max_minutes: float = _max_minutes(),
) -> None:
    """Move a sound along the latent's principal axes (--axis) or scale it along them (--scale).

    The sound is encoded, its latent moved and decoded. The axes are the PCA the run stored
    when it was trained (see cadenza latent pca), in standard deviations."""
    from cadenza.models.latent import axis_values, decode, encode, model_pca, scale_latent, shift_latent

    offsets, factors = _axis_values(axis or [], "--axis"), _axis_values(scale or [], "--scale")
    if not offsets and not factors:
        raise CadenzaError("say how to move the sound: --axis AXIS=VALUE (or --scale AXIS=FACTOR), "
                           "such as --axis 0=1.5")
    model = _latent(model_dir)
    offsets, factors = (axis_values(offsets, model.latent_size, "--axis"),
                        axis_values(factors, model.latent_size, "--scale"))
    pca = None if raw else model_pca(model)
    if pca is None and not raw:
        console.print(f"[yellow]note:[/] {model_dir} stores no latent PCA: moving raw latent dimensions",
                      highlight=False)
    audio = _read(source, model, max_minutes)
    started = time.perf_counter()
    with one_thread():
        z = encode(model, audio)
        if factors:
            z = scale_latent(z, factors, pca)
        if offsets:
            z = shift_latent(z, offsets, pca)
        result = decode(model, z)
    elapsed = time.perf_counter() - started
    result.write(out)
    moves = ", ".join([f"axis {k} {v:+g} sd" if pca else f"dim {k} {v:+g}" for k, v in offsets.items()]
                      + [f"axis {k} x{v:g}" for k, v in factors.items()])
    console.print(f"{out}: {result.seconds:.1f} s ({moves}) in {elapsed:.1f} s")


@latent_app.command("encode")
def encode_command(
    source: Path = typer.Argument(..., help="The sound to encode (.wav, .flac, .ogg)."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run of a model with a latent space (vae)."),
    out: Path = typer.Option(..., "--out", "-o", help="Latent file to write (.npz)."),
    max_minutes: float = _max_minutes(),
) -> None:
    """Encode a sound to its latent frames, written as an .npz latent file (no pickles) that
    records the model's latent size and frame rate; `cadenza latent decode` plays it back."""
    from cadenza.models.latent import encode, write_latent

    if out.suffix != ".npz":
        raise CadenzaError(f"{out}: a latent file is written as .npz")
    model = _latent(model_dir)
    audio = _read(source, model, max_minutes)
    started = time.perf_counter()
    with one_thread():
        z = encode(model, audio)
    write_latent(out, z, model, audio.samples.shape[1], str(model_dir))
    console.print(f"{out}: {z.shape[1]} frames of {z.shape[0]} dimensions ({model.frame_rate:g} a second) "
                  f"from {audio.seconds:.1f} s in {time.perf_counter() - started:.1f} s")


@latent_app.command("decode")
def decode_command(
    source: Path = typer.Argument(..., help="A latent file (.npz) from cadenza latent encode."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run whose latent it is (vae)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
) -> None:
    """Decode a latent file to audio; a latent of another size or frame rate is refused."""
    from cadenza.models.latent import decode, read_latent

    model = _latent(model_dir)
    z, _ = read_latent(source, model)
    started = time.perf_counter()
    with one_thread():
        audio = decode(model, z)
    audio.write(out)
    console.print(f"{out}: {audio.seconds:.1f} s from {z.shape[1]} latent frames in "
                  f"{time.perf_counter() - started:.1f} s")
