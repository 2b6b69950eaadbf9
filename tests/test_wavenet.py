"""WaveNet: the naive and the fast generator agree sample for sample, the receptive field
and causality hold, streaming equals offline, bad input is one clear error, and the model
keeps the contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import support
from cadenza.audio.features import midi_to_hz
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.wavenet import Config, WaveNet, level
from cadenza.models.audio.wavenet_net import WaveNetNet, generate_fast, generate_naive, receptive_field, sine_excitation
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


def assert_same_or_tie(net, c, pitch, program, uniforms, a, b, temperature=1.0):
    """``a`` and ``b`` are the same classes, or differ first where the uniform falls within
    rounding of a CDF boundary: two paths that sum the same float32 products in other orders
    (naive and cached, one row and a batch) may round differently on some CPU, only there."""
    if np.array_equal(a, b):
        return
    t = int(np.argmax(a != b))
    previous = np.concatenate([[0.0], level(a[:t])]).astype(np.float32)
    frames = t // 64 + 1
    with torch.no_grad():
        out = net(torch.from_numpy(previous)[None], torch.from_numpy(c[:frames])[None],
                  torch.full((1, frames), pitch), torch.full((1, frames), program))
        logits = net.class_log_probs(out)[0, :, t].double().numpy()
    p = np.exp(logits / temperature - (logits / temperature).max())
    cdf = np.cumsum(p)
    assert np.abs(cdf - uniforms[t] * cdf[-1]).min() < 1e-5 * cdf[-1], f"generators differ at sample {t}"


@pytest.mark.parametrize(("output", "excitation"), [("softmax", "sine"), ("logistic_mixture", "sine"),
                                                    ("softmax", "none")])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_naive_and_fast_generators_give_identical_samples(temperature, output, excitation):
    net = tiny_net(1, output=output, mixtures=3, excitation=excitation)
    c = controls(5)
    uniforms = np.random.default_rng(3).random(5 * 64 - 7)
    naive = generate_naive(net, c, 60, 73, uniforms, temperature)
    fast = generate_fast(net, c, 60, 73, uniforms, temperature)
    assert len(np.unique(fast)) > 5  # not a trivial constant
    assert_same_or_tie(net, c, 60, 73, uniforms, naive, fast, temperature)


def test_sine_excitation_is_the_same_in_blocks_and_in_training():
    f0 = np.stack([controls(6, 220.0)[:, 0], controls(6, 97.0)[:, 0]])  # [2, 6] rising f0
    whole, end = sine_excitation(f0, 64, 16000)
    assert whole.shape == (2, 2, 6 * 64)
    # Block by block, carrying the phase: the very same values, not merely close ones.
    start, parts = None, []
    for a, b in [(0, 1), (1, 4), (4, 6)]:
        part, start = sine_excitation(f0[:, a:b], 64, 16000, start=start)
        parts.append(part)
    assert np.array_equal(np.concatenate(parts, -1), whole) and np.array_equal(start, end)
    # The phase advances by f0 / sample_rate a sample: a sine and its cosine at f0.
    t = np.arange(64)
    assert np.allclose(whole[0, 0, :64], np.sin(2 * np.pi * 220 * t / 16000), atol=1e-5)
    assert np.allclose(whole[0, 1, :64], np.cos(2 * np.pi * 220 * t / 16000), atol=1e-5)
    assert np.isclose(end[1], 64 * f0[1].sum() / 16000)
    # Training computes it in torch from the controls; the two agree.
    c = torch.from_numpy(np.stack([controls(6, 220.0), controls(6, 97.0)]))
    assert torch.allclose(tiny_net().excitation(c, 6 * 64 - 5), torch.from_numpy(whole[..., :-5]), atol=1e-4)


def test_a_batch_gives_each_sequence_what_it_gets_alone():
    net = tiny_net(4)
    c = np.stack([controls(4, f0) for f0 in (220.0, 330.0, 440.0)])
    uniforms = np.random.default_rng(5).random((3, 4 * 64))
    batch = generate_fast(net, c, 60, 73, uniforms)
    assert batch.shape == (3, 4 * 64)
    for row in range(3):
        alone = generate_fast(net, c[row], 60, 73, uniforms[row])
        assert_same_or_tie(net, c[row], 60, 73, uniforms[row], alone, batch[row])
    assert not np.array_equal(batch[0], batch[2])  # the rows are driven by their own controls


def test_mixture_of_logistics_is_a_distribution_over_the_classes():
    net = tiny_net(2, output="logistic_mixture", mixtures=4)
    out = torch.randn(2, 12, 7) * 3  # wide means and scales, including tiny ones
    log_p = net.class_log_probs(out)
    assert log_p.shape == (2, 256, 7)
    assert torch.allclose(log_p.exp().sum(1), torch.ones(2, 7), atol=1e-4)
    target = torch.randint(0, 256, (2, 7))
    expected = -log_p.gather(1, target[:, None])[:, 0].mean()
    assert torch.allclose(net.nll(out, target), expected, atol=1e-4)
    # One sharp component centred on a level puts nearly all its mass on that class.
    sharp = torch.zeros(1, 12, 1)
    sharp[0, 0] = 10.0  # component 0 dominates
    sharp[0, 4] = 2 * 200 / 255 - 1  # its mean: the level of class 200
    sharp[0, 8] = -7.0  # its log scale: the floor
    assert net.class_log_probs(sharp)[0, :, 0].exp().argmax() == 200
    assert net.class_log_probs(sharp)[0, 200, 0].exp() > 0.95  # logistic tails: 1 - 2 sigmoid(-4.3)


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
    with pytest.raises(CadenzaError, match="outside the range this model was trained on"):
        model.generate(n=1, pitch=60, length=10)  # trained on 67-79
    with pytest.raises(CadenzaError, match="unknown instrument"):
        model.generate(n=1, instrument=5, length=10)
    with pytest.raises(CadenzaError, match="wrong length"):
        generate_fast(model.net_, controls(2), 60, 73, np.zeros(3 * 64))
    with pytest.raises(CadenzaError, match="frames, 2"):
        generate_naive(model.net_, np.zeros((4, 3), np.float32), 60, 73, np.zeros(10))
    with pytest.raises(CadenzaError, match="frames, 2"):
        model.stream(0).step(np.zeros(5, np.float32))


def test_generating_several_notes_at_once_equals_the_stream(model):
    pieces = model.generate(n=3, seed=5, length=200, pitch=72)
    assert len(pieces) == 3 and all(p.samples.shape == (1, 200) for p in pieces)
    seeds = [int(np.random.default_rng(s).integers(2**31)) for s in np.random.SeedSequence(5).spawn(3)]
    note = np.tile([[midi_to_hz(72), model.envelope_.level(100)]], (4, 1)).astype(np.float32)
    for piece, seed in zip(pieces, seeds):
        alone = model.render_controls(note, seed, 72)[:, :200]
        if not np.array_equal(piece.samples, alone):  # a rounding tie: allowed only rarely, and early
            assert np.mean(piece.samples == alone) > 0.2


def test_a_score_out_of_the_trained_range_still_plays(model):
    audio = model.generate(n=1, midi=None, pitch=72, length=64)[0]
    assert audio.samples.shape == (1, 64)
    stream = model.stream(0)
    stream.init_state()
    assert np.isfinite(stream.step(controls(2, f0=60.0))).all()  # f0 far below the trained pitches


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


@pytest.mark.parametrize("name", ["wavenet-notes", "wavenet-violin"])
def test_shipped_checkpoints_load_and_generate(name):
    import cadenza

    model = cadenza.load(f"pretrained/{name}")
    low, high = model.pitch_range_
    pieces = model.generate(n=2, seed=0, pitch=(low + high) // 2, length=256, progress=False)
    assert [p.samples.shape for p in pieces] == [(1, 256)] * 2
    assert all(np.isfinite(p.samples).all() for p in pieces)
    assert not np.array_equal(pieces[0].samples, pieces[1].samples)
    assert model.metrics_["valid_bits_per_event"] < 8  # better than a uniform guess over 256 classes
