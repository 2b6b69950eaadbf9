"""Evaluation commands: eval, compare, bench polyphonic."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cadenza.cli.app import app, console
from cadenza.errors import CadenzaError

bench_app = typer.Typer(help="Likelihood benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

REFERENCE_HELP = "Reference corpus name (bach, essen, ryans, ...) or a folder of scores."


def _reference(name: str, events: str):
    from cadenza.evaluate.suite import Reference

    if events not in ("interval", "pitch-duration"):
        raise CadenzaError(f"--events must be interval or pitch-duration, got {events!r}")
    with console.status(f"analysing reference {name}"):
        return Reference.load(name, kind=events)


@app.command("eval")
def eval_command(
    generated: Path = typer.Argument(..., help="Folder of generated MIDI files, or a run directory."),
    reference: str = typer.Option(..., "--reference", "-r", help=REFERENCE_HELP),
    json_file: Path | None = typer.Option(None, "--json", help="Write every number (and per-piece values) here."),
    plots: Path | None = typer.Option(None, "--plots", help="Folder for PNG plots of the feature distributions."),
    events: str = typer.Option("interval", "--events", help="Novelty events: interval or pitch-duration."),
) -> None:
    """Evaluate generated pieces against a reference corpus: metrics, set comparison, novelty, structure."""
    from cadenza.evaluate.report import tables, write_json, write_plots
    from cadenza.evaluate.suite import evaluate_set, load_generated

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
    """Test NLL (nats a frame, frames 2..T) and frame accuracy on a piano-roll benchmark."""
    from cadenza.evaluate.polyphonic import BASELINES, PUBLISHED, benchmark

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
    table = Table(title=f"{Path(data).stem} {split}: {result.pieces} pieces, {result.frames:,} frames scored")
    for column in ("model", "NLL (nats/frame)", "frame accuracy", "threshold"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column == "model")
    accuracy = "-" if result.accuracy != result.accuracy else f"{result.accuracy:.3f}"
    table.add_row(Path(model).name, f"{result.nll:.3f}", accuracy, f"{result.threshold:.2f}", style="bold")
    if split == "test":
        for name, nll in PUBLISHED.get(Path(data).stem, {}).items():
            table.add_row(f"{name} (published)", f"{nll:.2f}", "", "")
    if split == "test" and Path(data).stem in PUBLISHED:
        table.caption = ("published: Bai, Kolter & Koltun 2018 (arXiv:1803.01271); "
                         "Boulanger-Lewandowski, Bengio & Vincent, ICML 2012")
    console.print(table)
