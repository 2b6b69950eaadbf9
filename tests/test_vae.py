"""The VAE: streamed encoding and decoding equal the offline passes at any block size (noise
included), phase 2 freezes the encoder, the KL weight warms up, short clips are used, the prior
learns, transfer is aligned with its input, and bad input is one clear line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import support
from cadenza.audio.io import Audio
from cadenza.data.audio_sets import from_audio, from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.vae import VAE, Config
from cadenza.models.audio.vae_net import LatentPrior, VAENet
from cadenza.realtime.stream import run_blocks

TINY = VAE.tiny_config
# big enough for blocks of 512-4096 samples to be whole latent frames, still fast
SMALL = dict(n_bands=4, ratios=[4, 4], channels=4, decoder_channels=16, latent=4, noise_hop=4)


@pytest.fixture(scope="module")
def data():
    melody = support.melody([67, 69, 71, 72, 74, 76], beats=0.5)
    return from_scores([melody, support.melody([60, 64, 67], beats=0.5)], 73, "tiny")


@pytest.fixture(scope="module")
def model(data):
    return VAE(**{**TINY, "max_steps": 4, "adversarial_start": 2}).fit(data)


@pytest.fixture(scope="module")
def clip(data):
    return Audio(np.asarray(data.audio[0][:4000], np.float32), data.sample_rate)


def small_model(seed=0, **overrides) -> VAE:
    """A VAE whose network is set by hand (random weights): enough for the streaming paths."""
    torch.manual_seed(seed)
    model = VAE(**{**SMALL, **overrides})
    model.net_ = VAENet(model.config).eval()
    model.data_spec_ = {}  # fitted, as far as streaming is concerned
    return model


def test_the_network_maps_frames_to_samples():
    net = VAENet(Config(**SMALL))
    audio = torch.randn(2, 64 * 5 + 3) * 0.1  # not whole frames: padded, then trimmed
    out = net(audio)
    assert out.audio.shape == audio.shape
    assert out.mean.shape == out.scale.shape == (2, 4, 6) and (out.scale > 0).all()
    assert out.kl.ndim == 0 and out.kl.item() >= 0
    assert net.decode(out.mean).shape == (2, 6 * 64)


@pytest.mark.parametrize("seed", [0, 1])
def test_streams_equal_the_offline_passes_for_any_split(seed):
    """Encoding in random blocks (most ending mid-frame) gives the offline means, and decoding in
    random blocks of frames gives the offline audio, noise and all (noise is drawn time-major)."""
    net = VAENet(Config(**SMALL)).eval()
    rng = np.random.default_rng(seed)
    audio = torch.randn(1, 64 * 12) * 0.1
    with torch.no_grad():
        mean, _ = net.encode(audio)
        cuts = np.sort(rng.choice(np.arange(1, audio.shape[1]), size=9, replace=False))
        state, streamed = None, []
        for part in np.split(np.arange(audio.shape[1]), cuts):
            z, state = net.encode_stream(audio[:, part], state)
            streamed.append(z)
        torch.testing.assert_close(torch.cat(streamed, -1), mean, atol=1e-5, rtol=1e-5)

        offline = net.decode(mean, torch.Generator().manual_seed(7))
        generator, state, pieces = torch.Generator().manual_seed(7), None, []
        cuts = [0, *sorted(rng.choice(np.arange(1, 12), size=4, replace=False)), 12]
        for a, b in zip(cuts[:-1], cuts[1:]):
            y, state = net.decode_stream(mean[..., a:b], state, generator)
            pieces.append(y)
        torch.testing.assert_close(torch.cat(pieces, -1), offline, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("block", [512, 1024, 2048, 4096])
def test_the_transfer_stream_equals_offline_at_live_block_sizes(block):
    """RAVE#158 ("stutters live but not offline") is the bug this rules out."""
    model = small_model()
    samples = np.sin(np.arange(8192) * 0.05).astype(np.float32) * 0.5
    stream = model.stream(seed=3)
    stream.init_state()
    live = run_blocks(stream, [samples[i:i + block] for i in range(0, len(samples), block)])
    offline = model.decode(model.encode(Audio(samples, model.sample_rate)), seed=3).samples
    assert live.shape == offline.shape == (1, 8192)
    np.testing.assert_allclose(live, offline, atol=1e-5)


def test_causal_means_no_look_ahead():
    net = VAENet(Config(**SMALL)).eval()
    a = torch.randn(1, 64 * 10) * 0.1
    b = a.clone()
    b[:, 64 * 6:] = torch.randn(1, 64 * 4)
    with torch.no_grad():
        za, zb = net.encode(a)[0], net.encode(b)[0]
    torch.testing.assert_close(za[..., :6], zb[..., :6])
    assert not torch.allclose(za[..., 6:], zb[..., 6:])


