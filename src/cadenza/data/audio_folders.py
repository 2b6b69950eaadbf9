"""Folders of audio files as :class:`~cadenza.data.audio_sets.AudioSet`s.

Every .wav/.flac/.ogg file under a folder, mono, resampled to 16 kHz, f0
from the pitch tracker, dealt into splits by a hash of its path. A file that
cannot be read, holds NaN, is silent or is too short is skipped and listed
in ``errors`` with its path and the reason. Features are cached under a key
made of the files' names, sizes and times.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from cadenza.data.audio_sets import CACHE_VERSION, AudioSet, _cache_root, _save, from_audio, load_cached
from cadenza.errors import CadenzaError


def is_audio_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is an audio file, or a folder with more audio files than score files."""
    from cadenza.audio.io import AUDIO_SUFFIXES
    from cadenza.data.corpora import SCORE_SUFFIXES

    path = Path(path).expanduser()
    if path.is_file():
        return path.suffix.lower() in AUDIO_SUFFIXES
    if not path.is_dir():
        return False
    suffixes = Counter(p.suffix.lower() for p in path.rglob("*") if p.is_file())
    audio = sum(suffixes[s] for s in AUDIO_SUFFIXES)
    return audio > 0 and audio >= sum(suffixes[s] for s in SCORE_SUFFIXES)


def folder_set(folder: Path, split: str, progress: bool) -> AudioSet:
    """One split (or ``all``) of the audio files under ``folder`` (or the one file ``folder``)."""
    from cadenza.audio.io import AUDIO_SUFFIXES, read_audio
    from cadenza.data.corpora import split_of

    files = sorted(p for p in ([folder] if folder.is_file() else folder.rglob("*"))
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise CadenzaError(f"{folder}: no {', '.join(AUDIO_SUFFIXES)} files")
    root = folder if folder.is_dir() else folder.parent
    ids = [str(p.relative_to(root)) for p in files]
    fingerprint = hashlib.sha1(json.dumps([(i, p.stat().st_size, p.stat().st_mtime_ns)
                                           for i, p in zip(ids, files)]).encode()).hexdigest()[:16]
    cache = _cache_root() / f"folder-{folder.resolve().name}.v{CACHE_VERSION}-{fingerprint}" / f"{split}.npz"
    cached = load_cached(cache, str(folder), split)  # None when missing, or damaged (then rebuilt below)
    if cached is not None:
        return cached
    chosen = [(i, p) for i, p in zip(ids, files) if len(files) == 1 or split in ("all", split_of(i))]
    if not chosen:
        raise CadenzaError(f"{folder}: no files in the {split} split ({len(files)} files in all)")
    errors = []

    def items():
        for clip_id, path in chosen:
            try:
                audio, rate = read_audio(path)
            except CadenzaError as exc:
                errors.append({"id": clip_id, "path": str(path), "error": str(exc).split(": ", 1)[-1]})
                continue
            yield clip_id, audio, rate

    part = from_audio(list(items()), str(folder), split, progress=progress, errors=errors)
    for error in part.errors:
        error["path"] = str(root / error["id"])
    part.meta.update(description=f"audio files in {folder}", licence="the files' own")
    _save(cache, part)
    return part
