"""Running a checked recipe: each step in turn, every intermediate written, and a report.

Step ``N`` (in run order) writes into ``OUT/NN-name/``: a score as MIDI, MusicXML
and a piano-roll PNG; audio as a WAV and a spectrogram PNG; an evaluation as
``metrics.json``. The final mix is copied to ``OUT/mix.wav``. ``OUT/report.json``
holds every step's wall time, what it made and the evaluations; ``OUT/report.md``
is the same for people.

Each step's seed is the recipe's seed plus the step's own ``seed`` option, so the
same recipe and seed write the same files. Progress goes to an ``on_step``
callback (the CLI prints a line a step); this module prints nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cadenza.compose.recipe import Recipe, Step, read_recipe
from cadenza.compose.steps import AUDIO, METRICS, SCORE, Context
from cadenza.config import SEED
from cadenza.errors import CadenzaError
from cadenza.utils import atomic_write_text


@dataclass(frozen=True)
class StepEvent:
    """What ``on_step`` hears: a step starting (``seconds`` None) or done."""

    index: int  # 1-based, in run order
    total: int
    name: str
    kind: str
    seconds: float | None = None
    summary: str = ""


@dataclass
class ComposeReport:
    """What a run of a recipe made: one row a step, the evaluations, the final mix."""

    recipe: str
    out: Path
    seed: int
    tiny: bool
    steps: list[dict] = field(default_factory=list)
    metrics: dict[str, dict] = field(default_factory=dict)
    final: Path | None = None
    final_seconds: float = 0.0  # seconds of audio in the final mix
    seconds: float = 0.0  # wall time of the whole run

    def to_json(self) -> dict:
        return {"recipe": self.recipe, "seed": self.seed, "tiny": self.tiny,
                "final": self.final.name if self.final else None, "final_audio_seconds": round(self.final_seconds, 3),
                "total_seconds": round(self.seconds, 3),
                "x_real_time": round(self.final_seconds / self.seconds, 3) if self.seconds and self.final else None,
                "steps": self.steps, "metrics": self.metrics}


def run_recipe(recipe: Recipe | str | os.PathLike, out: str | os.PathLike, tiny: bool = False,
               seed: int | None = None, on_step: Callable[[StepEvent], None] | None = None) -> ComposeReport:
    """Run ``recipe`` (a checked :class:`Recipe`, or a TOML file read and checked first) into
    folder ``out``; ``tiny`` and ``seed`` apply when reading a file."""
    if not isinstance(recipe, Recipe):
        recipe = read_recipe(recipe, tiny=tiny, seed=seed)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CadenzaError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    report = ComposeReport(recipe.name, out, recipe.seed, recipe.tiny)
    tell = on_step or (lambda _event: None)
    results: dict[str, object] = {}
    models: dict = {}
    started = time.perf_counter()
    total = len(recipe.steps)
    for index, step in enumerate(recipe.steps, 1):
        tell(StepEvent(index, total, step.name, step.kind.name))
        folder = out / f"{index:02d}-{step.name}"
        folder.mkdir(exist_ok=True)
        seed = (recipe.seed + step.seed_offset) % (SEED.max + 1)  # stays a valid seed
        context = Context(step.name, seed, folder, models)
        clock = time.perf_counter()
        try:
            result = step.kind.run(context, step.options, [results[name] for name in step.inputs])
        except CadenzaError as exc:
            raise CadenzaError(f"step {step.name!r} ({step.kind.name}): {exc}") from None
        seconds = time.perf_counter() - clock
        results[step.name] = result
        files, summary = write_result(result, step, folder, recipe.name)
        written = time.perf_counter() - clock - seconds
        if step.output == METRICS:
            report.metrics[step.name] = result
        report.steps.append({"index": index, "name": step.name, "kind": step.kind.name, "inputs": step.inputs,
                             "output": step.output, "seed": context.seed, "seconds": round(seconds, 3),
                             "write_seconds": round(written, 3),
                             "folder": folder.name, "files": [str(Path(f).relative_to(out)) for f in files],
                             **summary})
        tell(StepEvent(index, total, step.name, step.kind.name, seconds, _summary_line(step.output, summary)))
    if recipe.final is not None:
        final = results[recipe.final]
        report.final = final.write(out / "mix.wav")
        report.final_seconds = final.seconds
    report.seconds = time.perf_counter() - started
    atomic_write_text(out / "report.json", json.dumps(report.to_json(), indent=2) + "\n")
    atomic_write_text(out / "report.md", report_markdown(report, recipe))
    return report


def write_result(result, step: Step, folder: Path, title: str) -> tuple[list[Path], dict]:
    """Write one step's output into ``folder``; returns the files and a few numbers about it."""
    stem = folder / step.name
    if step.output == SCORE:
        from cadenza.music.io import write_midi, write_musicxml
        from cadenza.music.plot import plot_piano_roll
        from cadenza.music.transforms import note_count

        name = f"{title}: {step.name}"
        files = [write_midi(result, stem.with_suffix(".mid")),
                 write_musicxml(result, stem.with_suffix(".musicxml"), title=name)]
        plot_piano_roll(result, stem.with_suffix(".png"), title=name)
        files.append(stem.with_suffix(".png"))
        return files, {"notes": note_count(result), "tracks": [t.name for t in result.tracks],
                       "audio_seconds": round(result.to("second").end(), 3)}
    if step.output == AUDIO:
        files = [result.write(stem.with_suffix(".wav")), plot_spectrogram(result, stem.with_suffix(".png"),
                                                                          f"{title}: {step.name}")]
        return files, {"audio_seconds": round(result.seconds, 3), "sample_rate": result.sample_rate}
    path = stem.with_name("metrics.json")
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return [path], {}


