"""The base of every neural model: ``fit`` runs the Lightning engine.

A neural model supplies three things: its datasets (``_datasets``), its
Lightning system (``_system``: the nn.Module plus its training recipe), and
what to keep afterwards (``_finish``). This class turns them into the
Generator API: ``fit(data, valid=..., workdir=...)`` trains with presets,
budgets, early stopping and exact resume (see :mod:`cadenza.train.engine`),
and records the numbers in ``metrics_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cadenza.errors import CadenzaError
from cadenza.models.base import Generator
from cadenza.train.engine import FitResult, TrainerOptions, fit_system


class NeuralGenerator(Generator):
    def fit(self, data, valid=None, workdir: str | Path | None = None, progress: bool = False,
            trainer: TrainerOptions | dict | None = None):
        """Train on ``data``; ``valid`` drives early stopping and the best weights.

        With a ``workdir`` (the CLI passes the run directory) checkpoints and
        logs go there, and fitting again with the same workdir resumes.
        ``trainer`` (:class:`~cadenza.train.TrainerOptions`) says where and how:
        devices, precision, a time budget, loader workers.
        """
        pieces = self._training_data(data)
        spec = getattr(pieces, "spec", None) or getattr(data, "spec", None)
        valid = self._training_data(valid, split="valid") if valid is not None else []
        try:
            self.config.validate_training()
            options = TrainerOptions.of(trainer)
        except ValueError as exc:
            raise CadenzaError(f"invalid {self.name} option: {exc}") from None
        train_set, valid_set, collate = self._datasets(pieces, valid)
        system = self._system()
        system.run_config = {k: v for k, v in vars(self.config).items()}
        result = fit_system(system, train_set, valid_set, self.config, workdir,
                            collate_fn=collate, progress=progress, trainer=options)
        self._finish(system, result)
        self.fit_result_ = result
        self.data_spec_ = spec or {"pieces": len(pieces)}
        self.metrics_.update({
            "train_steps": result.steps, "train_seconds": round(result.seconds, 2),
            "stopped_by": result.stopped_by,
            **({"best_valid_loss": round(result.best_valid_loss, 5)} if result.best_valid_loss is not None else {}),
        })
        return self

    def _training_data(self, data, split: str = "train") -> list:
        """``data`` as a list; each model's ``_datasets`` checks what the items are
        (scores, piano rolls)."""
        pieces = list(data)
        if not pieces and split == "train":
            raise CadenzaError(f"{self.name}: cannot fit on an empty corpus")
        return pieces

    # --- hooks ----------------------------------------------------------------------

    def _datasets(self, pieces: list, valid: list) -> tuple[Any, Any, Any]:
        """``(train dataset, valid dataset or None, collate function or None)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _datasets")

    def _system(self):
        """A fresh LightningModule (the model and its training recipe)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _system")

    def _finish(self, system, result: FitResult) -> None:
        """Keep what generation needs from the trained system."""
        raise NotImplementedError(f"{type(self).__name__} must implement _finish")
