"""cadenza.nn.losses and cadenza.nn.discriminators: oracles (auraloss, transformers' mel filters,
cadenza.audio.dsp), known answers, and shapes."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cadenza.nn import losses as L
from cadenza.nn.discriminators import (
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    MultiResolutionSTFTDiscriminator,
    MultiScaleDiscriminator,
    PeriodDiscriminator,
    ScaleDiscriminator,
    STFTDiscriminator,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REL = 1e-4


def _signals(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)


def _mel_oracle(sr, n_fft, n_mels):
    """librosa.filters.mel's defaults (Slaney scale and norm, 0 to Nyquist), computed by transformers."""
    from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sr / 2, sr, norm="slaney", mel_scale="slaney")
    return fb.T.astype(np.float32)  # [n_mels, bins]


@pytest.fixture
def librosa_filters(monkeypatch):
    """auraloss builds its mel filters with librosa; where librosa is absent, stand in for it with the oracle."""
    try:
        import librosa.filters
    except ImportError:
        filters = types.ModuleType("librosa.filters")
        filters.mel = lambda sr, n_fft, n_mels, **_: _mel_oracle(sr, n_fft, n_mels)
        librosa = types.ModuleType("librosa")
        librosa.filters = filters
        monkeypatch.setitem(sys.modules, "librosa", librosa)
        monkeypatch.setitem(sys.modules, "librosa.filters", filters)


# ----------------------------------------------------------------------------- spectral losses


@pytest.mark.parametrize("kwargs", [
    {},
    {"fft_size": 512, "hop_size": 64, "win_length": 300, "window": "hamming_window"},
    {"fft_size": 256, "hop_size": 128, "win_length": 256, "w_sc": 0.5, "w_log_mag": 2.0, "w_lin_mag": 1.5},
])
def test_stft_loss_equals_auraloss(kwargs):
    auraloss = pytest.importorskip("auraloss")
    x, y = _signals(2, 2, 4000)  # stereo: channels fold into the batch in both
    expected = auraloss.freq.STFTLoss(**kwargs)(x, y)
    ours = L.stft_loss(x, y, n_fft=kwargs.get("fft_size", 1024), hop_length=kwargs.get("hop_size", 256),
                       win_length=kwargs.get("win_length", 1024), window=kwargs.get("window", "hann"),
                       sc_weight=kwargs.get("w_sc", 1.0), log_weight=kwargs.get("w_log_mag", 1.0),
                       mag_weight=kwargs.get("w_lin_mag", 0.0))
    assert float(ours) == pytest.approx(float(expected), rel=REL)


def test_multi_resolution_stft_loss_equals_auraloss():
    auraloss = pytest.importorskip("auraloss")
    x, y = _signals(3, 1, 6000, seed=1)
    assert float(L.multi_resolution_stft_loss(x, y)) == pytest.approx(
        float(auraloss.freq.MultiResolutionSTFTLoss()(x, y)), rel=REL)
    settings = dict(fft_sizes=[128, 256], hop_sizes=[32, 64], win_lengths=[128, 200], w_lin_mag=1.0)
    expected = auraloss.freq.MultiResolutionSTFTLoss(**settings)(x, y)
    ours = L.multi_resolution_stft_loss(x, y, (128, 256), (32, 64), (128, 200), mag_weight=1.0)
    assert float(ours) == pytest.approx(float(expected), rel=REL)


@pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")
def test_mel_filterbank_equals_oracle():
    from transformers.audio_utils import mel_filter_bank

    for sr, n_fft, n_mels, fmin, fmax in [(16000, 1024, 40, 0.0, 8000.0), (44100, 512, 80, 30.0, 16000.0)]:
        for htk in (False, True):
            for norm in ("slaney", None):
                ref = mel_filter_bank(n_fft // 2 + 1, n_mels, fmin, fmax, sr, norm=norm,
                                      mel_scale="htk" if htk else "slaney").T
                ours = L.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm).numpy()
                np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6 * ref.max())