def test_the_kl_weight_warms_up_and_phase_two_freezes_the_encoder(monkeypatch):
    from cadenza.models.audio.vae_system import VAESystem

    config = Config(**{**SMALL, "kl_weight": 0.2, "kl_warmup": 10, "adversarial_start": 5, "max_steps": 20,
                       "example_seconds": 0.032, "discriminator_scales": 1, "discriminator_channels": 2})
    torch.manual_seed(0)
    system = VAESystem(VAENet(config), config)
    assert system.phase_schedule() == (("representation", 0), ("adversarial", 5))
    system.batches_done.fill_(0)
    assert system.beta() == 0
    system.batches_done.fill_(5)
    assert system.beta() == pytest.approx(0.1)
    system.batches_done.fill_(50)
    assert system.beta() == pytest.approx(0.2)

    optimizers = system.configure_optimizers()
    encoder = {id(p) for p in system.model.encoder.parameters()}
    assert not encoder & {id(p) for group in optimizers[1].param_groups for p in group["params"]}
    monkeypatch.setattr(system, "optimizers", lambda: optimizers)
    monkeypatch.setattr(system, "manual_backward", lambda loss: loss.backward())
    monkeypatch.setattr(system, "log", lambda *args, **kwargs: None)
    monkeypatch.setattr(system, "clip_gradients", lambda *args, **kwargs: None)
    before = {k: v.clone() for k, v in system.model.state_dict().items()}
    system.batches_done.fill_(5)  # phase 2
    system.training_step(torch.randn(2, 512) * 0.1, 0)
    after = system.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))


def test_fit_records_phases_data_use_and_the_latent(model, data):
    assert model.metrics_["train_clips"] == len(data)
    assert model.metrics_["train_crops"] > 0
    assert 1 <= model.metrics_["latent_dims_at_fidelity"] <= model.latent_size
    assert model.pca_.components_.shape == (model.latent_size, model.latent_size)


