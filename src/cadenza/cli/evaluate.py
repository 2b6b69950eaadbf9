"""Evaluation commands: eval, compare, bench polyphonic."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cadenza.cli.app import app, console
from cadenza.errors import CadenzaError

bench_app = typer.Typer(help="Likelihood benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

REFERENCE_HELP = ("Reference corpus name (bach, essen, ryans, ...) or a folder of scores; for generated audio, "
                  "an audio set (notes, violin, flute, cello) or a folder of audio files.")


def _kinds(path: Path) -> set[str]:
    """Which kinds of file a generated path holds: {"audio"}, {"score"}, both or none."""
    from cadenza.audio.io import AUDIO_SUFFIXES
    from cadenza.music.io import SCORE_SUFFIXES

    if path.is_file():
        files = [path]
    elif path.is_dir():
        root = path / "samples" if (path / "cadenza.json").is_file() and (path / "samples").is_dir() else path
        files = [p for p in root.rglob("*") if p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    else:
        return set()
    suffixes = {p.suffix.lower() for p in files}
    return ({"audio"} if suffixes & set(AUDIO_SUFFIXES) else set()) | \
        ({"score"} if suffixes & set(SCORE_SUFFIXES) else set())


def _reference_is_audio(name: str) -> bool:
    from cadenza.data.audio_sets import AUDIO_SETS

    return name in AUDIO_SETS or (Path(name).is_dir() and _kinds(Path(name)) == {"audio"})


def _eval_audio(generated: Path, reference: str, json_file: Path | None) -> None:
    """``cadenza eval`` on a folder of audio files against an audio set."""
    from cadenza.audio.io import AUDIO_SUFFIXES
    from cadenza.evaluate.audio_compare import AudioReference, evaluate_audio_set, load_audio, table, write_json

    kinds = _kinds(generated)
    if generated.exists() and "audio" not in kinds:
        found = "MIDI/score files" if kinds else f"no audio files ({', '.join(AUDIO_SUFFIXES)})"
        raise CadenzaError(f"{generated}: holds {found}, but --reference {reference} is audio")
    label, _, clips = load_audio(generated)
    with console.status(f"analysing reference {reference}"):
        ref = AudioReference.load(reference, progress=False)
    with console.status(f"measuring {label}"):
        result = evaluate_audio_set(clips, ref, label=label)
    console.print(table(result))
    if json_file is not None:
        console.print(f"wrote {write_json(json_file, result)}")


def _reference(name: str, events: str):
    from cadenza.evaluate.suite import Reference

    if events not in ("interval", "pitch-duration"):
        raise CadenzaError(f"--events must be interval or pitch-duration, got {events!r}")
    with console.status(f"analysing reference {name}"):
        return Reference.load(name, kind=events)


@app.command("eval")
def eval_command(
    generated: Path = typer.Argument(..., help="Folder of generated MIDI or audio files, or a run directory."),
    reference: str = typer.Option(..., "--reference", "-r", help=REFERENCE_HELP),
    json_file: Path | None = typer.Option(None, "--json", help="Write every number (and per-piece values) here."),
    plots: Path | None = typer.Option(None, "--plots", help="Folder for PNG plots of the feature distributions."),
    events: str = typer.Option("interval", "--events", help="Novelty events: interval or pitch-duration."),
) -> None:
    """Evaluate generated pieces against a reference corpus: metrics, set comparison, novelty, structure.

    A folder of audio files (.wav, .flac, .ogg) is evaluated against an audio set instead: Fréchet
    CREPE and log-mel distances, NDB/K, loudness and spectral statistics, beside the real-vs-real line.
    """
    from cadenza.evaluate.report import tables, write_json, write_plots
    from cadenza.evaluate.suite import evaluate_set, load_generated

    kinds = _kinds(generated)
    if kinds == {"audio", "score"}:
        raise CadenzaError(f"{generated}: holds both audio and MIDI/score files; evaluate one kind at a time")
    if kinds == {"audio"} or _reference_is_audio(reference):
        if kinds == {"audio"} and not _reference_is_audio(reference):
            from cadenza.data.audio_sets import AUDIO_SETS

            raise CadenzaError(f"{generated}: holds audio, but --reference {reference} is not an audio set "
                               f"({', '.join(AUDIO_SETS)}) nor a folder of audio files")
        if plots is not None:
            raise CadenzaError("--plots draws symbolic features; it does not apply to audio")
        _eval_audio(generated, reference, json_file)
        return
    pieces = load_generated(generated)
    ref = _reference(reference, events)
    result = evaluate_set(pieces, ref)
    for table in tables([result], ref):
        console.print(table)
    if json_file is not None:
        console.print(f"wrote {write_json(json_file, [result], ref)}")
    if plots is not None:
        written = write_plots(result, ref, plots, pieces.scores)
        console.print(f"wrote {len(written)} plots to {plots}")


@app.command("compare")
def compare_command(
    systems: list[Path] = typer.Argument(..., help="Run directories or folders of generated MIDI files."),
    reference: str = typer.Option(..., "--reference", "-r", help=REFERENCE_HELP),
    json_file: Path | None = typer.Option(None, "--json", help="Write every number here."),
    events: str = typer.Option("interval", "--events", help="Novelty events: interval or pitch-duration."),
) -> None:
    """Evaluate several systems against one reference and lay them side by side."""
    from cadenza.evaluate.report import tables, write_json
    from cadenza.evaluate.suite import evaluate_set, load_generated

    sets = [load_generated(path) for path in systems]
    labels = [s.label for s in sets]
    for s, path in zip(sets, systems):
        if labels.count(s.label) > 1:
            s.label = str(path)
    ref = _reference(reference, events)
    results = [evaluate_set(s, ref) for s in sets]
    for table in tables(results, ref):
        console.print(table)
    if json_file is not None:
        console.print(f"wrote {write_json(json_file, results, ref)}")


@bench_app.command("polyphonic")
def bench_polyphonic(
    model: str = typer.Argument(..., help="A baseline (bernoulli, markov-pitch) or a run directory."),
    data: Path = typer.Option(..., "--data", "-d", help="Boulanger-Lewandowski .mat file (e.g. JSB_Chorales.mat)."),
    split: str = typer.Option("test", "--split", help="Split to score: test or valid."),
    tune_threshold: bool = typer.Option(False, "--tune-threshold",
                                        help="Pick the accuracy threshold on the valid split (default 0.5)."),
) -> None:
    """Test NLL (nats a frame, over frames 2..T and over all frames) and frame accuracy on a
    piano-roll benchmark, beside the published numbers (each marked exact, bound or estimate)."""
    from cadenza.evaluate.polyphonic import BASELINES, PUBLISHED_RESULTS, PUBLISHED_SOURCES, benchmark

    if split not in ("test", "valid"):
        raise CadenzaError(f"--split must be test or valid, got {split!r}")
    if model in BASELINES:
        target = model
    else:
        from cadenza.models.base import is_run, load

        if not is_run(model):
            raise CadenzaError(f"{model}: not a baseline ({', '.join(BASELINES)}) nor a Cadenza run directory")
        target = load(model)
    result = benchmark(target, data, split=split, tune_threshold=tune_threshold)
    stem = Path(data).stem
    table = Table(title=f"{stem} {split}: {result.pieces} pieces, {result.frames_all:,} frames "
                        f"({result.frames:,} after the first); NLL in nats a frame, frame accuracy "
                        f"at threshold {result.threshold:.2f}")
    for column in ("model", "NLL 2..T", "NLL all", "kind", "accuracy"):
        table.add_column(column, justify="left" if column in ("model", "kind") else "right", no_wrap=True)

    def nats(value: float) -> str:
        return "-" if value != value else f"{value:.3f}"

    table.add_row(Path(model).name, nats(result.nll), nats(result.nll_all), "exact", nats(result.accuracy),
                  style="bold")
    published = PUBLISHED_RESULTS.get(stem, ()) if split == "test" else ()
    if published:
        table.add_section()
    for p in published:
        cells = (f"{p.nll:.2f}", "") if p.frames == "2..T" else ("", f"{p.nll:.2f}")
        table.add_row(p.label, *cells, p.kind, "")
    if published:
        table.caption = ("Below the line: published numbers, each in the column that counts frames as their paper did. "
                         "exact: the model's normalised likelihood; bound: a variational bound (the true "
                         "NLL is at most this); estimate: a sampling estimate (AIS, SMC). "
                         f"Sources: {PUBLISHED_SOURCES}.")
    console.print(table)