def test_mel_scale_known_values():
    assert float(L.hz_to_mel(1000.0)) == pytest.approx(15.0)  # Slaney: 1 kHz is 15 mel
    assert float(L.hz_to_mel(200.0)) == pytest.approx(3.0)  # linear below 1 kHz, 200/3 Hz a mel
    assert float(L.hz_to_mel(6400.0)) == pytest.approx(42.0)  # 27 mel per factor 6.4 above
    assert float(L.hz_to_mel(700.0, htk=True)) == pytest.approx(2595 * math.log10(2))
    f = np.array([0.0, 300.0, 1000.0, 5000.0, 20000.0])
    for htk in (False, True):
        np.testing.assert_allclose(L.mel_to_hz(L.hz_to_mel(f, htk), htk), f, atol=1e-8)


def test_mel_filters_peak_in_order_and_cover_the_band():
    sr, n_fft = 16000, 2048
    fb = L.mel_filterbank(sr, n_fft, 40, norm=None).numpy()  # [40, 1025], peaks of 1
    peaks = fb.argmax(axis=1)
    assert np.all(np.diff(peaks) > 0)
    assert fb.max(axis=1) == pytest.approx(np.ones(40), abs=0.1)
    bin_hz = np.fft.rfftfreq(n_fft, 1 / sr)
    assert np.all(fb.sum(axis=0)[(bin_hz > 0) & (bin_hz < sr / 2)] > 0)  # no gap between 0 and Nyquist


@pytest.mark.parametrize("index, offset", [(5, 0.0), (12, 0.2), (20, -0.2), (33, 0.0), (37, 0.25)])
def test_sine_lands_in_the_mel_bin_with_the_nearest_centre(index, offset):
    sr, n_fft, n_mels = 16000, 2048, 40
    centres = L.mel_to_hz(np.linspace(0, L.hz_to_mel(sr / 2), n_mels + 2))[1:-1]  # [40] filter peaks
    f = centres[index] + offset * (centres[index + (1 if offset >= 0 else -1)] - centres[index])
    t = torch.arange(8192) / sr
    mel = L.mel_magnitude(torch.sin(2 * math.pi * f * t)[None], sr, n_fft, 512, n_mels)  # [1, 40, frames]
    assert int(mel[0, :, 8].argmax()) == index == int(np.abs(centres - f).argmin())


def test_mel_loss_equals_auraloss(librosa_filters):
    auraloss = pytest.importorskip("auraloss")
    x, y = _signals(2, 1, 4096, seed=2)
    sr, ffts, hops, mels = 16000, (256, 512, 1024), (64, 128, 256), (20, 40, 64)
    expected = sum(auraloss.freq.MelSTFTLoss(sr, n, h, n, w_sc=0.0, w_log_mag=1.0, w_lin_mag=0.5, n_mels=m)(x, y)
                   for n, h, m in zip(ffts, hops, mels))
    ours = L.multi_scale_mel_loss(x, y, sr, ffts, mels, hops, mag_weight=0.5, pow=1.0, log_base=math.e)
    assert float(ours) == pytest.approx(float(expected), rel=REL)
    # auraloss's multi-resolution mel loss is the same sum divided by the number of resolutions
    mr = auraloss.freq.MultiResolutionSTFTLoss(list(ffts[:1]) * 2, list(hops[:1]) * 2, list(ffts[:1]) * 2,
                                               w_sc=0.0, sample_rate=sr, scale="mel", n_bins=mels[0])(x, y)
    ours = L.multi_scale_mel_loss(x, y, sr, ffts[:1], mels[:1], hops[:1], pow=1.0, log_base=math.e)
    assert float(ours) == pytest.approx(float(mr), rel=REL)


def test_mel_loss_log_base_and_power_scale_the_log_term():
    x, y = _signals(1, 2048, seed=3)
    natural = L.multi_scale_mel_loss(x, y, 16000, (128, 512), (16, 40), pow=1.0, log_base=math.e)
    dac = L.multi_scale_mel_loss(x, y, 16000, (128, 512), (16, 40), pow=2.0, log_base=10.0)
    assert float(dac) == pytest.approx(float(natural) * 2 / math.log(10), rel=REL)


