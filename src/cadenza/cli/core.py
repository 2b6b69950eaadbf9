"""Core commands: models, train, generate, render, plot, demo.

``train`` and ``generate`` take one sub-command a model, built from the
model's ``Config`` and ``Sampling`` dataclasses, so every model's controls are
real options with help and defaults, and a new model needs no CLI code.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click
import typer
from rich.table import Table

from cadenza.cli.app import app, check_range, console, number_option, seed_option
from cadenza.config import SEED, Range
from cadenza.errors import CadenzaError

PIECES = Range(1, 10_000)  # how many pieces one `cadenza generate` writes

# --- models --------------------------------------------------------------------------------

@app.command("models")
def models_list() -> None:
    """The registered models (techniques): what each needs, can do and takes as controls."""
    from cadenza.models.abilities import abilities
    from cadenza.models.base import available

    table = Table(title="Models")
    for column in ("name", "domain", "trained", "abilities", "controls", "what it is"):
        table.add_column(column)
    for name, cls in available().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, cls.domain, "yes" if cls.needs_fit else "no", ", ".join(abilities(cls)) or "-",
                      ", ".join(cls.controls) or "-", doc[0] if doc else "")
    console.print(table)


def options_from(cls: type) -> list[click.Option]:
    """click options for the fields of a config, sampling or options dataclass
    (:func:`cadenza.config.fields_of`, the walk the studio's controls come from too).

    Every option defaults to None ("not given"), so that a preset or the
    dataclass supplies the value; the help shows the dataclass default.
    """
    from cadenza.config import fields_of

    options = []
    for f in fields_of(cls):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.help + (f"  [default: {f.default}]" if f.default not in (None, "") else "")
        if f.kind == "bool":
            options.append(click.Option([f"{flag}/--no-{f.name.replace('_', '-')}", f.name],
                                        default=None, help=help_text))
            continue
        kind = {"choice": click.Choice([str(c) for c in f.choices]), "int": click.INT, "float": click.FLOAT,
                "file": click.Path(dir_okay=False)}.get(f.kind, click.STRING)
        # a list of numbers stays text here (build_dataclass splits it and checks each number)
        check = check_range(f.range) if f.range is not None and f.kind in ("int", "float") else None
        if f.range is not None:
            help_text += f"  [{f.range}]"
        options.append(click.Option([flag, f.name], type=kind, default=None, help=help_text, callback=check))
    return options


def values_of(cls: type, params: dict) -> dict:
    """The values of ``cls``'s fields that the user gave (unset optional ones are left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in params.items() if k in names and v is not None}


def _pieces_table(rows: list[dict], out: Path) -> Table:
    table = Table(title=f"{len(rows)} pieces in {out}")
    for column in ("piece", "notes", "seconds", "files"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], "-" if row["notes"] is None else str(row["notes"]), f"{row['seconds']:.1f}",
                      ", ".join(Path(p).name for p in row["files"]))
    return table


