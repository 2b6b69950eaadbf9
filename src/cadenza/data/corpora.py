"""Corpora: the music21 wheel's collections and any folder of score files.

``corpus(name, split)`` returns a :class:`Corpus`, a sequence of
``symusic.Score`` with the piece ids beside them. music21 parses slowly (about
0.1-0.2 s a chorale), so each corpus is parsed once, in parallel, into a cache
(``$CADENZA_CACHE``, default ``~/.cache/cadenza``): one ``scores.bin`` of
concatenated MIDI data and one ``index.json``. MIDI keeps what the models use
(notes, parts as named tracks, time and key signatures, tempo) and symusic
reads it back in microseconds. Nothing in the cache is unpickled.

Splits are fixed by a stable hash of each piece id: 80 % train, 10 % valid,
10 % test, the same on every machine and whatever else the corpus holds.
"""

from __future__ import annotations

import concurrent.futures as futures
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import symusic

from cadenza.errors import CadenzaError
from cadenza.music.io import (
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    abc_with_unit_length,
    from_music21,
    midi_from_bytes,
    one_line,
)
from cadenza.music.transforms import note_count
from cadenza.utils import atomic_dir, stable_hash

CACHE_VERSION = 3  # 3: ties merged by MIDI number
SPLITS = ("train", "valid", "test")


def cache_root() -> Path:
    return Path(os.environ.get("CADENZA_CACHE") or Path.home() / ".cache" / "cadenza")


def split_of(piece_id: str) -> str:
    """``train`` (80 %), ``valid`` (10 %) or ``test`` (10 %), from the id alone."""
    bucket = stable_hash(piece_id) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


# --- what to parse ----------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """One piece to parse: a file, or one tune of a multi-tune ABC file."""

    piece_id: str
    path: str
    abc_text: str | None = None  # set for one tune cut from an ABC file
    satb: bool = False  # keep only the four voices, as Soprano/Alto/Tenor/Bass tracks


_TUNE_START = re.compile(r"(?m)^(?=X:)")


def abc_tasks(path: Path, stem: str) -> list[Task]:
    """One task a tune; the file's header (before the first ``X:``) goes with each."""
    text = path.read_bytes().decode("latin-1")
    header, *tunes = _TUNE_START.split(text)
    if not tunes:
        return [Task(stem, str(path), text)]
    if len(tunes) == 1:
        return [Task(stem, str(path), header + tunes[0])]
    tasks, seen = [], set()
    for tune in tunes:
        number = tune[2:tune.find("\n")].strip() if "\n" in tune else tune[2:].strip()
        piece_id = f"{stem}/{number or len(tasks) + 1}"
        while piece_id in seen:  # some files repeat a reference number
            piece_id += "b"
        seen.add(piece_id)
        tasks.append(Task(piece_id, str(path), header + tune))
    return tasks


def file_tasks(paths: list[Path], root: Path) -> list[Task]:
    tasks = []
    for path in sorted(paths):
        rel = path.relative_to(root).with_suffix("").as_posix()
        if path.suffix.lower() == ".abc":
            tasks.extend(abc_tasks(path, rel))
        else:
            tasks.append(Task(rel, str(path)))
    return tasks


def parse_task(task: Task) -> tuple[str, str, bytes | None, str | None]:
    """Parse one piece: ``(id, title, midi_bytes, None)`` or ``(id, "", None, error)``."""
    try:
        import music21

        path = Path(task.path)
        title = ""
        if task.abc_text is not None:
            stream = music21.converter.parse(abc_with_unit_length(task.abc_text), format="abc")
        elif path.suffix.lower() in MIDI_SUFFIXES:
            score = midi_from_bytes(path.read_bytes(), task.path)
            if note_count(score) == 0:
                return task.piece_id, "", None, "contains no notes"
            return task.piece_id, path.stem, score.dumps_midi(), None
        else:
            stream = music21.converter.parse(path, forceSource=True)
        if stream.metadata is not None:
            title = stream.metadata.title or stream.metadata.movementName or ""
        score = from_music21(stream, task.piece_id)
        if task.satb:
            score = _four_voices(score, task.piece_id)
        if title.lower().endswith(SCORE_SUFFIXES):
            title = Path(title).stem
        if note_count(score) == 0:
            return task.piece_id, "", None, "contains no notes"
        return task.piece_id, str(title), score.dumps_midi(), None
    except CadenzaError as exc:
        return task.piece_id, "", None, str(exc)
    except Exception as exc:  # a bad file must not stop the other pieces
        return task.piece_id, "", None, one_line(exc)


VOICES = ("Soprano", "Alto", "Tenor", "Bass")


def _four_voices(score: symusic.Score, name: str) -> symusic.Score:
    """Drop instrumental parts; a few chorales add horns, strings or continuo."""
    voices = []
    for voice in VOICES:
        track = next((t for t in score.tracks if t.name.lower().startswith(voice.lower())), None)
        if track is None:
            raise CadenzaError(f"{name}: no {voice} part")
        track = track.copy()
        track.name = voice
        voices.append(track)
    score = score.copy()
    score.tracks = voices
    return score


