"""The engine's Lightning pieces: step counting, seeding, budgets, weight averaging,
atomic checkpoints and the data module. Imported only when training runs
(Lightning is slow to import)."""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cadenza.train.engine import LAST, PREVIOUS
from cadenza.train.system import System
from cadenza.utils import atomic_path


def steps_done(trainer, module) -> int:
    """Training steps (batches) done: a :class:`System` counts batches itself, because with
    several optimisers Lightning's ``global_step`` counts optimiser steps instead."""
    return module.step_count if isinstance(module, System) else int(trainer.global_step)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class StepSeed(Callback):
    """Reseed torch/numpy/random from (seed, step) before every batch, so dropout and noise
    repeat exactly after a resume, whatever else (a loader being made) drew from them."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        # Each DDP process draws its own (dropout on its own examples); process 0 as one alone.
        seed_everything(self.seed * 100_003 + steps_done(trainer, module) + 1_000_003 * trainer.global_rank)


class StepBudget(Callback):
    """Count a :class:`System`'s batches and stop a manually optimised one after ``max_steps``
    of them (Lightning's own ``max_steps`` counts optimiser steps there). A budget that ends
    an epoch stops after the epoch's validation and checkpoint, as Lightning's does."""

    def __init__(self, max_steps: int, steps_per_epoch: int):
        self.max_steps, self.steps_per_epoch = max_steps, steps_per_epoch
        self._stop_after_epoch = False

    def _counts(self, module) -> bool:
        return isinstance(module, System) and not module.automatic_optimization

    def on_train_start(self, trainer, module):
        if self._counts(module) and steps_done(trainer, module) >= self.max_steps:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if isinstance(module, System):
            module.batches_done += 1
        if self._counts(module) and steps_done(trainer, module) >= self.max_steps:
            if steps_done(trainer, module) % self.steps_per_epoch:
                trainer.should_stop = True
            else:
                self._stop_after_epoch = True

    def on_train_epoch_end(self, trainer, module):
        if self._stop_after_epoch:
            trainer.should_stop = True


class EMA(Callback):
    """An exponential moving average of ``module.model``'s floating-point weights
    (Polyak & Juditsky 1992): ``average <- decay * average + (1 - decay) * weights``
    after every batch. Validation runs with the average; checkpoints hold both."""

    def __init__(self, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.average: dict[str, torch.Tensor] | None = None
        self._raw: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer, module):
        state = module.model.state_dict()
        if self.average is None:
            self.average = {k: v.detach().clone() for k, v in state.items()}
        else:  # restored from a checkpoint, maybe on another device
            self.average = {k: v.to(state[k].device) for k, v in self.average.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        for key, value in module.model.state_dict().items():
            if value.is_floating_point():
                self.average[key].lerp_(value.detach(), 1 - self.decay)
            else:
                self.average[key].copy_(value)

    def on_validation_start(self, trainer, module):
        if self.average is not None:
            self._raw = copy.deepcopy(module.model.state_dict())
            module.model.load_state_dict(self.average)

    def on_validation_end(self, trainer, module):
        if self._raw is not None:
            module.model.load_state_dict(self._raw)
            self._raw = None

    def state_dict(self):
        return {"decay": self.decay, "average": self.average}

    def load_state_dict(self, state):
        self.average = state["average"]


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` at the end of every epoch, whether or not the monitored value improved
    (Lightning's ``save_last`` follows the best checkpoint only), so a resume starts from the
    newest epoch; a resumed run does not write it again for the step it resumed at (Lightning
    ends that epoch a second time), so a run that fails at once leaves it untouched."""

    def __init__(self, dirpath):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, enable_version_counter=False)
        self._resumed_at: int | None = None

    def on_train_start(self, trainer, module):
        self._resumed_at = steps_done(trainer, module) if trainer.ckpt_path else None

    def _should_skip_saving_checkpoint(self, trainer) -> bool:
        return super()._should_skip_saving_checkpoint(trainer) or (
            self._resumed_at is not None and steps_done(trainer, trainer.lightning_module) == self._resumed_at)


