"""Training engine for every neural model: PyTorch Lightning underneath.

This package knows Lightning systems and datasets, never particular
techniques, so model modules can use it: it sits below ``models/`` in the
import order, beside ``data/``. Training recipes subclass
:class:`cadenza.train.system.System` (imported on its own: it loads Lightning).
"""

from cadenza.train.engine import FitResult, TrainerOptions, TrainingConfig, fit_system, plot_losses

__all__ = ["FitResult", "TrainerOptions", "TrainingConfig", "fit_system", "plot_losses"]
