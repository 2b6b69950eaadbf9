"""The training engine: exact resume, early stopping, budgets, logs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cadenza.errors import CadenzaError
from cadenza.train import TrainerOptions, TrainingConfig, fit_system

lightning = pytest.importorskip("lightning")
from cadenza.train.system import System


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


def test_an_option_added_since_the_run_resumes_at_its_default_but_not_otherwise(tmp_path):
    """A run recorded before a model gained an option resumes when the option is at its default
    (the run was trained as the default says), and is refused when it is not."""
    import json

    fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=10), tmp_path, progress=False)
    record = tmp_path / "checkpoints" / "config.json"
    settings = json.loads(record.read_text())
    del settings["weight_decay"]  # as if the option did not exist when the run was recorded
    record.write_text(json.dumps(settings))
    result = fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=20), tmp_path, progress=False)
    assert result.steps == 20
    settings = json.loads(record.read_text())
    del settings["weight_decay"]
    record.write_text(json.dumps(settings))
    with pytest.raises(CadenzaError, match="other settings"):
        fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=30, weight_decay=0.5), tmp_path,
                   progress=False)


def test_training_seconds_count_every_sitting(tmp_path):
    # long enough (a second or two) that the set-up outside the timed training is a small share of it
    first = fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=200), tmp_path, progress=False,
                       trainer={"max_minutes": 10})
    # resumed with nothing left to do: this sitting trains for no time, the run for as long as before
    second = fit_system(ToySystem(), _data(64, 0), _data(32, 1), _config(max_steps=200), tmp_path, progress=False,
                        trainer={"max_minutes": 10})
    assert second.steps == 200 and second.seconds >= first.seconds * 0.8, (first.seconds, second.seconds)


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


# --- systems with several optimisers, phases and weight averaging --------------------------------

class ToyGAN(System):
    """A generator and a critic on 4-D points: a reconstruction warm-up, then an adversarial
    phase with two critic steps per generator step; clipping, dropout and an EMA of the generator."""

    monitor = None
    phases = (("warm-up", 0), ("adversarial", 12))

    def __init__(self, ema_decay=0.9):
        torch.manual_seed(1)
        generator = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 4))
        super().__init__(generator, None, ema_decay=ema_decay, gradient_clip=1.0)
        self.critic = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        self.automatic_optimization = False

    def configure_optimizers(self):
        return [torch.optim.Adam(self.model.parameters(), lr=1e-2), torch.optim.Adam(self.critic.parameters(), lr=1e-2)]

    def training_step(self, batch, _):
        generator_opt, critic_opt = self.optimizers()
        real, _ = batch
        fake = self.model(torch.randn(len(real), 2))
        critic_loss = (torch.relu(1 - self.critic(real)) + torch.relu(1 + self.critic(fake.detach()))).mean()
        self.step(critic_opt, critic_loss)
        if self.phase == "warm-up":
            self.step(generator_opt, torch.nn.functional.mse_loss(fake, real))
        elif self.step_count % 2 == 0:
            self.step(generator_opt, -self.critic(fake).mean())
        self.log("train_loss", critic_loss, on_step=True, on_epoch=True)


def _all_weights(system):
    return torch.cat([p.detach().flatten() for p in system.state_dict().values() if p.is_floating_point()])


def test_a_two_optimiser_system_resumes_exactly(tmp_path):
    train = _data(64, 0)
    straight = ToyGAN()
    result = fit_system(straight, train, None, _config(), tmp_path / "a", progress=False)
    # one step a batch, however many optimisers stepped in it (Lightning counts 40 + generator steps)
    assert result.steps == 40 and straight.step_count == 40 and result.stopped_by == "max_steps"
    first = ToyGAN()
    fit_system(first, train, None, _config(max_steps=20), tmp_path / "b", progress=False)
    second = ToyGAN()
    result = fit_system(second, train, None, _config(), tmp_path / "b", progress=False)
    assert result.resumed_from_step is not None and second.step_count == 40
    assert torch.equal(_all_weights(second), _all_weights(straight))


def test_the_average_is_what_a_system_ends_with(tmp_path):
    system = ToyGAN(ema_decay=0.9)
    fit_system(system, _data(64, 0), None, _config(max_steps=20), tmp_path, progress=False)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    raw = {k[len("model."):]: v for k, v in saved["state_dict"].items() if k.startswith("model.")}
    average = next(s["average"] for k, s in saved["callbacks"].items() if k.startswith("EMA"))
    ended = system.model.state_dict()
    assert all(torch.equal(ended[k], average[k]) for k in ended)
    assert not all(torch.equal(ended[k], raw[k]) for k in ended)


def test_phases_are_logged_and_marked(tmp_path):
    fit_system(ToyGAN(), _data(64, 0), None, _config(max_steps=20), tmp_path, progress=False)
    rows = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    phases = {float(r.split(",")[header.index("phase")]) for r in rows[1:] if r.split(",")[header.index("phase")]}
    assert phases == {0.0, 1.0} and (tmp_path / "loss.png").is_file()
    assert not (tmp_path / "checkpoints" / "best.ckpt").exists()  # monitors nothing: keeps the last weights


def test_trainer_options_are_checked():
    with pytest.raises(CadenzaError):
        TrainerOptions.of({"max_minutes": -1})
    with pytest.raises(CadenzaError, match="unknown"):
        TrainerOptions.of({"gpus": 2})
    assert TrainerOptions.of({"precision": "bf16-mixed"}).precision == "bf16-mixed"


def test_loader_workers_do_not_change_what_is_learned(tmp_path):
    train, valid = _data(64, 0), _data(32, 1)
    torch.manual_seed(0)
    here = ToySystem()
    fit_system(here, train, valid, _config(max_steps=20), tmp_path / "a", progress=False, trainer={"workers": 0})
    torch.manual_seed(0)
    workers = ToySystem()
    fit_system(workers, train, valid, _config(max_steps=20), tmp_path / "b", progress=False, trainer={"workers": 1})
    assert torch.equal(_weights(here), _weights(workers))