def test_clips_shorter_than_a_crop_are_padded_not_dropped():
    config = {**TINY, "example_seconds": 0.5, "max_steps": 1, "adversarial_start": 5, "prior_steps": 1}
    crop = VAE(**config).config.crop_samples
    rng = np.random.default_rng(0)
    clips = [(str(i), Audio(rng.standard_normal(crop // 2 + 64 * i).astype(np.float32) * 0.1, 16000))
             for i in range(3)]
    model = VAE(**config).fit(
        from_audio(clips, "short", "train"))
    assert model.metrics_["train_clips_padded"] == 3 and model.metrics_["train_crops"] == 3


def test_the_prior_learns_a_predictable_sequence():
    torch.manual_seed(0)
    prior = LatentPrior(latent=2, hidden=32, bins=16)
    t = torch.arange(64, dtype=torch.float32)
    z = torch.stack([torch.sin(t * 0.3), torch.cos(t * 0.3)], -1)[None].repeat(8, 1, 1)  # [8, 64, 2]
    prior.centre.zero_()
    prior.spread.fill_(0.5)
    optimizer = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(150):
        loss = prior.loss(z)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert prior.loss(z).item() < math.log(16) - 1.0  # far below a uniform guess over the bins
    sample = prior.sample(32, torch.Generator().manual_seed(0))
    assert sample.shape == (1, 32, 2) and torch.isfinite(sample).all()


def test_generate_transfer_and_latent_round_trip(model, clip):
    (piece,) = model.generate(1, seed=0, seconds=0.1)
    assert piece.sample_rate == model.sample_rate and piece.samples.shape[1] >= int(0.1 * model.sample_rate)
    out, notes = model.transfer(clip)
    assert out.samples.shape == clip.samples.shape and np.isfinite(out.samples).all()
    moved, notes = model.transfer(clip, offsets=[2.0])
    assert moved.samples.shape == clip.samples.shape and "axis 0" in notes[-1]
    assert not np.allclose(moved.samples, out.samples)
    latent = model.encode(clip)
    assert latent.shape == (model.latent_size, math.ceil(len(clip.samples[0]) / model.frame_samples))


def test_transfer_is_aligned_with_its_input():
    """The causal PQMF delays the decoder's output by ``delay`` samples; transfer removes it."""
    model = small_model()
    assert model.delay == model.net_.delay > 0
    rng = np.random.default_rng(0)
    clip = Audio(rng.standard_normal(2000).astype(np.float32) * 0.1, model.sample_rate)
    out, _ = model.transfer(clip, noise=False)
    raw = model.decode(model.encode(Audio(np.pad(clip.samples[0], (0, model.delay)), model.sample_rate)),
                       noise=False)
    np.testing.assert_allclose(out.samples[0], raw.samples[0, model.delay:model.delay + 2000], atol=1e-6)


def test_bad_input_is_a_clear_error(model, clip):
    with pytest.raises(CadenzaError, match="silent"):
        model.encode(Audio(np.zeros(4000, np.float32), model.sample_rate))
    with pytest.raises(CadenzaError, match="NaN|finite"):
        model.encode(Audio(np.full(4000, np.nan, np.float32), model.sample_rate))
    with pytest.raises(CadenzaError, match="short"):
        model.encode(Audio(np.ones(model.frame_samples - 1, np.float32) * 0.1, model.sample_rate))
    with pytest.raises(CadenzaError, match=r"expected shape \[3, frames\]"):
        model.decode(np.zeros((5, 10), np.float32))
    with pytest.raises(CadenzaError, match="NaN"):
        model.decode(np.full((3, 10), np.nan, np.float32))
    with pytest.raises(CadenzaError, match="offsets"):
        model.transfer(clip, offsets=[1.0] * 5)


def test_stereo_and_other_rates_are_converted_with_a_note(model, clip):
    stereo = Audio(np.stack([clip.samples[0], clip.samples[0]]), clip.sample_rate)
    out, notes = model.transfer(stereo)
    assert out.samples.shape == (1, clip.samples.shape[1]) and any("mono" in n or "mix" in n for n in notes)
    fast = Audio(clip.samples, 22050)
    out, notes = model.transfer(fast)
    assert out.sample_rate == model.sample_rate and any("resampl" in n for n in notes)


def test_save_then_load_gives_the_same_output(model, clip, tmp_path):
    model.save(tmp_path / "run")
    again = VAE.load(tmp_path / "run")
    np.testing.assert_allclose(again.encode(clip), model.encode(clip), atol=1e-6)
    a, b = again.generate(1, seed=2, seconds=0.05)[0], model.generate(1, seed=2, seconds=0.05)[0]
    np.testing.assert_allclose(a.samples, b.samples, atol=1e-6)


def test_cli_latent_files_round_trip_and_refuse_another_size(model, clip, tmp_path, capsys):
    from support import run_cli

    run = model.save(tmp_path / "run")
    clip.write(tmp_path / "in.wav")

    def cli(*args):
        return run_cli(["latent", *args], capsys)

    code, out, err = cli("encode", tmp_path / "in.wav", "--model", run, "--out", tmp_path / "z.npz")
    assert code == 0, err
    code, out, err = cli("decode", tmp_path / "z.npz", "--model", run, "--out", tmp_path / "o.wav")
    assert code == 0 and (tmp_path / "o.wav").is_file(), err
    other = VAE(**{**TINY, "latent": 5, "max_steps": 1, "prior_steps": 1})
    other_run = other.fit(from_audio([("a", clip)], "clip", "train")).save(tmp_path / "other")
    code, out, err = cli("decode", tmp_path / "z.npz", "--model", other_run, "--out", tmp_path / "x.wav")
    assert code == 2 and "a latent of 3 dimensions; this model's has 5" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    code, out, err = cli("decode", tmp_path / "bad.npz", "--model", run, "--out", tmp_path / "x.wav")
    assert code == 2 and "not a Cadenza latent file" in err


def test_cli_transfer_with_offsets_and_generate_from_the_prior(model, clip, tmp_path, capsys):
    from support import run_cli

    run = model.save(tmp_path / "run")
    clip.write(tmp_path / "in.wav")
    code, out, err = run_cli(["transfer", tmp_path / "in.wav", "--model", run, "--out", tmp_path / "o.wav",
                              "--offsets", "1.5,0,-1"], capsys)
    assert code == 0 and "axis 0" in out + err, err
    code, out, err = run_cli(["transfer", tmp_path / "in.wav", "--model", run, "--out", tmp_path / "o.wav",
                              "--offsets", "1,1,1,1"], capsys)
    assert code == 2 and "4 offsets for a 3-dimensional latent" in err
    code, out, err = run_cli(["generate", run, "--seconds", "0.1", "-n", "1", "--out", tmp_path / "gen"], capsys)
    assert code == 0 and list((tmp_path / "gen").glob("*.wav")), err


def test_shipped_vae_transfers_and_generates():
    import cadenza

    model = cadenza.load("pretrained/vae-violin")
    assert model.latent_size == 16 and model.frame_samples == 512
    t = np.arange(8000) / 16000
    clip = Audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    out, _ = model.transfer(clip)
    assert out.samples.shape == clip.samples.shape and np.isfinite(out.samples).all()
    assert 0.01 < np.abs(out.samples).max() <= 2.0  # it sounds, and not wildly
    (piece,) = model.generate(1, seed=0, seconds=0.5)
    assert piece.samples.shape == (1, 16 * 512) and np.isfinite(piece.samples).all()
    assert 1 <= model.pca_.dims_for(0.95) <= 16
