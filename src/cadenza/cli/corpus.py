"""``cadenza corpus``: list, build and inspect corpora and audio sets."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from cadenza.cli.app import app, console, number_option

corpus_app = typer.Typer(help="List, build and inspect corpora and audio sets.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


# --- corpora ---------------------------------------------------------------------------

@corpus_app.command("list")
def corpus_list() -> None:
    """The embedded corpora and audio sets, their licences and whether their cache is built."""
    from cadenza.data.audio_sets import AUDIO_SETS, planned, summary
    from cadenza.data.corpora import CORPORA, cached_size
    from cadenza.music.render import soundfont_info

    table = Table(title="Corpora (any folder of .mid/.mxl/.musicxml/.xml/.abc/.krn files works too)")
    for column in ("name", "description", "licence", "cached pieces"):
        table.add_column(column)
    for name, info in CORPORA.items():
        size = cached_size(name)
        table.add_row(name, info.description, info.licence, "not built" if size is None else str(size))
    console.print(table)

    sf = soundfont_info()
    table = Table(title=f"Audio sets, played by the {sf.name} SoundFont ({sf.licence}); "
                        "any folder of .wav/.flac/.ogg files works too")
    table.add_column("name", no_wrap=True)
    for column in ("description", "licence", "minutes", "clips", "sample rate", "built"):
        table.add_column(column)
    for name, info in AUDIO_SETS.items():
        built = summary(name)
        if built is None:
            plan = planned(name)
            minutes, clips, rate, state = f"~{plan['minutes']}", "~" + str(plan["clips"] or "?"), "16000", "no"
        else:
            splits = built["splits"].values()
            minutes = f"{sum(s['seconds'] for s in splits) / 60:.1f}"
            clips, rate = str(sum(s["clips"] for s in splits)), str(built["sample_rate"])
            state = f"yes ({built['build_seconds']:.0f} s)"
        table.add_row(name, info.description, info.licence, minutes, clips, rate, state)
    console.print(table)


@corpus_app.command("build")
def corpus_build(
    name: str = typer.Argument(..., help="Corpus or audio set name (see `cadenza corpus list`) or a folder of scores."),
    workers: int | None = number_option(None, help="Parallel parser processes [default: all cores].", min=1, max=256),
    force: bool = typer.Option(False, help="Rebuild even when the cache is current."),
) -> None:
    """Parse a corpus, or render an audio set, once into the cache ($CADENZA_CACHE, default ~/.cache/cadenza)."""
    from cadenza.data.audio_sets import AUDIO_SETS, build, summary
    from cadenza.data.corpora import build_cache, corpus

    started = time.perf_counter()
    if name in AUDIO_SETS:
        cache = build(name, force=force)
        built = summary(name)
        clips = sum(s["clips"] for s in built["splits"].values())
        console.print(f"{clips} clips in {cache} ({time.perf_counter() - started:.1f} s)")
        _report_errors(built["errors"], "inputs")
        return
    cache = build_cache(name, workers=workers, force=force)
    loaded = corpus(name, progress=False)
    console.print(f"{len(loaded)} pieces in {cache} ({time.perf_counter() - started:.1f} s)")
    _report_errors(loaded.errors)


@corpus_app.command("info")
def corpus_info(name: str = typer.Argument(..., help="Corpus or audio set name, or a folder.")) -> None:
    """Pieces a split, notes, parts and unreadable files of a corpus; clips, minutes, labels and bad
    files of an audio set or a folder of audio."""
    from cadenza.data.audio_folders import is_audio_folder
    from cadenza.data.audio_sets import AUDIO_SETS
    from cadenza.data.corpora import corpus, split_of

    if name in AUDIO_SETS or is_audio_folder(name):
        _audio_info(name)
        return
    from rich.markup import escape

    from cadenza.utils import printable

    whole = corpus(name)
    table = Table(title=escape(printable(whole.name)))  # a folder's name: not markup
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


def _audio_info(name: str) -> None:
    from cadenza.data.audio_sets import AUDIO_SETS, SPLITS, audio_set, summary
    from cadenza.data.corpora import split_of

    whole = audio_set(name, "all")
    if name in AUDIO_SETS:
        sizes = {s: (p["clips"], p["seconds"]) for s, p in summary(name)["splits"].items()}
    else:
        seconds = [len(a) / whole.sample_rate for a in whole.audio]
        sizes = {s: (len(index), sum(seconds[i] for i in index))
                 for s in SPLITS for index in [[i for i, c in enumerate(whole.ids) if split_of(c) == s]]}
    table = Table(title=name if name in AUDIO_SETS else str(Path(name).expanduser()))
    for column in ("split", "clips", "minutes", "sample rate"):
        table.add_column(column, justify="right")
    for split, (clips, seconds) in [*sizes.items(), ("all", (len(whole), whole.seconds))]:
        table.add_row(split, str(clips), f"{seconds / 60:.1f}", str(whole.sample_rate))
    console.print(table)
    meta, sf = whole.meta, whole.meta.get("soundfont")
    f0 = {"true": "true f0, from the scores", "tracked": "tracked by the pitch tracker",
          "none": "none (f0 and its confidence are 0)"}.get(meta.get("f0"), "unknown")
    lines = [("licence", meta.get("licence", "unknown")), ("f0", f0),
             ("SoundFont", f"{sf['name']}, {sf['licence']}" if sf else "none (recorded audio)")]
    for label, text in lines + [("note", note) for note in meta.get("notes", [])]:
        console.print(f"[bold]{label}:[/] {text}", highlight=False)
    counts = whole.label_counts()
    if counts:
        table = Table(title="Labels: clips a value (all splits)")
        table.add_column("label")
        table.add_column("values")
        for key, values in counts.items():
            shown = ", ".join(f"{v}: {c}" for v, c in list(values.items())[:16])
            table.add_row(key, shown + (f", ... and {len(values) - 16} more" if len(values) > 16 else ""))
        console.print(table)
    _report_errors(whole.errors, "files" if name not in AUDIO_SETS else "inputs")


def _report_errors(errors: list[dict], what: str = "pieces") -> None:
    from cadenza.utils import printable

    if errors:
        console.print(f"[yellow]{len(errors)} {'bad' if what != 'pieces' else 'unreadable'} {what} skipped:[/]")
        for error in errors[:10]:
            path, reason = error["path"], error["error"]
            reason = reason.removeprefix(f"{path}: ")  # most reasons start with the path already
            # file names as the OS gives them: not markup, bytes that are not UTF-8 escaped, and
            # whole (soft_wrap: the terminal folds a long line, rich would cut the path in two)
            console.print(f"  {printable(path)}: {printable(reason)}", highlight=False, markup=False, soft_wrap=True)
        if len(errors) > 10:
            console.print(f"  ... and {len(errors) - 10} more")
