"""Numbers out of range, through the command line and the Python API, and what help imports.

Every numeric option has a declared range (``config.option(..., min=, max=)`` for the models'
and the trainer's dataclasses, ``cli.app.number_option`` for the commands' own options); a
value outside it ends, before any work starts, in one line naming the option and its range.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cadenza
from cadenza.config import SEED, Range, build_dataclass, fields_of, option
from cadenza.errors import CadenzaError
from cadenza.models.base import available
from cadenza.train import TrainerOptions
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]


# --- the command line ----------------------------------------------------------------------

# (the command line with OUT for a folder that must not be created, the flag the error names)
OUT_OF_RANGE = [
    # generate's own options
    (["generate", "lsystem", "-n", "0", "--out", "OUT"], "-n"),
    (["generate", "lsystem", "--seed", "-5", "--out", "OUT"], "--seed"),
    (["generate", "lsystem", "-s", str(2**32), "--out", "OUT"], "--seed"),
    # a model's Config (generate) and Sampling options, int and float, closed and open bounds
    (["generate", "lsystem", "--tempo", "1e6", "--out", "OUT"], "--tempo"),
    (["generate", "automaton", "--lanes", "100000", "--out", "OUT"], "--lanes"),
    (["generate", "automaton", "--density", "1", "--out", "OUT"], "--density"),
    (["generate", "lsystem", "--temperature", "0", "--out", "OUT"], "--temperature"),
    (["generate", "lsystem", "--temperature", "nan", "--out", "OUT"], "--temperature"),
    (["generate", "lsystem", "--temperature", "inf", "--out", "OUT"], "--temperature"),
    (["generate", "lsystem", "--length", "-1", "--out", "OUT"], "--length"),
    (["generate", "ddsp", "--pitch-shift", "1e6", "--out", "OUT"], "--pitch-shift"),
    (["generate", "transformer", "--top-p", "1.5", "--out", "OUT"], "--top-p"),
    # train: a model's Config, the shared training recipe, the trainer
    (["train", "markov", "--data", "bach", "--out", "OUT", "--order", "-1"], "--order"),
    (["train", "lstm", "--data", "bach", "--out", "OUT", "--hidden", "100000000"], "--hidden"),
    (["train", "lstm", "--data", "bach", "--out", "OUT", "--learning-rate", "0"], "--learning-rate"),
    (["train", "lstm", "--data", "bach", "--out", "OUT", "--seed", "-5"], "--seed"),
    (["train", "polyphonic", "--data", "bach", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["train", "lstm", "--data", "bach", "--out", "OUT", "--num-nodes", "0"], "--num-nodes"),
    (["train", "lstm", "--data", "bach", "--out", "OUT", "--max-minutes", "-1"], "--max-minutes"),
    # the commands' own (typer) options
    (["demo", "--out", "OUT", "-n", "0"], "-n"),
    (["demo", "--out", "OUT", "--seed", "-5"], "--seed"),
    (["render", "in.mid", "OUT", "--sample-rate", "5"], "--sample-rate"),
    (["stream", "--model", "run", "--midi", "in.mid", "--out", "OUT", "--threads", "100000"], "--threads"),
    (["stream", "--model", "run", "--midi", "in.mid", "--out", "OUT", "--seed", "-1"], "--seed"),
    (["play", "--model", "run", "--seconds", "-1"], "--seconds"),
    (["finetune", "pretrained/folk", "--data", "bach", "--out", "OUT", "--learning-rate", "-1"], "--learning-rate"),
    (["finetune", "pretrained/folk", "--data", "bach", "--out", "OUT", "--max-steps", "0"], "--max-steps"),
    (["corpus", "build", "bach", "--workers", "0"], "--workers"),
    (["studio", "--port", "70000"], "--port"),
]


@pytest.mark.parametrize(("args", "flag"), OUT_OF_RANGE, ids=[" ".join(a) for a, _ in OUT_OF_RANGE])
def test_a_number_out_of_range_is_one_line_before_any_work(args, flag, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli([str(out) if a == "OUT" else a for a in args], capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{flag} must be " in lines[0] and ("between" in lines[0] or "above" in lines[0]), lines[0]
    assert not out.exists()  # refused before anything was written


def test_the_range_is_in_the_help(capsys):
    code, out, _ = run_cli(["generate", "lsystem", "--help"], capsys)
    assert code == 0 and "[between 10 and 400]" in " ".join(out.split())  # --tempo
    assert "[above 0 and at most 100]" in " ".join(out.split())  # --temperature
    code, out, _ = run_cli(["demo", "--help"], capsys)
    assert code == 0 and "between 1 and 64" in out and f"between 0 and {SEED.max}" in " ".join(out.split())


@pytest.mark.parametrize("args", [["demo", "--seed", "abc"], ["nosuch"], ["generate", "lsystem", "--out"],
                                  ["generate", "lsystem", "--out", "x", "--no-such-option", "1"]])
def test_other_command_line_mistakes_are_one_line(args, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_values_at_the_ends_of_a_range_are_accepted(tmp_path, capsys):
    code, _, err = run_cli(["generate", "lsystem", "--out", tmp_path, "--seed", str(SEED.max), "--formats", "mid",
                            "--tempo", "400", "--temperature", "100"], capsys)
    assert code == 0, err
    assert len(list(tmp_path.glob("*.mid"))) == 1


# --- the Python API ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "config", "named"), [
    ("markov", {"order": -1}, "'order'"),
    ("markov", {"order": 9}, "'order'"),
    ("lsystem", {"tempo": 1e6}, "'tempo'"),
    ("lsystem", {"tempo": math.nan}, "'tempo'"),
    ("automaton", {"density": 0.0}, "'density'"),
    ("genetic", {"mutation_rate": 1.0}, "'mutation_rate'"),
    ("lstm", {"seed": -5}, "'seed'"),
    ("transformer", {"heads": 0}, "'heads'"),
    ("ddsp", {"fft_sizes": [2048, 4]}, "'fft_sizes'"),
])
def test_create_refuses_a_config_out_of_range(name, config, named):
    with pytest.raises(CadenzaError, match=named):
        cadenza.create(name, **config)


@pytest.mark.parametrize(("call", "named"), [
    ({"seed": -5}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"n": 0}, "n "),
    ({"n": "3"}, "n "),
    ({"temperature": 0}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"length": 0}, "length"),
])
def test_generate_refuses_numbers_out_of_range(call, named):
    with pytest.raises(CadenzaError, match=named):
        cadenza.create("lsystem").generate(**call)


def test_generate_takes_numpy_integers_and_the_largest_seed():
    import numpy as np

    model = cadenza.create("lsystem")
    assert len(model.generate(n=np.int64(2), seed=np.uint32(SEED.max))) == 2


def test_trainer_options_out_of_range():
    with pytest.raises(CadenzaError, match="'num_nodes' must be between 1"):
        TrainerOptions.of({"num_nodes": 0})
    with pytest.raises(CadenzaError, match="'workers'"):
        TrainerOptions.of({"workers": 100_000})


def test_a_run_whose_config_is_out_of_range_does_not_load(tmp_path):
    run = cadenza.create("lsystem").save(tmp_path / "run")
    record = json.loads((run / "cadenza.json").read_text())
    record["config"]["tempo"] = 1e9
    (run / "cadenza.json").write_text(json.dumps(record))
    with pytest.raises(CadenzaError, match="tempo"):
        cadenza.load(run)


# --- the declarations -----------------------------------------------------------------------

def _option_classes():
    for name, cls in available().items():
        yield f"{name}.Config", cls.Config
        yield f"{name}.Sampling", cls.Sampling
        if hasattr(cls, "TransferOptions"):
            yield f"{name}.TransferOptions", cls.TransferOptions
    yield "TrainerOptions", TrainerOptions


@pytest.mark.parametrize(("what", "cls"), list(_option_classes()), ids=[w for w, _ in _option_classes()])
def test_every_numeric_option_has_a_range_its_default_is_in(what, cls):
    import typing

    hints = typing.get_type_hints(cls)
    for f in fields_of(cls):
        hint = str(hints[f.name])
        numeric = f.kind in ("int", "float") or (f.kind == "list" and ("int" in hint or "float" in hint))
        if not numeric:
            continue
        assert f.range is not None, f"{what}.{f.name} has no range: option(..., min=, max=)"
        default = [] if f.default in (None, "") else [float(v) for v in str(f.default).split(",")]
        assert all(v in f.range for v in default), f"{what}.{f.name}: default {f.default} not {f.range}"


@pytest.mark.parametrize("name", sorted(available()))
def test_presets_and_tiny_settings_are_in_range(name):
    cls = available()[name]
    for preset in cls.presets.values():
        build_dataclass(cls.Config, dict(preset), f"{name} preset")
    build_dataclass(cls.Config, dict(cls.tiny_config), f"{name} tiny config")
    build_dataclass(cls.Sampling, dict(cls.tiny_sampling), f"{name} tiny sampling")


def test_range_in_words_and_bounds():
    assert str(Range(1, 8)) == "between 1 and 8"
    assert str(Range(min=0)) == "at least 0"
    assert str(Range(above=0, max=1)) == "above 0 and at most 1"
    assert str(Range(min=0, below=1)) == "at least 0 and below 1"
    closed, open_ = Range(0, 1), Range(above=0, below=1)
    assert 0 in closed and 1 in closed and 0 not in open_ and 1 not in open_ and 0.5 in open_
    assert math.nan not in Range() and math.inf not in Range(min=0) and -math.inf not in Range(max=0)
    with pytest.raises(CadenzaError, match="--x must be between 1 and 8, got 9"):
        Range(1, 8).check(9, "--x")
    assert Range(1, 8).check(None, "--x") is None
    with pytest.raises(ValueError):
        option(0, "both bounds on one side", min=0, above=0)


def test_each_model_lives_in_a_module_named_after_it():
    # what lets `cadenza generate NAME` import that model alone (cadenza.models.base.find)
    for name, cls in available().items():
        assert cls.__module__.rsplit(".", 1)[-1] == name


# --- what help imports ----------------------------------------------------------------------

PROBE = """
import sys
from cadenza.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in ("torch", "transformers", "lightning", "scipy", "music21", "matplotlib", "gradio")
             if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["train", "--help"], ["models"],
                                  ["generate", "markov", "--help"], ["generate", "wavenet", "--help"],
                                  ["generate", "pretrained/folk", "--help"], ["train", "transformer", "--help"],
                                  ["train", "polyphonic", "--help"], ["generate", "pretrained/ddsp-violin", "--help"]])
def test_help_imports_no_heavy_library(args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-300:]
    assert "--help" not in args or "Usage" in done.stdout


@pytest.mark.parametrize("run", ["pretrained/ddsp-violin", "pretrained/wavenet-notes"])
def test_audio_models_check_the_seed_of_every_path(run):
    import numpy as np

    model = cadenza.load(run)
    controls = np.tile([[220.0, -30.0]], (2, 1)).astype(np.float32)
    for seed in (-5, 2**40):
        with pytest.raises(CadenzaError, match="seed must be between 0 and 4294967295"):
            model.stream(seed)
        with pytest.raises(CadenzaError, match="seed must be between"):
            model.render_controls(controls, seed=seed)
