"""The conditional WaveGAN: shapes and phase shuffle, the critic's gradient penalty, the quality
measure that picks the checkpoint, conditioning by pitch, drum kind and instrument, latent
interpolation and walks, and bad input as one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cadenza.data.audio_sets import single_notes
from cadenza.errors import CadenzaError
from cadenza.models.audio.gan import GAN, slerp
from cadenza.models.audio.gan_net import (
    Conditioning,
    Discriminator,
    Generator,
    harmonic_excitation,
    phase_shuffle,
)
from cadenza.models.audio.gan_system import GANSystem, frechet

TINY = dict(GAN.tiny_config, label="pitch")


@pytest.fixture(scope="module")
def notes():
    return single_notes(programs=(0, 73), pitches=(60, 64, 67), velocities=(100,), seconds=0.2)


@pytest.fixture(scope="module")
def model(notes, one_torch_thread):
    return GAN(**{**TINY, "instrument_label": "program", "max_steps": 4}).fit(notes["train"], valid=notes["valid"])


def test_the_networks_shapes():
    cond = Conditioning((60, 62), (0, 40, 73))
    g = Generator(latent=8, width=4, layers=3, conditioning=cond)
    audio = g(torch.randn(5, 8), torch.tensor([0, 1, 0, 1, 0]), torch.tensor([2, 1, 0, 0, 1]))
    assert audio.shape == (5, 16 * 4 ** 3) and audio.abs().max() <= 1
    judged = Discriminator(4, 3, g.samples, cond)(audio)
    assert judged.score.shape == (5,) and judged.pitch_logits.shape == (5, 2)
    assert judged.instrument_logits.shape == (5, 3)


def test_phase_shuffle_moves_each_example_by_at_most_n():
    torch.manual_seed(0)
    x = torch.arange(40.0).reshape(1, 1, 40).repeat(64, 3, 1)
    y = phase_shuffle(x, 2)
    shifts = (y[:, 0, 10] - x[:, 0, 10]).round()  # away from the edges, a shift is a constant offset
    assert set(shifts.tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0} and len(set(shifts.tolist())) > 1
    torch.testing.assert_close(y[:, 0, 5:35] - x[:, 0, 5:35], shifts[:, None].expand(-1, 30))
    assert torch.equal(y[:, 0], y[:, 2])  # one shift an example, all channels alike
    assert torch.equal(phase_shuffle(x, 0), x)


def test_frechet_distance_is_zero_for_the_same_set_and_sees_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 4))
    assert frechet(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet(a, a + 3.0) == pytest.approx(4 * 9.0, rel=1e-6)


def test_the_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    """A critic linear in its input with a unit-norm weight has gradient norm 1 everywhere."""
    config = GAN(**TINY).config
    cond = Conditioning((60,))
    g = Generator(config.latent, config.width, config.layers, cond)
    system = GANSystem(g, Discriminator(config.width, config.layers, g.samples, cond, shuffle=0), config)

    class Linear(torch.nn.Module):
        def __init__(self, weight):
            super().__init__()
            self.weight = weight

        def forward(self, x, signal=None):
            return type("J", (), {"score": x @ self.weight})()

    weight = torch.randn(g.samples)
    system.discriminator = Linear(weight / weight.norm())
    real, fake = torch.randn(4, g.samples), torch.randn(4, g.samples)
    assert system.gradient_penalty(real, fake, None).item() == pytest.approx(0, abs=1e-6)
    system.discriminator = Linear(2 * weight / weight.norm())
    assert system.gradient_penalty(real, fake, None).item() == pytest.approx(1, abs=1e-5)


def test_fit_keeps_classes_and_logs_the_quality_measure(model, notes):
    labels = notes["train"].labels
    assert model.classes_ == sorted({lab["pitch"] for lab in labels})
    assert model.instruments_ == sorted({lab["program"] for lab in labels})
    assert model.metrics_["train_one_shots"] == len(notes["train"])
    assert "best_valid_loss" in model.metrics_  # the Fréchet distance picked the checkpoint


def test_generate_by_pitch_and_instrument_and_refuse_unknown_ones(model):
    (note,) = model.generate(1, seed=0, pitch=64, instrument=73)
    assert note.samples.shape == (1, 16 * 4 ** TINY["layers"]) and note.sample_rate == 16000
    again = model.generate(1, seed=0, pitch=64, instrument=73)[0]
    np.testing.assert_array_equal(note.samples, again.samples)
    other = model.generate(1, seed=0, pitch=60, instrument=73)[0]
    assert not np.array_equal(note.samples, other.samples)  # the pitch is an input
    with pytest.raises(CadenzaError, match="pitch 61 was not in the training data; this model knows 60-67"):
        model.generate(1, pitch=61)
    with pytest.raises(CadenzaError, match="instrument 40 was not in the training data"):
        model.generate(1, pitch=60, instrument=40)
    with pytest.raises(CadenzaError, match="not on what --kind sets"):
        model.generate(1, kind="snare")


def test_slerp_keeps_the_norm_and_ends_at_the_seeds(model):
    a, b = model.latent_of(1), model.latent_of(2)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)
    middle = slerp(a, b, 0.5)
    assert np.linalg.norm(middle) > np.linalg.norm((a + b) / 2)  # the straight line dips towards 0
    sound = model.interpolate(1, 2, steps=4, pitch=60, instrument=0, gap=0.0)
    first = model.render(a[None], 0, 0)[0]
    samples = 16 * 4 ** TINY["layers"]
    np.testing.assert_allclose(sound.samples[0, :samples], first, atol=1e-6)
    assert sound.samples.shape == (1, 4 * samples)
    walk = model.walk(3, steps=3, pitch=67, instrument=0, gap=0.0)
    assert walk.samples.shape == (1, 3 * samples)
    with pytest.raises(CadenzaError, match="steps must be 2-256"):
        model.interpolate(1, 2, steps=1)


def test_save_then_load_gives_the_same_sounds(model, tmp_path):
    model.save(tmp_path / "run")
    again = GAN.load(tmp_path / "run")
    assert again.classes_ == model.classes_
    np.testing.assert_allclose(again.generate(1, seed=4, pitch=67, instrument=0)[0].samples,
                               model.generate(1, seed=4, pitch=67, instrument=0)[0].samples, atol=1e-6)


def test_a_held_out_set_of_one_known_note_trains_without_validation(one_torch_thread):
    notes = single_notes(programs=(0, 73), pitches=(60, 72, 84), velocities=(100,), seconds=0.2)
    known = [lab for lab in notes["valid"].labels if lab["pitch"] in {lab["pitch"] for lab in notes["train"].labels}]
    assert len(known) == 1  # one Fréchet sample: no covariance to compare
    model = GAN(**{**TINY, "max_steps": 2}).fit(notes["train"], valid=notes["valid"])
    assert "best_valid_loss" not in model.metrics_ and model.generate(1, seed=0)[0].samples.shape[1] == 256


def test_data_without_the_label_is_a_clear_error(notes):
    with pytest.raises(CadenzaError, match="no clip of .* is labelled 'kind'"):
        GAN(**{**TINY, "label": "kind"}).fit(notes["train"])


def test_the_harmonic_excitation_sounds_every_harmonic_of_the_key_below_nyquist():
    rate, samples = 16000, 16000  # 1 s: FFT bin k is k Hz
    spectrum = np.abs(np.fft.rfft(harmonic_excitation(torch.tensor([69, 57]), samples, rate).numpy(), axis=1))
    a4 = spectrum[0]
    assert set(np.flatnonzero(a4 > 0.02 * a4.max())) == set(range(440, 8000, 440))  # 18 harmonics, no more
    np.testing.assert_allclose(a4[[880, 1320, 7920]] / a4[440], [1 / 2, 1 / 3, 1 / 18], rtol=0.01)  # a sawtooth
    a3 = spectrum[1]
    assert set(np.flatnonzero(a3 > 0.02 * a3.max())) == set(range(220, 8000, 220))
    power = (harmonic_excitation(torch.tensor([36, 84]), samples, rate) ** 2).mean(1)
    torch.testing.assert_close(power, torch.ones(2), atol=0.01, rtol=0)  # unit power whatever the key


def test_the_mode_seeking_term_is_largest_for_a_generator_that_ignores_its_latent():
    config = GAN(**{**TINY, "diversity_weight": 1.0}).config
    cond = Conditioning((60, 72))
    torch.manual_seed(0)
    g = Generator(config.latent, config.width, config.layers, cond)
    system = GANSystem(g, Discriminator(config.width, config.layers, g.samples, cond, shuffle=0), config)
    z, pitch = torch.randn(6, config.latent), torch.tensor([0, 1] * 3)
    using = system.mode_seeking(z, g(z, pitch), pitch, None)
    with torch.no_grad():
        g.dense.weight[:, : config.latent] = 0  # the latent no longer reaches the sound
    ignoring = system.mode_seeking(z, g(z, pitch), pitch, None)
    using, ignoring = float(using.detach()), float(ignoring.detach())
    assert ignoring == pytest.approx(1e5, rel=1e-3) and using < ignoring / 100


@pytest.mark.parametrize("sample_rate", [16000, None], ids=["harmonic source", "plain WaveGAN"])
def test_match_level_makes_the_untrained_generator_as_loud_as_the_data(sample_rate):
    torch.manual_seed(0)
    g = Generator(latent=8, width=4, layers=3, conditioning=Conditioning((60, 72)), sample_rate=sample_rate)
    pitch = torch.tensor([0, 1] * 8)
    for rms in (0.02, 0.2, 0.01):  # down, up and down again: each match starts from where the last left it
        g.match_level(torch.randn(16, g.samples) * rms, pitch)
        made = g(torch.randn(16, 8), pitch).detach()
        assert float(made.pow(2).mean().sqrt()) == pytest.approx(rms, rel=0.25)


@pytest.fixture(scope="module")
def signalled(notes, one_torch_thread):
    return GAN(**{**TINY, "pitch_signal": True, "diversity_weight": 0.1, "max_steps": 4}).fit(notes["train"],
                                                                                  valid=notes["valid"])


def test_with_a_pitch_signal_the_critic_hears_it_and_the_model_saves_and_loads(signalled, tmp_path):
    g = signalled.net_
    assert g.pitch_signal(torch.tensor([0])).shape == (1, g.samples)
    cond = g.conditioning
    critic = Discriminator(4, TINY["layers"], g.samples, cond, shuffle=0, pitch_signal=True)
    audio = torch.randn(1, g.samples)
    low, high = g.pitch_signal(torch.tensor([0])), g.pitch_signal(torch.tensor([2]))
    assert critic(audio, low).score != critic(audio, high).score
    note = signalled.generate(1, seed=1, pitch=67)[0]
    assert note.samples.shape == (1, g.samples) and np.abs(note.samples).max() <= 1
    again = GAN.load(signalled.save(tmp_path / "run"))
    assert again.config.pitch_signal
    np.testing.assert_allclose(again.generate(1, seed=1, pitch=67)[0].samples, note.samples, atol=1e-6)
    with pytest.raises((ValueError, CadenzaError), match="pitch_signal needs label 'pitch'"):
        GAN(**{**TINY, "label": "kind", "pitch_signal": True})


def test_cli_interpolate_walk_and_bad_input(model, tmp_path, capsys):
    from support import run_cli

    run = model.save(tmp_path / "run")
    code, out, err = run_cli(["gan", "interpolate", run, "--out", tmp_path / "i.wav", "--seeds", "3", "4",
                              "--steps", "3", "--pitch", "60", "--instrument", "0"], capsys)
    assert code == 0 and (tmp_path / "i.wav").is_file() and "3 sounds from seed 3 to seed 4" in out, err
    code, out, err = run_cli(["gan", "walk", run, "--out", tmp_path / "w.wav", "--steps", "2", "--linear"], capsys)
    assert code == 2  # --linear belongs to interpolate
    code, out, err = run_cli(["gan", "walk", run, "--out", tmp_path / "w.wav", "--steps", "2"], capsys)
    assert code == 0 and (tmp_path / "w.wav").is_file(), err
    code, out, err = run_cli(["gan", "walk", run, "--out", tmp_path / "w.wav", "--pitch", "99"], capsys)
    assert code == 2 and "pitch 99 was not in the training data" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(["generate", run, "--pitch", "64", "-n", "2", "--out", tmp_path / "gen"], capsys)
    assert code == 0 and len(list((tmp_path / "gen").glob("*.wav"))) == 2, err
