"""Export for live use (cadenza.models.audio.vae_export, cadenza.nn.stateful, cadenza.realtime.export):
the TorchScript file in nn~'s layout and the ONNX graphs
stream block by block and give what the eager offline network gives (random weights: parity does not
depend on training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cadenza.errors import CadenzaError
from cadenza.models.audio.vae import VAE
from cadenza.models.audio.vae_export import export_onnx, export_torchscript, exported_vae
from cadenza.models.audio.vae_net import VAENet
from cadenza.nn.stateful import convert
from cadenza.realtime.export import OnnxStream
from support import run_cli

# torch marks torch.jit deprecated; nn~ loads TorchScript and nothing else
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:DeprecationWarning")

TOL = 1e-4
# a little larger than tiny_config: 4 bands, a noise chunk of 4 band samples, 16 samples a frame
CONFIG = dict(VAE.tiny_config, n_bands=4, ratios=[2, 2], channels=4, decoder_channels=8, latent=3, noise_hop=4)


@pytest.fixture(scope="module")
def vae(one_torch_thread):
    torch.manual_seed(0)
    model = VAE(**CONFIG)
    model.net_ = VAENet(model.config).eval()
    return model


@pytest.fixture(scope="module")
def scripted(vae, tmp_path_factory):
    path = export_torchscript(vae, tmp_path_factory.mktemp("ts") / "vae.ts")
    return torch.jit.load(str(path))


@pytest.fixture(scope="module")
def audio(vae):
    t = torch.arange(vae.frame_samples * 24) / vae.sample_rate
    return (0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.randn(t.shape, generator=torch.Generator()
                                                                         .manual_seed(1)))[None]  # [1, T]


@pytest.fixture(scope="module")
def offline(vae, audio):
    """The eager network's offline encode and decode, noise off: (means, audio)."""
    with torch.no_grad():
        mean, _ = vae.net_.encode(audio)
        return mean, vae.net_.decode(mean, noise=False)