# --- the named corpora ------------------------------------------------------------

@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    licence: str
    tasks: Callable[[], list[Task]]


def _music21_dir(folder: str) -> Path:
    import music21.corpus

    return Path(music21.corpus.getComposer(folder)[0]).parent


def _folder_files(root: Path, suffixes=SCORE_SUFFIXES) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]


def _bach_tasks() -> list[Task]:
    from music21 import corpus as m21corpus

    tasks, seen = [], set()
    for name in m21corpus.chorales.Iterator(returnType="filename"):
        stem = name.split("/")[-1]
        # Riemenschneider's 371 numbers name 350 distinct chorales: 21 appear
        # twice. A duplicate would sit in two splits and leak test into train.
        if stem in seen:
            continue
        seen.add(stem)
        found = m21corpus.getWork(name)
        # Some names match several files (bwv245.3 and bwv245.37, .krn and .mxl).
        paths = [Path(p) for p in (found if isinstance(found, list) else [found])]
        exact = [p for p in paths if p.stem == stem]
        path = next((p for p in exact if p.suffix == ".mxl"), (exact or paths)[0])
        tasks.append(Task(stem, str(path), satb=True))
    return tasks


def _collection(folder: str, suffixes=SCORE_SUFFIXES) -> Callable[[], list[Task]]:
    def tasks() -> list[Task]:
        root = _music21_dir(folder)
        return file_tasks(_folder_files(root, suffixes), root)
    return tasks


CORPORA: dict[str, CorpusInfo] = {
    "bach": CorpusInfo(
        "bach", "J. S. Bach, the 371 Riemenschneider chorales (350 distinct); one track a voice",
        "public domain (music21 corpus)", _bach_tasks),
    "essen": CorpusInfo(
        "essen", "Essen Folksong Collection, 8,514 European folk melodies (ABC)",
        "non-commercial use only (Essen collection licence, via the music21 corpus)",
        _collection("essenFolksong", (".abc",))),
    "ryans": CorpusInfo(
        "ryans", "Ryan's Mammoth Collection (1883), 1,059 fiddle tunes (ABC)",
        "public domain (music21 corpus)", _collection("ryansMammoth", (".abc",))),
    "oneill": CorpusInfo(
        "oneill", "O'Neill's Music of Ireland (1850 tunes, ABC)",
        "public domain (music21 corpus)", _collection("oneills1850", (".abc",))),
    "palestrina": CorpusInfo(
        "palestrina", "Palestrina, 1,318 mass movements (Humdrum **kern)",
        "public domain (music21 corpus)", _collection("palestrina", (".krn",))),
}


# --- the cache ----------------------------------------------------------------------

