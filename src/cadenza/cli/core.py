"""Core commands: corpora, models, train, generate, render, plot, demo.

``train`` and ``generate`` take one sub-command a model, built from the
model's ``Config`` and ``Sampling`` dataclasses, so every model's controls are
real options with help and defaults, and a new model needs no CLI code.
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from pathlib import Path

import click
import typer
from rich.table import Table

from cadenza.cli.app import app, console
from cadenza.errors import CadenzaError

corpus_app = typer.Typer(help="List, build and inspect corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


# --- corpora ---------------------------------------------------------------------------

@corpus_app.command("list")
def corpus_list() -> None:
    """The embedded corpora, their licences and whether their cache is built."""
    from cadenza.data.corpora import CORPORA, cached_size

    table = Table(title="Corpora (any folder of .mid/.mxl/.musicxml/.xml/.abc/.krn files works too)")
    for column in ("name", "description", "licence", "cached pieces"):
        table.add_column(column)
    for name, info in CORPORA.items():
        size = cached_size(name)
        table.add_row(name, info.description, info.licence, "not built" if size is None else str(size))
    console.print(table)


@corpus_app.command("build")
def corpus_build(
    name: str = typer.Argument(..., help="Corpus name (see `cadenza corpus list`) or a folder of scores."),
    workers: int | None = typer.Option(None, help="Parallel parser processes [default: all cores]."),
    force: bool = typer.Option(False, help="Rebuild even when the cache is current."),
) -> None:
    """Parse a corpus once into the cache ($CADENZA_CACHE, default ~/.cache/cadenza)."""
    from cadenza.data.corpora import build_cache, corpus

    started = time.perf_counter()
    cache = build_cache(name, workers=workers, force=force)
    loaded = corpus(name, progress=False)
    console.print(f"{len(loaded)} pieces in {cache} ({time.perf_counter() - started:.1f} s)")
    _report_errors(loaded.errors)


@corpus_app.command("info")
def corpus_info(name: str = typer.Argument(..., help="Corpus name or folder.")) -> None:
    """Pieces a split, notes, parts and unreadable files of a corpus."""
    from cadenza.data.corpora import corpus, split_of

    whole = corpus(name)
    table = Table(title=f"{whole.name}")
    for column in ("split", "pieces", "notes", "mean length (quarters)", "tracks a piece"):
        table.add_column(column, justify="right")
    for split in ("train", "valid", "test", "all"):
        scores = [s for i, s in whole.items() if split == "all" or split_of(i) == split]
        notes = sum(len(t.notes) for s in scores for t in s.tracks)
        quarters = [s.end() / s.ticks_per_quarter for s in scores]
        tracks = sorted({len(s.tracks) for s in scores})
        table.add_row(split, str(len(scores)), str(notes),
                      f"{sum(quarters) / max(len(quarters), 1):.1f}",
                      ", ".join(map(str, tracks)))
    console.print(table)
    _report_errors(whole.errors)


def _report_errors(errors: list[dict]) -> None:
    if errors:
        console.print(f"[yellow]{len(errors)} unreadable pieces skipped:[/]")
        for error in errors[:10]:
            console.print(f"  {error['path']}: {error['error']}", highlight=False)
        if len(errors) > 10:
            console.print(f"  ... and {len(errors) - 10} more")


# --- models --------------------------------------------------------------------------------

@app.command("models")
def models_list() -> None:
    """The registered models (techniques) and what each needs."""
    from cadenza.models.base import available

    table = Table(title="Models")
    for column in ("name", "domain", "trained", "what it is"):
        table.add_column(column)
    for name, cls in available().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, cls.domain, "yes" if cls.needs_fit else "no", doc[0] if doc else "")
    console.print(table)


def _options_from(cls: type) -> list[click.Option]:
    """click options for the fields of a config or sampling dataclass.

    Every option defaults to None ("not given"), so that a preset or the
    dataclass supplies the value; the help shows the dataclass default.
    """
    options = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and len(inner) == 1
        base = inner[0] if optional else hint
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        help_text = f.metadata.get("help", "")
        if default is not None and default != "":
            help_text += f"  [default: {default}]"
        if base is bool:
            options.append(click.Option([f"{flag}/--no-{f.name.replace('_', '-')}", f.name],
                                        default=None, help=help_text))
            continue
        if typing.get_origin(base) is typing.Literal:
            kind = click.Choice([str(c) for c in typing.get_args(base)])
        else:
            kind = {int: click.INT, float: click.FLOAT}.get(base, click.STRING)
        options.append(click.Option([flag, f.name], type=kind, default=None, help=help_text))
    return options


def _values(cls: type, params: dict) -> dict:
    """The values of ``cls``'s fields that the user gave (unset optional ones are left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in params.items() if k in names and v is not None}


