"""The training recipe of the token language models (LSTM, transformer): next-token cross
entropy, AdamW without decay on biases and norms, a linear warm-up then a cosine decay
to a tenth (the models are in :mod:`cadenza.models.symbolic.token_lm`)."""

from __future__ import annotations

import math

import torch

from cadenza.data import token_windows as W
from cadenza.errors import CadenzaError
from cadenza.train.system import System


class TokenSystem(System):
    """``logits_fn(net, input_ids, attention_mask, **rest) -> [B, T, V]`` says how the network is called;
    ``rest`` is whatever else the batch holds (a text prompt's vectors)."""

    def __init__(self, net: torch.nn.Module, config, logits_fn):
        super().__init__(net, config)
        self.logits_fn = logits_fn

    def _loss(self, batch):
        rest = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "labels")}
        logits = self.logits_fn(self.model, batch["input_ids"], batch["attention_mask"], **rest)  # [B, T, V]
        labels = batch["labels"].reshape(-1)
        total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels,
                                                  ignore_index=W.IGNORE, reduction="sum")
        # the mean over the step's tokens (padding left out), on one process or several
        count = (labels != W.IGNORE).sum()
        return self.mean_over_processes(total, count), int(count)

    def training_step(self, batch, index):
        loss, _ = self._loss(batch)
        if not torch.isfinite(loss):
            raise CadenzaError(f"training diverged: the loss is {loss.item()} at step {self.global_step}; "
                               "the last good checkpoint is kept (lower --learning-rate and train again)")
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, index):
        loss, tokens = self._loss(batch)
        # weighted by tokens: the epoch's value is the mean over its tokens, whatever the batch size
        self.log("valid_loss", loss, on_epoch=True, prog_bar=True, batch_size=max(tokens, 1))

    def configure_optimizers(self):
        config = self.config
        decay = [p for _, p in self.model.named_parameters() if p.dim() >= 2]
        other = [p for _, p in self.model.named_parameters() if p.dim() < 2]
        optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                       {"params": other, "weight_decay": 0.0}],
                                      lr=config.learning_rate, betas=(0.9, 0.98))
        warmup = max(1, min(200, config.max_steps // 20))

        def factor(step):
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, config.max_steps - warmup))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
