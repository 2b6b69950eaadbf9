"""Small helpers shared by every layer: atomic writes, stable hashing, torch's thread count,
progress bars."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    A reader never sees a half-written file, and an interrupted write leaves
    the previous version untouched. The file gets the permissions the user's
    umask gives a new file (``mkstemp`` alone would leave it ``0600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None or exc.filename not in (None, str(tmp)):
            raise
        # A write that failed (a full disk says nothing of the file) names the file meant,
        # not the hidden temporary one, which is removed below.
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _read_umask() -> int:
    """The process's umask, read once at import: reading it means setting it, which
    is not safe while other threads create files."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process and on every machine.

    A file name that is not valid UTF-8 (which Python keeps as lone surrogates)
    hashes as the bytes the file system holds; every other text is unchanged.
    """
    return int.from_bytes(hashlib.sha1(text.encode("utf-8", "surrogateescape")).digest()[:8], "big")


def printable(text: str) -> str:
    """``text`` safe to print or draw: the bytes of a file name that are not UTF-8 show as
    ``\\xff`` escapes, where the lone surrogates Python keeps for them would crash an encoder."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file name gave
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0  # calls inside one_thread() now
_THREADS_BEFORE = 0  # the count to restore when the last one leaves


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread: one-token steps and audio blocks are too small to split
    across threads, and on a busy CPU threads only contend (a 30 s DDSP render: 0.5 s on one
    thread, 2.1 s on torch's default two, same run; see benchmarks/bench_audio.py). The token
    samplers, the audio models' generate and every audio path of the CLI and the studio use it.

    Torch's thread count belongs to the process, so the calls share it: the
    first one in sets it to 1 and the last one out restores what it was,
    however their calls interleave across threads.
    """
    import torch

    global _THREADS_USERS, _THREADS_BEFORE
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_BEFORE = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_BEFORE)


def no_grad(method: Callable) -> Callable:
    """``@torch.no_grad()`` for a module that imports torch only when it computes: torch is
    imported at the first call, not when the module is (``cadenza generate MODEL --help``
    reads a model's options without waiting for torch)."""

    @functools.wraps(method)
    def without_gradients(*args, **kwargs):
        import torch

        with torch.no_grad():
            return method(*args, **kwargs)

    return without_gradients


@contextlib.contextmanager
def progress_bar(total: float, description: str, enabled: bool = True) -> Iterator[Callable[[float], None]]:
    """A rich progress bar with the time left, on stderr when it is a terminal; yields its
    ``advance(amount)`` (which does nothing when there is no bar)."""
    import sys

    if not enabled or not sys.stderr.isatty():
        yield lambda _amount: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)


def write_array_file(path: str | os.PathLike, name: str, array, header: dict) -> Path:
    """An ``.npz`` holding ``array`` as ``name`` and a JSON ``header`` (no pickles), written atomically:
    the format of codec token files and latent files."""
    import json

    import numpy as np

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **{name: array}, header=np.array(json.dumps(header)))
    return path


def read_array_file(path: str | os.PathLike, name: str, file_format: str, what: str):
    """``(array, header)`` of a file :func:`write_array_file` wrote with ``header["format"] ==
    file_format``; anything else (missing, damaged, another format) is one clear error naming ``what``."""
    import json
    import zipfile

    import numpy as np

    from cadenza.errors import CadenzaError

    path = Path(path)
    if not path.is_file():
        raise CadenzaError(f"{path}: no such {what}")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            array = np.array(data[name])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CadenzaError(f"{path}: not a Cadenza {what} ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != file_format:
        raise CadenzaError(f"{path}: not a Cadenza {what}")
    return array, header


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """A TOML file (a recipe, a control map) as a dict, or one clear error naming ``what`` it is
    meant to be: ``no such WHAT``, ``not a text file``, ``not valid TOML (line N ...)``."""
    from cadenza.errors import CadenzaError

    path = Path(path)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise CadenzaError(f"reading a {what} needs Python 3.11 or later (tomllib)") from None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CadenzaError(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise CadenzaError(f"{path}: not a text file (a {what} is TOML)") from None
    except OSError as exc:
        raise CadenzaError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CadenzaError(f"{path}: not valid TOML for a {what} ({exc})") from None
