"""The base of every training recipe (a Lightning "system"): what it trains, what it
watches, how it steps its optimisers.

A model is a plain ``nn.Module``; its recipe is a ``System`` around it (Lightning's
style guide): the losses, the optimisers, the phases. The engine
(:func:`cadenza.train.engine.fit_system`) runs any system the same way, with
budgets, checkpoints and exact resume, and needs to know only what the class
declares:

- ``model``: the module kept for inference once training ends;
- ``monitor``: the logged value that picks the best checkpoint and drives early
  stopping (``None``: keep the last weights, no early stopping);
- ``ema_decay``: keep an exponential moving average of ``model``'s weights,
  validate and ship the average (``None``: off);
- ``phases``: named stages by training step, e.g. RAVE's representation phase
  then its adversarial phase; ``self.phase`` says which one a step is in, and
  the loss plot marks the switches;
- several optimisers: ``configure_optimizers`` returns a list and
  ``automatic_optimization = False``; ``training_step`` calls :meth:`step` for
  each update (a GAN's discriminator steps, then its generator's every
  ``n``-th batch).

One training step is one batch, however many optimisers step in it: the engine
counts batches in ``batches_done`` (a buffer, so it is checkpointed; the engine's
step budget adds one after each batch), and
``max_steps``, epochs, seeding and resume all count in batches.

This module imports Lightning, which is slow to import; model modules import
their systems (``*_system.py``) only when they train.
"""

from __future__ import annotations

from typing import ClassVar

import lightning as L
import torch
from torch import nn


class System(L.LightningModule):
    """Base recipe: AdamW on ``model`` with the config's learning rate and weight decay;
    subclasses write ``training_step`` and ``validation_step`` (logging ``train_loss``
    and ``valid_loss``, or whatever ``monitor`` names)."""

    monitor: ClassVar[str | None] = "valid_loss"
    monitor_mode: ClassVar[str] = "min"
    phases: ClassVar[tuple[tuple[str, int], ...]] = ()  # (name, first step), in step order

    def __init__(self, model: nn.Module, config, ema_decay: float | None = None,
                 gradient_clip: float | None = None):
        super().__init__()
        self.model = model
        self.config = config
        self.ema_decay = ema_decay
        self.gradient_clip = gradient_clip
        self.register_buffer("batches_done", torch.zeros((), dtype=torch.long))

    # --- what the engine reads ----------------------------------------------------------

    @property
    def step_count(self) -> int:
        return int(self.batches_done.item())

    @property
    def phase(self) -> str | None:
        """The phase of the current step (None when the recipe has one stage)."""
        current = None
        for name, start in self.phase_schedule():
            if self.step_count >= start:
                current = name
        return current

    def phase_schedule(self) -> tuple[tuple[str, int], ...]:
        """``phases``, or a schedule read from the config (override for that)."""
        return self.phases

    def on_train_batch_start(self, batch, batch_idx) -> None:
        schedule = self.phase_schedule()
        if schedule:
            names = [name for name, _ in schedule]
            self.log("phase", float(names.index(self.phase)), on_step=True, on_epoch=False)

    def log(self, name, value, **kwargs) -> None:
        """Lightning's ``log``; under DDP the value is averaged over the processes (the first
        one writes the logs, and its examples are only its share of the step's)."""
        if self._trainer is not None and self.trainer.world_size > 1:
            kwargs.setdefault("sync_dist", True)
        super().log(name, value, **kwargs)

    def mean_over_processes(self, total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        """``total / count``, with ``count`` the items (tokens, frames) of the whole step: under
        DDP each process holds its share of them, so its ``count`` is replaced by the mean over
        the processes. DDP averages the processes' gradients, so the step's gradient is then the
        gradient of the mean over all its items, however unevenly they fell between processes."""
        if self._trainer is not None and self.trainer.world_size > 1:
            count = self.all_gather(count.detach()).sum() / self.trainer.world_size
        return total / count

    # --- optimisation -------------------------------------------------------------------

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate,
                                 weight_decay=self.config.weight_decay)

    def adversarial_step(self, discriminator: nn.Module, optimizer, real: torch.Tensor, fake: torch.Tensor):
        """One hinge-loss step of ``discriminator`` (real against ``fake``, detached), then the
        generator's losses against the updated discriminator: its hinge loss and feature matching
        (MelGAN, EnCodec, RAVE, the codec). Returns ``(discriminator loss, adversarial loss,
        feature-matching loss)``; the generator's losses keep their graph through ``fake``."""
        from cadenza.nn.losses import feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss

        real_logits, _ = discriminator(real)
        fake_logits, _ = discriminator(fake.detach())
        d_loss = hinge_discriminator_loss(real_logits, fake_logits)
        self.step(optimizer, d_loss)
        fake_logits, fake_features = discriminator(fake)
        with torch.no_grad():
            _, real_features = discriminator(real)
        return d_loss, hinge_generator_loss(fake_logits), feature_matching_loss(real_features, fake_features)

    def step(self, optimizer, loss: torch.Tensor) -> None:
        """One manual update of ``optimizer`` from ``loss`` (with this system's clipping)."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.gradient_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip, gradient_clip_algorithm="norm")
        optimizer.step()