def _write_pieces(pieces, model, out: Path, prefix: str, formats: list[str]) -> Table:
    from cadenza.audio.io import write_audio
    from cadenza.music.io import write_midi, write_musicxml
    from cadenza.music.plot import plot_piano_roll
    from cadenza.music.render import DEFAULT_SAMPLE_RATE, render

    table = Table(title=f"{len(pieces)} pieces in {out}")
    for column in ("piece", "notes", "seconds", "files"):
        table.add_column(column)
    out.mkdir(parents=True, exist_ok=True)
    for index, piece in enumerate(pieces):
        stem = out / f"{prefix}-{index + 1:02d}"
        written = []
        if model.domain == "audio":
            audio, rate = piece
            write_audio(stem.with_suffix(".wav"), audio, rate)
            table.add_row(stem.name, "-", f"{audio.shape[-1] / rate:.1f}", stem.name + ".wav")
            continue
        seconds = piece.to("second").end()
        if "mid" in formats:
            written.append(write_midi(piece, stem.with_suffix(".mid")))
        if "musicxml" in formats:
            written.append(write_musicxml(piece, stem.with_suffix(".musicxml")))
        if "wav" in formats:
            written.append(write_audio(stem.with_suffix(".wav"), render(piece), DEFAULT_SAMPLE_RATE))
        if "png" in formats:
            written.append(stem.with_suffix(".png"))
            plot_piano_roll(piece, written[-1], title=f"{prefix} {index + 1}")
        notes = sum(len(t.notes) for t in piece.tracks)
        table.add_row(stem.name, str(notes), f"{seconds:.1f}", ", ".join(p.name for p in written))
    return table


FORMATS = ("mid", "musicxml", "wav", "png")


def _formats(value: str) -> list[str]:
    chosen = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in chosen if v not in FORMATS]
    if bad or not chosen:
        raise CadenzaError(f"unknown output format {bad[0] if bad else value!r} (choose from {', '.join(FORMATS)})")
    return chosen


