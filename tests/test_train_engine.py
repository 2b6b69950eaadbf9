"""The training engine: exact resume, early stopping, budgets, logs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cadenza.errors import CadenzaError
from cadenza.train import TrainingConfig, fit_system

lightning = pytest.importorskip("lightning")


class ToySystem(lightning.LightningModule):
    """A tiny regression with dropout, so that resuming must also restore randomness."""

    def __init__(self, lr=0.05):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        self.lr = lr

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _):
        self.log("valid_loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
    return torch.utils.data.TensorDataset(x, y)


def _config(**changes):
    base = TrainingConfig(max_steps=40, steps_per_epoch=10, batch_size=8, patience=0, seed=3)
    return dataclasses.replace(base, **changes)


def _weights(system):
    return torch.cat([p.detach().flatten() for p in system.parameters()])


def test_resume_after_interruption_gives_the_same_weights(tmp_path):
    train, valid = _data(64, 0), _data(32, 1)
    torch.manual_seed(0)
    straight = ToySystem()
    fit_system(straight, train, valid, _config(), tmp_path / "a", progress=False)

    torch.manual_seed(0)
    first = ToySystem()
    half = fit_system(first, train, valid, _config(max_steps=20), tmp_path / "b", progress=False)
    assert half.steps == 20
    torch.manual_seed(123)  # a new process would start from other weights
    second = ToySystem()
    result = fit_system(second, train, valid, _config(), tmp_path / "b", progress=False)
    assert result.resumed_from_step == 20 and result.steps == 40
    assert torch.equal(_weights(second), _weights(straight))


def test_logs_checkpoints_and_loss_plot(tmp_path):
    result = fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(), tmp_path, progress=False)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "logs" / "metrics.csv").read_text().count("\n") > 4
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert result.best_valid_loss is not None and result.best_valid_loss < 5.0
    assert result.stopped_by == "max_steps"


def test_best_weights_are_returned(tmp_path):
    system = ToySystem()
    result = fit_system(system, _data(64, 0), _data(32, 1), _config(), tmp_path, progress=False)
    system.eval()
    x, y = _data(32, 1).tensors
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(system.net(x).squeeze(-1), y).item()
    assert loss == pytest.approx(result.best_valid_loss, rel=1e-4)


def test_early_stopping(tmp_path):
    # A zero learning rate never improves: patience 2 stops after 3 epochs.
    result = fit_system(ToySystem(lr=1e-12), _data(64, 0), _data(32, 1),
                        _config(max_steps=1000, patience=2), tmp_path, progress=False)
    assert result.stopped_by == "early_stopping" and result.steps <= 40


def test_resume_with_other_settings_is_refused(tmp_path):
    fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=10), tmp_path, progress=False)
    with pytest.raises(CadenzaError, match="other settings"):
        fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(batch_size=4), tmp_path, progress=False)


def test_bad_training_options():
    with pytest.raises(ValueError):
        _config(max_steps=0).validate_training()
    with pytest.raises(CadenzaError, match="no training examples"):
        fit_system(ToySystem(), _data(0, 0), None, _config(), None, progress=False)


def test_resumed_run_keeps_its_earlier_logs(tmp_path):
    fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=20), tmp_path, progress=False)
    fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=40), tmp_path, progress=False)
    earlier = (tmp_path / "logs" / "metrics-part001.csv").read_text()
    later = (tmp_path / "logs" / "metrics.csv").read_text()
    def steps(text):
        return {int(r.split(",")[1]) for r in text.splitlines()[1:] if r.split(",")[1]}

    assert max(steps(earlier)) < 20 <= min(steps(later))