class Interruption(Callback):
    """Remember the step at which Ctrl-C stopped training. Lightning answers a
    KeyboardInterrupt by shutting down and calling ``sys.exit(1)``; the engine reads
    ``step`` to tell that exit from any other and to say where training stopped."""

    def __init__(self):
        self.step: int | None = None

    def on_exception(self, trainer, module, exception):
        if isinstance(exception, KeyboardInterrupt):
            self.step = steps_done(trainer, module)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint files appear whole or not at all, ``last.ckpt`` keeps its previous
    version as ``previous.ckpt`` (a resume falls back on it when the newest one is
    damaged), and every checkpoint is loaded with ``weights_only=True``: a checkpoint
    holds tensors and plain values, so loading one can never run code, whatever
    Lightning asks for or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says (torch lets that
    variable override only a call that leaves ``weights_only`` unset)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        with atomic_path(path) as tmp:
            # Through a Python file: a full disk then raises OSError(ENOSPC); torch's own
            # writer, given a path, turns it into a RuntimeError that says nothing of the disk.
            with open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
            if path.name == LAST and path.is_file():
                # Only once the new one is whole; a crash before the new one takes its place
                # leaves previous.ckpt alone, which a resume then starts from.
                os.replace(path, path.with_name(PREVIOUS))

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


class EpochSampler(torch.utils.data.Sampler):
    """``steps * batch`` indices an epoch for each of ``world`` processes: the epoch's order
    is fresh permutations seeded by (seed, epoch), ``steps * batch * world`` long, and
    process ``rank`` takes every ``world``-th index from ``rank``. So step k of the ``world``
    processes together sees the examples that step k of one process with a ``world`` times
    larger batch sees, and no example is seen twice in an epoch more often than the
    permutations repeat it.

    The epoch is read from the step count when an epoch begins, not from
    Lightning's epoch counter, which after a resume can run one ahead; so the
    order of epoch k never depends on an interruption.
    """

    def __init__(self, size: int, steps: int, batch_size: int, seed: int, steps_done, rank: int = 0,
                 world: int = 1):
        self.size, self.steps, self.count, self.seed = size, steps, steps * batch_size, seed
        self.rank, self.world = rank, world
        self.steps_done = steps_done  # a callable, read when an epoch's iterator is made

    def __iter__(self):
        epoch = self.steps_done() // self.steps
        rng = np.random.default_rng([self.seed, epoch])
        chunks, total = [], 0
        while total < self.count * self.world:
            chunks.append(rng.permutation(self.size))
            total += self.size
        return iter(np.concatenate(chunks)[: self.count * self.world][self.rank::self.world].tolist())

    def __len__(self) -> int:
        return self.count


class DataModule(L.LightningDataModule):
    """Training and validation sets behind loaders: seeded epochs of ``steps_per_epoch``
    batches, ``workers`` loader processes (the order of examples is decided in the
    training process, so it does not depend on them)."""

    def __init__(self, train_set, valid_set, batch_size: int, steps_per_epoch: int, seed: int,
                 collate_fn=None, workers: int = 0):
        super().__init__()
        self.train_set, self.valid_set = train_set, valid_set
        self.batch_size, self.steps_per_epoch, self.seed = batch_size, steps_per_epoch, seed
        self.collate_fn, self.workers = collate_fn, workers

    def _loader(self, dataset, **kwargs):
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, collate_fn=self.collate_fn,
                                           num_workers=self.workers, persistent_workers=self.workers > 0,
                                           **kwargs)

    def train_dataloader(self):
        trainer, module = self.trainer, self.trainer.lightning_module
        sampler = EpochSampler(len(self.train_set), self.steps_per_epoch, self.batch_size, self.seed,
                               lambda: steps_done(trainer, module), trainer.global_rank, trainer.world_size)
        return self._loader(self.train_set, sampler=sampler)

    def val_dataloader(self):
        if self.valid_set is None or len(self.valid_set) == 0:
            return []
        return self._loader(self.valid_set, shuffle=False)
