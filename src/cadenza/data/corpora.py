"""Corpora: the music21 wheel's collections and any folder of score files.

``corpus(name, split)`` returns a :class:`Corpus`, a sequence of
``symusic.Score`` with the piece ids beside them. music21 parses slowly (about
0.1-0.2 s a chorale), so each corpus is parsed once, in parallel, into a cache
(``$CADENZA_CACHE``, default ``~/.cache/cadenza``): one ``scores.bin`` of
concatenated MIDI data and one ``index.json``. MIDI keeps what the models use
(notes, parts as named tracks, time and key signatures, tempo) and symusic
reads it back in microseconds. Nothing in the cache is unpickled. The index
records the size and SHA-1 of ``scores.bin``: a cache that was cut short or
overwritten is found on reading, said so in one line on stderr, and rebuilt.

Files in a folder are untrusted: they are parsed in worker processes, so a
file that crashes its parser (a segmentation fault in C++, memory exhausted)
kills a worker, not the caller, and is listed as unreadable like any other
bad file (see :func:`parse_in_workers`).

Splits are fixed by a stable hash of each piece id: 80 % train, 10 % valid,
10 % test, the same on every machine and whatever else the corpus holds.
"""

from __future__ import annotations

import concurrent.futures as futures
import fcntl
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import symusic

