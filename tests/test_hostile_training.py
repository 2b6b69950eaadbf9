"""Hostile and careless input to training: damaged checkpoints, a crafted pickle, Ctrl-C,
a full disk. Every damaged file is made here, from a real checkpoint or from nothing."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import pickle
import shlex
import shutil
import signal
import zipfile
from pathlib import Path

import pytest
import torch

from cadenza.errors import CadenzaError
from cadenza.train import TrainingConfig, fit_system

lightning = pytest.importorskip("lightning")
from cadenza.train import callbacks as cb
from cadenza.train.engine import TrainingInterrupted, start_afresh
from support import melody, run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ToySystem(lightning.LightningModule):
    """A tiny regression: enough for checkpoints, resumes and interruptions."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _):
        self.log("valid_loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.05)


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0]))


TRAIN, VALID = _data(32, 0), _data(16, 1)


def _config(**changes) -> TrainingConfig:
    return dataclasses.replace(TrainingConfig(max_steps=20, steps_per_epoch=10, batch_size=8, patience=0, seed=3),
                               **changes)


def _toy(width: int = 8) -> ToySystem:
    torch.manual_seed(0)  # the same first weights every time
    return ToySystem(width)


def _fit(workdir, max_steps: int = 30, system=None, **kwargs):
    return fit_system(system or _toy(), TRAIN, VALID, _config(max_steps=max_steps), workdir,
                      progress=False, **kwargs)


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run stopped after two epochs (20 steps): last.ckpt at 20, previous.ckpt at 10."""
    run = tmp_path_factory.mktemp("toy") / "run"
    _fit(run, max_steps=20)
    return run


@pytest.fixture
def run(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_each_checkpoint_keeps_its_predecessor(run):
    checkpoints = run / "checkpoints"
    assert _step(checkpoints / "last.ckpt") == 20 and _step(checkpoints / "previous.ckpt") == 10
    assert not list(checkpoints.glob(".*.tmp"))


# --- damaged last.ckpt ---------------------------------------------------------------------------

class RunsCode:
    """Unpickling it runs a shell command that creates ``marker``: what a crafted checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _damage(path: Path, how: str) -> None:
    good = path.read_bytes()
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_text("not a checkpoint\n")
    elif how == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "a zip, not a checkpoint")
    elif how == "pickled dict":
        path.write_bytes(pickle.dumps({"state_dict": {"w": [1, 2, 3]}, "global_step": 20}))
    elif how == "wrong keys":
        torch.save({"weights": torch.zeros(3), "step": 20}, path)
    elif how == "another model":
        saved = torch.load(path, map_location="cpu", weights_only=True)
        saved["state_dict"] = ToySystem(width=5).state_dict()
        torch.save(saved, path)
    else:
        raise ValueError(how)


