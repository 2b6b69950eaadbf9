"""Damaged and hostile run folders: each ends in one CadenzaError line that names the folder and what
is wrong, before anything large is allocated; the CLI prints it on one line and exits 2.

Every case starts from a good run (a tiny fitted one, or a copy of a shipped one), damages one
thing, and checks both ``cadenza.load`` and ``cadenza generate RUN``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models import run_check
from cadenza.models.base import pretrained_dir
from support import melody, run_cli

SHIPPED = {"transformer": "folk", "polyphonic": "jsb", "ddsp": "ddsp-violin"}
NEURAL = ["lstm", "transformer", "polyphonic", "ddsp", "wavenet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_corpus, one_torch_thread):
    """A good run of each kind: tiny fitted ones, and copies of the shipped checkpoints."""
    from cadenza.data.audio_sets import from_scores

    root = tmp_path_factory.mktemp("good")
    found = {}
    for name in ("markov", "genetic", "lstm", "automaton"):
        cls = cadenza.models.get(name)
        found[name] = cadenza.create(name, **cls.tiny_config).fit(list(tiny_corpus)[:4]).save(root / name)
    audio = from_scores([melody([67, 69, 71, 72], beats=0.5), melody([72, 76, 79], beats=0.5)], 73, "tiny")
    found["wavenet"] = cadenza.create("wavenet", **cadenza.models.get("wavenet").tiny_config).fit(audio) \
        .save(root / "wavenet")
    for name, shipped in SHIPPED.items():
        found[name] = Path(shutil.copytree(pretrained_dir() / shipped, root / name))
    return found


def copy_of(runs, name, tmp_path) -> Path:
    return Path(shutil.copytree(runs[name], tmp_path / f"{name}-run"))


def edit_record(run: Path, change) -> None:
    record = json.loads((run / "cadenza.json").read_text())
    change(record)
    (run / "cadenza.json").write_text(json.dumps(record))


def edit_json(file: Path, change) -> None:
    record = json.loads(file.read_text())
    change(record)
    file.write_text(json.dumps(record))


def refused(run: Path, capsys, *words: str) -> str:
    """Assert that loading ``run`` fails with one line naming it and ``words``, in Python and in the CLI."""
    with pytest.raises(CadenzaError) as info:
        cadenza.load(run)
    message = str(info.value)
    assert str(run) in message, message
    assert "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), message
    code, out, err = run_cli(["generate", run, "-n", 1, "--out", run.parent / "out"], capsys)
    assert code == 2, (code, out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and run.name in err
    assert not (run.parent / "out").exists()
    return message


# --- cadenza.json: the record ------------------------------------------------------------------

@pytest.mark.parametrize("field, value, words", [
    ("config", [], ("'config'", "object", "list")),
    ("config", "order=3", ("'config'", "string")),
    ("config", None, ("'config'", "null")),
    ("state", [1, 2], ("'state'", "list")),
    ("state", "x", ("'state'", "string")),
    ("state", None, ("'state'", "null")),
    ("model", 5, ("model name", "number")),
    ("model", None, ("model name", "null")),
    ("model", ["markov"], ("model name", "list")),
    ("data", [1], ("'data'",)),
    ("metrics", "good", ("'metrics'",)),
    ("format_version", list(range(10_000)), ("run format a list of 10000 items",)),
    ("format_version", True, ("run format None",)),
])
def test_record_fields_of_the_wrong_json_type(runs, tmp_path, capsys, field, value, words):
    run = copy_of(runs, "markov", tmp_path)
    edit_record(run, lambda r: r.__setitem__(field, value))
    refused(run, capsys, *words)


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", ("not a run record",)),
    ('"markov"', ("not a run record",)),
    ("null", ("not a run record",)),
    ('{"format_version": 2}', ("no model name",)),
    ("{" + '"model": "markov", "config": ' + "[" * 100_000 + "]" * 100_000 + "}", ("nested too deep",)),
    ('{"model": "markov", "config": {"order": 1' + "0" * 5000 + "}}", ("not valid json",)),
])
def test_record_that_is_not_a_run_record(runs, tmp_path, capsys, text, words):
    run = copy_of(runs, "markov", tmp_path)
    (run / "cadenza.json").write_text(text)
    refused(run, capsys, *words)


def test_record_that_is_not_utf8(runs, tmp_path, capsys):
    run = copy_of(runs, "markov", tmp_path)
    (run / "cadenza.json").write_bytes(b'{"model": "\xff\xfe"}')
    refused(run, capsys, "not valid json")


def test_record_above_the_size_limit_is_refused_before_it_is_read(runs, tmp_path, capsys, monkeypatch):
    run = copy_of(runs, "markov", tmp_path)
    edit_record(run, lambda r: r["metrics"].__setitem__("notes", "x" * run_check.MAX_RUN_FILE_BYTES))
    reads = []
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self.name) or original(self, *a, **k))
    with pytest.raises(CadenzaError, match="MiB"):
        cadenza.load(run)
    assert "cadenza.json" not in reads
    monkeypatch.undo()
    refused(run, capsys, "cadenza.json", "MiB")


# --- cadenza.json: the config, field by field ---------------------------------------------------

@pytest.mark.parametrize("model, field, value, words", [
    ("markov", "order", "3", ("'order'", "int", "string")),  # int: a string
    ("markov", "order", 2.5, ("'order'", "int")),  # int: a fraction
    ("markov", "order", True, ("'order'", "int", "bool")),  # int: a bool
    ("markov", "order", 99, ("order",)),  # int: out of the config's range
    ("markov", "part", ["Soprano"], ("'part'", "string")),  # str | None: a list
    ("lstm", "dropout", "0.1", ("'dropout'", "number")),  # float: a string
    ("lstm", "dropout", float("nan"), ("'dropout'", "finite")),  # float: NaN (JSON allows the literal)
    ("lstm", "melody", 1, ("'melody'", "true or false")),  # bool: a number
    ("transformer", "architecture", "bert", ("'architecture'", "gpt2")),  # Literal: another value
    ("transformer", "tokenizer", 7, ("'tokenizer'", "REMI")),  # Literal: another type
    ("ddsp", "fft_sizes", "1024,512", ("'fft_sizes'", "list")),  # list[int]: a string
    ("ddsp", "fft_sizes", [1024, "x"], ("'fft_sizes'", "int")),  # list[int]: an item of another type
    ("wavenet", "output", None, ("'output'", "null")),  # str: null
    ("polyphonic", "nonsense", 1, ("unknown", "'nonsense'")),  # a field the config does not have
])
def test_config_fields_of_the_wrong_type(runs, tmp_path, capsys, model, field, value, words):
    run = copy_of(runs, model, tmp_path)
    edit_record(run, lambda r: r["config"].__setitem__(field, value))
    refused(run, capsys, *words)


# --- configs that ask for absurd networks -------------------------------------------------------

# Each field within the config's own bounds, all together far above what Cadenza loads.
@pytest.mark.parametrize("model, config, hf", [
    ("lstm", {"layers": 16, "hidden": 8192, "embedding": 8192}, {}),
    ("polyphonic", {"layers": 16, "hidden": 8192}, {}),
    ("ddsp", {"mlp_layers": 16, "hidden": 8192, "gru": 8192}, {}),
    ("wavenet", {"layers": 256, "residual": 4096, "skip": 4096}, {}),
    ("transformer", {"layers": 64, "heads": 128, "dim": 16384}, {"n_layer": 64, "n_head": 128, "n_embd": 16384}),
])
def test_absurd_networks_are_refused_before_they_are_built(runs, tmp_path, capsys, model, config, hf):
    run = copy_of(runs, model, tmp_path)
    edit_record(run, lambda r: r["config"].update(config))
    if hf:
        edit_json(run / "config.json", lambda c: c.update(hf))
    start = time.perf_counter()
    # Unchecked, each of these allocates tens of gigabytes or more; counted on the meta device
    # they stop at the limit within seconds, even on a busy machine.
    refused(run, capsys, "asks for a network of more than 2e+08 parameters")
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("build, words", [
    (lambda: torch.nn.Linear(20_000, 20_000), "2e+08 parameters"),
    (lambda: torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(1)) for _ in range(2000)), "1024 tensors"),
    (lambda: torch.nn.ModuleList(torch.nn.Identity() for _ in range(2000)), "1024 modules"),
])
def test_the_size_guard_stops_a_build_at_each_limit(build, words):
    with pytest.raises(CadenzaError, match="^" + re.escape(f"run: its config asks for a network of more than {words}")):
        with run_check.size_guard(Path("run")):
            build()


def test_the_size_guard_builds_nothing_and_counts_only_its_own_thread():
    import threading

    def other_thread():
        # another thread's model is neither on the meta device nor counted
        built.append(torch.nn.ModuleList(torch.nn.Identity() for _ in range(2000)))

    built = []
    with run_check.size_guard(Path("run")):
        net = torch.nn.Linear(1000, 1000)
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert net.weight.is_meta and len(built[0]) == 2000
    assert not torch.nn.Linear(2, 2).weight.is_meta  # the meta device ends with the guard


# --- model.safetensors ------------------------------------------------------------------------------

def _first_weight(arrays: dict) -> str:
    return next(k for k in sorted(arrays) if arrays[k].dtype == np.float32 and arrays[k].ndim >= 1
                and arrays[k].size > 1 and k != "demo")


def _with_nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _with_inf(a):
    a = a.copy()
    a.flat[-1] = -np.inf
    return a


DAMAGES = {
    "missing": (lambda arrays, k: arrays.pop(k), ("lacks tensor",)),
    "extra": (lambda arrays, k: arrays.__setitem__("stray.weight", np.zeros(3, np.float32)),
              ("'stray.weight'", "does not have")),
    "scalar": (lambda arrays, k: arrays.__setitem__(k, np.array(0.5, np.float32)), ("a scalar",)),
    "shape": (lambda arrays, k: arrays.__setitem__(k, np.ascontiguousarray(arrays[k].reshape(-1)[:-1])),
              ("has shape",)),
    "integers": (lambda arrays, k: arrays.__setitem__(k, arrays[k].astype(np.int32)), ("I32", "F32")),
    "float64": (lambda arrays, k: arrays.__setitem__(k, arrays[k].astype(np.float64)), ("F64",)),
    "nan": (lambda arrays, k: arrays.__setitem__(k, _with_nan(arrays[k])), ("NaN or infinite",)),
    "inf": (lambda arrays, k: arrays.__setitem__(k, _with_inf(arrays[k])), ("NaN or infinite",)),
}


def damage_weights(run: Path, change) -> None:
    file = run / "model.safetensors"
    with safe_open(str(file), framework="numpy") as handle:
        metadata = handle.metadata()
    arrays = load_file(str(file))
    change(arrays)
    save_file(arrays, str(file), metadata=metadata)


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("model", NEURAL)
def test_damaged_weights(runs, tmp_path, capsys, model, damage):
    run = copy_of(runs, model, tmp_path)
    change, words = DAMAGES[damage]
    damage_weights(run, lambda arrays: change(arrays, _first_weight(arrays)))
    refused(run, capsys, "model.safetensors", *words)


@pytest.mark.parametrize("model", NEURAL)
def test_missing_weights_file(runs, tmp_path, capsys, model):
    run = copy_of(runs, model, tmp_path)
    (run / "model.safetensors").unlink()
    refused(run, capsys, "model.safetensors")


@pytest.mark.parametrize("change, words", [
    (lambda a: a.__setitem__("symbols", a["symbols"].astype(np.float32)), ("'symbols'", "F32")),
    (lambda a: a.__setitem__("lengths", a["lengths"][:, None].copy()), ("'lengths'", "shape")),
    (lambda a: a.__setitem__("lengths", -a["lengths"]), ("negative",)),
    (lambda a: a.__setitem__("symbols", a["symbols"] + 10**6), ("vocabulary",)),
    (lambda a: a.pop("durations"), ("'durations'",)),
])
def test_damaged_markov_arrays(runs, tmp_path, capsys, change, words):
    run = copy_of(runs, "markov", tmp_path)
    damage_weights(run, change)
    refused(run, capsys, *words)


def test_weights_where_the_model_has_none(runs, tmp_path, capsys):
    run = copy_of(runs, "automaton", tmp_path)
    save_file({"x": np.zeros(2, np.float32)}, str(run / "model.safetensors"))
    refused(run, capsys, "'x'", "does not have")


def test_garbage_weights_file(runs, tmp_path, capsys):
    run = copy_of(runs, "lstm", tmp_path)
    (run / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    refused(run, capsys, "damaged weights")


# --- the Hugging Face directory of a transformer run ---------------------------------------------

@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(model_type="bert"), ("'bert'",)),
    (lambda c: c.update(model_type="llama"), ("'llama'", "gpt2")),
    (lambda c: c.update(n_layer=4), ("n_layer",)),
    (lambda c: c.update(vocab_size=c["vocab_size"] + 5), ("vocab_size",)),
    (lambda c: c.update(tie_word_embeddings=False), ("tie_word_embeddings",)),
])
def test_config_json_of_another_network(runs, tmp_path, capsys, change, words):
    run = copy_of(runs, "transformer", tmp_path)
    edit_json(run / "config.json", change)
    start = time.perf_counter()
    refused(run, capsys, "config.json", *words)
    assert time.perf_counter() - start < 60  # never builds the default model of another family


def test_config_json_that_is_not_an_object(runs, tmp_path, capsys):
    run = copy_of(runs, "transformer", tmp_path)
    (run / "config.json").write_text("[]")
    refused(run, capsys, "config.json")


@pytest.mark.parametrize("text, words", [
    ('{"tokenization": "Octuple"}', ("tokenizer.json",)),
    ("[]", ("tokenizer.json",)),
    ("{", ("tokenizer.json", "json")),
])
def test_tokenizer_json_that_is_not_ours(runs, tmp_path, capsys, text, words):
    run = copy_of(runs, "transformer", tmp_path)
    (run / "tokenizer.json").write_text(text)
    refused(run, capsys, *words)


def test_from_pretrained_refuses_missing_tensors_when_strict(runs, tmp_path):
    from cadenza.models.symbolic.transformer import load_hf_model

    run = copy_of(runs, "transformer", tmp_path)
    damage_weights(run, lambda arrays: arrays.pop("transformer.h.0.mlp.c_fc.weight"))
    with pytest.raises(CadenzaError, match="missing keys: transformer.h.0.mlp.c_fc.weight"):
        load_hf_model(run, strict=True)
    assert load_hf_model(run) is not None  # a foreign checkpoint to fine-tune may lack some


@pytest.mark.parametrize("config, words", [
    ({"model_type": "llama", "hidden_size": 16384, "intermediate_size": 65536, "num_hidden_layers": 64,
      "num_attention_heads": 128, "vocab_size": 32000}, ("asks for a network of more than 2e+08 parameters",)),
    ({"model_type": "bert"}, ("cannot load the model",)),
    ({"model_type": "no-such-family"}, ("cannot load the model",)),
])
def test_foreign_checkpoints_to_fine_tune_are_sized_before_they_are_built(tmp_path, config, words):
    from cadenza.models.symbolic.transformer import from_checkpoint

    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    start = time.perf_counter()
    with pytest.raises(CadenzaError) as info:
        from_checkpoint(folder)
    assert str(folder) in str(info.value) and all(w in str(info.value) for w in words), info.value
    assert time.perf_counter() - start < 60  # from_pretrained would build tens of gigabytes first


# --- the models' saved state ----------------------------------------------------------------------------

@pytest.mark.parametrize("model, change, words", [
    ("ddsp", lambda s: s["envelope"].update(slope_db="loud"), ("slope_db",)),
    ("ddsp", lambda s: s.update(envelope=[1, 2]), ("envelope",)),
    ("wavenet", lambda s: s.update(programs=[300]), ("0-127",)),
    ("wavenet", lambda s: s.update(default_pitch="A4"), ("default_pitch",)),
    ("markov", lambda s: s.update(tempo="fast"), ("tempo",)),
    ("markov", lambda s: s.update(tempo=-1), ("tempo",)),
    ("markov", lambda s: s.update(vocabulary=[["a"]]), ("vocabulary",)),
    ("lstm", lambda s: s.update(tokenizer="REMI"), ("tokenizer",)),
    ("lstm", lambda s: s["tokenizer"].update(melody="yes"), ("melody",)),
    ("transformer", lambda s: s.update(style=5), ("style",)),
    ("genetic", lambda s: s["likelihood"].update(model="transformer"), ("likelihood",)),
    ("genetic", lambda s: s["likelihood"].update(config=[]), ("config",)),
    ("automaton", lambda s: s.update(seeds=[1, 2]), ("seeds",)),
])
def test_state_of_the_wrong_shape(runs, tmp_path, capsys, model, change, words):
    run = copy_of(runs, model, tmp_path)
    edit_record(run, lambda r: change(r["state"]))
    refused(run, capsys, *words)


# --- what loading checks after building -------------------------------------------------------------

class _Holder:
    def __init__(self, net):
        self.net_ = net


def test_a_network_left_on_the_meta_device_is_refused():
    net = torch.nn.Linear(2, 2)
    with torch.device("meta"):
        net.head = torch.nn.Linear(2, 2)
    with pytest.raises(CadenzaError, match="run: loading left net_.head.weight without values"):
        run_check.check_modules(_Holder(net), Path("run"))


def test_a_network_with_nan_after_loading_is_refused():
    net = torch.nn.BatchNorm1d(2)
    net.running_mean[0] = float("nan")
    with pytest.raises(CadenzaError, match="net_.running_mean holds NaN"):
        run_check.check_modules(_Holder(net), Path("run"))


@pytest.mark.parametrize("model", ["markov", "genetic", "automaton", *NEURAL])
def test_good_runs_still_load_and_generate(runs, model):
    loaded = cadenza.load(runs[model])
    cls = cadenza.models.get(model)
    assert loaded.generate(n=1, seed=0, **cls.tiny_sampling)


def test_the_studio_lists_runs_past_hostile_run_files(tmp_path):
    from cadenza.models.run_check import MAX_RUN_FILE_BYTES
    from cadenza.studio.session import list_runs

    for name, text in [("good", '{"model": "markov"}'), ("deep", "[" * 100_000 + "]" * 100_000),
                       ("huge", '{"model": "markov", "pad": "' + "x" * MAX_RUN_FILE_BYTES + '"}'),
                       ("list", "[1, 2]"), ("binary", "\udcff")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "cadenza.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    assert list_runs(tmp_path) == {"good": "markov"}
