"""The polyphonic frame model's training recipe: maximum likelihood of every frame, Polyak
averaging of the weights, a learning rate halved on plateaus, clipped gradients
(the model and its references are in :mod:`cadenza.models.symbolic.polyphonic`)."""

from __future__ import annotations

import copy

import torch

from cadenza.train.system import System


class PolyphonicSystem(System):
    """``model`` takes the optimiser's steps; ``average`` (Polyak & Juditsky 1992), where
    the config asks for it, is what is validated, checkpointed as best and kept."""

    def __init__(self, net, config, monitor: str = "valid_loss"):
        super().__init__(net, config)
        self.monitor_name = monitor
        self.average = copy.deepcopy(net).requires_grad_(False) if config.average else None

    @property
    def kept(self):
        return self.model if self.average is None else self.average

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.average is not None:
            # a short memory at first, so the average does not drag the initial weights along
            decay = min(self.config.average, (1 + self.global_step) / (10 + self.global_step))
            with torch.no_grad():
                for mean, weight in zip(self.average.parameters(), self.model.parameters()):
                    mean.lerp_(weight, 1 - decay)

    def _nll(self, net, batch, skip_first: bool):
        rolls, lengths = batch
        logp = net.frame_log_prob(rolls, lengths)  # [B, T]
        steps = torch.arange(rolls.shape[1])[None, :]
        scored = (steps < lengths[:, None]) & (steps >= (1 if skip_first else 0))
        frames = scored.sum()
        return -(logp * scored).sum() / frames.clamp(min=1), int(frames)

    def training_step(self, batch, _):
        # Frame 0 is trained too (it starts generated pieces) but never scored.
        loss, frames = self._nll(self.model, batch, skip_first=False)
        self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=frames)
        return loss

    def validation_step(self, batch, _):
        # Weighted by frames, so valid_loss is the benchmark's NLL (frames 2..T) exactly.
        loss, frames = self._nll(self.kept, batch, skip_first=True)
        self.log("valid_loss", loss, on_epoch=True, batch_size=frames)

    def configure_optimizers(self):
        optimiser = torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate,
                                      weight_decay=self.config.weight_decay)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=2)
        return {"optimizer": optimiser,
                "lr_scheduler": {"scheduler": plateau, "monitor": self.monitor_name, "interval": "epoch"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
