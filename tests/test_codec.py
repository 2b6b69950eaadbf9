"""The codec: streamed decode equals offline decode, codes do not depend on how the input is
chunked, one model gives every bitrate, token files carry the codec's identity, and bad input
is one clear line (library and command line)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import support
from cadenza.audio.io import Audio
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.codec import Codec, Config, decode_file, read_tokens, write_tokens
from cadenza.models.audio.codec_net import CodecNet
from cadenza.realtime.stream import run_blocks

TINY = Codec.tiny_config


@pytest.fixture(scope="module")
def data():
    melody = support.melody([67, 69, 71, 72, 74, 76], beats=0.5)
    return from_scores([melody, support.melody([60, 64, 67], beats=0.5)], 73, "tiny")


@pytest.fixture(scope="module")
def model(data):
    return Codec(**{**TINY, "max_steps": 4, "adversarial_start": 2}).fit(data)


@pytest.fixture(scope="module")
def clip(data):
    return Audio(np.asarray(data.audio[0][:4000], np.float32), data.sample_rate)


def tiny_net(seed=0, **overrides):
    torch.manual_seed(seed)
    return CodecNet(Config(**{**TINY, **overrides})).eval()


def test_the_network_maps_frames_to_samples():
    net = tiny_net()
    audio = torch.randn(2, 8 * 5 + 3) * 0.1  # not a whole number of frames: padded, then trimmed
    with torch.no_grad():
        out = net(audio)
        codes = net.encode(audio)
    assert out.audio.shape == audio.shape
    assert codes.shape == (2, TINY["n_q"], 6) and codes.dtype == torch.int64
    assert net.decode(codes).shape == (2, 6 * 8)


FOURIER = {"decoder": "fourier", "decoder_channels": 16, "decoder_layers": 2}


@pytest.mark.parametrize("decoder", [{}, FOURIER], ids=["convolutional", "fourier"])
def test_causal_means_no_look_ahead(decoder):
    """Changing the input from sample t on changes no code of a frame that ends before t."""
    net = tiny_net(**decoder)
    a = torch.randn(1, 8 * 20) * 0.1
    b = a.clone()
    b[:, 8 * 12:] = torch.randn(1, 8 * 8)
    with torch.no_grad():
        ca, cb = net.encode(a), net.encode(b)
        da, db = net.decode(ca), net.decode(cb)
    assert torch.equal(ca[..., :12], cb[..., :12]) and not torch.equal(ca, cb)
    assert torch.equal(da[:, : 8 * 12], db[:, : 8 * 12])


@pytest.mark.parametrize("decoder", [{}, FOURIER], ids=["convolutional", "fourier"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_decode_equals_offline_decode(seed, decoder):
    net = tiny_net(seed, **decoder)
    rng = np.random.default_rng(seed)
    codes = torch.from_numpy(rng.integers(0, TINY["codebook_size"], (1, TINY["n_q"], 40)))
    with torch.no_grad():
        offline = net.decode(codes)
        state, blocks, start = None, [], 0
        while start < 40:
            size = int(rng.integers(1, 7))  # blocks of 1 to 6 frames
            audio, state = net.decode_stream(codes[..., start:start + size], state)
            blocks.append(audio)
            start += size
    streamed = torch.cat(blocks, dim=1)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max() < 1e-4


@pytest.mark.parametrize("seed", [0, 1])
def test_codes_do_not_depend_on_how_the_input_is_chunked(seed):
    """descript-audio-codec#39: a causal encoder streamed in blocks of any size gives the codes
    of the whole input, frame by frame (a sample of a frame yet to complete waits in the state)."""
    net = tiny_net(seed)
    rng = np.random.default_rng(seed)
    audio = torch.from_numpy(rng.standard_normal((1, 8 * 30)).astype(np.float32) * 0.2)
    with torch.no_grad():
        offline = net.encode(audio)
        state, blocks, start = None, [], 0
        while start < audio.shape[1]:
            size = int(rng.integers(1, 30))  # blocks of 1 to 29 samples: most end mid-frame
            codes, state = net.encode_stream(audio[:, start:start + size], state)
            blocks.append(codes)
            start += size
    streamed = torch.cat(blocks, dim=2)
    assert streamed.shape == offline.shape
    # argmin may tie-break differently where two codes are equally near, to float rounding
    assert (streamed == offline).float().mean() > 0.99


def test_the_fourier_decoder_runs_at_the_frame_rate_and_is_causal_only():
    net = tiny_net(**FOURIER)
    istft = net.decoder[-1]
    assert istft.hop == 8 and istft.n_fft == 32  # strides 2 x 4: the STFT hops one token frame
    convolutions = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Conv1d)]
    assert convolutions and all(m.stride == (1,) for m in convolutions)  # nothing learned upsamples
    with pytest.raises(ValueError, match="causal only"):
        tiny_net(causal=False, **FOURIER)


def test_some_crops_skip_the_quantiser_with_a_quantize_share():
    """Mimi's bypass: with quantize_share 0 the decoder sees the latent itself in training, and
    the codes are still computed (the codebooks keep learning); in eval the quantiser is always used."""
    net = tiny_net(quantize_share=0.0).train()
    audio = torch.randn(2, 8 * 40) * 0.1  # 80 frames for 16 codes a level: quantising changes the latent
    with torch.no_grad():
        bypassed = net(audio).audio
        latent = net.encoder(net._padded(audio))
        direct = net.decoder(latent)[:, 0, : audio.shape[-1]]
        assert torch.allclose(bypassed, direct, atol=1e-6)
        assert (net(audio).quantizer.codes >= -1).all()
        net.eval()
        quantized = net(audio).audio
    assert (quantized - direct).abs().max() > 1e-4


def test_a_non_causal_codec_runs_but_does_not_stream():
    net = tiny_net(causal=False)
    audio = torch.randn(1, 80) * 0.1
    with torch.no_grad():
        assert net(audio).audio.shape == (1, 80)
        with pytest.raises(RuntimeError, match="does not stream"):
            net.decode_stream(net.encode(audio))


def test_quantiser_dropout_trains_every_depth(model, clip):
    """One model, every bitrate: the first k codebooks decode, and more codebooks come closer."""
    assert model.bitrates() == [pytest.approx(k * 4 * model.frame_rate / 1000) for k in (1, 2, 3)]
    tokens = model.encode(clip)
    assert tokens.shape[0] == model.n_q
    for k in range(1, model.n_q + 1):
        assert np.array_equal(model.encode(clip, bitrate=model.bitrates()[k - 1]), tokens[:k])
        out = model.decode(tokens[:k])
        assert out.sample_rate == model.sample_rate and len(out) == tokens.shape[1] * model.frame_samples


def test_the_model_streams_what_it_decodes(model, clip):
    tokens = model.encode(clip)
    offline = model.decode(tokens).samples
    blocks = [tokens[:, i:i + 3] for i in range(0, tokens.shape[1], 3)]
    assert np.abs(run_blocks(model.decode_stream(), blocks) - offline).max() < 1e-4
    samples = clip.samples[0]
    pieces = [samples[i:i + 700] for i in range(0, len(samples), 700)]
    stream = model.encode_stream()
    stream.init_state()
    streamed = np.concatenate([stream.step(p) for p in pieces], axis=1)
    assert (streamed == tokens[:, :streamed.shape[1]]).mean() > 0.99


def test_bad_bitrates_and_tokens_are_clear_errors(model, clip):
    with pytest.raises(CadenzaError, match="cannot give 0.7 kbps"):
        model.encode(clip, bitrate=0.7)
    with pytest.raises(CadenzaError, match="cannot give"):
        model.encode(clip, bitrate=100)
    with pytest.raises(CadenzaError, match="tokens must be integers"):
        model.decode(np.full((1, 4), model.codebook_size))
    with pytest.raises(CadenzaError, match="codebooks"):
        model.decode(np.zeros((model.n_q + 1, 4), np.int64))


def test_bad_audio_is_a_clear_error(model):
    with pytest.raises(CadenzaError, match="silent"):
        model.encode(Audio(np.zeros((1, 4000), np.float32), 16000))
    with pytest.raises(CadenzaError, match="too short"):
        model.encode(Audio(np.full((1, 3), 0.1, np.float32), 16000))
    with pytest.raises(CadenzaError, match="NaN"):
        Audio(np.full((1, 4000), np.nan, np.float32), 16000)


def test_other_rates_and_channels_are_adapted_with_a_note(model, clip):
    stereo = Audio(np.stack([clip.samples[0], clip.samples[0]]), 16000).resample(22050)
    out, notes = model.transfer(stereo)
    assert out.sample_rate == 16000 and abs(len(out) - len(clip)) <= 1
    assert any("mixed 2 channels" in n for n in notes) and any("resampled from 22050" in n for n in notes)


def test_token_files_round_trip_and_refuse_another_codec(model, data, clip, tmp_path):
    tokens = model.encode(clip, bitrate=model.bitrates()[1])
    path = write_tokens(tmp_path / "x.npz", tokens, model, len(clip), run="somewhere")
    read, header = read_tokens(path)
    assert np.array_equal(read, tokens) and header["codec"] == model.identity and header["samples"] == len(clip)
    decoded = decode_file(path, model)
    assert len(decoded) == len(clip)
    assert np.allclose(decoded.samples, model.decode(tokens).samples[:, :len(clip)], atol=1e-6)
    other = Codec(**{**TINY, "seed": 1}).fit(data)
    assert other.identity != model.identity
    with pytest.raises(CadenzaError, match="tokens made by codec"):
        decode_file(path, other)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CadenzaError, match="not a Cadenza token file"):
        read_tokens(tmp_path / "bad.npz")


def test_identity_survives_save_and_load(model, tmp_path):
    import cadenza

    model.save(tmp_path / "run")
    loaded = cadenza.load(tmp_path / "run")
    assert loaded.identity == model.identity


def test_a_fourier_codec_trains_saves_loads_and_streams(data, clip, tmp_path):
    """The laptop preset's decoder, end to end at tiny size: fit, save, load, the same tokens and
    audio after loading, and the streamed decode of the loaded model equal to its offline decode."""
    import cadenza

    trained = Codec(**{**TINY, **FOURIER, "max_steps": 4, "adversarial_start": 2}).fit(data)
    trained.save(tmp_path / "run")
    loaded = cadenza.load(tmp_path / "run")
    assert loaded.config.decoder == "fourier" and loaded.identity == trained.identity
    tokens = trained.encode(clip)
    assert np.array_equal(loaded.encode(clip), tokens)
    offline = loaded.decode(tokens).samples
    assert np.isfinite(offline).all() and np.allclose(offline, trained.decode(tokens).samples, atol=1e-6)
    stream = loaded.decode_stream()
    stream.init_state()
    streamed = np.concatenate([stream.step(tokens[:, i:i + 3]) for i in range(0, tokens.shape[1], 3)], axis=1)
    assert np.abs(streamed - offline).max() < 1e-4


def test_fp16_weights_load(model, tmp_path):
    """Shipped codecs store their float weights in fp16 (scripts/train_codec.py)."""
    import cadenza
    from cadenza.models.audio.codec import save_half_precision

    model.save(tmp_path / "run")
    save_half_precision(tmp_path / "run", tmp_path / "small")
    small = cadenza.load(tmp_path / "small")
    tokens = np.zeros((1, 5), np.int64)
    assert np.abs(small.decode(tokens).samples - model.decode(tokens).samples).max() < 1e-2


def test_training_improves_reconstruction(data, model):
    """Thirty steps of the reconstruction losses bring the decoded audio nearer the input than
    the four steps of the shared model."""
    from cadenza.evaluate.audio import multiscale_mel_distance

    clip = Audio(np.asarray(data.audio[0][:8000], np.float32), data.sample_rate)
    trained = Codec(**{**TINY, "max_steps": 30, "adversarial_start": 1000, "learning_rate": 3e-3,
                       "steps_per_epoch": 30}).fit(data)
    distance = [multiscale_mel_distance(m.decode(m.encode(clip)), clip) for m in (model, trained)]
    assert distance[1] < 0.8 * distance[0]


def test_cli_encode_decode_and_bad_input(model, clip, tmp_path, capsys):
    from support import run_cli

    model.save(tmp_path / "run")
    clip.write(tmp_path / "in.wav")
    code, out, err = run_cli(["encode", tmp_path / "in.wav", "--model", tmp_path / "run", "--bitrate",
                              model.bitrates()[0], "--out", tmp_path / "x.npz"], capsys)
    assert code == 0, err
    tokens, header = read_tokens(tmp_path / "x.npz")
    assert tokens.shape[0] == 1 and header["run"] == str(tmp_path / "run")
    code, out, err = run_cli(["decode", tmp_path / "x.npz", "--out", tmp_path / "out.wav"], capsys)
    assert code == 0, err
    assert len(Audio.read(tmp_path / "out.wav")) == len(clip)
    for args, message in [
        (["encode", tmp_path / "in.wav", "--model", tmp_path / "run", "--bitrate", "0.3", "--out",
          tmp_path / "y.npz"], "cannot give"),
        (["encode", tmp_path / "missing.wav", "--model", tmp_path / "run", "--out", tmp_path / "y.npz"],
         "missing.wav"),
        (["encode", tmp_path / "in.wav", "--model", tmp_path / "run", "--out", tmp_path / "y.wav"], ".npz"),
        (["decode", tmp_path / "in.wav", "--out", tmp_path / "z.wav"], "not a Cadenza token file"),
    ]:
        code, out, err = run_cli(args, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "y.npz").exists() and not (tmp_path / "z.wav").exists()


def test_shipped_codec_codes_and_decodes():
    import cadenza

    codec = cadenza.load("pretrained/codec")
    assert codec.bitrates()[0] == 0.5 and codec.bitrates()[-1] == 6.0 and codec.frame_rate == 50
    t = np.arange(16000) / 16000
    tone = Audio((0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), 16000)
    tokens = codec.encode(tone, bitrate=3)
    assert tokens.shape == (6, 50)
    out = codec.decode(tokens)
    assert len(out) == 16000 and np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0.01
    assert codec.metrics_["valid_mel_distance_6kbps"] < 5
