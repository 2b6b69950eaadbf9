"""The spectrogram GAN: Griffin-Lim, SpecGAN's normalised image and its inverse, the 2-D networks, the
gradient penalty on images, training, save/load with the spectrogram statistics, and the latent CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cadenza.audio.dsp import griffin_lim
from cadenza.data.audio_sets import single_notes
from cadenza.models.audio.gan_net import Conditioning, harmonic_comb
from cadenza.models.audio.gan_system import GANSystem
from cadenza.models.audio.specgan import SpecGAN
from cadenza.models.audio.specgan_net import SpecDiscriminator, SpecGenerator, Spectrogram

TINY = dict(SpecGAN.tiny_config, label="pitch")


def _magnitude(audio, n_fft=256, hop=64):
    return torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()


def _chord(samples=8192, rate=16000):
    t = torch.arange(samples) / rate
    return sum(torch.sin(2 * math.pi * f * t + f) for f in (220.0, 330.0, 440.0))[None] * torch.exp(-2 * t) / 3


def test_griffin_lim_recovers_a_magnitude_better_with_more_iterations_and_is_seeded():
    audio = _chord()
    target = _magnitude(audio)

    def convergence(iterations, momentum=0.99):
        rebuilt = griffin_lim(target, 256, 64, iterations, momentum, length=audio.shape[-1])
        return float((_magnitude(rebuilt) - target).norm() / target.norm()), rebuilt

    few, _ = convergence(2)
    many, rebuilt = convergence(64)
    plain, _ = convergence(64, momentum=0.0)
    assert many < few and many < 0.15
    assert many <= plain + 0.02  # the momentum is no slower than the original algorithm
    assert rebuilt.shape == audio.shape
    torch.testing.assert_close(griffin_lim(target, 256, 64, 4, length=8192),
                               griffin_lim(target, 256, 64, 4, length=8192))


def test_the_spectrogram_image_is_normalised_per_bin_clipped_and_inverts():
    spec = Spectrogram(hop=64, frames=128, griffin_lim_iterations=32)
    torch.manual_seed(0)
    audio = torch.cat([_chord() * g for g in (0.3, 1.0)]) + 1e-3 * torch.randn(2, 8192)
    spec.fit(audio)
    image = spec(audio)
    assert image.shape == (2, 64, 128) and image.abs().max() <= 1.0
    assert abs(float(image.mean())) < 0.1  # zero mean per bin over the training sounds
    inside = image.abs() < 1  # away from the clip, the image is the log magnitude, shifted and scaled per bin
    log = image * 3 * spec.std[:, None] + spec.mean[:, None]
    torch.testing.assert_close(log[inside], spec.log_magnitude(audio)[inside], atol=1e-4, rtol=1e-4)
    assert inside.float().mean() > 0.9
    back = spec.to_audio(image)
    assert back.shape == (2, 8192)
    target = _magnitude(audio[1:], 128, 64)
    error = float((_magnitude(back[1:], 128, 64) - target).norm() / target.norm())
    assert error < 0.3


def test_digital_silence_does_not_set_the_images_scale():
    """One-shots end in exact zeros: the statistics are those of the sounding bins, and silence clips."""
    spec, padded = Spectrogram(hop=64, frames=128), Spectrogram(hop=64, frames=128)
    torch.manual_seed(0)
    audio = torch.cat([_chord() * g for g in (0.3, 1.0)]) + 1e-3 * torch.randn(2, 8192)
    spec.fit(audio)
    padded.fit(torch.cat([audio, torch.zeros(2, 8192)]))  # as many silent sounds as sounding ones
    torch.testing.assert_close(padded.mean, spec.mean, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(padded.std, spec.std, atol=1e-3, rtol=1e-3)
    assert bool((padded(torch.zeros(1, 8192)) == -1).all())


def test_the_image_networks_shapes_and_the_penalty_on_images():
    cond = Conditioning((60, 62), (0, 40))
    g = SpecGenerator(latent=8, width=4, layers=3, hop=16, conditioning=cond)
    image = g(torch.randn(5, 8), torch.tensor([0, 1, 0, 1, 0]), torch.tensor([1, 1, 0, 0, 1]))
    assert image.shape == (5, 16, 32) and image.abs().max() <= 1 and g.samples == 16 * 32
    assert g.to_audio(image).shape == (5, 16 * 32)
    judged = SpecDiscriminator(4, 3, 16, cond)(image)
    assert judged.score.shape == (5,) and judged.pitch_logits.shape == judged.instrument_logits.shape == (5, 2)
    with pytest.raises(ValueError, match="multiple of 2"):
        SpecGenerator(8, 4, 3, 12, cond)

    config = SpecGAN(**TINY).config
    system = GANSystem(g, SpecDiscriminator(4, 3, 16, cond), config)
    weight = torch.randn(16, 32)

    class Linear(torch.nn.Module):
        def __init__(self, w):
            super().__init__()
            self.w = w

        def forward(self, x, signal=None):
            return type("J", (), {"score": (x * self.w).sum(dim=(1, 2))})()

    system.discriminator = Linear(weight / weight.norm())
    penalty = system.gradient_penalty(torch.randn(3, 16, 32), torch.randn(3, 16, 32), None)
    assert penalty.item() == pytest.approx(0, abs=1e-6)


@pytest.fixture(scope="module")
def model(one_torch_thread):
    notes = single_notes(programs=(0, 73), pitches=(60, 64, 67), velocities=(100,), seconds=0.2)
    return SpecGAN(**{**TINY, "max_steps": 4}).fit(notes["train"], valid=notes["valid"])


def test_fit_measures_the_griffin_lim_sound_and_generates_at_the_asked_pitch(model):
    assert "best_valid_loss" in model.metrics_ and np.isfinite(model.metrics_["best_valid_loss"])
    assert model.classes_ == [60, 64, 67]
    spec = model.net_.spectrogram
    assert float(spec.std.min()) > 0 and not torch.equal(spec.mean, torch.zeros_like(spec.mean))  # fitted
    (note,) = model.generate(1, seed=0, pitch=60)
    assert note.samples.shape == (1, model.config.samples) and np.isfinite(note.samples).all()
    other = model.generate(1, seed=0, pitch=67)[0]
    assert not np.array_equal(note.samples, other.samples)


def test_save_then_load_keeps_the_spectrogram_statistics(model, tmp_path):
    import cadenza

    run = model.save(tmp_path / "run")
    again = cadenza.load(run)
    assert isinstance(again, SpecGAN)
    torch.testing.assert_close(again.net_.spectrogram.mean, model.net_.spectrogram.mean)
    np.testing.assert_allclose(again.generate(1, seed=3, pitch=67)[0].samples,
                               model.generate(1, seed=3, pitch=67)[0].samples, atol=1e-5)


def test_the_latent_cli_takes_a_specgan_run(model, tmp_path, capsys):
    from support import run_cli

    run = model.save(tmp_path / "run")
    code, out, err = run_cli(["gan", "interpolate", run, "--out", tmp_path / "i.wav", "--seeds", "1", "2",
                              "--steps", "3", "--pitch", "60"], capsys)
    assert code == 0 and (tmp_path / "i.wav").is_file(), err


def test_the_harmonic_comb_marks_each_harmonic_on_the_images_frequency_axis():
    comb = harmonic_comb(torch.tensor([69, 81]), bins=128, bin_hz=62.5)  # SpecGAN's axis at 16 kHz
    assert comb.shape == (2, 128) and float(comb.max()) <= 1.0
    peaks = [j for j in range(1, 127) if comb[0, j] > comb[0, j - 1] and comb[0, j] >= comb[0, j + 1]]
    assert peaks == [round(h * 440 / 62.5) for h in range(1, 18)]  # 440 Hz and its harmonics
    assert float(comb[0, 127]) > 0.8  # the 18th, 7,920 Hz, in the last bin; nothing above 8 kHz
    assert float(comb[0, 3]) < 1e-3 and float(comb[0, 7]) > 0.9
    assert float(comb[1, 7]) < 1e-3 and float(comb[1, 14]) > 0.9  # an octave up: every other bump


def test_a_specgan_with_the_comb_trains_and_its_critic_sees_the_comb(tmp_path, one_torch_thread):
    import cadenza

    notes = single_notes(programs=(0, 73), pitches=(60, 64, 67), velocities=(100,), seconds=0.2)
    config = {**TINY, "pitch_signal": True, "hop": 64, "max_steps": 2}  # 125 Hz bins: the harmonics apart
    model = SpecGAN(**config).fit(notes["train"], valid=notes["valid"])
    g = model.net_
    comb = g.pitch_signal(torch.tensor([0, 2]))  # keys 60 and 67
    assert comb.shape == (2, 64) and not torch.equal(comb[0], comb[1])
    critic = SpecDiscriminator(4, TINY["layers"], 64, g.conditioning, pitch_signal=True)
    image = torch.rand(1, 64, g.spectrogram.frames) * 2 - 1
    assert critic(image, comb[:1]).score != critic(image, comb[1:]).score
    again = cadenza.load(model.save(tmp_path / "run"))
    np.testing.assert_allclose(again.generate(1, seed=2, pitch=67)[0].samples,
                               model.generate(1, seed=2, pitch=67)[0].samples, atol=1e-5)
