"""Fit a LightningModule: presets, time budget, early stopping, exact resume.

What the engine guarantees, whatever the model:

- **Resume.** Checkpoints are written atomically to ``WORKDIR/checkpoints/``
  at the end of every epoch (an epoch is a fixed number of steps, so the
  last checkpoint is never far). Running the same fit again with the same
  ``WORKDIR`` continues from ``last.ckpt``. The data order of an epoch is
  seeded by ``(seed, epoch)`` and every random draw of a step by ``(seed,
  step)``, so a run killed and
  resumed ends with the same weights as one that never stopped.
- **Damage.** ``last.ckpt`` keeps its previous version as ``previous.ckpt``. A
  checkpoint that is truncated, empty, foreign or holds anything but weights
  (checkpoints load with ``weights_only=True``, always) is set aside as
  ``NAME.damaged`` with a one-line warning, and training resumes from the
  newest good one (``previous.ckpt`` or ``best.ckpt``); with none, one
  :class:`CadenzaError` says which file is damaged. ``resume=False`` (the CLI's
  ``--restart``) starts afresh: :func:`start_afresh`.
- **Ctrl-C.** Training stops with :class:`TrainingInterrupted` (a
  ``KeyboardInterrupt``) naming the step and the checkpoint a resume starts from.
- **A full disk.** A failed write leaves no half-written file and ends in an
  ``OSError`` naming the file, however deep in Lightning it happened.
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
  ``num_nodes``, ``strategy``, ``precision``) go to ``lightning.Trainer``,
  checked first against this machine (:func:`check_trainer_options`): DDP,
  multi-node and bf16 are Lightning's. They say how a model is trained, not
  what it is, so they are not part of a model's config or its run.
- **Several processes (DDP).** ``batch_size`` is a process's batch: with
  ``W`` processes a step sees ``W * batch_size`` examples, the first ``W *
  batch_size`` of the epoch's seeded order, process ``r`` taking every
  ``W``-th from ``r`` (:class:`~cadenza.train.callbacks.EpochSampler`), so a
  run on ``W`` processes follows one process with a ``W`` times larger batch.
  Lightning re-runs the command for each process; only the first writes
  (checkpoints, logs, the loss plot, the saved model: :func:`primary_process`
  tells which one it is). Every process validates on the whole valid set, so
  the monitored value is the same everywhere without synchronising it.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import json
import logging
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from cadenza.config import SEED, option
from cadenza.errors import CadenzaError
from cadenza.utils import atomic_path

log = logging.getLogger("cadenza.train")

# torch and Lightning are imported where training uses them: the options below are read by
# `cadenza train MODEL --help`, which should not wait for either.

# The checkpoints a run keeps: the newest, the one before it, the best by the monitored value.
LAST, PREVIOUS, BEST = "last.ckpt", "previous.ckpt", "best.ckpt"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`fit_system`. Still a ``KeyboardInterrupt`` (whoever catches
    that keeps working), and it says at which ``step`` training stopped and which
    ``checkpoint`` (at ``checkpoint_step``) fitting again resumes from: None when no
    checkpoint was written yet, or the run had no working directory to keep it in."""

    def __init__(self, step: int, checkpoint: Path | None, checkpoint_step: int | None):
        self.step, self.checkpoint, self.checkpoint_step = step, checkpoint, checkpoint_step
        if checkpoint is None:
            text = f"interrupted at step {step}, before any checkpoint was kept"
        else:
            text = f"interrupted at step {step}; kept {checkpoint} (step {checkpoint_step})"
        super().__init__(text)


class _Damaged(Exception):
    """A checkpoint file that cannot be resumed from; the message says why."""


