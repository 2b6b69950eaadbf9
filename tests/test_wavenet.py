"""WaveNet: the naive and the fast generator agree sample for sample, the receptive field
and causality hold, streaming equals offline, bad input is one clear error, and the model
keeps the contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import support
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.wavenet import (
    Config,
    WaveNet,
    WaveNetNet,
    generate_fast,
    generate_naive,
    level,
    receptive_field,
)
from cadenza.realtime.stream import run_blocks
from cadenza.testing import CHECKS, contract_data


def melody(keys):
    return support.melody(keys, beats=0.5)


@pytest.fixture(scope="module")
def data():
    return from_scores([melody([67, 69, 71, 72]), melody([72, 76, 79])], 73, "tiny")


@pytest.fixture(scope="module")
def model(data):
    return WaveNet(**WaveNet.tiny_config).fit(data)


def tiny_net(seed=0, **overrides):
    torch.manual_seed(seed)
    return WaveNetNet(Config(**{**WaveNet.tiny_config, **overrides})).eval()


def controls(frames, f0=440.0, db=-20.0):
    out = np.zeros((frames, 2), np.float32)
    out[:, 0] = f0 * (1 + 0.1 * np.arange(frames))
    out[:, 1] = db
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_naive_and_fast_generators_give_identical_samples(temperature):
    net = tiny_net(1)
    c = controls(5)
    uniforms = np.random.default_rng(3).random(5 * 64 - 7)
    naive = generate_naive(net, c, 60, 73, uniforms, temperature)
    fast = generate_fast(net, c, 60, 73, uniforms, temperature)
    assert len(np.unique(fast)) > 5  # not a trivial constant
    if not np.array_equal(naive, fast):
        # The two paths sum the same float32 products in other orders, so on some CPU a uniform
        # may fall within rounding of a CDF boundary: allowed only there, at the first difference.
        t = int(np.argmax(naive != fast))
        previous = np.concatenate([[0.0], level(naive[:t])]).astype(np.float32)
        frames = t // 64 + 1
        with torch.no_grad():
            logits = net(torch.from_numpy(previous)[None], torch.from_numpy(c[:frames])[None],
                         torch.full((1, frames), 60), torch.full((1, frames), 73))[0, :, t].double().numpy()
        p = np.exp(logits / temperature - (logits / temperature).max())
        cdf = np.cumsum(p)
        assert np.abs(cdf - uniforms[t] * cdf[-1]).min() < 1e-5 * cdf[-1], f"generators differ at sample {t}"


def test_receptive_field_formula_and_causality():
    net = tiny_net(2, layers=5, cycle=3)  # dilations 1, 2, 4, 1, 2
    assert net.c.dilations == [1, 2, 4, 1, 2]
    field = receptive_field(net.c.dilations)
    assert field == net.receptive_field == 11
    frames, t = 4, 200
    previous = (torch.rand(1, frames * 64) * 2 - 1).requires_grad_()
    c = torch.from_numpy(controls(frames))[None].requires_grad_()
    pitch, program = torch.full((1, frames), 60), torch.full((1, frames), 73)
    net(previous, c, pitch, program)[0, :, t].sum().backward()
    # The inputs that reach output t are exactly previous[t - field + 1 .. t] (sample t-1 and the
    # field - 1 before it): nothing older, nothing later (a gradient outside is exactly zero).
    seen = torch.nonzero(previous.grad[0]).flatten().tolist()
    assert seen == list(range(t - field + 1, t + 1))
    # Controls: the frames of those samples only (t's own frame and the one before), none later.
    frames_seen = torch.nonzero(c.grad[0].abs().sum(-1)).flatten().tolist()
    assert frames_seen == list(range((t - field + 1) // 64, t // 64 + 1)) == [2, 3]


@pytest.mark.parametrize("block", [1, 3, 7])
def test_streamed_block_by_block_equals_offline(model, block):
    c = controls(15)
    offline = model.render_controls(c, seed=4)
    assert offline.shape == (1, 15 * 64) and offline.dtype == np.float32
    streamed = run_blocks(model.stream(4), [c[i:i + block] for i in range(0, len(c), block)])
    assert np.abs(streamed - offline).max() < 1e-4


def test_generate_options_and_bad_conditioning(model):
    audio = model.generate(n=1, seed=0, length=100, pitch=67, instrument=73)[0]
    assert audio.samples.shape == (1, 100) and np.isfinite(audio.samples).all()
    with pytest.raises(CadenzaError, match="pitch"):
        model.generate(n=1, pitch=130, length=10)
    with pytest.raises(CadenzaError, match="unknown instrument"):
        model.generate(n=1, instrument=5, length=10)
    with pytest.raises(CadenzaError, match="wrong length"):
        generate_fast(model.net_, controls(2), 60, 73, np.zeros(3 * 64))
    with pytest.raises(CadenzaError, match="frames, 2"):
        generate_naive(model.net_, np.zeros((4, 3), np.float32), 60, 73, np.zeros(10))
    with pytest.raises(CadenzaError, match="frames, 2"):
        model.stream(0).step(np.zeros(5, np.float32))


def test_log_prob_is_bits_per_sample(model, data):
    result = model.log_prob(data)
    assert result.events == sum(len(f) * 64 for f in data.f0)
    assert 0 < result.bits_per_event < 9  # a nearly untrained net: about 8 bits (uniform over 256)


def test_save_then_load_gives_the_same_samples(model, tmp_path):
    import cadenza

    loaded = cadenza.load(model.save(tmp_path / "run"))
    a = model.generate(n=2, seed=5, length=150)
    b = loaded.generate(n=2, seed=5, length=150)
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def chorales(tiny_corpus):
    return contract_data(list(tiny_corpus))


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
def test_contract(check, chorales):
    check("wavenet", chorales)