def streamed(step, x: torch.Tensor, block: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([step(x[..., i:i + block]) for i in range(0, x.shape[-1], block)], dim=-1)


def test_torchscript_file_has_the_nn_tilde_layout(scripted, vae):
    latent, frame = vae.latent_size, vae.frame_samples
    assert scripted.get_methods() == ["encode", "decode", "forward"]
    assert scripted.get_attributes() == ["noise"] and scripted.get_buffer_attributes() == []
    assert scripted.encode_params.tolist() == [1, 1, latent, frame]
    assert scripted.decode_params.tolist() == [latent, frame, 1, 1]
    assert scripted.forward_params.tolist() == [1, 1, 1, 1]
    assert scripted.noise_params.tolist() == [0]  # nn~'s code for a bool
    assert len(scripted.encode_output_labels) == latent == len(scripted.decode_input_labels)
    assert len(scripted.forward_input_labels) == 1 == len(scripted.decode_output_labels)
    assert scripted.sr == scripted.get_sample_rate() == scripted.sample_rate == vae.sample_rate
    assert (scripted.latent_size, scripted.block_size) == (latent, frame)
    scripted.set_sample_rate(48000)  # a host at another rate: the model's rate stays
    assert scripted.get_sample_rate() == vae.sample_rate
    assert scripted.get_noise() == (True,)
    assert scripted.set_noise(False) == 0 and scripted.get_noise() == (False,)
    scripted.set_noise(True)


@pytest.mark.parametrize("frames", [1, 2, 8])
def test_scripted_forward_streams_like_the_offline_pass(scripted, vae, audio, offline, frames):
    scripted.set_noise(False)
    scripted.reset()
    out = streamed(scripted.forward, audio[:, None], frames * vae.frame_samples)  # [1, 1, T]
    reference = offline[1]
    assert reference.abs().max() > 1e-3  # something to compare
    torch.testing.assert_close(out[:, 0], reference, atol=TOL, rtol=0)
    scripted.set_noise(True)


def test_scripted_encode_and_decode_are_the_eager_ones(scripted, vae, audio, offline):
    mean, decoded = offline
    scripted.set_noise(False)
    scripted.reset()
    torch.testing.assert_close(streamed(scripted.encode, audio[:, None], 3 * vae.frame_samples), mean,
                               atol=TOL, rtol=0)
    scripted.reset()
    torch.testing.assert_close(streamed(scripted.decode, mean, 5)[:, 0], decoded, atol=TOL, rtol=0)
    scripted.set_noise(True)


def test_scripted_noise_is_drawn_as_the_eager_decode_draws_it(scripted, offline, vae):
    mean = offline[0]
    with torch.no_grad():
        reference = vae.net_.decode(mean, generator=torch.Generator().manual_seed(7))
    scripted.reset()
    torch.manual_seed(7)  # the exported model draws from the global generator, time-major
    torch.testing.assert_close(streamed(scripted.decode, mean, 2)[:, 0], reference, atol=TOL, rtol=0)


def test_reset_restarts_the_stream_and_a_new_batch_size_starts_from_silence(scripted, vae, audio):
    scripted.set_noise(False)
    block = 2 * vae.frame_samples
    scripted.reset()
    first = streamed(scripted.forward, audio[:, None], block)
    carried_on = streamed(scripted.forward, audio[:, None], block)
    scripted.reset()
    again = streamed(scripted.forward, audio[:, None], block)
    assert torch.equal(first, again) and not torch.allclose(first, carried_on)
    pair = streamed(scripted.forward, audio[:, None].expand(2, 1, -1), block)  # mc.nn~: two channels
    torch.testing.assert_close(pair, first.expand(2, 1, -1), atol=TOL, rtol=0)
    scripted.set_noise(True)


def test_a_block_size_the_model_cannot_take_is_one_clear_line(scripted, vae):
    frame = vae.frame_samples
    with pytest.raises(Exception, match=f"forward: a block of {frame + 1} samples; this model takes "
                                        f"multiples of {frame}"):
        scripted(torch.zeros(1, 1, frame + 1))
    with pytest.raises(Exception, match=r"decode: expected a block \[batch, 3, time\], got \[1, 2, 4\]"):
        scripted.decode(torch.zeros(1, 2, 4))
    scripted.reset()


def test_onnx_graphs_stream_like_the_eager_network(vae, audio, offline, tmp_path):
    import onnx

    mean, decoded = offline
    paths = export_onnx(vae, tmp_path / "vae.onnx", noise=False)
    assert [p.name for p in paths] == ["vae.onnx", "vae.encode.onnx", "vae.decode.onnx"]
    meta = {p.key: p.value for p in onnx.load(str(paths[0])).metadata_props}
    assert (meta["sample_rate"], meta["latent_size"], meta["block_size"]) == \
        (str(vae.sample_rate), str(vae.latent_size), str(vae.frame_samples))
    samples = audio[0].numpy()
    forward = OnnxStream(paths[0])
    assert (forward.sample_rate, forward.channels) == (vae.sample_rate, 1)
    for frames in (1, 3):
        forward.init_state()
        out = np.concatenate([forward.step(samples[i:i + frames * vae.frame_samples])
                              for i in range(0, len(samples), frames * vae.frame_samples)], axis=-1)
        np.testing.assert_allclose(out, decoded.numpy(), atol=TOL, rtol=0)
    encode = OnnxStream(paths[1])
    latents = np.concatenate([encode.step(samples[i:i + 2 * vae.frame_samples])
                              for i in range(0, len(samples), 2 * vae.frame_samples)], axis=-1)
    np.testing.assert_allclose(latents, mean[0].numpy(), atol=TOL, rtol=0)
    decode = OnnxStream(paths[2])
    out = np.concatenate([decode.step(mean[0, :, i:i + 4].numpy()) for i in range(0, mean.shape[-1], 4)], axis=-1)
    np.testing.assert_allclose(out, decoded.numpy(), atol=TOL, rtol=0)
    with pytest.raises(CadenzaError, match="forward: a block of 5; this graph takes multiples of"):
        forward.step(np.zeros(5, np.float32))


def test_converter_walks_any_causal_stack(one_torch_thread):
    """A codec-like stack (Snake, strided and transposed convolutions, residual units) converts too."""
    from cadenza.models.audio.codec_net import decoder_block, encoder_block
    from cadenza.nn.conv import CausalConvStack

    torch.manual_seed(0)
    eager = CausalConvStack(encoder_block(2, 4, 2, causal=True), decoder_block(4, 2, 2, causal=True)).eval()
    stateful = torch.jit.script(convert(eager))  # Snake too: its scriptable twin
    x = torch.randn(1, 2, 48)
    with torch.no_grad():
        torch.testing.assert_close(streamed(stateful, x, 4), eager(x), atol=TOL, rtol=0)
    with pytest.raises(TypeError, match="only the causal layers"):
        from cadenza.models.audio.codec_net import CentredConv1d

        convert(CentredConv1d(2, 2, 3))


def test_only_a_fitted_vae_exports():
    with pytest.raises(CadenzaError, match="not fitted"):
        exported_vae(VAE(**VAE.tiny_config))


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, one_torch_thread):
    """A real tiny run directory (save needs the fitted prior and PCA, which fit makes)."""
    pytest.importorskip("cadenza.models.latent")
    import cadenza
    from cadenza.testing import contract_data

    path = tmp_path_factory.mktemp("run") / "vae"
    cadenza.create("vae", **VAE.tiny_config).fit(contract_data(seconds=2).audio).save(path)
    return path


def test_cli_export_writes_what_it_says(vae_run, tmp_path, capsys):
    code, out, err = run_cli(["export", vae_run, "--format", "torchscript", "--out", tmp_path / "m.ts"], capsys)
    assert code == 0, err
    assert "methods encode, decode, forward" in out and "block size 8 samples" in out and "latent size 3" in out
    assert torch.jit.load(str(tmp_path / "m.ts")).get_methods() == ["encode", "decode", "forward"]
    code, out, err = run_cli(["export", vae_run, "--format", "onnx", "--out", tmp_path / "m.onnx"], capsys)
    assert code == 0, err
    assert all((tmp_path / name).is_file() for name in ("m.onnx", "m.encode.onnx", "m.decode.onnx"))
    assert "16000 Hz" in out


def test_cli_export_refuses_in_one_line(tmp_path, capsys, tiny_corpus):
    import cadenza

    run = tmp_path / "any"  # the format and the suffix are checked before the run is read
    code, _, err = run_cli(["export", run, "--format", "onnx", "--out", tmp_path / "m.ts"], capsys)
    assert code == 2 and "an onnx export is written as .onnx" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export", run, "--format", "torchscript", "--out", tmp_path / "m.onnx"], capsys)
    assert code == 2 and "a torchscript export is written as .ts or .pt" in err
    code, _, err = run_cli(["export", run, "--format", "tflite", "--out", tmp_path / "m.ts"], capsys)
    assert code == 2 and "--format must be torchscript or onnx" in err
    markov = cadenza.create("markov").fit(tiny_corpus).save(tmp_path / "markov")
    code, _, err = run_cli(["export", markov, "--format", "torchscript", "--out", tmp_path / "m.ts"], capsys)
    assert code == 2 and "a markov run; export takes a vae run" in err and len(err.strip().splitlines()) == 1
