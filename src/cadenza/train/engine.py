"""Fit a LightningModule: presets, time budget, early stopping, exact resume.

What the engine guarantees, whatever the model:

- **Resume.** Checkpoints are written atomically to ``WORKDIR/checkpoints/``
  at the end of every epoch (an epoch is a fixed number of steps, so the
  last checkpoint is never far). Running the same fit again with the same
  ``WORKDIR`` continues from ``last.ckpt``. The data order of an epoch is
  seeded by ``(seed, epoch)`` and every random draw of a step by ``(seed,
  step)``, so a run killed and
  resumed ends with the same weights as one that never stopped.
- **Budget.** ``max_steps`` (batches), ``max_minutes`` and early stopping on
  the system's ``monitor`` (``patience`` epochs without improvement); the best
  weights by that value are the ones returned (the last ones when the system
  monitors nothing). A system with several optimisers (a GAN) counts one step a
  batch, however many optimisers step in it.
- **Averaged weights.** A system with ``ema_decay`` keeps an exponential moving
  average of its ``model``'s weights, validates with it, checkpoints it (so a
  resume is exact) and ends with it.
- **Logs.** ``WORKDIR/logs/metrics.csv`` (Lightning's CSVLogger) and
  ``WORKDIR/loss.png`` (with the system's phase switches marked).
- **Scale.** :class:`TrainerOptions` (``accelerator``, ``devices``,
  ``num_nodes``, ``strategy``, ``precision``) go to ``lightning.Trainer``
  unchanged: DDP, multi-node and bf16 are Lightning's. They say how a model is
  trained, not what it is, so they are not part of a model's config or its run.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from cadenza.config import option
from cadenza.errors import CadenzaError
from cadenza.utils import atomic_path


@dataclass
class TrainingConfig:
    """The training recipe's settings, shared by every neural model (mixed into its Config,
    saved with the run: they are part of how its weights came to be)."""

    max_steps: int = option(2000, "Stop after this many training steps (batches).")
    steps_per_epoch: int = option(100, "Steps between validation and checkpoints.")
    patience: int = option(5, "Stop when the valid loss has not improved for this many epochs (0: never).")
    batch_size: int = option(32, "Examples a batch.")
    learning_rate: float = option(1e-3, "Peak learning rate (AdamW).")
    weight_decay: float = option(0.01, "AdamW weight decay.")
    seed: int = option(0, "Seed of initialisation, data order and dropout.")

    def validate_training(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.steps_per_epoch < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("steps_per_epoch and batch_size must be at least 1, patience at least 0")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    def training_fields(self) -> dict:
        names = TrainingConfig.__dataclass_fields__
        return {k: v for k, v in asdict(self).items() if k in names}


@dataclass
class TrainerOptions:
    """How and where to train: passed to ``fit`` (``cadenza train --accelerator gpu ...``),
    never saved with a model."""

    accelerator: str = option("cpu", "Lightning accelerator: cpu, gpu, mps, auto.")
    devices: str = option("1", "Lightning devices: a count, a list like 0,1, or auto.")
    num_nodes: int = option(1, "Machines to train on (Lightning num_nodes).")
    strategy: str = option("auto", "Lightning strategy: auto, ddp, fsdp, ...")
    precision: str = option("32-true", "Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    max_minutes: float | None = option(None, "Stop after this many minutes of training (a time budget).")
    workers: int = option(0, "Data loader worker processes (0: load in the training process).")

    def __post_init__(self):
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.num_nodes < 1 or self.workers < 0:
            raise ValueError("num_nodes must be at least 1 and workers at least 0")

    @classmethod
    def of(cls, value) -> TrainerOptions:
        """``value`` as options: None (the defaults), a dict of options, or options."""
        from cadenza.config import build_dataclass

        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return build_dataclass(cls, dict(value), "trainer option")


@dataclass
class FitResult:
    best_valid_loss: float | None
    steps: int
    epochs: int
    seconds: float
    stopped_by: str  # "max_steps", "early_stopping", "max_minutes"
    resumed_from_step: int | None


def _callbacks(config: TrainingConfig, system, checkpoints: Path, has_valid: bool):
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from cadenza.train import callbacks as cb

    monitor = getattr(system, "monitor", "valid_loss")
    mode = getattr(system, "monitor_mode", "min")
    if monitor == "valid_loss" and not has_valid:
        monitor = "train_loss_epoch"
    callbacks = [cb.StepSeed(config.seed), cb.StepBudget(config.max_steps, config.steps_per_epoch)]
    if monitor:
        callbacks.append(ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor, mode=mode,
                                         save_top_k=1, enable_version_counter=False))
    callbacks.append(cb.LastCheckpoint(checkpoints))
    if getattr(system, "ema_decay", None):
        callbacks.append(cb.EMA(system.ema_decay))
    if has_valid and monitor and monitor != "train_loss_epoch" and config.patience > 0:
        # checked after validation only: a run resumed from an end-of-epoch checkpoint ends that
        # epoch again without validating, and a check there finds no valid_loss
        callbacks.append(EarlyStopping(monitor=monitor, patience=config.patience, mode=mode,
                                       check_on_train_epoch_end=False))
    return callbacks


def _devices(value: str):
    value = str(value).strip()
    if value == "auto":
        return "auto"
    if "," in value:
        return [int(v) for v in value.split(",") if v.strip()]
    return int(value)


def fit_system(system, train_set, valid_set, config: TrainingConfig, workdir: str | os.PathLike | None = None,
               collate_fn=None, progress: bool = True, resume: bool = True,
               trainer: TrainerOptions | dict | None = None) -> FitResult:
    """Train ``system`` (a LightningModule, usually a :class:`cadenza.train.system.System`)
    on ``train_set``, validating on ``valid_set``; ``trainer`` says where and how
    (:class:`TrainerOptions`).

    ``system.training_step`` logs ``train_loss`` (on_epoch) and ``validation_step``
    the value the system monitors (``valid_loss`` unless it says otherwise). On
    return the system holds the best weights by that value (the last ones when it
    monitors nothing or there is no valid set), averaged where it keeps an average.
    """
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from cadenza.train import callbacks as cb

    config.validate_training()
    options = TrainerOptions.of(trainer)
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
    cb.seed_everything(config.seed)
    has_valid = valid_set is not None and len(valid_set) > 0
    _quiet_lightning()
    automatic = getattr(system, "automatic_optimization", True)
    clip = getattr(system, "gradient_clip", None)
    lightning_trainer = L.Trainer(
        # A System counts its own steps (StepBudget stops it); Lightning's count agrees
        # with it only under automatic optimisation.
        max_steps=config.max_steps if automatic else -1,
        max_epochs=-1,
        max_time=datetime.timedelta(minutes=options.max_minutes) if options.max_minutes else None,
        accelerator=options.accelerator, devices=_devices(options.devices), num_nodes=options.num_nodes,
        strategy=options.strategy, precision=options.precision,
        gradient_clip_val=clip if automatic and clip else None,
        callbacks=_callbacks(config, system, checkpoints, has_valid),
        logger=CSVLogger(workdir, name="", version="logs"),
        plugins=[cb.AtomicCheckpointIO()],
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=10,
        num_sanity_val_steps=0, deterministic=False, limit_val_batches=None if has_valid else 0,
    )
    data = cb.DataModule(train_set, valid_set if has_valid else None, config.batch_size, config.steps_per_epoch,
                         config.seed, collate_fn, options.workers)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists.*")
        warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
        warnings.filterwarnings("ignore", message=".*val_dataloader.*")
        lightning_trainer.fit(system, datamodule=data, ckpt_path=resume_path)
    seconds = time.perf_counter() - started

    checkpoint = checkpoints / "best.ckpt"
    if not (has_valid and checkpoint.is_file()):
        checkpoint = None
    _restore(system, checkpoint)
    steps = cb.steps_done(lightning_trainer, system)
    stopped_by = "max_steps" if steps >= config.max_steps else (
        "early_stopping" if lightning_trainer.should_stop and not _timed_out(lightning_trainer) else "max_minutes")
    best_score = lightning_trainer.checkpoint_callback.best_model_score if has_valid else None
    result = FitResult(
        best_valid_loss=float(best_score) if best_score is not None and has_valid else None,
        steps=steps, epochs=int(lightning_trainer.current_epoch), seconds=seconds,
        stopped_by=stopped_by, resumed_from_step=resumed_from)
    if not temporary:
        plot_losses(workdir / "logs", workdir / "loss.png", phases=_phases(system))
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _restore(system, checkpoint: Path | None) -> None:
    """Load the best checkpoint's weights (None: keep the last), then the weight average
    where the system keeps one: what a model ships is the averaged best."""
    from cadenza.train import callbacks as cb

    average = None
    if checkpoint is not None:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        system.load_state_dict(saved["state_dict"])
        average = next((s["average"] for k, s in saved.get("callbacks", {}).items() if k.startswith("EMA")), None)
    elif getattr(system, "ema_decay", None) and system.trainer is not None:
        average = next((c.average for c in system.trainer.callbacks if isinstance(c, cb.EMA)), None)
    if average is not None:
        system.model.load_state_dict({k: v.to("cpu") for k, v in average.items()})


def _phases(system) -> list[tuple[str, int]]:
    schedule = getattr(system, "phase_schedule", None)
    return list(schedule()) if schedule else []


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


def read_metrics(logs: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of Lightning's metrics CSV files in ``logs``: the earlier parts of a resumed
    run first, then the current one (a file being written may end mid-row)."""
    logs = Path(logs)
    rows = []
    for file in sorted(logs.glob("metrics-part*.csv")) + [logs / "metrics.csv"]:
        try:
            with open(file, newline="", encoding="utf-8") as handle:
                rows.extend(csv.DictReader(handle))
        except OSError:
            continue
    return rows


def last_step(logs: str | os.PathLike) -> int:
    """The newest training step logged in ``logs`` (0 before the first)."""
    steps = [row.get("step") or "" for row in read_metrics(logs)]
    return max((int(float(s)) for s in steps if s.strip().replace(".", "", 1).isdigit()), default=0)


def plot_losses(logs: str | os.PathLike, path: str | os.PathLike,
                phases: list[tuple[str, int]] | None = None) -> Path | None:
    """Loss curves from Lightning's metrics CSV files in ``logs`` (earlier parts of a resumed
    run first), with a dashed line where each of ``phases`` ``(name, first step)`` begins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {}
    for row in read_metrics(logs):
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
    for name, start in phases or []:
        if start > 0:
            ax.axvline(start, color="grey", linestyle="--", linewidth=1)
            ax.annotate(name, (start, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path