class _ModelGroup(click.Group):
    """A group whose sub-commands are the registered models, built on demand."""

    def __init__(self, *args, build, accepts_runs: bool = False, trained_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._build, self._accepts_runs, self._trained_only = build, accepts_runs, trained_only

    def list_commands(self, ctx):
        from cadenza.models.base import available

        return [n for n, c in available().items() if self._listed(c)]

    def _listed(self, cls) -> bool:
        # `train` lists the models that learn from data (the automaton can take seed patterns).
        return not self._trained_only or cls.learns_from_data

    def get_command(self, ctx, name):
        # Only the model asked for is imported (and a run's weights are loaded only when the
        # command runs), so that `cadenza generate markov --help` imports no neural network code.
        from cadenza.models.base import find, is_run, run_class

        cls = find(name)
        if cls is not None and self._listed(cls):
            return self._build(name, cls, None)
        if self._accepts_runs and is_run(name):
            return self._build(name, run_class(name), name)
        return None

    def resolve_command(self, ctx, args):
        name = args[0]
        command = self.get_command(ctx, name)
        if command is None:
            if name.startswith("-"):
                return super().resolve_command(ctx, args)
            known = ", ".join(self.list_commands(ctx))
            what = "model or run directory" if self._accepts_runs else "trainable model"
            if self._accepts_runs and Path(name).exists():
                raise CadenzaError(f"{name}: not a Cadenza run (no cadenza.json)")
            raise CadenzaError(f"unknown {what} {name!r} (models: {known})")
        return name, command, args[1:]


def _train_command(name: str, cls, _run) -> click.Command:
    def callback(data, split, out, preset=None, restart=False, **params):
        from cadenza import workflow
        from cadenza.train import TrainerOptions
        from cadenza.train.engine import primary_process

        if not restart and any((out / "checkpoints").glob("*.ckpt")) and primary_process():
            # which one (the newest good checkpoint) the engine decides, and says when it is not last.ckpt
            console.print(f"resuming from the checkpoints in {out / 'checkpoints'}")
        try:
            trainer = TrainerOptions.of(values_of(TrainerOptions, params))
        except ValueError as exc:
            raise CadenzaError(f"invalid trainer option: {exc}") from None
        run = workflow.train(name, data, out, preset=preset, config=values_of(cls.Config, params),
                             trainer=trainer, split=split, restart=restart,
                             on_stage=lambda text: console.print(text, style="dim"))
        if not run.primary:
            return  # another process of a DDP run: the first one reports
        summary = ", ".join(f"{k} {v}" for k, v in run.metrics.items())
        console.print(f"trained {run.model!r} on {run.examples} {'clips' if cls.domain == 'audio' else 'pieces'} "
                      f"of {run.data_name} ({summary}) -> {out}")

    data_help = ("Audio set (violin, flute, cello, notes, ...; cadenza corpus list), a folder of audio files, or "
                 "a score corpus to play through a SoundFont." if cls.domain == "audio" else
                 "Corpus name (bach, essen, ryans, oneill, palestrina) or a folder of scores.")
    params = [
        click.Option(["--data", "-d"], required=True, help=data_help),
        click.Option(["--split"], type=click.Choice(["train", "valid", "test", "all"]), default="train",
                     show_default=True, help="Which split to train on."),
        click.Option(["--out", "-o"], type=click.Path(path_type=Path), required=True,
                     help="Run directory to write (cadenza.json + weights); running again resumes."),
    ]
    if cls.presets:
        params.append(click.Option(["--preset"], type=click.Choice(list(cls.presets)), default=None,
                                   help="A bundle of settings (laptop: a CPU in minutes; gpu: a GPU); "
                                        "options given explicitly override it."))
    params += options_from(cls.Config)
    from cadenza.models.neural import NeuralGenerator

    if issubclass(cls, NeuralGenerator):
        from cadenza.train import TrainerOptions

        params += options_from(TrainerOptions)
        params.append(click.Option(["--restart"], is_flag=True, default=False,
                                   help="Train afresh instead of resuming: removes the run's training "
                                        "checkpoints (samples, logs and other files stay)."))
    doc = (cls.__doc__ or "").strip().splitlines()
    return click.Command(name, params=params, callback=callback, help=doc[0] if doc else None)


def _generate_command(name: str, cls, run: str | None) -> click.Command:
    """``cadenza generate NAME``: a new model of class ``cls``, or the trained ``run`` directory."""

    def callback(out, n, seed, formats, **params):
        from cadenza.models.abilities import Reports
        from cadenza.models.base import create, load
        from cadenza.workflow import parse_formats, write_pieces

        chosen = parse_formats(formats)
        model = load(run) if run is not None else create(name, **values_of(cls.Config, params))
        prefix = f"{Path(name).name if run is not None else name}-s{seed}"
        sampling = values_of(cls.Sampling, params)
        started = time.perf_counter()
        if isinstance(model, Reports):
            out.mkdir(parents=True, exist_ok=True)
            pieces = model.generate_with_report(out / f"{prefix}-report.png", n=n, seed=seed, **sampling)
        else:
            pieces = model.generate(n=n, seed=seed, **sampling)
        elapsed = time.perf_counter() - started
        console.print(_pieces_table(write_pieces(pieces, out, prefix, chosen), out))
        console.print(f"generated in {elapsed:.2f} s")

    params = [
        click.Option(["--out", "-o"], type=click.Path(path_type=Path), required=True,
                     help="Folder for the generated files."),
        click.Option(["-n"], type=int, default=1, show_default=True, callback=check_range(PIECES),
                     help=f"How many pieces.  [{PIECES}]"),
        click.Option(["--seed", "-s"], type=int, default=0, show_default=True, callback=check_range(SEED),
                     help=f"Random seed: the same seed gives the same pieces.  [{SEED}]"),
        click.Option(["--formats"], default="mid,png", show_default=True,
                     help="Files to write for each score, from mid, musicxml, wav, png (audio is written "
                          "as WAV)."),
    ]
    if run is None and not cls.needs_fit:
        params += options_from(cls.Config)
    params += options_from(cls.Sampling)
    what = f"Generate from the trained run {name}." if run is not None else (
        (cls.__doc__ or name).strip().splitlines()[0])
    if cls.controls:
        what += f" Controls: {', '.join(cls.controls)}."
    return click.Command(name, params=params, callback=callback, help=what)


train_group = _ModelGroup("train", build=_train_command, trained_only=True,
                          help="Train a model: cadenza train MODEL --data NAME|PATH --out RUN [options]. "
                               "`cadenza train MODEL --help` lists the model's options.")
generate_group = _ModelGroup("generate", build=_generate_command, accepts_runs=True,
                             help="Generate pieces: cadenza generate MODEL|RUN --out DIR -n N --seed S [options]. "
                                  "`cadenza generate MODEL --help` lists its options.")


# --- render, plot, demo --------------------------------------------------------------------

@app.command("render")
def render_command(
    source: Path = typer.Argument(..., help="Score to play: .mid/.midi/.mxl/.musicxml/.xml/.abc/.krn."),
    out: Path = typer.Argument(..., help="Audio file to write (.wav, .flac or .ogg)."),
    soundfont: Path | None = typer.Option(None, help="SoundFont (.sf2) [default: $CADENZA_SOUNDFONT, else "
                                          "FluidR3_GM when installed, else TimGM6mb.sf2 from pretty_midi]."),
    sample_rate: int = number_option(22050, help="Sample rate in Hz.", min=8000, max=192_000),
    stereo: bool = typer.Option(False, help="Write two channels."),
    model: Path | None = typer.Option(None, "--model", help="Play the score with a trained audio "
                                         "instrument (a ddsp run) instead of the SoundFont."),
) -> None:
    """Render a score to audio through a SoundFont (or a trained instrument with --model)."""
    from cadenza.audio.io import write_audio
    from cadenza.music.io import read_score
    from cadenza.music.render import render
    from cadenza.utils import printable

    if model is not None:
        from cadenza.cli.audio import render_with_model

        return render_with_model(source, out, model)
    score = read_score(source)
    started = time.perf_counter()
    audio = render(score, sample_rate, soundfont, stereo=stereo)
    elapsed = time.perf_counter() - started
    write_audio(out, audio, sample_rate)
    seconds = audio.shape[-1] / sample_rate
    speed = seconds / max(elapsed, 1e-9)
    console.print(f"{printable(str(out))}: {seconds:.1f} s of audio, rendered {speed:.0f}x faster than real time",
                  markup=False)


@app.command("plot")
def plot_command(
    source: Path = typer.Argument(..., help="Score to draw (any readable format)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    title: str | None = typer.Option(None, help="Title [default: the file name]."),
) -> None:
    """Draw a score as a piano roll with bar lines, one colour a track."""
    from cadenza.music.io import read_score
    from cadenza.music.plot import plot_piano_roll
    from cadenza.utils import printable

    if out.suffix.lower() != ".png":
        raise CadenzaError(f"{out}: plots are written as .png")
    plot_piano_roll(read_score(source), out, title=title or source.name)
    console.print(f"wrote {printable(str(out))}", markup=False)  # a file name, as the OS gives it


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo's files."),
    n: int = number_option(4, "-n", help="How many melodies.", min=1, max=64),
    seed: int = seed_option("Random seed."),
) -> None:
    """Train a Markov chain on Bach chorale melodies and write MIDI, MusicXML, WAV and PNG."""
    from cadenza.demo import run_demo

    report = run_demo(out, n=n, seed=seed)
    bits = ", ".join(f"{k}: {v:.2f}" for k, v in report.valid_bits_by_order.items())
    console.print(f"valid bits a note by order ({report.valid_pieces} chorales): {bits}")
    table = Table(title=f"Order-{report.order} Markov chain (best on valid) on {report.train_pieces} "
                        f"Bach chorale soprano lines; constraints: {report.constraints}")
    for column in ("melody", "notes", "seconds", "files"):
        table.add_column(column)
    for sample in report.samples:
        table.add_row(sample["name"], str(sample["notes"]), f"{sample['seconds']:.1f}", ", ".join(sample["files"]))
    console.print(table)
    console.print(f"held-out likelihood: {report.valid_bits_per_note:.2f} bits a note on {report.valid_pieces} "
                  f"valid, {report.bits_per_note:.2f} on {report.test_pieces} test chorales")
    console.print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
    console.print(f"run directory: {report.out / 'run'}  (try: cadenza generate {report.out / 'run'} --out more -n 2)")

