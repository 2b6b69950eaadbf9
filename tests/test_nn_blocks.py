"""cadenza.nn blocks: streamed causal convs, PQMF, mu-law, Snake, MADE."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal
from torch import nn

from cadenza.nn.activations import Snake, snake
from cadenza.nn.conv import (
    CausalConv1d,
    CausalConvStack,
    CausalConvTranspose1d,
    CausalResidual,
    receptive_field,
)
from cadenza.nn.made import MADE
from cadenza.nn.mulaw import mu_law_decode, mu_law_dequantize, mu_law_encode, mu_law_quantize
from cadenza.nn.pqmf import PQMF, design_prototype

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = settings(max_examples=20, deadline=None)


def split(x, sizes):
    """Cut ``x [..., T]`` into blocks of the given sizes (the last block takes the rest)."""
    edges = np.minimum(np.cumsum([0, *sizes]), x.shape[-1]).tolist() + [x.shape[-1]]
    return [x[..., a:b] for a, b in zip(edges[:-1], edges[1:])]


def run_stream(step, blocks):
    state, outputs = None, []
    for block in blocks:
        y, state = step(block, state)
        outputs.append(y)
    return torch.cat(outputs, dim=-1)


block_sizes = st.lists(st.integers(0, 20), min_size=1, max_size=10)


# --- causal convolutions ---------------------------------------------------------------------------

def codec_like_stack():
    """Every streamable piece at once: dilation, weight norm, stride, 1x1 conv, residual, upsampler, Snake."""
    torch.manual_seed(0)
    return CausalConvStack(
        CausalConv1d(2, 6, 3, dilation=2, weight_norm=True), Snake(6),
        CausalConv1d(6, 8, 4, stride=2), nn.Conv1d(8, 5, 1),
        CausalResidual(CausalConvStack(nn.ELU(), CausalConv1d(5, 5, 3, dilation=3, groups=5), nn.Conv1d(5, 5, 1))),
        CausalConvTranspose1d(5, 4, 6, stride=3, weight_norm=True), nn.Tanh(),
        CausalConv1d(4, 3, 5, stride=2),
    ).double().eval()


STACK = codec_like_stack()


@settings(max_examples=12, deadline=None)
@given(sizes=block_sizes)
def test_stream_equals_offline_for_any_blocks(sizes):
    x = torch.randn(2, 2, 61, dtype=torch.float64, generator=torch.Generator().manual_seed(len(sizes)))
    offline = STACK(x)  # [2, 3, 61 // 2 * 3 // 2]
    assert offline.shape == (2, 3, 45)
    streamed = run_stream(STACK.stream, split(x, sizes))
    torch.testing.assert_close(streamed, offline, rtol=1e-9, atol=1e-11)


def test_stream_sample_by_sample_in_float32():
    torch.manual_seed(1)
    wavenet = CausalConvStack(*[CausalConv1d(4, 4, 2, dilation=2 ** i) for i in range(6)]).eval()
    x = torch.randn(1, 4, 80)
    streamed = run_stream(wavenet.stream, split(x, [1] * 80))
    torch.testing.assert_close(streamed, wavenet(x), rtol=1e-5, atol=1e-5)


def test_receptive_field_known_answers():
    block = [CausalConv1d(1, 1, 2, dilation=2 ** i) for i in range(10)]
    assert receptive_field(CausalConvStack(*block)) == 1024  # WaveNet: one block of dilations 1..512
    wavenet = CausalConvStack(*[CausalConv1d(1, 1, 2, dilation=2 ** i) for _ in range(3) for i in range(10)])
    assert receptive_field(wavenet) == 3 * 1023 + 1
    strided = CausalConvStack(CausalConv1d(1, 1, 4, stride=2), nn.ReLU(), CausalConv1d(1, 1, 3, dilation=2))
    assert receptive_field(strided) == 4 + (5 - 1) * 2
    with pytest.raises(ValueError, match="upsampling"):
        receptive_field(CausalConvStack(CausalConvTranspose1d(1, 1, 4, stride=2)))


@pytest.mark.parametrize("stack", [
    CausalConvStack(*[CausalConv1d(1, 1, 2, dilation=2 ** i) for i in range(4)], nn.Tanh(),
                    CausalConv1d(1, 1, 3, dilation=3)),
    CausalConvStack(CausalConv1d(1, 2, 4, stride=2), nn.Tanh(), CausalConv1d(2, 1, 3, dilation=2, stride=3)),
])
def test_receptive_field_is_what_the_output_sees(stack):
    torch.manual_seed(2)
    stack = stack.double()
    field, hop = receptive_field(stack), math.prod(m.stride[0] for m in stack if isinstance(m, CausalConv1d))
    x = torch.randn(1, 1, 96, dtype=torch.float64, requires_grad=True)
    y = stack(x)
    n = y.shape[-1] - 1
    (grad,) = torch.autograd.grad(y[0, 0, n], x)
    seen = torch.nonzero(grad[0, 0].abs() > 1e-12).flatten()  # (a tolerance for any conv algorithm)
    last = (n + 1) * hop - 1  # the last input sample of output frame n
    assert seen.tolist() == list(range(last - field + 1, last + 1))


@FAST
@given(t=st.integers(0, 59))
def test_causal_output_does_not_see_the_future(t):
    x = torch.randn(1, 2, 60, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
    changed = x.clone()
    changed[..., t + 1:] += 1.0
    # STACK: output n reads upsampled samples <= 2n + 1, so frames <= (2n + 1) // 3 of the stride-2 conv,
    # and frame f reads input samples <= 2f + 1
    before, after = STACK(x), STACK(changed)
    last_input = [2 * ((2 * n + 1) // 3) + 1 for n in range(before.shape[-1])]
    safe = [n for n, last in enumerate(last_input) if last <= t]
    torch.testing.assert_close(before[..., safe], after[..., safe], rtol=0, atol=1e-12)
    if len(safe) < before.shape[-1]:
        assert (before[..., len(safe)] - after[..., len(safe)]).abs().max() > 1e-6  # the next one changes
    # a stride-1 stack: output t and before are untouched, t + 1 is not
    conv = CausalConvStack(CausalConv1d(2, 3, 3, dilation=2), nn.GELU(), CausalConv1d(3, 2, 2)).double()
    a, b = conv(x), conv(changed)
    torch.testing.assert_close(a[..., :t + 1], b[..., :t + 1], rtol=0, atol=1e-12)
    if t + 1 < x.shape[-1]:
        assert (a[..., t + 1] - b[..., t + 1]).abs().max() > 1e-6


def test_conv_layers_shapes_and_errors():
    x = torch.randn(3, 4, 20)
    assert CausalConv1d(4, 6, 3, dilation=4)(x).shape == (3, 6, 20)
    assert CausalConv1d(4, 6, 4, stride=4)(x).shape == (3, 6, 5)
    assert CausalConvTranspose1d(4, 2, 8, stride=4)(x).shape == (3, 2, 80)
    assert CausalConv1d(4, 6, 4, stride=4)(x[..., :3]).shape == (3, 6, 0)  # no complete frame yet
    assert "parametrizations.weight.original0" in CausalConv1d(4, 6, 3, weight_norm=True).state_dict()
    with pytest.raises(ValueError, match="skip"):
        CausalConv1d(1, 1, 2, stride=3)
    with pytest.raises(ValueError, match="gaps"):
        CausalConvTranspose1d(1, 1, 2, stride=3)
    with pytest.raises(TypeError, match="Conv1d"):
        CausalConvStack(nn.Conv1d(1, 1, 3))
    with pytest.raises(TypeError, match="Sequential"):
        CausalConvStack(nn.Sequential(CausalConv1d(1, 1, 3)))  # streamable inside, but no stream of its own


# --- PQMF ------------------------------------------------------------------------------------------

def snr_db(reference, estimate, edge=1000):
    reference, estimate = reference[..., edge:-edge], estimate[..., edge:-edge]
    return float(10 * torch.log10((reference ** 2).sum() / ((reference - estimate) ** 2).sum()))


T = 2 ** 15
NOISE = torch.randn(1, 1, T, generator=torch.Generator().manual_seed(0))
_t = np.arange(T) / 44100
CHIRP = torch.tensor(signal.chirp(_t, 20, _t[-1], 20000, method="logarithmic"), dtype=torch.float32)[None, None]


@pytest.mark.parametrize("n_bands", [2, 4, 8, 16])
@pytest.mark.parametrize("name", ["noise", "chirp"])
def test_pqmf_reconstructs(n_bands, name):
    x = {"noise": NOISE, "chirp": CHIRP}[name]
    pqmf = PQMF(n_bands)
    bands = pqmf.analysis(x)
    assert bands.shape == (1, n_bands, T // n_bands)
    assert snr_db(x, pqmf.synthesis(bands)) > 55  # measured 58.3-59.4 dB (see cadenza/nn/pqmf.py)
    causal = pqmf.synthesis(pqmf.analysis(x, causal=True), causal=True)
    assert snr_db(x[..., :T - pqmf.delay], causal[..., pqmf.delay:]) > 55


def test_pqmf_delay_known_answer():
    pqmf = PQMF(16)
    assert (pqmf.taps, pqmf.delay, pqmf.frame_delay) == (223, 207, 6)
    assert PQMF(4).delay == 51
    for start in [300, 301, 307, 315]:  # every phase of a frame
        impulse = torch.zeros(1, 1, 1024)
        impulse[..., start] = 1.0
        out = pqmf.synthesis(pqmf.analysis(impulse, causal=True), causal=True)[0, 0]
        assert int(out.abs().argmax()) == start + pqmf.delay
        assert out[start + pqmf.delay] == pytest.approx(1.0, abs=0.01)
        centred = pqmf.synthesis(pqmf.analysis(impulse))[0, 0]
        assert int(centred.abs().argmax()) == start


def test_pqmf_sine_lands_in_its_band():
    n_bands, rate = 8, 16000
    pqmf = PQMF(n_bands)
    t = torch.arange(8192) / rate
    for k in range(n_bands):
        frequency = (k + 0.5) * rate / 2 / n_bands  # the centre of band k
        bands = pqmf.analysis(torch.sin(2 * math.pi * frequency * t)[None, None])[0, :, 100:-100]
        energy = (bands ** 2).sum(-1)
        assert int(energy.argmax()) == k
        assert energy[k] / energy.sum() > 0.999


def test_pqmf_prototype():
    h, cutoff = design_prototype(16)
    h = np.array(h)
    assert h.size == 223 and np.allclose(h, h[::-1])  # odd length, linear phase
    assert abs(cutoff - 0.5 / 16) < 0.1 / 16
    g = np.convolve(h, h)
    assert g[h.size - 1] == pytest.approx(1 / 32)  # (h * h)[N] = 1 / 2M


PQMF8 = PQMF(8).double()


@FAST
@given(sizes=block_sizes)
def test_pqmf_stream_equals_causal_offline(sizes):
    x = torch.randn(2, 1, 150, dtype=torch.float64, generator=torch.Generator().manual_seed(len(sizes)))
    offline = PQMF8.analysis(x, causal=True)  # [2, 8, 18]
    streamed = run_stream(PQMF8.stream_analysis, split(x, sizes))
    torch.testing.assert_close(streamed, offline, rtol=1e-9, atol=1e-11)
    frames = split(offline, [s // 4 for s in sizes])
    torch.testing.assert_close(run_stream(PQMF8.stream_synthesis, frames), PQMF8.synthesis(offline, causal=True),
                               rtol=1e-9, atol=1e-11)


def test_pqmf_causal_bands_are_centred_ones_delayed_by_whole_frames():
    x = torch.randn(2, 3, 1200, dtype=torch.float64)  # batch 2, 3 channels
    centred, causal = PQMF8.analysis(x), PQMF8.analysis(x, causal=True)
    assert centred.shape == causal.shape == (2, 24, 150)
    d = PQMF8.frame_delay
    torch.testing.assert_close(causal[..., d:], centred[..., :-d], rtol=1e-9, atol=1e-11)
    # channel c's bands are c*M .. c*M + M - 1, computed from channel c alone
    torch.testing.assert_close(centred[:, 8:16], PQMF8.analysis(x[:, 1:2]), rtol=1e-9, atol=1e-11)
    assert PQMF8.synthesis(centred).shape == x.shape


# --- mu-law ----------------------------------------------------------------------------------------

def test_mu_law_known_answers():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    assert mu_law_quantize(x).tolist() == [0, 0, 128, 255, 255]
    assert mu_law_encode(x).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    assert mu_law_dequantize(torch.tensor([0, 255])).tolist() == [-1.0, 1.0]
    assert float(mu_law_dequantize(torch.tensor(128))) == pytest.approx((256 ** (1 / 255) - 1) / 255, rel=1e-5)
    q = torch.arange(256)
    torch.testing.assert_close(mu_law_dequantize(255 - q), -mu_law_dequantize(q))  # symmetric levels
    # WaveNet's curve: f(x) = sign(x) ln(1 + 255 |x|) / ln 256
    assert float(mu_law_encode(torch.tensor(0.5))) == pytest.approx(math.log(128.5) / math.log(256))


@settings(max_examples=100, deadline=None)
@given(x=st.floats(-1.0, 1.0, allow_nan=False))
def test_mu_law_round_trip_error_bound(x):
    x = torch.tensor(x, dtype=torch.float64)
    back = mu_law_dequantize(mu_law_quantize(x)).double()
    bound = (abs(x) + 1 / 255) * (256 ** (1 / 255) - 1)  # the companded value moves by at most 1/255
    assert abs(back - x) <= bound * (1 + 1e-5) + 1e-7
    assert float(mu_law_decode(mu_law_encode(x))) == pytest.approx(float(x), rel=1e-9, abs=1e-12)


def test_mu_law_is_monotone_and_uses_every_class():
    x = torch.linspace(-1, 1, 100_001, dtype=torch.float64)
    q = mu_law_quantize(x)
    assert torch.all(q[1:] >= q[:-1]) and torch.all(torch.diff(mu_law_encode(x)) > 0)
    assert torch.equal(torch.unique(q), torch.arange(256))
    assert torch.all(torch.diff(mu_law_dequantize(torch.arange(256))) > 0)


# --- Snake -----------------------------------------------------------------------------------------

def test_snake_known_answer():
    act = Snake(2)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([1.0, 2.0]))
    x = torch.tensor([[[math.pi / 2, 0.0], [math.pi / 4, -math.pi / 4]]])  # [1, 2, 2]
    expected = torch.tensor([[[math.pi / 2 + 1, 0.0], [math.pi / 4 + 0.5, -math.pi / 4 + 0.5]]])
    torch.testing.assert_close(act(x), expected)
    torch.testing.assert_close(snake(x, torch.zeros(2)), x)  # alpha -> 0: the identity, not NaN


def test_snake_gradient_reaches_alpha():
    torch.manual_seed(3)
    act = Snake(3, alpha=0.7).double()
    x = torch.randn(4, 3, 10, dtype=torch.float64)
    act(x).sum().backward()
    a = act.alpha.detach()[None, :, None]
    # d/da [sin^2(ax) / a] = x sin(2ax) / a - sin^2(ax) / a^2
    expected = (x * torch.sin(2 * a * x) / a - torch.sin(a * x) ** 2 / a ** 2).sum((0, 2))
    torch.testing.assert_close(act.alpha.grad, expected, rtol=1e-6, atol=1e-9)
    assert torch.all(act.alpha.grad != 0)


# --- MADE ------------------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(keys=st.integers(2, 12), hidden=st.integers(1, 30), layers=st.integers(1, 3), seed=st.integers(0, 99))
def test_made_is_autoregressive(keys, hidden, layers, seed):
    torch.manual_seed(seed)
    made = MADE(keys, context=3, hidden=hidden, layers=layers).double()
    x, c = torch.rand(keys, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: made(v, c), x)  # [output k, input j]
    below = torch.tril(torch.ones(keys, keys, dtype=torch.bool), diagonal=-1)  # j < k
    assert torch.all(jacobian[~below] == 0)  # output k never sees keys >= k
    assert torch.all(jacobian[below] != 0)  # and sees every key below (the direct connections at least)
    assert torch.all(torch.autograd.functional.jacobian(lambda v: made(x, v), c) != 0)  # every output sees c


def test_made_parameter_names_match_the_shipped_checkpoints():
    from cadenza.models.symbolic import polyphonic_net

    assert polyphonic_net.MADE is MADE
    names = set(MADE(keys=88, context=10, hidden=16, layers=1).state_dict())
    assert names == {"context.0.weight", "direct.weight", "hidden.0.bias", "hidden.0.weight", "out.bias",
                     "out.weight", "out_context.weight"}  # the masks are buffers, not saved


def test_nn_imports_only_lower_layers():
    """cadenza.nn sits below models, train, evaluate and the interfaces."""
    forbidden = ("cadenza.models", "cadenza.train", "cadenza.cli", "cadenza.studio", "cadenza.evaluate")
    for path in sorted((Path(__file__).parents[1] / "src" / "cadenza" / "nn").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith(forbidden)], f"{path.name} imports {names}"


def test_inverse_stft_is_windowed_irfft_overlap_added_and_streams():
    """One frame through the causal inverse STFT is torch's irfft times a Hann window; frames
    overlap-add every hop; block by block equals offline."""
    from cadenza.nn.istft import CausalInverseSTFT

    n_fft, hop = 32, 8
    istft = CausalInverseSTFT(n_fft, hop)
    generator = torch.Generator().manual_seed(0)
    spectrum = torch.fft.rfft(torch.randn(3, n_fft, generator=generator), dim=-1)  # [T=3 frames, K]
    spectra = torch.cat([spectrum.real, spectrum.imag], dim=1).t()[None]  # [1, 2K, 3]
    frames = torch.fft.irfft(spectrum, n=n_fft, dim=-1) * torch.hann_window(n_fft, periodic=True)  # [3, N]
    expected = torch.zeros(2 * hop + n_fft)
    for t in range(3):
        expected[t * hop: t * hop + n_fft] += frames[t]
    out = istft(spectra)[0, 0]
    assert out.shape == (3 * hop,)  # causal: the samples whose frames have all arrived
    assert torch.allclose(out, expected[: 3 * hop], atol=1e-5)
    state, blocks = None, []
    for t in range(3):
        block, state = istft.stream(spectra[..., t:t + 1], state)
        blocks.append(block)
    assert torch.allclose(torch.cat(blocks, dim=-1)[0, 0], out, atol=1e-5)