@dataclass
class TrainingConfig:
    """The training recipe's settings, shared by every neural model (mixed into its Config,
    saved with the run: they are part of how its weights came to be)."""

    max_steps: int = option(2000, "Stop after this many training steps (batches).", min=1, max=10_000_000)
    steps_per_epoch: int = option(100, "Steps between validation and checkpoints.", min=1, max=1_000_000)
    patience: int = option(5, "Stop when the valid loss has not improved for this many epochs (0: never).",
                           min=0, max=10_000)
    batch_size: int = option(32, "Examples a batch.", min=1, max=65_536)
    learning_rate: float = option(1e-3, "Peak learning rate (AdamW).", above=0, max=10)
    weight_decay: float = option(0.01, "AdamW weight decay.", min=0, max=1)
    seed: int = option(0, "Seed of initialisation, data order and dropout.", min=SEED.min, max=SEED.max)

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
    num_nodes: int = option(1, "Machines to train on (Lightning num_nodes).", min=1, max=10_000)
    strategy: str = option("auto", "Lightning strategy: auto, ddp, fsdp, ...")
    precision: str = option("32-true", "Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    max_minutes: float | None = option(None, "Stop after this many minutes of training (a time budget).",
                                       above=0, max=525_600)
    workers: int = option(0, "Data loader worker processes (0: load in the training process).", min=0, max=256)

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


def primary_process() -> bool:
    """Whether this process is the one that writes: true unless a launcher started it as
    another rank (torchrun's ``RANK``, SLURM's ``SLURM_PROCID``, or the ``NODE_RANK`` and
    ``LOCAL_RANK`` that Lightning gives the copies of the command it starts for DDP)."""
    for name in ("RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").strip():
            return os.environ[name].strip() == "0"
    return all(os.environ.get(name, "0").strip() in ("", "0") for name in ("NODE_RANK", "LOCAL_RANK"))


# The precisions check_trainer_options lets through to Lightning.
PRECISIONS = ("32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true")