def _summary_line(output: str, summary: dict) -> str:
    if output == SCORE:
        return f"{summary['notes']} notes in {len(summary['tracks'])} tracks, {summary['audio_seconds']:.1f} s"
    if output == AUDIO:
        return f"{summary['audio_seconds']:.1f} s of audio"
    return "metrics"


def plot_spectrogram(audio, path: Path, title: str) -> Path:
    """A log-magnitude spectrogram of ``audio`` (mono, 1024-sample frames) as a PNG."""
    from matplotlib.figure import Figure

    from cadenza.utils import atomic_path

    samples = audio.mono().samples[0].astype(np.float64)
    n_fft, hop = 1024, 256
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))
    db = 20 * np.log10(np.maximum(magnitude, 1e-6))
    figure = Figure(figsize=(8, 3), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                extent=(0, audio.seconds, 0, audio.sample_rate / 2000))
    axes.set_xlabel("seconds")
    axes.set_ylabel("kHz")
    axes.set_title(title, fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


def report_markdown(report: ComposeReport, recipe: Recipe) -> str:
    """``report.md``: the steps with their wall times, the evaluations and the final mix."""
    lines = [f"# {recipe.name}", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    source = f"`{recipe.path.name}`" if recipe.path else "a recipe"
    lines += [f"From {source}, seed {report.seed}{', tiny sizes' if report.tiny else ''}; "
              f"{report.seconds:.1f} s in all.", ""]
    if report.final is not None:
        ratio = report.final_seconds / report.seconds if report.seconds else 0.0
        lines += [f"Final mix: `{report.final.name}`, {report.final_seconds:.1f} s of audio from the "
                  f"{recipe.final!r} step ({ratio:.2f}x real time for the whole recipe).", ""]
    lines += ["| # | step | kind | inputs | output | wall time (s) | writing its files (s) | files |",
              "|---|---|---|---|---|---|---|---|"]
    for row in report.steps:
        files = ", ".join(f"[{Path(f).name}]({f})" for f in row["files"])
        lines.append(f"| {row['index']} | {row['name']} | {row['kind']} | {', '.join(row['inputs']) or '-'} | "
                     f"{row['output']} | {row['seconds']:.2f} | {row['write_seconds']:.2f} | {files} |")
    for name, metrics in report.metrics.items():
        lines += ["", f"## Evaluation: {name}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in metrics.items()]
    return "\n".join(lines) + "\n"

