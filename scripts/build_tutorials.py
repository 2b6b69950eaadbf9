"""Execute the tutorials and build the documentation site (``make docs``).

The tutorials are jupytext percent-format sources, ``docs/tutorials/NN-name.py``.
Each one is read with jupytext and executed with nbclient in a kernel of this
Python (ipykernel), in a scratch working directory, one torch thread, offline.
``tests/test_tutorials.py`` and ``benchmarks/bench_tutorials.py`` run them the
same way, through :func:`execute`.

    python scripts/build_tutorials.py                  # execute all, then mkdocs build -> site/
    python scripts/build_tutorials.py 02-markov        # execute some (names or stems), no site
    python scripts/build_tutorials.py --no-site        # execute all, write build/docs/tutorials/*.ipynb

The site is built from ``build/docs/``: a copy of ``docs/`` with the executed
notebooks in place of their sources and the README as its front page
(``mkdocs.yml``: mkdocs-material without web fonts, mkdocs-jupyter,
``use_directory_urls: false``, so the pages browse from ``file://`` with no network).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "tutorials"
BUILD = ROOT / "build" / "docs"
CELL_TIMEOUT = 240  # seconds a cell may take (the first may build the Bach corpus cache)
KERNEL = "python3"


def notebooks() -> list[Path]:
    """The tutorial sources, in order: ``docs/tutorials/NN-name.py``."""
    return sorted(SOURCES.glob("[0-9][0-9]-*.py"))


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this one, offline, one thread, figures inline."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CADENZA_THREADS="1", GRADIO_ANALYTICS_ENABLED="False", PYDEVD_DISABLE_FILE_VALIDATION="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    return env


def read(path: str | os.PathLike):
    """A tutorial source as a notebook (nbformat v4), with the python3 kernel."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


@dataclass
class Executed:
    """One executed tutorial: the notebook with its outputs, and what running it cost."""

    notebook: Any
    seconds: float  # wall clock, kernel start to shutdown
    cpu_seconds: float  # CPU time of the kernel process and its children (steadier on a busy machine)


def execute(path: str | os.PathLike, workdir: str | os.PathLike | None = None,
            timeout: int = CELL_TIMEOUT) -> Executed:
    """Run one tutorial in a fresh kernel.

    ``workdir`` is the kernel's working directory (a fresh temporary folder, removed after,
    when not given). A cell that raises stops the run with ``nbclient``'s CellExecutionError.
    """
    from nbclient import NotebookClient

    nb = read(path)
    scratch = None
    if workdir is None:
        scratch = tempfile.TemporaryDirectory(prefix="cadenza-tutorial-")
        workdir = scratch.name
    try:
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, allow_errors=False,
                                resources={"metadata": {"path": str(workdir)}})
        cpu = _children_cpu()
        started = time.perf_counter()
        client.execute(env=kernel_env())
        seconds = time.perf_counter() - started
        cpu = _children_cpu() - cpu  # the kernel has exited and been waited for by now
    finally:
        if scratch is not None:
            scratch.cleanup()
    return Executed(nb, seconds, cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def output_kinds(nb) -> Counter:
    """How many outputs of each kind the notebook holds: ``image`` (a PNG or SVG),
    ``audio`` (an HTML audio player), ``html``, ``text``, ``error``."""
    kinds: Counter = Counter()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                kinds["error"] += 1
                continue
            data = out.get("data", {})
            if "image/png" in data or "image/svg+xml" in data:
                kinds["image"] += 1
            elif "<audio" in str(data.get("text/html", "")):
                kinds["audio"] += 1
            elif "text/html" in data or "text/markdown" in data:
                kinds["html"] += 1
            elif out.get("output_type") == "stream" or "text/plain" in data:
                kinds["text"] += 1
    return kinds


def cell_times(nb) -> list[tuple[int, float]]:
    """``(cell index, seconds)`` of each executed code cell, from nbclient's timing metadata."""
    from datetime import datetime

    times = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if start and end:
            delta = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(
                start.replace("Z", "+00:00"))
            times.append((index, delta.total_seconds()))
    return times


def stage_site() -> Path:
    """``build/docs``: docs/ without the tutorial sources, the README as index.md."""
    if BUILD.exists():
        shutil.rmtree(BUILD)
    shutil.copytree(ROOT / "docs", BUILD, ignore=shutil.ignore_patterns("[0-9][0-9]-*.py", "__pycache__"))
    readme = (ROOT / "README.md").read_text()
    # README links point into docs/; the site's root is docs/ itself.
    (BUILD / "index.md").write_text(re.sub(r"\]\(docs/", "](", readme))
    # The tutorials' index links to the sources; the site shows the executed notebooks.
    index = BUILD / "tutorials" / "README.md"
    index.write_text(re.sub(r"\]\(([0-9][0-9]-[\w-]+)\.py\)", r"](\1.ipynb)", index.read_text()))
    return BUILD


def build_site() -> int:
    config = ROOT / "mkdocs.yml"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # material's banner about MkDocs 2.0
    return subprocess.call([sys.executable, "-m", "mkdocs", "build", "--clean", "--config-file", str(config)],
                           cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="tutorials to run (e.g. 02-markov or markov); default all")
    parser.add_argument("--no-site", action="store_true", help="execute only; do not run mkdocs")
    parser.add_argument("--cells", action="store_true", help="also print each code cell's time")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds a cell may take")
    args = parser.parse_args(argv)
    chosen = [p for p in notebooks() if not args.names
              or any(n in (p.stem, p.stem.split("-", 1)[1]) for n in args.names)]
    if not chosen:
        print(f"error: no tutorial named {' '.join(args.names)}", file=sys.stderr)
        return 2
    site = not args.no_site and not args.names
    import nbformat

    import cadenza

    cadenza.corpus("bach", progress=True)  # the corpus cache, once, before any notebook needs it
    out_dir = (stage_site() if site else BUILD) / "tutorials"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = cpu = 0.0
    from nbclient.exceptions import CellExecutionError

    for path in chosen:
        try:
            done = execute(path, timeout=args.timeout)
        except CellExecutionError as exc:
            print(f"error: {path.name}: a cell raised {exc.ename}: {exc.evalue}", file=sys.stderr)
            return 1
        nb = done.notebook
        total += done.seconds
        cpu += done.cpu_seconds
        kinds = output_kinds(nb)
        print(f"{path.name:<24} {done.seconds:6.1f} s  ({done.cpu_seconds:5.1f} s CPU)  "
              + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())), flush=True)
        if args.cells:
            for index, cell_seconds in cell_times(nb):
                print(f"    cell {index:2d}: {cell_seconds:5.2f} s  {nb.cells[index].source.splitlines()[0][:60]}")
        nbformat.write(nb, out_dir / f"{path.stem}.ipynb")
    print(f"{'total':<24} {total:6.1f} s  ({cpu:5.1f} s CPU)")
    if site:
        return build_site()
    return 0


if __name__ == "__main__":
    sys.exit(main())