class _ModelGroup(click.Group):
    """A group whose sub-commands are the registered models, built on demand."""

    def __init__(self, *args, build, accepts_runs: bool = False, trained_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._build, self._accepts_runs, self._trained_only = build, accepts_runs, trained_only

    def list_commands(self, ctx):
        from cadenza.models.base import available

        return [n for n, c in available().items() if self._listed(c)]

    def _listed(self, cls) -> bool:
        from cadenza.models.base import Generator

        # `train` lists models that learn something: all that need it, and the
        # ones that can use a corpus (the automaton's seed patterns, say).
        return not self._trained_only or cls.needs_fit or cls._fit is not Generator._fit

    def get_command(self, ctx, name):
        from cadenza.models.base import available, is_run, load

        models = available()
        if name in models and self._listed(models[name]):
            return self._build(name, models[name], None)
        if self._accepts_runs and is_run(name):
            model = load(name)
            return self._build(name, type(model), model)
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
    def callback(data, split, out, preset=None, **params):
        from cadenza.data.corpora import corpus
        from cadenza.models.base import create

        model = create(name, preset=preset, **_values(cls.Config, params))
        pieces = corpus(data, split=split)
        valid = corpus(data, split="valid", progress=False) if split == "train" else []
        started = time.perf_counter()
        if model.uses_lightning:
            if (out / "checkpoints" / "last.ckpt").is_file():
                console.print(f"resuming from {out / 'checkpoints' / 'last.ckpt'}")
            model.fit(pieces, valid=valid, workdir=out, progress=True)
        else:
            model.fit(pieces)
        fitted = time.perf_counter() - started
        metrics = {"fit_seconds": round(fitted, 3), "train_pieces": len(pieces)}
        try:
            if len(valid):
                likelihood = model.log_prob(valid)
                metrics["valid_bits_per_event"] = round(likelihood.bits_per_event, 4)
        except CadenzaError:
            pass  # this model defines no likelihood
        model.save(out, metrics=metrics)
        summary = ", ".join(f"{k} {v}" for k, v in metrics.items())
        console.print(f"trained {model!r} on {len(pieces)} pieces of {pieces.name} ({summary}) -> {out}")

    params = [
        click.Option(["--data", "-d"], required=True,
                     help="Corpus name (bach, essen, ryans, oneill, palestrina) or a folder of scores."),
        click.Option(["--split"], type=click.Choice(["train", "valid", "test", "all"]), default="train",
                     show_default=True, help="Which split to train on."),
        click.Option(["--out", "-o"], type=click.Path(path_type=Path), required=True,
                     help="Run directory to write (cadenza.json + weights)."),
    ]
    if cls.presets:
        params.append(click.Option(["--preset"], type=click.Choice(list(cls.presets)), default=None,
                                   help="A bundle of settings (tiny: a laptop CPU in minutes; base: a GPU); "
                                        "options given explicitly override it."))
    params += _options_from(cls.Config)
    doc = (cls.__doc__ or "").strip().splitlines()
    return click.Command(name, params=params, callback=callback, help=doc[0] if doc else None)


def _generate_command(name: str, cls, run) -> click.Command:
    def callback(out, n, seed, formats, **params):
        from cadenza.models.base import create

        chosen = _formats(formats)
        model = run if run is not None else create(name, **_values(cls.Config, params))
        started = time.perf_counter()
        pieces = model.generate(n=n, seed=seed, **_values(cls.Sampling, params))
        elapsed = time.perf_counter() - started
        prefix = Path(name).name if run is not None else name
        console.print(_write_pieces(pieces, model, out, f"{prefix}-s{seed}", chosen))
        console.print(f"generated in {elapsed:.2f} s")
        history = getattr(model, "history_", None)
        if history and hasattr(model, "plot_history"):
            model.plot_history(out / f"{prefix}-s{seed}-fitness.png")

    params = [
        click.Option(["--out", "-o"], type=click.Path(path_type=Path), required=True,
                     help="Folder for the generated files."),
        click.Option(["-n"], type=click.IntRange(1, 10_000), default=1, show_default=True,
                     help="How many pieces."),
        click.Option(["--seed", "-s"], type=int, default=0, show_default=True,
                     help="Random seed: the same seed gives the same pieces."),
        click.Option(["--formats"], default="mid,png", show_default=True,
                     help=f"Files to write for each piece, from {', '.join(FORMATS)}."),
    ]
    if run is None and not cls.needs_fit:
        params += _options_from(cls.Config)
    params += _options_from(cls.Sampling)
    what = f"Generate from the trained run {name}." if run is not None else (
        (cls.__doc__ or name).strip().splitlines()[0])
    return click.Command(name, params=params, callback=callback, help=what)


train_group = _ModelGroup("train", build=_train_command, trained_only=True,
                          help="Train a model on a corpus: cadenza train MODEL --data NAME|PATH --out RUN [options]. "
                               "`cadenza train MODEL --help` lists the model's options.")
generate_group = _ModelGroup("generate", build=_generate_command, accepts_runs=True,
                             help="Generate pieces: cadenza generate MODEL|RUN --out DIR -n N --seed S [options]. "
                                  "`cadenza generate MODEL --help` lists its options.")


# --- render, plot, demo --------------------------------------------------------------------

@app.command("render")
def render_command(
    source: Path = typer.Argument(..., help="Score to play: .mid/.midi/.mxl/.musicxml/.xml/.abc/.krn."),
    out: Path = typer.Argument(..., help="Audio file to write (.wav, .flac or .ogg)."),
    soundfont: Path | None = typer.Option(None, help="SoundFont (.sf2) [default: TimGM6mb.sf2 from pretty_midi]."),
    sample_rate: int = typer.Option(22050, help="Sample rate in Hz."),
    stereo: bool = typer.Option(False, help="Write two channels."),
    model: Path | None = typer.Option(None, "--model", help="Play the score with a trained audio "
                                         "instrument (a ddsp run) instead of the SoundFont."),
) -> None:
    """Render a score to audio through a SoundFont (or a trained instrument with --model)."""
    from cadenza.audio.io import write_audio
    from cadenza.music.io import read_score
    from cadenza.music.render import render

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
    console.print(f"{out}: {seconds:.1f} s of audio, rendered {speed:.0f}x faster than real time")


@app.command("plot")
def plot_command(
    source: Path = typer.Argument(..., help="Score to draw (any readable format)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    title: str | None = typer.Option(None, help="Title [default: the file name]."),
) -> None:
    """Draw a score as a piano roll with bar lines, one colour a track."""
    from cadenza.music.io import read_score
    from cadenza.music.plot import plot_piano_roll

    if out.suffix.lower() != ".png":
        raise CadenzaError(f"{out}: plots are written as .png")
    plot_piano_roll(read_score(source), out, title=title or source.name)
    console.print(f"wrote {out}")


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo's files."),
    n: int = typer.Option(4, "-n", min=1, max=64, help="How many melodies."),
    seed: int = typer.Option(0, help="Random seed."),
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

