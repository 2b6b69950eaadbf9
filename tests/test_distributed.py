"""Training on several processes: Lightning DDP on 2 CPU processes (gloo) follows one
process with the same global batch, writes once, resumes after a kill; bf16-mixed on CPU;
the epoch's examples are split between the processes without overlap; and trainer options
this machine cannot honour are one clear line before any data is loaded.

The DDP runs go through the CLI in a subprocess, as a user runs them: Lightning starts the
second process by running the same command again.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import cadenza
from cadenza.data.audio_sets import from_scores
from cadenza.models.base import get
from cadenza.train.callbacks import EpochSampler
from cadenza.train.engine import primary_process, read_metrics
from support import melody, run_cli

CADENZA = shutil.which("cadenza", path=str(Path(sys.executable).parent)) or "cadenza"

# No dropout and no random transposition: the only difference between one process and two is
# then the order in which float sums are taken.
LSTM = ["lstm", "--layers", "1", "--hidden", "32", "--embedding", "16", "--context", "64", "--dropout", "0",
        "--transpose", "0", "--steps-per-epoch", "3", "--patience", "0", "--seed", "0"]
WAVENET = ["wavenet", "--layers", "4", "--cycle", "4", "--residual", "8", "--skip", "8", "--conditioning", "4",
           "--example-seconds", "0.05", "--max-audio-minutes", "0.1", "--steps-per-epoch", "3", "--patience", "0",
           "--seed", "0"]
TWO = ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
# Valid losses of one process and of two agree to float rounding (about 1e-5 relative measured).
TOLERANCE = 5e-4


@pytest.fixture(scope="module")
def scores(tiny_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scores")
    for i, score in enumerate(tiny_corpus):
        score.dump_midi(str(folder / f"chorale{i:02d}.mid"))
    return folder


def command(args, data, out):
    return [CADENZA, "train", *args, "--data", str(data), "--out", str(out)]


def environment():
    # One thread a process (two processes on a 2-core machine) and a fresh port for each run.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train(args, data, out) -> subprocess.CompletedProcess:
    done = subprocess.run(command(args, data, out), capture_output=True, text=True, timeout=600, env=environment())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def valid_losses(logs: Path) -> dict[int, float]:
    """The valid loss at each step logged in ``logs`` (a metrics CSV file, or a folder of them)."""
    if logs.is_dir():
        rows = read_metrics(logs)
    else:
        with open(logs, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    return {int(row["step"]): float(row["valid_loss"]) for row in rows if row.get("valid_loss")}


def assert_same_trajectory(one: Path, two: Path) -> None:
    a, b = valid_losses(one / "logs"), valid_losses(two / "logs")
    assert len(a) >= 3 and list(a) == list(b)
    np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=TOLERANCE)


@pytest.mark.parametrize("model", [LSTM, WAVENET], ids=["lstm", "wavenet"])
def test_two_processes_follow_one_with_the_same_global_batch(model, scores, bach, tmp_path):
    data = scores if model is LSTM else "bach"  # WaveNet plays the first 6 s of the chorales (a SoundFont)
    one = train([*model, "--batch-size", "8", "--max-steps", "9"], data, tmp_path / "one")
    two = train([*model, "--batch-size", "4", "--max-steps", "9", *TWO], data, tmp_path / "two")
    assert_same_trajectory(tmp_path / "one", tmp_path / "two")
    # One writer: the same files as one process, one metrics file, each row logged once.
    names = lambda run: sorted(p.name for p in run.rglob("*") if p.is_file())  # noqa: E731
    assert names(tmp_path / "two") == names(tmp_path / "one")
    rows = read_metrics(tmp_path / "two" / "logs")
    keys = [(row["step"], name) for row in rows for name, value in row.items() if value and name not in
            ("step", "epoch")]
    assert len(keys) == len(set(keys))
    # The other process neither evaluates nor reports.
    assert two.stdout.count("trained ") == one.stdout.count("trained ") == 1
    assert two.stdout.count("evaluating on the valid split") == 1
    assert cadenza.load(tmp_path / "two").generate(n=1, seed=0, length=8) is not None


def test_a_killed_ddp_run_resumes_where_it_stopped(scores, tmp_path):
    args = [*LSTM, "--batch-size", "4", "--max-steps", "45", *TWO]
    train(args, scores, tmp_path / "whole")
    killed = tmp_path / "killed"
    process = subprocess.Popen(command(args, scores, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=environment(), start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoints" / "last.ckpt").is_file() and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # both processes, mid-run
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = train(args, scores, killed)
    assert "resuming from the checkpoints" in resumed.stdout
    # The resumed part starts after the first epoch and ends as the unbroken run ended. (Lightning
    # logs a resumed run's steps one later than an unbroken run's, so epochs are matched in order.)
    whole = list(valid_losses(tmp_path / "whole" / "logs").values())
    after = list(valid_losses(killed / "logs" / "metrics.csv").values())
    assert len(whole) == 15 and 0 < len(after) < len(whole)
    np.testing.assert_allclose(after, whole[-len(after):], rtol=TOLERANCE)


def test_the_epoch_is_split_between_the_processes_without_overlap():
    one = list(EpochSampler(50, 3, 8, 7, lambda: 0, rank=0, world=1))
    ranks = [list(EpochSampler(50, 3, 4, 7, lambda: 0, rank=r, world=2)) for r in (0, 1)]
    assert all(len(r) == 12 for r in ranks)
    assert not set(ranks[0]) & set(ranks[1])  # 24 of 50 examples: none seen twice in the epoch
    for step in range(3):  # step k of the two processes together: step k of one with twice the batch
        assert sorted(ranks[0][4 * step:4 * step + 4] + ranks[1][4 * step:4 * step + 4]) == \
            sorted(one[8 * step:8 * step + 8])
    # One process alone keeps the order it always had.
    assert one == list(EpochSampler(50, 3, 8, 7, lambda: 0))


@pytest.fixture(scope="module")
def notes():
    return from_scores([melody([67, 69, 71, 72], beats=0.5), melody([72, 76, 79], beats=0.5)], 73, "tiny")


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_bf16_mixed_precision_trains_on_cpu(name, tiny_corpus, notes, one_torch_thread):
    data = tiny_corpus if name == "lstm" else notes
    tiny = get(name).tiny_config
    seen = set()

    def dtypes(module, inputs, output):
        if isinstance(output, torch.Tensor):
            seen.add(output.dtype)
    hook = torch.nn.modules.module.register_module_forward_hook(dtypes)
    try:
        mixed = cadenza.create(name, **tiny).fit(data, trainer={"precision": "bf16-mixed"})
    finally:
        hook.remove()
    assert torch.bfloat16 in seen  # autocast really ran
    full = cadenza.create(name, **tiny).fit(data)
    weights = [p for p in mixed.net_.parameters()]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in weights)  # float32 master weights
    a, b = mixed.log_prob(data).bits_per_event, full.log_prob(data).bits_per_event
    assert abs(a - b) < 0.05 * b  # bf16 keeps 8 bits of mantissa: close, not equal
    assert mixed.generate(n=1, seed=0, **get(name).tiny_sampling)


def test_only_the_first_process_writes(monkeypatch):
    for name in ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert primary_process()
    monkeypatch.setenv("LOCAL_RANK", "1")  # Lightning's second process on this machine
    assert not primary_process()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "1")  # the first process of the second machine
    assert not primary_process()
    monkeypatch.setenv("RANK", "0")  # torchrun's global rank decides
    assert primary_process()


@pytest.mark.parametrize(("options", "message"), [
    (["--devices", "100000"], "this machine has"),
    (["--strategy", "dpp"], "unknown strategy 'dpp'"),
    (["--precision", "8-bit"], "unknown precision '8-bit'"),
    (["--precision", "16-mixed"], "needs a GPU"),
    (["--accelerator", "quantum"], "unknown accelerator"),
    (["--devices", "0"], "at least 1"),
    (["--num-nodes", "2"], "needs a launcher"),
] + ([] if torch.cuda.is_available() else [(["--accelerator", "gpu"], "this machine has none")]))
def test_options_the_machine_cannot_honour_are_one_line(options, message, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    # A corpus that does not exist: the options are checked before the data is looked at.
    code, out, err = run_cli(["train", *LSTM, "--data", tmp_path / "no-such-corpus", "--out", tmp_path / "run",
                              *options], capsys)
    assert code == 2 and message in " ".join(err.split()) and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2 and not (tmp_path / "run").exists()