DAMAGE = ("truncated", "empty", "text", "zip", "pickled dict", "wrong keys", "another model")


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_last_checkpoint_is_set_aside_and_the_previous_one_resumed(run, how, caplog):
    last = run / "checkpoints" / "last.ckpt"
    (run / "checkpoints" / "best.ckpt").unlink()  # else the newest good one is best.ckpt, at step 20
    _damage(last, how)
    damaged = last.read_bytes()
    with caplog.at_level(logging.WARNING, logger="cadenza.train"):
        result = _fit(run, max_steps=30)
    assert result.resumed_from_step == 10 and result.steps == 30
    warnings = [r.getMessage() for r in caplog.records if r.name == "cadenza.train"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(last) in warnings[0] and "damaged" in warnings[0] and "previous.ckpt (step 10)" in warnings[0]
    # kept for a look, out of the way of the next resume
    assert (run / "checkpoints" / "last.ckpt.damaged").read_bytes() == damaged
    assert _step(last) == 30


def test_a_crafted_checkpoint_is_never_unpickled(run, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # asks torch to unpickle anything
    marker = run.parent / "code-ran"
    last = run / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    torch.save({**saved, "callbacks": RunsCode(marker)}, last)

    # Lightning's own loading goes through the checkpoint plugin, which insists on weights_only
    with pytest.raises(pickle.UnpicklingError):
        cb.AtomicCheckpointIO().load_checkpoint(last, weights_only=False)
    assert not marker.exists()
    with caplog.at_level(logging.WARNING, logger="cadenza.train"):
        result = _fit(run, max_steps=30)
    assert not marker.exists()
    # best.ckpt, written at the same step as the crafted last.ckpt, is the newest good one
    assert result.resumed_from_step == 20 and "could run code" in caplog.text and "best.ckpt" in caplog.text

    # the file was a real threat: a plain unpickling runs its command
    torch.load(run / "checkpoints" / "last.ckpt.damaged", weights_only=False)
    assert marker.exists()


def test_with_every_checkpoint_damaged_one_error_names_the_file(run):
    checkpoints = run / "checkpoints"
    for name in ("last.ckpt", "previous.ckpt", "best.ckpt"):
        _damage(checkpoints / name, "truncated")
    before = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    with pytest.raises(CadenzaError) as caught:
        _fit(run, max_steps=30)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{checkpoints / 'last.ckpt'}: damaged")
    assert "--restart" in message
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir()} == before  # nothing moved or lost


@pytest.mark.parametrize("record", ["", "{not json", "[1, 2]", "\udcff"])
def test_a_damaged_settings_record_is_one_error(run, record):
    path = run / "checkpoints" / "config.json"
    path.write_bytes(record.encode("utf-8", "surrogateescape"))
    with pytest.raises(CadenzaError, match=r"config.json: damaged .*--restart$"):
        _fit(run, max_steps=30)


def test_restart_starts_afresh_and_keeps_the_other_files(run):
    checkpoints = run / "checkpoints"
    for name in ("last.ckpt", "previous.ckpt", "best.ckpt"):
        _damage(checkpoints / name, "empty")
    (run / "samples").mkdir()
    (run / "samples" / "tune.mid").write_bytes(b"MThd")
    earlier_logs = (run / "logs" / "metrics.csv").read_text()
    result = _fit(run, max_steps=10, resume=False)
    assert result.resumed_from_step is None and result.steps == 10
    assert _step(checkpoints / "last.ckpt") == 10
    assert not list(checkpoints.glob("*.damaged"))
    assert (run / "samples" / "tune.mid").read_bytes() == b"MThd"
    assert (run / "logs" / "before-restart-1" / "metrics.csv").read_text() == earlier_logs
    assert not list((run / "logs").glob("metrics-part*.csv"))  # the new curve is the new run's alone


def test_start_afresh_on_an_empty_folder_removes_nothing(tmp_path):
    assert start_afresh(tmp_path) == [] and list(tmp_path.iterdir()) == []


# --- Ctrl-C --------------------------------------------------------------------------------------

def _sigint_at(monkeypatch, step: int) -> None:
    """Press Ctrl-C as training step ``step`` begins: raise the KeyboardInterrupt that
    Python's SIGINT handler raises, without depending on how signals reach this test
    process (an xdist worker, where a signal was seen not to arrive on one run)."""
    original = cb.StepSeed.on_train_batch_start

    def pressed(self, trainer, module, batch, batch_idx):
        if cb.steps_done(trainer, module) == step:
            raise KeyboardInterrupt
        return original(self, trainer, module, batch, batch_idx)
    monkeypatch.setattr(cb.StepSeed, "on_train_batch_start", pressed)


def test_ctrl_c_keeps_the_checkpoint_and_resuming_continues_from_it(tmp_path, monkeypatch):
    straight = _toy()
    _fit(tmp_path / "straight", max_steps=20, system=straight)

    handler = signal.getsignal(signal.SIGINT)
    _sigint_at(monkeypatch, 15)
    with pytest.raises(TrainingInterrupted) as caught:
        _fit(tmp_path / "run", max_steps=20)
    stopped = caught.value
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert stopped.step == 15 and stopped.checkpoint == last and stopped.checkpoint_step == 10
    assert isinstance(stopped, KeyboardInterrupt) and str(stopped) == f"interrupted at step 15; kept {last} (step 10)"
    assert _step(last) == 10
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning left SIGINT ignored; put back

    monkeypatch.undo()
    resumed = ToySystem(8)  # other first weights: the checkpoint's replace them
    result = _fit(tmp_path / "run", max_steps=20, system=resumed)
    assert result.resumed_from_step == 10 and result.steps == 20
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()))


def test_ctrl_c_before_the_first_checkpoint_says_so(tmp_path, monkeypatch):
    _sigint_at(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted, match="at step 3, before any checkpoint") as caught:
        _fit(None, max_steps=20)  # a temporary folder, removed: nothing to resume from
    assert caught.value.checkpoint is None


# --- a full disk ---------------------------------------------------------------------------------

def _disk_fills_up(monkeypatch, module, name: str, on_call: int = 1) -> None:
    """Make ``module.name`` (a function writing to a file or path, given as its second
    argument) write part of its data and then fail as a full disk does, from call ``on_call`` on."""
    real = getattr(module, name)
    calls = []

    def full(obj, target, *args, **kwargs):
        calls.append(target)
        if len(calls) < on_call:
            return real(obj, target, *args, **kwargs)
        if hasattr(target, "write"):
            target.write(b"PK\x03\x04 half a file")
        else:
            Path(target).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() raises it: no file name
    monkeypatch.setattr(module, name, full)


