"""The tutorials (docs/tutorials/NN-name.py) run from the first cell to the last and show what they say.

Each source is read with jupytext and executed with nbclient in a fresh python3 kernel
(ipykernel), in a temporary working directory, offline, one torch thread
(``scripts/build_tutorials.py`` holds the runner that ``make docs`` and
``benchmarks/bench_tutorials.py`` use too). A cell that raises fails the test; then each
notebook must have drawn a figure, made an audio player, and printed the numbers its text reads.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_tutorials", ROOT / "scripts" / "build_tutorials.py")
tutorials = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = tutorials  # dataclasses look their module up by name
_spec.loader.exec_module(tutorials)

NOTEBOOKS = tutorials.notebooks()
CELL_TIMEOUT = 300  # seconds a cell may take on a busy machine


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"no {pattern!r} in the notebook's output"
    return float(match.group(1))


def _check_lsystem(text):
    assert "[1, 2, 3, 5, 8, 13, 21, 34]" in text  # Fibonacci lengths of A->AB, B->A


def _check_markov(text):
    assert 2.0 < _number(r"order \d: test ([\d.]+) bits per note", text) < 5.0


def _check_automaton(text):
    assert "seed patterns" in text


def _check_genetic(text):
    assert re.search(r"chords: \w", text)


def _check_lstm(text):
    lstm = _number(r"lstm \(100 steps\)\s+([\d.]+) bits per note", text)
    markov = _number(r"markov order 3\s+([\d.]+) bits per note", text)
    assert 2.0 < markov < lstm < 12.0  # a few seconds of training: the counting model is ahead


def _check_transformer(text):
    assert "same logits as Cadenza's: True" in text
    match = re.search(r"valid loss ([\d.]+) -> ([\d.]+) nats a token", text)
    assert match and float(match.group(2)) < float(match.group(1)), "fine-tuning did not lower the valid loss"


def _check_polyphonic(text):
    tiny = _number(r"tiny model, 50 steps\s+([\d.]+) nats a frame", text)
    bernoulli = _number(r"bernoulli\s+([\d.]+) nats a frame", text)
    shipped = _number(r"pretrained/jsb\s+([\d.]+) nats a frame", text)
    assert shipped < tiny < bernoulli


def _check_ddsp(text):
    shipped = re.search(r"pretrained/ddsp-violin \{.*'spectral_distance': ([\d.]+), "
                        r"'spectral_distance_sine_baseline': ([\d.]+)", text)
    assert shipped and float(shipped.group(1)) < float(shipped.group(2)), "the shipped violin lost to the sine"


def _check_wavenet(text):
    naive = re.search(r"naive .*\) (\[[\d ]+)", text)
    cached = re.search(r"cached .*\) (\[[\d ]+)", text)
    assert naive and cached and naive.group(1) == cached.group(1), "the two generators drew different classes"
    assert _number(r"cached is ([\d.]+)x faster", text) > 1
    assert _number(r"linear prediction, order 32\s+([\d.]+) bits per sample", text) < 8


CHECKS = {"01-lsystem": _check_lsystem, "02-markov": _check_markov, "03-automaton": _check_automaton,
          "04-genetic": _check_genetic, "05-lstm": _check_lstm, "06-transformer": _check_transformer,
          "07-polyphonic": _check_polyphonic, "08-ddsp": _check_ddsp, "09-wavenet": _check_wavenet}


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if out.get("output_type") == "stream"
                         else str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_every_tutorial_has_its_checks():
    assert [p.stem for p in NOTEBOOKS] == sorted(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_runs_and_shows_its_results(path, bach, tmp_path, record_property):
    # ``bach`` builds the corpus cache first (the kernel inherits CADENZA_CACHE from conftest).
    done = tutorials.execute(path, workdir=tmp_path, timeout=CELL_TIMEOUT)
    record_property("seconds", round(done.seconds, 1))
    print(f"{path.name}: {done.seconds:.1f} s ({done.cpu_seconds:.1f} s CPU)")
    kinds = tutorials.output_kinds(done.notebook)
    assert kinds["error"] == 0
    assert kinds["image"] >= 2, f"{path.name} drew {kinds['image']} figures"
    assert kinds["audio"] >= 1, f"{path.name} made no audio player"
    text = _text(done.notebook)
    assert "Traceback" not in text
    CHECKS[path.stem](text)
    # what a tutorial keeps goes to a folder of its own (tempfile): run from the repository, it writes nothing there
    assert not sorted(tmp_path.iterdir()), f"{path.name} wrote into its working directory"