from cadenza.errors import CadenzaError
from cadenza.music.io import (
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    abc_with_unit_length,
    check_midi_chunks,
    from_music21,
    midi_from_bytes,
    one_line,
)
from cadenza.music.transforms import note_count
from cadenza.utils import atomic_dir, printable, stable_hash

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
        path = Path(task.path)
        title = ""
        if task.abc_text is None and path.suffix.lower() in MIDI_SUFFIXES:
            score = midi_from_bytes(path.read_bytes(), task.path)
            if note_count(score) == 0:
                return task.piece_id, "", None, "contains no notes"
            return task.piece_id, path.stem, score.dumps_midi(), None
        import music21  # only now: importing it takes a worker ~1.5 s, parsing a MIDI file milliseconds

        if task.abc_text is not None:
            stream = music21.converter.parse(abc_with_unit_length(task.abc_text), format="abc")
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
    # music21's version from its package metadata: importing music21 takes longer than reading a
    # whole corpus back from its cache, and only a build parses anything with it
    music21_version = importlib.metadata.version("music21")
    key = str(name_or_path)
    if key in CORPORA:
        fingerprint = {"cache_version": CACHE_VERSION, "music21": music21_version}
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
    # lists, not tuples: the fingerprint is compared with the one read back from JSON
    stats = sorted([p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files)
    fingerprint = {"cache_version": CACHE_VERSION, "music21": music21_version,
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
        if not force and _cache_is_current(cache, fingerprint, say_why=True):
            return cache
        _build(cache, label, list_tasks(), fingerprint, workers, progress, trusted=key_is_named(name))
    for stale in cache.parent.glob(cache.name.rsplit(".v", 1)[0] + ".v*"):
        if stale != cache and stale.is_dir() and key_is_named(name):  # caches of older versions
            shutil.rmtree(stale, ignore_errors=True)
    return cache


def key_is_named(name) -> bool:
    return str(name) in CORPORA


def _build(cache: Path, label: str, tasks: list[Task], fingerprint: dict,
           workers: int | None, progress: bool, trusted: bool) -> None:
    results = _parse_all(tasks, label, workers, progress, trusted)
    entries, errors, blobs, offset = [], [], [], 0
    for task, (piece_id, title, data, error) in zip(tasks, results):
        if data is None:
            errors.append({"id": piece_id, "path": task.path, "error": error})
            continue
        entries.append({"id": piece_id, "title": title, "path": task.path,
                        "offset": offset, "size": len(data)})
        blobs.append(data)
        offset += len(data)
    blob = b"".join(blobs)
    with atomic_dir(cache) as tmp:
        (tmp / "scores.bin").write_bytes(blob)
        index = {"fingerprint": fingerprint, "scores": {"bytes": len(blob), "sha1": hashlib.sha1(blob).hexdigest()},
                 "pieces": entries, "errors": errors}
        (tmp / "index.json").write_text(json.dumps(index), encoding="utf-8")


class CacheDamaged(Exception):
    """A cache that is there but is not what was written: cut short, overwritten, half deleted."""


def cache_notice(message: str) -> None:
    """One line on stderr: something went wrong that Cadenza mends by itself."""
    print(f"cadenza: {printable(message)}", file=sys.stderr, flush=True)


def _cache_is_current(cache: Path, fingerprint: dict, say_why: bool = False) -> bool:
    """Whether ``cache`` was built from ``fingerprint`` and is intact; with ``say_why``, a
    damaged one is reported (it is about to be rebuilt)."""
    try:
        return _read_cache(cache, fingerprint) is not None
    except CacheDamaged as exc:
        if say_why:
            cache_notice(f"the corpus cache {cache} is damaged ({exc}); rebuilding it")
        return False


def _read_cache(cache: Path, fingerprint: dict) -> tuple[dict, bytes] | None:
    """The index and the scores of ``cache``, checked; None when it is not there or was built
    from other files or versions. Raises :class:`CacheDamaged` when it is there but damaged."""
    if not cache.exists():
        return None
    try:
        index = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise CacheDamaged(f"index.json: {one_line(exc)}") from None
    if not isinstance(index, dict) or not isinstance(index.get("pieces"), list) \
            or not isinstance(index.get("errors"), list):
        raise CacheDamaged("index.json is not a cache index")
    if index.get("fingerprint") != fingerprint:
        return None
    try:
        blob = (cache / "scores.bin").read_bytes()
    except OSError as exc:
        raise CacheDamaged(f"scores.bin: {one_line(exc)}") from None
    _check_cache(index, blob)
    return index, blob


def _check_cache(index: dict, blob: bytes) -> None:
    """Raise :class:`CacheDamaged` unless ``blob`` is the scores ``index`` describes.

    The recorded size and SHA-1 (~2 ms for the Bach chorales) catch any change. A
    cache written before they were recorded gets each piece's MIDI chunk layout
    checked instead, enough to keep a damaged piece from crashing symusic.
    """
    recorded = index.get("scores")
    if recorded is not None:
        if not isinstance(recorded, dict):
            raise CacheDamaged("index.json does not record the size of scores.bin")
        if recorded.get("bytes") != len(blob):
            raise CacheDamaged(f"scores.bin holds {len(blob):,} bytes, not the {recorded.get('bytes')} "
                               "the index records")
        if hashlib.sha1(blob).hexdigest() != recorded.get("sha1"):
            raise CacheDamaged("scores.bin does not match its recorded checksum")
    for entry in index["pieces"]:
        try:
            offset, size, piece_id = entry["offset"], entry["size"], entry["id"]
            place_ok = isinstance(entry["title"], str) and 0 <= offset and 0 < size and offset + size <= len(blob)
        except (KeyError, TypeError):
            raise CacheDamaged("index.json lists a piece without its place in scores.bin") from None
        if not place_ok:
            raise CacheDamaged(f"piece {piece_id!r} lies outside scores.bin")
        if recorded is None:
            try:
                check_midi_chunks(blob[offset:offset + size], f"piece {piece_id!r}")
            except CadenzaError as exc:
                raise CacheDamaged(str(exc)) from None
    if not all(isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("error"), str)
               for e in index["errors"]):
        raise CacheDamaged("index.json lists an unreadable piece without its path and reason")


def _parse_all(tasks: list[Task], label: str, workers: int | None, progress: bool, trusted: bool) -> list:
    """:func:`parse_task` over ``tasks``, with a progress bar. Only a few ``trusted`` tasks (the
    embedded corpora's) are parsed in this process; others go to worker processes."""
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    workers = workers or os.cpu_count() or 1
    # a folder's name as the OS gives it: not markup, and bytes that are not UTF-8 escaped
    columns = [TextColumn(f"parsing {escape(printable(label))}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        job = bar.add_task(label, total=len(tasks))
        if trusted and (workers == 1 or len(tasks) < 16):
            results = []
            for task in tasks:
                results.append(parse_task(task))
                bar.advance(job)
            return results
        if any(task.abc_text is not None or Path(task.path).suffix.lower() not in MIDI_SUFFIXES for task in tasks):
            import music21  # noqa: F401  (once here, not once a worker: forked workers inherit it)
        chunk = max(1, min(32, len(tasks) // (workers * 8)))
        return parse_in_workers(tasks, workers, chunk, advance=lambda: bar.advance(job))


def parse_in_workers(tasks: list[Task], workers: int, chunk: int = 1,
                     advance: Callable[[], None] = lambda: None) -> list:
    """:func:`parse_task` over ``tasks`` in worker processes; the results in order.

    A task that kills its worker (symusic's C++ parser crashing on a file, the
    kernel's out-of-memory killer) cannot take this process with it: the pool
    breaks instead. ``pool.map`` yields in order, so every task before the
    first missing result is done; that task was running, or waiting behind
    the one that died. It is parsed alone in a child process, which tells
    whether it is the culprit (then it is reported unreadable, like any bad
    file), and the rest go to a fresh pool. Every round settles at least one
    task, so a folder of crashing files ends too.
    """
    results: list = []
    while len(results) < len(tasks):
        rest = tasks[len(results):]
        try:
            with futures.ProcessPoolExecutor(max_workers=max(1, min(workers, len(rest)))) as pool:
                for result in pool.map(parse_task, rest, chunksize=chunk):
                    results.append(result)
                    advance()
        except BrokenProcessPool:
            results.append(parse_alone(tasks[len(results)]))
            advance()
            chunk = 1  # after a crash, a break loses at most one task a worker
    return results


def parse_alone(task: Task) -> tuple[str, str, bytes | None, str | None]:
    """:func:`parse_task` in a child process of its own: a crash there makes ``task`` unreadable."""
    context = multiprocessing.get_context()  # the start method the pools use
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_parse_and_send, args=(task, send), daemon=True)
    child.start()
    send.close()  # the child holds the only sending end: its death ends receive.recv()
    try:
        result = receive.recv()
    except EOFError:
        result = None
    finally:
        receive.close()
        child.join()
    if result is not None:
        return result
    return task.piece_id, "", None, _death(child.exitcode)


def _parse_and_send(task: Task, send) -> None:
    send.send(parse_task(task))
    send.close()


def _death(exitcode: int | None) -> str:
    """Why a parser process died, from its exit code (minus the signal that killed it)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the parser crashed on this file: its process was killed by {name}{why}"
    return f"the parser's process died on this file (exit code {exitcode})"


# --- loading ---------------------------------------------------------------------------

class Corpus(Sequence):
    """Scores of one corpus split, with their ids and titles in the same order.

    Indexing gives ``symusic.Score`` objects, so a ``Corpus`` goes wherever a
    list of scores does. ``errors`` lists pieces that could not be read;
    ``collections`` names each piece's corpus (they differ in a mix such as
    ``essen+ryans``, whose ids are then ``corpus:id``).
    """

    def __init__(self, name: str, split: str, ids: list[str], titles: list[str],
                 scores: list[symusic.Score], errors: list[dict] | None = None,
                 source: str | None = None, collections: list[str] | None = None):
        self.name, self.split, self.source = name, split, source or name
        self.ids, self.titles, self.scores = ids, titles, scores
        self.errors = errors or []
        self.collections = collections or [self.source] * len(scores)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Corpus(self.name, self.split, self.ids[index], self.titles[index],
                          self.scores[index], self.errors, self.source, self.collections[index])
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
    """Load a named corpus (``bach``, ``essen``, ...), a mix of them (``essen+ryans+oneill``) or a
    folder/file of scores.

    The cache is built on first use. ``split`` is ``train``, ``valid``,
    ``test`` or ``all``.
    """
    if split not in SPLITS + ("all",):
        raise CadenzaError(f"unknown split {split!r} (expected train, valid, test or all)")
    from cadenza.data.audio_sets import AUDIO_SETS, audio_set

    if "+" in str(name) and not Path(name).expanduser().exists():
        return _mix(str(name), split, progress, workers)
    if str(name) in AUDIO_SETS:  # a named audio set (violin, notes, ...): an AudioSet, not scores
        return audio_set(name, split, progress)
    label, cache, _, fingerprint = _source(name)
    build_cache(name, workers=workers, progress=progress)
    try:
        index, (ids, titles, scores) = _load_split(cache, fingerprint, split)
    except CacheDamaged as exc:  # damaged since build_cache looked at it, or only symusic can tell
        cache_notice(f"the corpus cache {cache} is damaged ({exc}); rebuilding it")
        build_cache(name, workers=workers, progress=progress, force=True)
        try:
            index, (ids, titles, scores) = _load_split(cache, fingerprint, split)
        except CacheDamaged as again:  # the disk does not keep what is written to it
            raise CadenzaError(f"{cache}: the corpus cache is damaged again after a rebuild ({again})") from None
    if not index["pieces"]:
        first = index["errors"][0] if index["errors"] else {"path": str(name), "error": "no pieces"}
        raise CadenzaError(f"{first['path']}: {first['error']} (no readable pieces in {label})")
    source = str(name) if str(name) in CORPORA else str(Path(name).expanduser().resolve())
    return Corpus(label, split, ids, titles, scores, index["errors"], source)


def _mix(name: str, split: str, progress: bool, workers: int | None) -> Corpus:
    """Named corpora side by side: each keeps its own split, so the mix's splits never overlap."""
    names = name.split("+")
    unknown = [n for n in names if n not in CORPORA]
    if unknown or len(set(names)) != len(names):
        raise CadenzaError(f"{name}: a mix joins distinct named corpora with '+' ({', '.join(CORPORA)}); "
                           f"{unknown[0] if unknown else 'one is named twice'}" + (" is not one" if unknown else ""))
    parts = [corpus(n, split, progress, workers) for n in names]
    return Corpus(name, split, [f"{p.name}:{i}" for p in parts for i in p.ids], [t for p in parts for t in p.titles],
                  [s for p in parts for s in p.scores], [e for p in parts for e in p.errors], name,
                  [p.name for p in parts for _ in p.scores])


def _load_split(cache: Path, fingerprint: dict, split: str) -> tuple[dict, tuple[list, list, list]]:
    """The index of ``cache`` and the ids, titles and scores of ``split`` (or ``all``) in it."""
    found = _read_cache(cache, fingerprint)
    if found is None:  # replaced by another version's build since build_cache returned
        raise CacheDamaged("it changed while it was read")
    index, blob = found
    ids, titles, scores = [], [], []
    for entry in index["pieces"]:
        if split != "all" and split_of(entry["id"]) != split:
            continue
        try:
            scores.append(symusic.Score.from_midi(blob[entry["offset"]:entry["offset"] + entry["size"]]))
        except Exception as exc:  # symusic raises plain RuntimeError on bad MIDI
            raise CacheDamaged(f"piece {entry['id']!r}: {one_line(exc)}") from None
        ids.append(entry["id"])
        titles.append(entry["title"])
    return index, (ids, titles, scores)


def cached_size(name: str) -> int | None:
    """Number of cached pieces of a named corpus, or ``None`` when not built yet (or damaged)."""
    _, cache, _, fingerprint = _source(name)
    try:
        found = _read_cache(cache, fingerprint)
    except CacheDamaged:
        return None
    return None if found is None else len(found[0]["pieces"])