def check_trainer_options(options: TrainerOptions | dict | None) -> TrainerOptions:
    """The options, or one :class:`CadenzaError` saying what this machine lacks: an accelerator
    it does not have, more devices than it has, a strategy or precision Lightning does not
    know, several nodes without a launcher that joins them. Called before any data is loaded."""
    import torch
    from lightning.pytorch.strategies import StrategyRegistry

    options = TrainerOptions.of(options)
    accelerator = options.accelerator.strip().lower()
    known = {"cpu", "gpu", "cuda", "mps", "auto", "tpu"}
    if accelerator not in known:
        raise CadenzaError(f"unknown accelerator {options.accelerator!r}: choose one of cpu, gpu, mps, auto")
    has = {"cpu": os.cpu_count() or 1, "gpu": torch.cuda.device_count(), "cuda": torch.cuda.device_count(),
           "mps": int(torch.backends.mps.is_available()), "tpu": 0}
    if accelerator in ("gpu", "cuda", "mps", "tpu") and has[accelerator] == 0:
        raise CadenzaError(f"accelerator {accelerator}: this machine has none (torch sees no "
                           f"{'CUDA GPU' if accelerator in ('gpu', 'cuda') else accelerator.upper()}); "
                           "use --accelerator cpu")
    try:
        devices = _devices(options.devices)
    except ValueError:
        raise CadenzaError(f"devices must be a count, a list like 0,1, or auto, got {options.devices!r}") from None
    if devices != "auto":
        wanted = len(devices) if isinstance(devices, list) else devices
        if wanted < 1:
            raise CadenzaError(f"devices must be at least 1, got {options.devices!r}")
        available = has.get(accelerator, 0)
        # a list names GPUs by index; CPU processes have no index
        missing = isinstance(devices, list) and accelerator != "cpu" and max(devices) >= available
        if accelerator != "auto" and (wanted > available or missing):
            raise CadenzaError(f"devices {options.devices}: this machine has {available} "
                               f"{'CPU cores' if accelerator == 'cpu' else accelerator.upper() + ' device(s)'}")
    strategy = options.strategy.strip()
    if strategy != "auto" and strategy not in StrategyRegistry.available_strategies():
        shown = ", ".join(s for s in ("auto", "ddp", "ddp_spawn", "fsdp", "deepspeed") if s == "auto" or
                          s in StrategyRegistry.available_strategies())
        raise CadenzaError(f"unknown strategy {options.strategy!r}: Lightning knows {shown}, ...")
    if options.precision not in PRECISIONS:
        raise CadenzaError(f"unknown precision {options.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if options.precision == "16-mixed" and accelerator == "cpu":  # Lightning would quietly use bf16
        raise CadenzaError(f"precision {options.precision} needs a GPU; on a CPU use bf16-mixed")
    if options.num_nodes > 1 and not (os.environ.get("MASTER_ADDR") or os.environ.get("SLURM_JOB_ID") or
                                      os.environ.get("TORCHELASTIC_RUN_ID")):
        raise CadenzaError(f"--num-nodes {options.num_nodes} needs a launcher that joins the machines: set "
                           "MASTER_ADDR, MASTER_PORT and NODE_RANK on each, or run under torchrun or SLURM "
                           "(docs/cloud.md)")
    return options


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

    ``workdir`` keeps checkpoints and logs; fitting again with it resumes from its
    newest good checkpoint, or, with ``resume=False``, starts afresh (see
    :func:`start_afresh`). Ctrl-C raises :class:`TrainingInterrupted`.
    """
    config.validate_training()
    options = check_trainer_options(trainer)
    if len(train_set) == 0:
        raise CadenzaError("no training examples: the corpus is too small for this model's context")
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="cadenza-train-")) if temporary else Path(workdir)
    try:
        return _fit(system, train_set, valid_set, config, workdir, collate_fn, progress, resume, options,
                    temporary)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def _fit(system, train_set, valid_set, config: TrainingConfig, workdir: Path, collate_fn, progress: bool,
         resume: bool, options: TrainerOptions, temporary: bool) -> FitResult:
    """:func:`fit_system` in ``workdir``, which the caller removes afterwards when ``temporary``."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from cadenza.train import callbacks as cb

    checkpoints = workdir / "checkpoints"
    # Under DDP every process runs this; the other processes start once the first is inside
    # Lightning's fit, after its changes to the run folder, and change nothing themselves.
    primary = primary_process()
    if not resume and primary:
        start_afresh(workdir)
    _check_same_config(checkpoints, config, system, write=primary)
    resume_path, resumed_from = _resume_point(checkpoints, system, set_aside=primary)

    if primary:
        _keep_earlier_logs(workdir / "logs")
    cb.seed_everything(config.seed)
    has_valid = valid_set is not None and len(valid_set) > 0
    _quiet_lightning()
    automatic = getattr(system, "automatic_optimization", True)
    clip = getattr(system, "gradient_clip", None)
    interruption = cb.Interruption()
    lightning_trainer = L.Trainer(
        # A System counts its own steps (StepBudget stops it); Lightning's count agrees
        # with it only under automatic optimisation.
        max_steps=config.max_steps if automatic else -1,
        max_epochs=-1,
        max_time=datetime.timedelta(minutes=options.max_minutes) if options.max_minutes else None,
        accelerator=options.accelerator, devices=_devices(options.devices), num_nodes=options.num_nodes,
        strategy=options.strategy, precision=options.precision,
        gradient_clip_val=clip if automatic and clip else None,
        callbacks=[*_callbacks(config, system, checkpoints, has_valid), interruption],
        logger=CSVLogger(workdir, name="", version="logs"),
        plugins=[cb.AtomicCheckpointIO()],
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=10,
        num_sanity_val_steps=0, deterministic=False, limit_val_batches=None if has_valid else 0,
        use_distributed_sampler=False,  # EpochSampler shards the epoch's order itself
    )
    data = cb.DataModule(train_set, valid_set if has_valid else None, config.batch_size, config.steps_per_epoch,
                         config.seed, collate_fn, options.workers)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(), _sigint_kept():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists.*")
            warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
            warnings.filterwarnings("ignore", message=".*val_dataloader.*")
            warnings.filterwarnings("ignore", message=".*dirpath has changed.*")  # a run folder moved
            # weights_only=True: a checkpoint cannot run code (AtomicCheckpointIO insists too)
            lightning_trainer.fit(system, datamodule=data, ckpt_path=resume_path, weights_only=True)
    except (SystemExit, KeyboardInterrupt):
        # Lightning answers Ctrl-C by shutting down and calling sys.exit(1); the Interruption
        # callback tells that exit from any other.
        if interruption.step is None:
            raise
        kept = None if temporary else _newest_good(checkpoints, system)
        raise TrainingInterrupted(interruption.step, *(kept or (None, None))) from None
    except Exception as exc:
        full = _disk_full(exc)
        if full is None or (full is exc and full.filename):
            raise
        # unwrapped, and naming at least the run when the failed write did not say what it wrote
        raise OSError(full.errno, full.strerror or os.strerror(full.errno),
                      full.filename or str(workdir)) from exc
    seconds = _training_seconds(lightning_trainer, time.perf_counter() - started)

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
    if not temporary and primary:
        plot_losses(workdir / "logs", workdir / "loss.png", phases=_phases(system))
    return result


def start_afresh(workdir: str | os.PathLike) -> list[Path]:
    """Forget a run's training so that the next fit in ``workdir`` starts at step 0:
    remove its checkpoints (and the settings recorded with them), and move the earlier
    metrics logs into ``logs/before-restart-N/`` so that the new loss curve starts
    clean. Everything else in ``workdir`` (the saved model, samples, plots) stays.
    Returns the checkpoint files removed."""
    workdir = Path(workdir)
    checkpoints, logs = workdir / "checkpoints", workdir / "logs"
    removed = []
    if checkpoints.is_dir():
        for pattern in ("*.ckpt", "*.ckpt.damaged", "config.json", ".*.tmp"):
            for path in sorted(checkpoints.glob(pattern)):
                if path.is_file():
                    path.unlink()
                    removed.append(path)
    earlier = sorted(logs.glob("metrics*.csv")) if logs.is_dir() else []
    if earlier:
        number = 1 + len(list(logs.glob("before-restart-*")))
        keep = logs / f"before-restart-{number}"
        keep.mkdir()
        for path in earlier:
            os.replace(path, keep / path.name)
    return removed


def _restore(system, checkpoint: Path | None) -> None:
    """Load the best checkpoint's weights (None: keep the last), then the weight average
    where the system keeps one: what a model ships is the averaged best."""
    import torch

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


def _training_seconds(trainer, this_sitting: float) -> float:
    """Seconds of training over every sitting: a time budget's timer is checkpointed and restored on
    resume, so it holds the earlier sittings' time too (without one, this sitting's)."""
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    return max(this_sitting, timer.time_elapsed("train")) if timer is not None else this_sitting


def _timed_out(trainer) -> bool:
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    return bool(timer and timer.time_remaining() is not None and timer.time_remaining() <= 0)


def _resume_point(checkpoints: Path, system, set_aside: bool = True) -> tuple[Path | None, int | None]:
    """The checkpoint to resume from and its step: the newest good one of ``last.ckpt``,
    ``previous.ckpt`` and ``best.ckpt`` ((None, None) when there is none at all). Damaged
    ones are set aside (``set_aside``) as ``NAME.damaged`` with a one-line warning when a
    good one is left; when none is, a CadenzaError names the damaged file."""
    good, damaged = _checkpoints(checkpoints, system)
    if not good and damaged:
        path, reason = damaged[0]
        raise CadenzaError(f"{path}: damaged training checkpoint ({reason}); start afresh with "
                           "--restart (restart=True in Python), which keeps the run's other files")
    if not good:
        return None, None
    path, step = good[0]
    for bad, reason in damaged if set_aside else []:
        os.replace(bad, bad.with_name(bad.name + ".damaged"))
        log.warning("%s: damaged checkpoint (%s), set aside as %s.damaged; resuming from %s (step %d)",
                    bad, reason, bad.name, path.name, step)
    return path, step


def _newest_good(checkpoints: Path, system) -> tuple[Path, int] | None:
    good, _ = _checkpoints(checkpoints, system)
    return good[0] if good else None


def _checkpoints(checkpoints: Path, system) -> tuple[list[tuple[Path, int]], list[tuple[Path, str]]]:
    """``(good, damaged)``: the good checkpoints as (path, step), newest first (``last`` before
    ``previous`` before ``best`` at the same step), and the damaged ones as (path, reason)."""
    good, damaged = [], []
    for name in (LAST, PREVIOUS, BEST):
        path = checkpoints / name
        if not path.is_file():
            continue
        try:
            good.append((path, _checkpoint_step(path, system)))
        except _Damaged as exc:
            damaged.append((path, str(exc)))
    good.sort(key=lambda item: -item[1])  # stable: keeps the order of names at the same step
    return good, damaged


def _checkpoint_step(path: Path, system) -> int:
    """The step a training checkpoint of ``system`` was saved at, or :class:`_Damaged`.

    Read the way every checkpoint is (``weights_only=True``, never unpickling code) and
    memory-mapped, so that checking is cheap however large the weights. An error reading
    the disk (permissions, I/O) is an OSError, not damage, and passes through."""
    import torch

    if path.stat().st_size == 0:
        raise _Damaged("empty file")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its index is at the end
        raise _Damaged("truncated, or not a PyTorch checkpoint")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except OSError:
        raise
    except pickle.UnpicklingError:
        raise _Damaged("holds Python objects other than weights, refused because loading them could "
                       "run code") from None
    except Exception as exc:  # torch says RuntimeError, KeyError, ... for archives it cannot read
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:80]
        raise _Damaged(f"not a PyTorch checkpoint: {first}") from None
    if not isinstance(saved, dict) or not {"state_dict", "global_step", "loops"} <= set(saved):
        raise _Damaged("not a training checkpoint (no state_dict, global_step and loops)")
    weights, expected = saved["state_dict"], system.state_dict()
    if not isinstance(weights, dict) or set(weights) != set(expected) or any(
            getattr(weights[k], "shape", None) != expected[k].shape for k in expected):
        raise _Damaged("holds the weights of another model")
    if not isinstance(saved["global_step"], int):
        raise _Damaged("not a training checkpoint (its step is not a number)")
    # A System counts batches itself (with several optimisers global_step counts their steps).
    return int(weights["batches_done"]) if "batches_done" in expected else saved["global_step"]