@pytest.mark.parametrize("kwargs", [{}, {"sizes": (512, 128, 64), "log_weight": 0.3, "eps": 1e-5}])
def test_ddsp_variant_equals_dsp(kwargs):
    from cadenza.audio import dsp

    x, y = _signals(2, 4096, seed=4)
    ours = L.ddsp_spectral_loss(x, y, kwargs.get("sizes", (2048, 1024, 512, 256, 128, 64)),
                                log_weight=kwargs.get("log_weight", 1.0), eps=kwargs.get("eps", 1e-7))
    assert float(ours) == pytest.approx(float(dsp.multi_resolution_stft_loss(x, y, **kwargs)), rel=1e-5)


@pytest.mark.parametrize("loss", [
    L.multi_resolution_stft_loss,
    L.ddsp_spectral_loss,
    lambda x, y: L.multi_scale_mel_loss(x, y, 16000, (64, 256, 1024), (10, 20, 40)),
])
def test_spectral_losses_are_zero_on_identical_signals_and_grow_with_noise(loss):
    x, noise = _signals(2, 1, 4096, seed=5)
    x = torch.sin(torch.linspace(0, 300, 4096)) + 0.1 * x
    assert float(loss(x, x)) == 0.0
    values = [float(loss(x + level * noise, x)) for level in (0.01, 0.1, 1.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_spectral_losses_have_finite_gradients_on_silence():
    target = torch.zeros(1, 2048)
    for loss in (L.multi_resolution_stft_loss, L.ddsp_spectral_loss,
                 lambda x, y: L.multi_scale_mel_loss(x, y, 16000, (64, 256), (10, 20))):
        x = torch.zeros(1, 2048, requires_grad=True)
        loss(x, target + 1e-3).backward()
        assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------- GAN losses


REAL = torch.tensor([0.5, 2.0, -1.0])
FAKE = torch.tensor([-2.0, 0.0, 0.5])


def test_hinge_and_least_squares_known_answers():
    # relu(1 - real) = [.5, 0, 2], relu(1 + fake) = [0, 1, 1.5]; relu(1 - fake) = [3, 1, .5]
    assert float(L.hinge_discriminator_loss([REAL], [FAKE])) == pytest.approx(2.5 / 3 + 2.5 / 3)
    assert float(L.hinge_generator_loss([FAKE])) == pytest.approx(4.5 / 3)
    # (1 - real)^2 = [.25, 1, 4], fake^2 = [4, 0, .25]; (1 - fake)^2 = [9, 1, .25]
    assert float(L.lsgan_discriminator_loss([REAL], [FAKE])) == pytest.approx(5.25 / 3 + 4.25 / 3)
    assert float(L.lsgan_generator_loss([FAKE])) == pytest.approx(10.25 / 3)
    # summed over sub-discriminators; a bare tensor is one sub-discriminator
    assert float(L.hinge_discriminator_loss([REAL, REAL], [FAKE, FAKE])) == pytest.approx(2 * 5 / 3)
    assert float(L.lsgan_generator_loss(FAKE)) == pytest.approx(10.25 / 3)
    assert float(L.hinge_discriminator_loss([torch.full((4,), 1.0)], [torch.full((4,), -1.0)])) == 0.0


def test_feature_matching():
    real = [[torch.ones(2, 3, 4), torch.zeros(2, 5)], [torch.full((1, 6), 2.0)]]
    assert float(L.feature_matching_loss(real, [[f.clone() for f in fs] for fs in real])) == 0.0
    fake = [[torch.full((2, 3, 4), 3.0, requires_grad=True), torch.full((2, 5), -1.0)], [torch.zeros(1, 6)]]
    real[0][0].requires_grad_(True)
    loss = L.feature_matching_loss(real, fake)  # |3 - 1| + |-1 - 0| + |0 - 2|, each a mean
    loss.backward()
    assert float(loss.detach()) == pytest.approx(5.0)
    assert real[0][0].grad is None  # real features are targets, not trained through
    assert torch.allclose(fake[0][0].grad, torch.full((2, 3, 4), 1 / 24))


def test_balancer_gives_each_loss_its_share_of_the_reference_norm():
    b, t = 2, 16
    output = torch.ones(b, t, requires_grad=True)
    balancer = L.Balancer({"big": 1.0, "small": 3.0}, total_norm=2.0)
    losses = {"big": 1000.0 * output.sum(), "small": 1e-3 * (output ** 2).sum()}
    norms = balancer.backward(losses, output)
    # gradients: 1000 everywhere (norm 1000 sqrt(t) per item) and 2e-3 everywhere (norm 2e-3 sqrt(t))
    assert norms["big"] == pytest.approx(1000 * math.sqrt(t), rel=1e-6)
    assert norms["small"] == pytest.approx(2e-3 * math.sqrt(t), rel=1e-6)
    # each unit-norm direction gets 2.0 * share: (1/4 + 3/4) * 2 / sqrt(t) per element
    assert torch.allclose(output.grad, torch.full((b, t), 2.0 / math.sqrt(t)), rtol=1e-5)
    # opposite directions with equal weights cancel, whatever the scale of each loss
    output.grad = None
    L.Balancer({"a": 1.0, "b": 1.0}).backward({"a": 5 * output.sum(), "b": -1e4 * output.sum()}, output)
    assert torch.allclose(output.grad, torch.zeros(b, t), atol=1e-6)


def test_balancer_moving_average_and_errors():
    output = torch.ones(1, 4, requires_grad=True)
    balancer = L.Balancer({"a": 1.0}, ema_decay=0.5)
    balancer.backward({"a": output.sum()}, output)  # norm 2
    norms = balancer.backward({"a": 4 * output.sum()}, output)  # norm 8: average (0.5 * 2 + 8) / 1.5
    assert norms["a"] == pytest.approx(9 / 1.5)
    with pytest.raises(ValueError, match="no weight"):
        balancer.backward({"b": output.sum()}, output)


# ----------------------------------------------------------------------------- discriminators


TINY_MPD = dict(periods=(2, 3, 5), channels=(4, 8, 8), kernel_size=5, stride=3)
TINY_MSD = dict(n_scales=3, channels=4, max_channels=16, downsample_factors=(4, 4))
TINY_STFT = dict(n_ffts=(64, 128), hop_lengths=(16, 32), channels=4, channel_growth=2, max_channels=8)


def _ceil_div(a, b):
    return -(-a // b)


@pytest.mark.parametrize("length", [1000, 1001])
def test_multi_period_shapes(length):
    mpd = MultiPeriodDiscriminator(**TINY_MPD)
    logits, features = mpd(torch.randn(2, 1, length))
    assert len(logits) == len(features) == 3
    for p, out, feats in zip((2, 3, 5), logits, features):
        rows = _ceil_div(length, p)
        assert [tuple(f.shape) for f in feats] == [(2, 4, _ceil_div(rows, 3), p), (2, 8, _ceil_div(rows, 9), p),
                                                   (2, 8, _ceil_div(rows, 9), p)]
        assert out.shape == (2, 1, _ceil_div(rows, 9), p)


@pytest.mark.parametrize("length", [12, 14])
def test_period_discriminator_folds_the_signal_by_its_period(length):
    p = 4
    d = PeriodDiscriminator(p, channels=(2, 2))
    seen = []
    d.convs[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.arange(length, dtype=torch.float32)[None, None]  # [1, 1, T]
    d(x)
    folded = seen[0]
    assert folded.shape == (1, 1, _ceil_div(length, p), p)
    for i in range(folded.shape[2]):
        for j in range(p):
            n = i * p + j
            expected = n if n < length else 2 * (length - 1) - n  # reflect padding past the end
            assert float(folded[0, 0, i, j]) == expected


def test_multi_scale_shapes_and_pooling():
    msd = MultiScaleDiscriminator(**TINY_MSD)
    logits, features = msd(torch.randn(2, 1000))  # [b, T] is taken as mono
    assert len(logits) == 3 and [len(f) for f in features] == [4, 4, 4]
    for i, (out, feats) in enumerate(zip(logits, features)):
        length = 1000 // 2 ** i
        assert [tuple(f.shape) for f in feats] == [(2, 4, length), (2, 16, _ceil_div(length, 4)),
                                                   (2, 16, _ceil_div(length, 16)), (2, 16, _ceil_div(length, 16))]
        assert out.shape == (2, 1, _ceil_div(length, 16))
    # the second scale sees the signal average-pooled by 2 (edges averaged over the samples inside)
    seen = []
    msd.discriminators[1].convs[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    msd(torch.arange(32, dtype=torch.float32)[None, None])
    pooled = seen[0].flatten().tolist()  # windows of 4, stride 2, one sample of padding not counted
    assert len(pooled) == 16
    assert pooled == pytest.approx([1.0] + [2 * k + 0.5 for k in range(1, 15)] + [30.0])


def test_multi_scale_paper_groups_and_spectral_norm_option():
    assert [c.groups for c in ScaleDiscriminator().convs] == [1, 4, 16, 64, 256, 1]  # MelGAN's in/4
    msd = MultiScaleDiscriminator(spectral_norm_first=True, **TINY_MSD)
    first, second = msd.discriminators[0].convs[0], msd.discriminators[1].convs[0]
    assert type(first.parametrizations.weight[0]).__name__ == "_SpectralNorm"
    assert type(second.parametrizations.weight[0]).__name__ == "_WeightNorm"


def test_stft_discriminator_shapes_and_spectrogram():
    msd = MultiResolutionSTFTDiscriminator(**TINY_STFT)
    logits, features = msd(torch.randn(2, 1, 1000))
    for n, h, out, feats in zip((64, 128), (16, 32), logits, features):
        frames, bins = (1000 - n) // h + 1, n // 2 + 1
        widths = [bins, _ceil_div(bins, 2), _ceil_div(bins, 4), _ceil_div(bins, 8), _ceil_div(bins, 8)]
        assert [tuple(f.shape) for f in feats] == [(2, c, frames, w) for c, w in zip((4, 8, 8, 8, 8), widths)]
        assert out.shape == (2, 1, frames, widths[-1])
    # real and imaginary parts of a window-normalised STFT: a sine at bin k peaks there, in both channels' energy
    d = STFTDiscriminator(n_fft=64, hop_length=16, channels=2)
    x = torch.sin(2 * math.pi * 8 * torch.arange(256) / 64)[None, None]  # exactly bin 8
    z = d.spectrogram(x)  # [1, 2, frames, 33]
    energy = z[0, 0] ** 2 + z[0, 1] ** 2
    assert z.shape == (1, 2, 13, 33) and int(energy.mean(0).argmax()) == 8
    window = torch.hann_window(64)
    assert float(energy[0, 8].sqrt()) == pytest.approx(float(window.sum() / 2 / window.pow(2).sum().sqrt()),
                                                        rel=1e-4)


def test_combined_discriminator_concatenates_and_gradients_flow():
    combined = CombinedDiscriminator(MultiPeriodDiscriminator(**TINY_MPD), MultiScaleDiscriminator(**TINY_MSD),
                                     MultiResolutionSTFTDiscriminator(**TINY_STFT))
    real = torch.randn(2, 1, 1200)
    fake = torch.randn(2, 1, 1200, requires_grad=True)
    real_logits, real_features = combined(real)
    fake_logits, fake_features = combined(fake)
    assert len(fake_logits) == len(fake_features) == 3 + 3 + 2
    loss = L.hinge_generator_loss(fake_logits) + L.feature_matching_loss(real_features, fake_features)
    loss = loss + L.lsgan_discriminator_loss(real_logits, fake_logits)
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    for name, parameter in combined.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
