"""Fit a LightningModule: presets, time budget, early stopping, exact resume.

What the engine guarantees, whatever the model:

- **Resume.** Checkpoints are written atomically to ``WORKDIR/checkpoints/``
  at the end of every epoch (an epoch is a fixed number of steps, so the
  last checkpoint is never far). Running the same fit again with the same
  ``WORKDIR`` continues from ``last.ckpt``. The data order and every random
  draw of an epoch are seeded by ``(seed, epoch)``, so a run killed and
  resumed ends with the same weights as one that never stopped.
- **Budget.** ``max_steps``, ``max_minutes`` and early stopping on the valid
  loss (``patience`` epochs without improvement); the best weights by valid
  loss are the ones returned.
- **Logs.** ``WORKDIR/logs/metrics.csv`` (Lightning's CSVLogger) and
  ``WORKDIR/loss.png``.
- **Scale.** ``accelerator``, ``devices``, ``num_nodes``, ``strategy`` and
  ``precision`` go to ``lightning.Trainer`` unchanged: DDP, multi-node and
  bf16 are Lightning's.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cadenza.config import option
from cadenza.errors import CadenzaError
from cadenza.utils import atomic_path


@dataclass
class TrainingConfig:
    """Training options shared by every neural model (mixed into its Config)."""

    max_steps: int = option(2000, "Stop after this many optimiser steps.")
    max_minutes: float | None = option(None, "Stop after this many minutes of training (a time budget).")
    steps_per_epoch: int = option(100, "Steps between validation and checkpoints.")
    patience: int = option(5, "Stop when the valid loss has not improved for this many epochs (0: never).")
    batch_size: int = option(32, "Sequences a batch.")
    learning_rate: float = option(1e-3, "Peak learning rate (AdamW).")
    weight_decay: float = option(0.01, "AdamW weight decay.")
    seed: int = option(0, "Seed of initialisation, data order and dropout.")
    accelerator: str = option("cpu", "Lightning accelerator: cpu, gpu, mps, auto.")
    devices: str = option("1", "Lightning devices: a count, a list like 0,1, or auto.")
    num_nodes: int = option(1, "Machines to train on (Lightning num_nodes).")
    strategy: str = option("auto", "Lightning strategy: auto, ddp, fsdp, ...")
    precision: str = option("32-true", "Lightning precision: 32-true, bf16-mixed, 16-mixed.")

    def validate_training(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.steps_per_epoch < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("steps_per_epoch and batch_size must be at least 1, patience at least 0")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    def training_fields(self) -> dict:
        names = TrainingConfig.__dataclass_fields__
        return {k: v for k, v in asdict(self).items() if k in names}


@dataclass
class FitResult:
    best_valid_loss: float | None
    steps: int
    epochs: int
    seconds: float
    stopped_by: str  # "max_steps", "early_stopping", "max_minutes"
    resumed_from_step: int | None


class EpochSampler(torch.utils.data.Sampler):
    """``steps * batch`` indices an epoch, a fresh permutation seeded by (seed, epoch).

    The epoch is read from the trainer's step count when an epoch begins,
    not from Lightning's epoch counter, which after a resume can run one
    ahead; so the order of epoch k never depends on an interruption.
    """

    def __init__(self, size: int, steps: int, batch_size: int, seed: int, global_step):
        self.size, self.steps, self.count, self.seed = size, steps, steps * batch_size, seed
        self.global_step = global_step  # a callable, read when an epoch's iterator is made

    def __iter__(self) -> Iterator[int]:
        epoch = self.global_step() // self.steps
        rng = np.random.default_rng([self.seed, epoch])
        chunks, total = [], 0
        while total < self.count:
            chunks.append(rng.permutation(self.size))
            total += self.size
        return iter(np.concatenate(chunks)[: self.count].tolist())

    def __len__(self) -> int:
        return self.count


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _callbacks(config: TrainingConfig, checkpoints: Path, has_valid: bool):
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

    class EpochSeed(Callback):
        """Reseed torch/numpy/random from (seed, epoch) so dropout repeats exactly after a resume."""

        def on_train_epoch_start(self, trainer, module):
            _seed_everything(config.seed * 100_003 + trainer.global_step // config.steps_per_epoch)

    monitor = "valid_loss" if has_valid else "train_loss_epoch"
    callbacks = [
        EpochSeed(),
        ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor, mode="min",
                        save_top_k=1, save_last=True, enable_version_counter=False),
    ]
    if has_valid and config.patience > 0:
        # checked after validation only: a run resumed from an end-of-epoch checkpoint ends that
        # epoch again without validating, and a check there finds no valid_loss
        callbacks.append(EarlyStopping(monitor="valid_loss", patience=config.patience, mode="min",
                                       check_on_train_epoch_end=False))
    return callbacks


class _AtomicCheckpointIO:
    """Lightning CheckpointIO whose files appear whole or not at all."""

    def __new__(cls):
        from lightning.pytorch.plugins.io import TorchCheckpointIO

        class AtomicIO(TorchCheckpointIO):
            def save_checkpoint(self, checkpoint, path, storage_options=None):
                with atomic_path(path) as tmp:
                    torch.save(checkpoint, tmp)

        return AtomicIO()


def _devices(value: str):
    value = str(value).strip()
    if value == "auto":
        return "auto"
    if "," in value:
        return [int(v) for v in value.split(",") if v.strip()]
    return int(value)


def fit_system(system, train_set, valid_set, config: TrainingConfig, workdir: str | os.PathLike | None = None,
               collate_fn=None, progress: bool = True, resume: bool = True) -> FitResult:
    """Train ``system`` (a LightningModule) on ``train_set``, validating on ``valid_set``.

    ``system.training_step`` must log ``train_loss`` (on_epoch) and
    ``validation_step`` ``valid_loss``. On return the system holds the best
    weights by valid loss (the last ones without a valid set).
    """
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    config.validate_training()
    if len(train_set) == 0:
        raise CadenzaError("no training examples: the corpus is too small for this model's context")
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="cadenza-train-")) if temporary else Path(workdir)
    checkpoints = workdir / "checkpoints"
    _check_same_config(checkpoints, config, system)
    last = checkpoints / "last.ckpt"
    resume_path = last if resume and last.is_file() else None
    resumed_from = _checkpoint_step(last) if resume_path else None

    _keep_earlier_logs(workdir / "logs")
    _seed_everything(config.seed)
    has_valid = valid_set is not None and len(valid_set) > 0
    _quiet_lightning()
    trainer = L.Trainer(
        max_steps=config.max_steps,
        max_epochs=-1,
        max_time=datetime.timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        accelerator=config.accelerator, devices=_devices(config.devices), num_nodes=config.num_nodes,
        strategy=config.strategy, precision=config.precision,
        callbacks=_callbacks(config, checkpoints, has_valid),
        logger=CSVLogger(workdir, name="", version="logs"),
        plugins=[_AtomicCheckpointIO()],
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=10,
        num_sanity_val_steps=0, deterministic=False,
    )
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, collate_fn=collate_fn,
        sampler=EpochSampler(len(train_set), config.steps_per_epoch, config.batch_size, config.seed,
                             lambda: trainer.global_step))
    valid_loader = None
    if has_valid:
        valid_loader = torch.utils.data.DataLoader(valid_set, batch_size=config.batch_size,
                                                   collate_fn=collate_fn, shuffle=False)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists.*")
        warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
        trainer.fit(system, loader, valid_loader, ckpt_path=resume_path)
    seconds = time.perf_counter() - started

    best = checkpoints / "best.ckpt"
    if valid_loader is not None and best.is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        system.load_state_dict(state)
    stopped_by = "max_steps" if trainer.global_step >= config.max_steps else (
        "early_stopping" if trainer.should_stop and not _timed_out(trainer) else "max_minutes")
    best_score = trainer.checkpoint_callback.best_model_score
    result = FitResult(
        best_valid_loss=float(best_score) if best_score is not None and valid_loader is not None else None,
        steps=int(trainer.global_step), epochs=int(trainer.current_epoch), seconds=seconds,
        stopped_by=stopped_by, resumed_from_step=resumed_from)
    if not temporary:
        plot_losses(workdir / "logs", workdir / "loss.png")
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _keep_earlier_logs(logs: Path) -> None:
    """Lightning's CSVLogger overwrites metrics.csv: keep a resumed run's earlier part."""
    current = logs / "metrics.csv"
    if current.is_file():
        part = len(list(logs.glob("metrics-part*.csv"))) + 1
        os.replace(current, logs / f"metrics-part{part:03d}.csv")


def _timed_out(trainer) -> bool:
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    return bool(timer and timer.time_remaining() is not None and timer.time_remaining() <= 0)


def _checkpoint_step(path: Path) -> int | None:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # a damaged last.ckpt: Lightning will say so when it loads it
        return None


def _check_same_config(checkpoints: Path, config: TrainingConfig, system) -> None:
    """Refuse to resume a run made with other settings: it would silently mix two runs."""
    record = checkpoints / "config.json"
    current = getattr(system, "run_config", None) or asdict(config)
    # Budgets may change between the interrupted run and its resumption.
    current = {k: v for k, v in current.items() if k not in ("max_steps", "max_minutes", "patience",
                                                                "accelerator", "devices", "num_nodes",
                                                                "strategy")}
    if record.is_file() and (checkpoints / "last.ckpt").is_file():
        previous = json.loads(record.read_text())
        if previous != json.loads(json.dumps(current)):
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise CadenzaError(f"{checkpoints.parent}: holds a training run with other settings "
                               f"({', '.join(changed[:5])}); choose another --out or delete it")
    checkpoints.mkdir(parents=True, exist_ok=True)
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(current, indent=1, default=str))


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*predict_dataloader.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")


def plot_losses(logs: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """Loss curves from Lightning's metrics CSV files in ``logs`` (earlier parts of a resumed run first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {}
    logs = Path(logs)
    files = sorted(logs.glob("metrics-part*.csv")) + [logs / "metrics.csv"]
    rows = []
    for file in files:
        if file.is_file():
            with open(file, newline="") as handle:
                rows.extend(csv.DictReader(handle))
    for row in rows:
        step = row.get("step")
        for key in ("train_loss_step", "train_loss", "valid_loss"):
            value = row.get(key)
            if value not in (None, "") and step not in (None, ""):
                series.setdefault(key, []).append((float(step), float(value)))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, label in (("train_loss_step", "train"), ("train_loss", "train"), ("valid_loss", "valid")):
        if key in series and not (key == "train_loss" and "train_loss_step" in series):
            steps, values = zip(*series[key])
            ax.plot(steps, values, label=label, marker="o" if key == "valid_loss" else None, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats a token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path

