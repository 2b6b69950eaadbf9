"""Where the studio keeps files, what it accepts, and how it reports errors.

Every file the studio writes lives in one temporary folder a browser
session; uploads are checked (size, type, duration) and copied there before
the library reads them; runs are chosen by name from the runs folder, never
by a path from the page. Errors become one line for the page.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import traceback
from pathlib import Path

from cadenza.errors import CadenzaError
from cadenza.models.run_check import MAX_RUN_FILE_BYTES, read_json

log = logging.getLogger("cadenza.studio")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also given to Gradio, which refuses bigger uploads itself
MAX_SCORE_BYTES = 2 * 1024 * 1024
MAX_AUDIO_SECONDS = 60.0
SCORE_SUFFIXES = (".mid", ".midi", ".musicxml", ".xml", ".mxl", ".abc", ".krn")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Sessions:
    """One temporary folder a browser session, under one root for the process."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="cadenza-studio-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, session: str | None) -> Path:
        # The session hash comes from the browser: keep only safe characters.
        name = re.sub(r"[^A-Za-z0-9]", "", session or "")[:64] or "anonymous"
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_folder(self, session: str | None, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.folder(session)))

    def remove(self, session: str | None) -> None:
        name = re.sub(r"[^A-Za-z0-9]", "", session or "")[:64]
        if name:
            shutil.rmtree(self.root / name, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def take_upload(upload, folder: Path, suffixes: tuple[str, ...], max_bytes: int, what: str) -> Path:
    """Copy an uploaded file (a path Gradio wrote) into the session folder after checking it."""
    source = Path(upload if isinstance(upload, (str, os.PathLike)) else getattr(upload, "name", ""))
    if not source.is_file():
        raise CadenzaError(f"{what}: the upload did not arrive; try again")
    suffix = source.suffix.lower()
    if suffix not in suffixes:
        raise CadenzaError(f"{what}: {suffix or 'no extension'} is not accepted ({', '.join(suffixes)})")
    size = source.stat().st_size
    if size > max_bytes:
        raise CadenzaError(f"{what}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
    target = folder / f"upload-{len(list(folder.glob('upload-*'))) + 1}{suffix}"
    shutil.copyfile(source, target)
    return target


def list_runs(runs: Path) -> dict[str, str]:
    """Run name -> model name for every run directory directly under ``runs``."""
    found = {}
    if not runs.is_dir():
        return found
    for child in sorted(runs.iterdir()):
        record = child / "cadenza.json"
        if child.is_dir() and not child.name.startswith(".") and record.is_file():
            try:  # the run file's size and nesting limits: a hostile run must not stall the listing
                model = read_json(record, child, MAX_RUN_FILE_BYTES).get("model")
            except (CadenzaError, AttributeError):
                continue
            if isinstance(model, str):
                found[child.name] = model
    return found


def run_path(runs: Path, name: str) -> Path:
    """The directory of the run called ``name``: only names listed in the runs folder."""
    if name not in list_runs(runs):
        raise CadenzaError(f"no run called {name!r} in the runs folder")
    return runs / name


def check_run_name(name: str) -> str:
    name = (name or "").strip()
    if not RUN_NAME.match(name):
        raise CadenzaError("run name: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return name


def message(exc: BaseException) -> str:
    """One line for the page: the error's own for user errors, a short one otherwise."""
    if isinstance(exc, CadenzaError):
        return f"**Error:** {exc}"
    log.error("studio: unexpected error\n%s", "".join(traceback.format_exception(exc)))
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"**Error:** something went wrong ({type(exc).__name__}: {first})"