def _source(name_or_path: str | os.PathLike) -> tuple[str, Path, Callable[[], list[Task]], dict]:
    """``(display name, cache dir, task lister, fingerprint)`` of a corpus or folder."""
    import music21

    key = str(name_or_path)
    if key in CORPORA:
        fingerprint = {"cache_version": CACHE_VERSION, "music21": music21.__version__}
        return key, cache_root() / "corpora" / f"{key}.v{CACHE_VERSION}", CORPORA[key].tasks, fingerprint
    path = Path(key).expanduser()
    if not path.exists():
        known = ", ".join(CORPORA)
        raise CadenzaError(f"unknown corpus {key!r}: not one of {known}, and no such folder")
    if path.is_file():
        if path.suffix.lower() not in SCORE_SUFFIXES:
            raise CadenzaError(f"{path}: unknown file type {path.suffix!r} "
                               f"(expected one of {', '.join(SCORE_SUFFIXES)})")
        files, root = [path], path.parent
    else:
        files, root = _folder_files(path), path
        if not files:
            raise CadenzaError(f"{path}: no score files ({', '.join(SCORE_SUFFIXES)}) in this folder")
    path = path.resolve()
    stats = sorted((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    fingerprint = {"cache_version": CACHE_VERSION, "music21": music21.__version__,
                   "path": str(path), "files": stats}
    digest = f"{stable_hash(json.dumps(fingerprint)):016x}"
    cache = cache_root() / "folders" / f"{path.name}-{digest}"
    return path.name, cache, lambda: file_tasks(files, root), fingerprint


def build_cache(name: str | os.PathLike, workers: int | None = None, progress: bool = True,
                force: bool = False) -> Path:
    """Parse every piece of a corpus into its cache (skipped when it is current)."""
    label, cache, list_tasks, fingerprint = _source(name)
    if not force and _cache_is_current(cache, fingerprint):
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Another process (a parallel test worker, a second shell) may be building
    # the same cache: wait for it, then use its result.
    with open(cache.parent / f".{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _cache_is_current(cache, fingerprint):
            return cache
        _build(cache, label, list_tasks(), fingerprint, workers, progress)
    for stale in cache.parent.glob(cache.name.rsplit(".v", 1)[0] + ".v*"):
        if stale != cache and stale.is_dir() and key_is_named(name):  # caches of older versions
            shutil.rmtree(stale, ignore_errors=True)
    return cache


def key_is_named(name) -> bool:
    return str(name) in CORPORA


def _build(cache: Path, label: str, tasks: list[Task], fingerprint: dict,
           workers: int | None, progress: bool) -> None:
    results = _parse_all(tasks, label, workers, progress)
    entries, errors, blobs, offset = [], [], [], 0
    for task, (piece_id, title, data, error) in zip(tasks, results):
        if data is None:
            errors.append({"id": piece_id, "path": task.path, "error": error})
            continue
        entries.append({"id": piece_id, "title": title, "path": task.path,
                        "offset": offset, "size": len(data)})
        blobs.append(data)
        offset += len(data)
    with atomic_dir(cache) as tmp:
        (tmp / "scores.bin").write_bytes(b"".join(blobs))
        index = {"fingerprint": fingerprint, "pieces": entries, "errors": errors}
        (tmp / "index.json").write_text(json.dumps(index), encoding="utf-8")


def _cache_is_current(cache: Path, fingerprint: dict) -> bool:
    try:
        index = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return index.get("fingerprint") == fingerprint and (cache / "scores.bin").is_file()


def _parse_all(tasks: list[Task], label: str, workers: int | None, progress: bool) -> list:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    workers = workers or os.cpu_count() or 1
    columns = [TextColumn(f"parsing {label}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        job = bar.add_task(label, total=len(tasks))
        if workers == 1 or len(tasks) < 16:
            results = []
            for task in tasks:
                results.append(parse_task(task))
                bar.advance(job)
            return results
        chunk = max(1, min(32, len(tasks) // (workers * 8)))
        with futures.ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for result in pool.map(parse_task, tasks, chunksize=chunk):
                results.append(result)
                bar.advance(job)
        return results


# --- loading ---------------------------------------------------------------------------

class Corpus(Sequence):
    """Scores of one corpus split, with their ids and titles in the same order.

    Indexing gives ``symusic.Score`` objects, so a ``Corpus`` goes wherever a
    list of scores does. ``errors`` lists pieces that could not be read.
    """

    def __init__(self, name: str, split: str, ids: list[str], titles: list[str],
                 scores: list[symusic.Score], errors: list[dict] | None = None,
                 source: str | None = None):
        self.name, self.split, self.source = name, split, source or name
        self.ids, self.titles, self.scores = ids, titles, scores
        self.errors = errors or []

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Corpus(self.name, self.split, self.ids[index], self.titles[index],
                          self.scores[index], self.errors, self.source)
        return self.scores[index]

    def items(self):
        return zip(self.ids, self.scores)

    @property
    def spec(self) -> dict:
        """What a run records about its data, enough to load it again."""
        return {"corpus": self.source, "split": self.split, "pieces": len(self)}

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, split={self.split!r}, pieces={len(self)})"


def corpus(name: str | os.PathLike, split: str = "all", progress: bool = True,
           workers: int | None = None) -> Corpus:
    """Load a named corpus (``bach``, ``essen``, ...) or a folder/file of scores.

    The cache is built on first use. ``split`` is ``train``, ``valid``,
    ``test`` or ``all``.
    """
    if split not in SPLITS + ("all",):
        raise CadenzaError(f"unknown split {split!r} (expected train, valid, test or all)")
    from cadenza.data.audio_sets import AUDIO_SETS, audio_set

    if str(name) in AUDIO_SETS:  # a named audio set (violin, notes, ...): an AudioSet, not scores
        return audio_set(name, split, progress)
    label, _, _, _ = _source(name)
    cache = build_cache(name, workers=workers, progress=progress)
    index = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    blob = (cache / "scores.bin").read_bytes()
    ids, titles, scores = [], [], []
    for entry in index["pieces"]:
        if split != "all" and split_of(entry["id"]) != split:
            continue
        data = blob[entry["offset"]:entry["offset"] + entry["size"]]
        ids.append(entry["id"])
        titles.append(entry["title"])
        scores.append(symusic.Score.from_midi(data))
    if not index["pieces"]:
        first = index["errors"][0] if index["errors"] else {"path": str(name), "error": "no pieces"}
        raise CadenzaError(f"{first['path']}: {first['error']} (no readable pieces in {label})")
    source = str(name) if str(name) in CORPORA else str(Path(name).expanduser().resolve())
    return Corpus(label, split, ids, titles, scores, index["errors"], source)


def cached_size(name: str) -> int | None:
    """Number of cached pieces of a named corpus, or ``None`` when not built yet."""
    _, cache, _, fingerprint = _source(name)
    if not _cache_is_current(cache, fingerprint):
        return None
    return len(json.loads((cache / "index.json").read_text(encoding="utf-8"))["pieces"])
