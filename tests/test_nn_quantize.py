"""Vector quantisation (cadenza.nn.quantize): known answers and round trips, on tiny seeded data."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cadenza.errors import CadenzaError
from cadenza.nn.quantize import (
    ResidualVectorQuantizer,
    VectorQuantizer,
    bitrate,
    kmeans,
    perplexity,
    quantizers_for_bitrate,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def close(a, b, rtol=1e-5, atol=1e-6):
    return torch.allclose(a, b, rtol=rtol, atol=atol)


def mixture(n_per: int = 100, clusters: int = 4, dim: int = 8, std: float = 0.1):
    """``clusters`` well-separated Gaussians, ``n_per`` points each, shuffled into x [4, dim, frames]."""
    centres = torch.zeros(clusters, dim)
    centres[torch.arange(clusters), torch.arange(clusters)] = 10.0  # [k, dim], far apart
    labels = torch.arange(clusters).repeat_interleave(n_per)[torch.randperm(clusters * n_per)]  # [N]
    points = centres[labels] + std * torch.randn(len(labels), dim)  # [N, dim]
    x = points.reshape(4, -1, dim).transpose(1, 2)  # [4, dim, N/4]
    means = torch.stack([points[labels == i].mean(0) for i in range(clusters)])  # [k, dim]
    return x, means


def squared_errors(rvq, x):
    """Squared reconstruction error of x with the first 1, 2, ..., n_q levels."""
    rvq.eval()
    return [((x - rvq.decode(rvq.encode(x, k))) ** 2).sum().item() for k in range(1, rvq.n_q + 1)]


@pytest.mark.parametrize("kwargs", [{}, {"l2_normalize": True}, {"codebook_dim": 3}, {"ema": False}])
def test_nearest_code_equals_brute_force_argmin(kwargs):
    torch.manual_seed(0)
    vq = VectorQuantizer(6, codebook_size=32, kmeans_init=False, **kwargs).eval()
    x = torch.randn(3, 6, 40)
    codes = vq.encode(x)  # [3, 40]
    assert codes.dtype == torch.int64 and codes.shape == (3, 40)
    assert torch.equal(vq(x).codes, codes)
    z = vq.project_in(x.transpose(1, 2)).reshape(-1, vq.codebook_dim)  # [N, C]
    book = vq.codebook
    if vq.l2_normalize:  # nearest = largest cosine similarity
        cosine = F.normalize(z, dim=1) @ F.normalize(book, dim=1).t()  # [N, K]
        assert close(cosine.gather(1, codes.reshape(-1, 1))[:, 0], cosine.max(1).values)
    else:
        distance = ((z[:, None, :] - book[None, :, :]) ** 2).sum(-1)  # [N, K]
        assert close(distance.gather(1, codes.reshape(-1, 1))[:, 0], distance.min(1).values)


def test_straight_through_gradient_is_identity_and_commitment_gradient_is_known():
    torch.manual_seed(0)
    vq = VectorQuantizer(5, codebook_size=16, ema=False, kmeans_init=False, dead_code_threshold=0).eval()
    x = torch.randn(2, 5, 7, requires_grad=True)
    g = torch.randn(2, 5, 7)
    (vq(x).quantized * g).sum().backward()
    assert close(x.grad, g)
    assert vq.codebook.grad is None  # the reconstruction gradient skips the codes (VQ-VAE)

    x.grad = None
    out = vq(x)
    out.commitment_loss.backward()  # mse(x, sg(q)): gradient 2 (x - q) / numel
    assert close(x.grad, 2 * (x - vq.decode(out.codes)).detach() / x.numel())
    assert vq.codebook.grad is None  # the commitment loss does not move the codes

    out = vq(x)
    out.codebook_loss.backward()  # mse(sg(x), q): moves the used codes only
    used = torch.zeros(16, dtype=torch.bool)
    used[out.codes.unique()] = True
    assert (vq.codebook.grad[used].abs().sum(1) > 0).all() and (vq.codebook.grad[~used] == 0).all()


@pytest.mark.parametrize("codebook_dim", [None, 2])
def test_residual_straight_through_gradient_is_identity(codebook_dim):
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, n_q=3, codebook_size=8, codebook_dim=codebook_dim, quantizer_dropout=0.0,
                                  kmeans_init=False, dead_code_threshold=0)
    x = torch.randn(2, 4, 6, requires_grad=True)
    g = torch.randn(2, 4, 6)
    (rvq(x).quantized * g).sum().backward()
    if codebook_dim is None:
        assert close(x.grad, g)
    else:  # the projections train: gradient reaches them
        assert rvq.layers[0].project_out.weight.grad.abs().sum() > 0
        assert rvq.layers[2].project_in.weight.grad.abs().sum() > 0


def test_residual_error_does_not_grow_with_depth_after_kmeans():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(8, n_q=6, codebook_size=16, quantizer_dropout=0.0)
    x = torch.randn(8, 8, 40)
    rvq(x)  # k-means initialises each level on its residuals
    errors = squared_errors(rvq, x)
    assert all(b <= a * (1 + 1e-5) for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.6 * errors[0]


def test_residual_error_does_not_grow_with_depth_after_training_factorised_codes():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(8, n_q=4, codebook_size=16, codebook_dim=4)  # with quantiser dropout
    x = torch.randn(4, 8, 32)
    parameters = list(rvq.parameters())
    for _ in range(25):  # plain gradient descent (torch.optim's first use costs seconds of imports)
        out = rvq(x)
        loss = ((out.quantized - x) ** 2).mean() + out.loss
        grads = torch.autograd.grad(loss, parameters, allow_unused=True)  # dropout may skip the last levels
        with torch.no_grad():
            for parameter, grad in zip(parameters, grads):
                if grad is not None:
                    parameter -= 1.0 * grad
    errors = squared_errors(rvq, x)
    assert all(b <= a * (1 + 1e-5) for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


@pytest.mark.parametrize("kwargs", [{}, {"l2_normalize": True, "codebook_dim": 3, "ema": False}])
def test_encode_decode_equals_forward(kwargs):
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(6, n_q=4, codebook_size=16, **kwargs)
    x = torch.randn(4, 6, 30)
    rvq(x)
    rvq.eval()
    out = rvq(x)
    codes = rvq.encode(x)
    assert codes.shape == (4, 4, 30) and codes.dtype == torch.int64
    assert torch.equal(out.codes, codes)
    assert close(rvq.decode(codes), out.quantized)
    assert torch.equal(rvq.encode(x, n_q=2), codes[:, :2])
    assert close(rvq(x, n_q=2).quantized, rvq.decode(codes[:, :2]))


def test_kmeans_init_finds_the_clusters():
    torch.manual_seed(0)
    x, means = mixture()
    torch.manual_seed(1)
    vq = VectorQuantizer(8, codebook_size=4)
    assert not vq.initialized
    out = vq(x)  # first training batch: k-means
    assert vq.initialized
    assert abs(out.perplexity.item() - 4) < 1e-4
    order = torch.cdist(means, vq.codebook).argmin(1)  # the code of each cluster
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert close(vq.codebook[order], means, rtol=1e-4, atol=1e-4)

    torch.manual_seed(1)
    again = VectorQuantizer(8, codebook_size=4)
    again(x)
    assert torch.equal(again.codebook, vq.codebook)  # deterministic given the seed

    spherical = VectorQuantizer(8, codebook_size=4, l2_normalize=True)
    assert abs(spherical(x).perplexity.item() - 4) < 1e-4


def test_kmeans_with_fewer_points_than_codes():
    torch.manual_seed(0)
    centres, counts = kmeans(torch.randn(3, 2), 5, iters=2)
    assert centres.shape == (5, 2) and counts.sum() == 3


def test_ema_update_known_answer():
    vq = VectorQuantizer(2, codebook_size=3, decay=0.5, kmeans_init=False, dead_code_threshold=0)
    book = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    vq.codebook.copy_(book)
    vq.cluster_size.copy_(torch.tensor([4.0, 4.0, 0.0]))  # code 2 never used: Laplace smoothing keeps it finite
    vq.embed_sum.copy_(book * vq.cluster_size[:, None])
    points = torch.tensor([[1.0, 0.5], [1.5, 0.0], [0.5, 1.0], [1.0, 0.5], [1.2, 0.4], [0.8, 0.6]])  # mean (1, 0.5)
    out = vq(points.t()[None])  # [1, 2, 6], all nearest to code 0
    assert out.codes.tolist() == [[0] * 6]
    # N = 0.5 * 4 + 0.5 * 6 = 5; m = 0.5 * 0 + 0.5 * 6 * mean; e = m / N = 0.6 * mean (Laplace-smoothed N)
    assert close(vq.cluster_size, torch.tensor([5.0, 2.0, 0.0]))
    n, eps = 7.0, vq.epsilon
    smoothed = (torch.tensor([5.0, 2.0, 0.0]) + eps) / (n + 3 * eps) * n
    expected = torch.stack([3 * torch.tensor([1.0, 0.5]), torch.tensor([20.0, 0.0]), torch.zeros(2)])
    assert torch.isfinite(vq.codebook).all()
    assert close(vq.codebook, expected / smoothed[:, None])
    assert close(vq.codebook[0], torch.tensor([0.6, 0.3]), rtol=1e-4)

    vq.decay = 0.0  # no memory: the code moves to the mean of its vectors
    vq(points.t()[None] + 1)
    assert close(vq.codebook[0], torch.tensor([2.0, 1.5]), rtol=1e-4)


@pytest.mark.parametrize("ema", [False, True])
def test_dead_codes_are_restarted_from_the_batch(ema):
    torch.manual_seed(0)
    vq = VectorQuantizer(4, codebook_size=8, ema=ema, kmeans_init=False, dead_code_threshold=1.0, decay=0.9)
    book = torch.cat([torch.randn(4, 4), torch.full((4, 4), 100.0)])  # codes 4..7 far from the data
    vq.codebook.data.copy_(book)
    vq.cluster_size.copy_(torch.tensor([10.0] * 4 + [0.5] * 4))
    if ema:
        vq.embed_sum.copy_(book * vq.cluster_size[:, None])
    x = torch.randn(2, 4, 20)
    vq.eval()
    vq(x)
    assert torch.equal(vq.codebook, book)  # nothing changes outside training
    vq.train()
    out = vq(x)
    data = x.transpose(1, 2).reshape(-1, 4)  # [40, 4]
    nearest_data = torch.cdist(vq.codebook.detach(), data).min(1).values  # [8]
    if ema:  # restarted on a data vector, then moved by the EMA toward the vectors it took
        assert (nearest_data[4:] < 2).all()
    else:
        assert (nearest_data[4:] == 0).all()  # exactly data vectors
        assert torch.equal(vq.codebook[:4], book[:4])  # live codes untouched
    assert (out.codes >= 4).any()  # restarted codes are used at once


def test_quantizer_dropout_varies_depth_in_training_only():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, n_q=8, codebook_size=8, ema=False, dead_code_threshold=0)
    x = torch.randn(32, 4, 5)
    out = rvq(x)
    depth = out.depth
    assert depth.min() >= 1 and depth.max() <= 8 and len(depth.unique()) > 3
    level = torch.arange(8)[None, :, None]  # [1, 8, 1]
    assert torch.equal(out.codes >= 0, (level < depth[:, None, None]).expand(-1, -1, 5))
    assert close(rvq.decode(out.codes), out.quantized)  # -1 codes are skipped
    assert close(out.perplexity[depth.max():], torch.zeros(8 - int(depth.max())))

    torch.manual_seed(1)
    first = rvq(x).depth
    torch.manual_seed(1)
    assert torch.equal(rvq(x).depth, first)  # seeded through torch's RNG
    assert (rvq(x, n_q=3).depth == 3).all()  # a fixed depth turns dropout off

    half = ResidualVectorQuantizer(4, n_q=8, codebook_size=8, quantizer_dropout=0.5)
    assert 0 < (half(x).depth == 8).float().mean() < 1
    rvq.eval()
    out = rvq(x)
    assert (out.depth == 8).all() and (out.codes >= 0).all() and out.perplexity.shape == (8,)


def test_bitrate_arithmetic():
    assert bitrate(75, 8, 1024) == 6000.0  # EnCodec 24 kHz: 8 x 10 bits x 75 Hz = 6 kbps
    assert bitrate(86, 9, 1024) == 7740.0  # DAC 44.1 kHz (frame rate rounded)
    assert quantizers_for_bitrate(24, 75, 1024) == 32
    assert quantizers_for_bitrate(1.5, 75, 1024) == 2
    assert quantizers_for_bitrate(2.2, 75, 1024) == 2
    rvq = ResidualVectorQuantizer(8, n_q=8)
    assert rvq.bitrate(75) == 6000.0 and rvq.bitrate(75, n_q=2) == 1500.0
    assert rvq.n_q_for_bitrate(3, 75) == 4
    assert rvq.n_q_for_bitrate(24, 75) == 8  # at most the levels it has
    with pytest.raises(CadenzaError, match="below one codebook"):
        rvq.n_q_for_bitrate(0.5, 75)
    with pytest.raises(ValueError):
        rvq.encode(torch.zeros(1, 8, 2), n_q=9)


def test_perplexity_known_answers():
    assert perplexity(torch.zeros(10, dtype=torch.long), 4).item() == pytest.approx(1.0)
    assert perplexity(torch.arange(4).repeat(3), 4).item() == pytest.approx(4.0)
    assert perplexity(torch.tensor([0, 1], dtype=torch.long), 8).item() == pytest.approx(2.0)
    assert perplexity(torch.zeros(0, dtype=torch.long), 4).item() == 0.0


def test_state_dict_round_trip_gives_identical_codes(tmp_path):
    from safetensors.torch import load_file, save_file

    kwargs = {"n_q": 3, "codebook_size": 16, "codebook_dim": 4, "quantizer_dropout": 0.0}
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(6, **kwargs)
    x = torch.randn(4, 6, 20)
    rvq(x)
    rvq(x)
    state = rvq.state_dict()
    assert {"layers.0.codebook", "layers.0.embed_sum", "layers.0.cluster_size", "layers.0.initialized"} <= set(state)
    save_file(state, tmp_path / "rvq.safetensors")
    torch.manual_seed(1)
    loaded = ResidualVectorQuantizer(6, **kwargs)
    loaded.load_state_dict(load_file(tmp_path / "rvq.safetensors"))
    assert bool(loaded.layers[2].initialized)
    rvq.eval()
    loaded.eval()
    assert torch.equal(loaded.encode(x), rvq.encode(x))
    assert torch.equal(loaded(x).quantized, rvq(x).quantized)


def test_inference_mode_and_bad_input():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, n_q=2, codebook_size=8, quantizer_dropout=0.0)
    x = torch.randn(2, 4, 10)
    with torch.inference_mode():
        rvq(x)  # training-mode updates work under inference mode too
        rvq.eval()
        out = rvq(x)
        assert torch.equal(rvq.decode(rvq.encode(x)), out.quantized)
    assert bool(rvq.layers[1].initialized)
    with pytest.raises(ValueError, match="expected"):
        rvq(torch.randn(2, 5, 10))