def _disk_full(exc: BaseException) -> OSError | None:
    """The "no space left" (or over quota) OSError behind ``exc``, following the chain of
    causes, where Lightning or torch wrapped it; None when there is none."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def _sigint_kept():
    """Lightning ignores SIGINT from the first Ctrl-C on (so a second one cannot break its
    shutdown) and never puts the handler back: put it back, so Ctrl-C works after training."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals or may set handlers
        return
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def _field_default(f):
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def _check_same_config(checkpoints: Path, config: TrainingConfig, system, write: bool = True) -> None:
    """Refuse to resume a run made with other settings: it would silently mix two runs.
    Then record the settings (``write``)."""
    record = checkpoints / "config.json"
    current = getattr(system, "run_config", None) or asdict(config)
    # Budgets may change between the interrupted run and its resumption.
    current = {k: v for k, v in current.items() if k not in ("max_steps", "max_minutes", "patience",
                                                                "accelerator", "devices", "num_nodes",
                                                                "strategy")}
    if record.is_file() and any((checkpoints / name).is_file() for name in (LAST, PREVIOUS, BEST)):
        try:
            previous = json.loads(record.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict):
            raise CadenzaError(f"{record}: damaged (not the JSON record of a run's settings), so the run "
                               "cannot be checked before resuming; restart training with --restart")
        # an option added to the model since the run was recorded counts as its default
        added = {f.name: _field_default(f) for f in fields(config) if f.name in current and f.name not in previous}
        previous = {**json.loads(json.dumps(added)), **previous}
        if previous != json.loads(json.dumps(current)):
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise CadenzaError(f"{checkpoints.parent}: holds a training run with other settings "
                               f"({', '.join(changed[:5])}); choose another --out, or --restart to train "
                               "afresh there")
    if write:
        checkpoints.mkdir(parents=True, exist_ok=True)
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(current, indent=1, default=str))


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*predict_dataloader.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")
    # an epoch shorter than the logging interval is fine: epoch means are logged anyway
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


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