def test_a_full_disk_while_checkpointing_leaves_the_old_checkpoint_whole(run, monkeypatch):
    checkpoints = run / "checkpoints"
    before = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    _disk_fills_up(monkeypatch, torch, "save")
    with pytest.raises(OSError) as caught:
        _fit(run, max_steps=30)
    assert caught.value.errno == errno.ENOSPC
    assert Path(caught.value.filename).parent == checkpoints and caught.value.filename.endswith(".ckpt")
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir()} == before  # no temp file, nothing half-written


# --- through the command line --------------------------------------------------------------------

LSTM = ["--layers", "1", "--hidden", "16", "--embedding", "8", "--context", "32", "--batch-size", "4",
        "--steps-per-epoch", "3", "--max-steps", "6", "--dropout", "0"]


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scores")
    for i in range(6):
        melody([60 + (i + j) % 12 for j in range(24)], 0.5).dump_midi(str(folder / f"tune{i}.mid"))
    return folder


def _one_line(err: str) -> str:
    """stderr's one message (click ends a terminal's ^C with an empty line first)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_cli_damaged_checkpoints_then_restart(scores, tmp_path, capsys):
    out = tmp_path / "run"
    train = ["train", "lstm", "--data", scores, "--out", out, *LSTM]
    code, _, err = run_cli(train, capsys)
    assert code == 0, err
    for path in (out / "checkpoints").glob("*.ckpt"):
        path.write_text("garbage")
    (out / "samples").mkdir()
    (out / "samples" / "keep.mid").write_bytes(b"MThd")
    run_file = (out / "cadenza.json").read_text()

    code, _, err = run_cli(train, capsys)
    line = _one_line(err)
    assert code == 2 and f"{out / 'checkpoints' / 'last.ckpt'}: damaged" in line and "--restart" in line

    code, out_text, err = run_cli([*train, "--restart"], capsys)
    assert code == 0, err
    assert "starting afresh" in out_text and "resuming" not in out_text
    assert _step(out / "checkpoints" / "last.ckpt") == 6
    assert (out / "samples" / "keep.mid").read_bytes() == b"MThd"
    assert (out / "cadenza.json").read_text() != run_file  # the new run was saved over the old one


def test_cli_ctrl_c_says_how_to_resume(scores, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    train = ["train", "lstm", "--data", str(scores), "--out", str(out), *LSTM]
    _sigint_at(monkeypatch, 4)
    code, _, err = run_cli([*train, "--restart"], capsys)
    line = _one_line(err)
    assert code == 130
    assert f"interrupted at step 4; kept {out / 'checkpoints' / 'last.ckpt'} (step 3)" in line
    command = line.split("resume with: ", 1)[1]
    assert shlex.split(command) == ["cadenza", *train]  # the same command, without --restart
    assert not (out / "cadenza.json").exists()

    monkeypatch.undo()
    code, out_text, err = run_cli(shlex.split(command)[1:], capsys)
    assert code == 0, err
    assert "resuming" in out_text and (out / "cadenza.json").is_file()
    assert _step(out / "checkpoints" / "last.ckpt") == 6


def test_cli_full_disk_while_checkpointing(scores, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _disk_fills_up(monkeypatch, torch, "save")
    code, _, err = run_cli(["train", "lstm", "--data", scores, "--out", out, *LSTM], capsys)
    line = _one_line(err)
    assert code == 2 and "no space left on device writing " in line
    written = Path(line.split("writing ", 1)[1])
    assert written.parent == out / "checkpoints" and not written.exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_cli_full_disk_while_saving_the_run(scores, tmp_path, capsys, monkeypatch):
    import safetensors.numpy

    out = tmp_path / "run"
    _disk_fills_up(monkeypatch, safetensors.numpy, "save_file")
    code, _, err = run_cli(["train", "markov", "--data", scores, "--out", out], capsys)
    assert code == 2 and _one_line(err).endswith(f"no space left on device writing {out / 'model.safetensors'}")
    assert not (out / "cadenza.json").exists() and not (out / "model.safetensors").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_cli_full_disk_while_writing_samples(tmp_path, capsys, monkeypatch):
    out = tmp_path / "samples"
    code, _, err = run_cli(["generate", "lsystem", "--out", out, "-n", "2", "--formats", "mid"], capsys)
    assert code == 0, err
    first = sorted(out.glob("*.mid"))[0]
    before = first.read_bytes()

    real = Path.write_bytes

    def full(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Path, "write_bytes", full)
    code, _, err = run_cli(["generate", "lsystem", "--out", out, "-n", "2", "--formats", "mid"], capsys)
    assert code == 2 and _one_line(err).endswith(f"no space left on device writing {first}")
    assert first.read_bytes() == before  # the old file stays whole
    assert not list(out.glob(".*.tmp"))
