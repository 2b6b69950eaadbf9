"""WaveNet's network, its two generators and its training data (torch modules and a torch Dataset).

The model, its options and its references are in :mod:`cadenza.models.audio.wavenet`:
van den Oord, Dieleman, Zen, Simonyan, Vinyals, Graves, Kalchbrenner, Senior &
Kavukcuoglu 2016, "WaveNet: A Generative Model for Raw Audio"
(https://arxiv.org/abs/1609.03499), with fast generation after Paine, Khorrami,
Chang, Zhang, Ramachandran, Hasegawa-Johnson & Huang 2016, "Fast Wavenet
Generation Algorithm" (https://arxiv.org/abs/1611.09482).

Here are the heart of the technique: the stacks of dilated causal gated
convolutions with residual and skip connections and global and local
conditioning (:class:`WaveNetNet`); the discretised mixture of logistics
output (:func:`mixture_log_probs`, after Salimans, Karpathy, Chen & Kingma
2017, "PixelCNN++", https://arxiv.org/abs/1701.05517); the two generators,
:func:`generate_naive`, which re-runs the receptive field for every sample,
and Paine et al.'s :class:`FastGenerator` (:func:`generate_fast`), which keeps
a queue a layer so a sample costs one step a layer, both sampling by the
inverse CDF (:func:`inverse_cdf`) so the same draws give the same samples;
and the dataset of training crops (:class:`Examples`). They live apart from
the model so that listing the models (``cadenza generate --help``) does not
import torch; the model imports this module when it builds a network.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cadenza.audio.features import LOUDNESS_FLOOR_DB
from cadenza.errors import CadenzaError
from cadenza.models.audio.wavenet import CLASSES, level
from cadenza.nn.conv import CausalConv1d

if TYPE_CHECKING:
    from cadenza.models.audio.wavenet import Config


def sine_excitation(f0, hop: int, sample_rate: int, samples: int | None = None, start=None):
    """A sine and a cosine at f0, sample by sample: ``f0 [b, frames]`` Hz -> float32
    ``[b, 2, samples]`` (``samples`` defaults to ``frames * hop``) and the phase in cycles after
    the last sample (float64 ``[b]``, the ``start`` of the next block).

    The phase is a running sum of f0 / sample_rate in float64, added one sample after another
    (``np.cumsum`` is sequential), so blocks that carry it give the same values as one pass."""
    f0 = np.asarray(f0, np.float64)
    steps = np.repeat(f0, hop, axis=-1)[:, :samples] / sample_rate
    start = np.zeros(len(f0)) if start is None else np.asarray(start, np.float64)
    cycles = np.cumsum(np.concatenate([start[:, None], steps], 1), 1)
    angle = 2 * np.pi * (cycles[:, :-1] % 1.0)
    return np.stack([np.sin(angle), np.cos(angle)], 1).astype(np.float32), cycles[:, -1]


def receptive_field(dilations) -> int:
    """Past samples one output sees: 1 + sum of (kernel - 1) * dilation, kernel 2."""
    return 1 + sum(dilations)


class WaveNetNet(nn.Module):
    """``audio [b, T]`` (the previous samples) and frame controls -> logits ``[b, 256, T]``."""

    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        r, s, k = c.residual, c.skip, c.conditioning
        self.controls_in = nn.Linear(2, k)
        self.pitch_embedding = nn.Embedding(128, k)
        self.program_embedding = nn.Embedding(128, k)
        self.input = nn.Conv1d(3 if c.excitation == "sine" else 1, r, 1)
        self.dilated = nn.ModuleList(CausalConv1d(r, 2 * r, 2, dilation=d) for d in c.dilations)
        self.condition = nn.ModuleList(nn.Linear(k, 2 * r) for _ in c.dilations)
        self.res_skip = nn.ModuleList(nn.Conv1d(r, r + s, 1) for _ in c.dilations)
        self.out1 = nn.Conv1d(s, s, 1)
        self.out2 = nn.Conv1d(s, CLASSES if c.output == "softmax" else 3 * c.mixtures, 1)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.c.dilations)

    def frame_conditioning(self, controls, pitch, program):
        """``controls [b, F, 2]`` (f0 Hz, loudness dB), ``pitch``/``program`` int ``[b, F]`` ->
        a layer's conditioning ``[b, F, 2r]`` each (a list)."""
        f0 = torch.log2(controls[..., 0].clamp(min=1.0) / 440)
        ld = (controls[..., 1] - LOUDNESS_FLOOR_DB) / -LOUDNESS_FLOOR_DB
        v = self.controls_in(torch.stack([f0, ld], -1)) + self.pitch_embedding(pitch) + \
            self.program_embedding(program)
        v = torch.tanh(v)
        return [layer(v) for layer in self.condition]

    def excitation(self, controls, samples: int):
        """The sine and cosine at the controls' f0 from phase 0, ``[b, 2, samples]``: a signal, not
        a function to learn, so no gradient flows back through its running phase."""
        f0 = controls[..., 0].detach().double()
        steps = f0.repeat_interleave(self.c.hop, 1)[:, :samples] / self.c.sample_rate
        cycles = F.pad(torch.cumsum(steps, 1)[:, :-1], (1, 0))
        angle = 2 * math.pi * torch.remainder(cycles, 1.0)
        return torch.stack([torch.sin(angle), torch.cos(angle)], 1).to(controls.dtype)

    def forward(self, previous, controls, pitch, program, excitation=None):
        """``previous [b, T]``: the mu-law level of sample t-1 at t (0 before the start);
        T must be ``frames * hop``. ``excitation [b, 2, T]`` (sine models): the sine and cosine
        at f0 (from phase 0 at the first sample when not given)."""
        cond = self.frame_conditioning(controls, pitch, program)
        x = previous[:, None]
        if self.c.excitation == "sine":
            if excitation is None:
                excitation = self.excitation(controls, previous.shape[-1])
            x = torch.cat([x, excitation], 1)
        h = self.input(x)
        skip = 0
        r = self.c.residual
        for conv, c, rs in zip(self.dilated, cond, self.res_skip):
            z = conv(h) + c.repeat_interleave(self.c.hop, 1).transpose(1, 2)[..., :h.shape[-1]]
            out = rs(torch.tanh(z[:, :r]) * torch.sigmoid(z[:, r:]))
            h, skip = h + out[:, :r], skip + out[:, r:]
        return self.out2(F.relu(self.out1(F.relu(skip))))

    def class_log_probs(self, out):
        """The output layer's ``[b, channels, T]`` -> log-probabilities of the 256 classes
        ``[b, 256, T]`` (what sampling needs)."""
        if self.c.output == "softmax":
            return F.log_softmax(out, 1)
        classes = torch.arange(CLASSES, device=out.device)
        return mixture_log_probs(out[:, :, None], classes[None, :, None])  # [b, 256, T]

    def nll(self, out, target, reduction: str = "mean"):
        """Negative log-likelihood (nats) of the classes ``target [b, T]``."""
        if self.c.output == "softmax":
            return F.cross_entropy(out, target, reduction=reduction)
        nll = -mixture_log_probs(out, target)
        return nll.mean() if reduction == "mean" else nll.sum()


def mixture_log_probs(out, classes):
    """Log-probability of mu-law ``classes`` under a discretised mixture of logistics (Salimans,
    Karpathy, Chen & Kingma 2017, "PixelCNN++", section 2.1) over the levels ``2q/255 - 1``.

    ``out [b, 3K, ...]`` holds the K mixture logits, means and log scales; ``classes`` broadcasts
    against ``out[:, 0]``. A class owns the interval of half-width 1/255 around its level; the
    end classes take the tails, so the 256 probabilities sum to 1.
    """
    k = out.shape[1] // 3
    logit, mean, log_scale = out[:, :k], out[:, k:2 * k], out[:, 2 * k:].clamp(min=-7.0)
    y = (2 * classes.to(out.dtype) / (CLASSES - 1) - 1).unsqueeze(1)  # [b or 1, 1, ...]
    inv_scale = torch.exp(-log_scale)
    half = 1.0 / (CLASSES - 1)
    upper, lower = inv_scale * (y - mean + half), inv_scale * (y - mean - half)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper)
    log_survival_lower = -F.softplus(lower)  # log (1 - sigmoid(lower))
    delta = torch.sigmoid(upper) - torch.sigmoid(lower)
    # Where the bin holds almost no mass the difference of sigmoids underflows: use the
    # density at the level times the bin width instead (PixelCNN++ does the same).
    middle = inv_scale * (y - mean)
    log_density = middle - log_scale - 2 * F.softplus(middle) + math.log(2 * half)
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_density)
    cls = classes.unsqueeze(1)
    log_bin = torch.where(cls == 0, log_cdf_upper, torch.where(cls == CLASSES - 1, log_survival_lower, inner))
    return torch.logsumexp(log_bin + F.log_softmax(logit, 1), 1)


def inverse_cdf(logits, u, temperature: float):
    """The class whose CDF interval holds each ``u`` under softmax(logits / temperature), in float64:
    ``logits [..., 256]`` and ``u [...]`` -> int64 ``[...]``. The class is the count of CDF
    values at or below ``u`` (``searchsorted`` to the right), row by row."""
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max(-1, keepdims=True))
    cdf = np.cumsum(p, -1)
    target = np.asarray(u, np.float64)[..., None] * cdf[..., -1:]
    return np.minimum((cdf <= target).sum(-1), CLASSES - 1).astype(np.int64)


def _check_controls(controls, pitch, program, samples: int, hop: int):
    """Controls ``[frames, 2]`` or ``[b, frames, 2]`` and pitch/program (a number, a frame or
    ``[b, frames]``) -> float32 ``[b, frames, 2]`` and int64 ``[b, frames]`` twice."""
    controls = np.asarray(controls, dtype=np.float32)
    if controls.ndim == 2:
        controls = controls[None]
    if controls.ndim != 3 or controls.shape[2] != 2:
        raise CadenzaError(f"conditioning must be control frames [frames, 2] (f0 Hz, loudness dB), got shape "
                           f"{list(controls.shape)}")
    batch, frames = controls.shape[:2]
    if frames * hop < samples:
        raise CadenzaError(f"conditioning of the wrong length: {frames} frames cover "
                           f"{frames * hop} samples, {samples} asked for")

    def per_frame(values):
        values = np.asarray(values, np.int64)
        return np.broadcast_to(values if values.ndim != 1 else values[None], (batch, frames)).copy()
    pitch, program = per_frame(pitch), per_frame(program)
    if pitch.min() < 0 or pitch.max() > 127 or program.min() < 0 or program.max() > 127:
        raise CadenzaError("pitch and program must be 0-127")
    return controls, pitch, program


@torch.inference_mode()
def generate_naive(net: WaveNetNet, controls, pitch, program, uniforms, temperature: float = 1.0) -> np.ndarray:
    """Classes ``[len(uniforms)]``: for every sample, the whole receptive field run again."""
    samples = len(uniforms)
    controls, pitch, program = _check_controls(controls, pitch, program, samples, net.c.hop)
    field, hop = net.receptive_field, net.c.hop
    sine = net.c.excitation == "sine"
    excitation = sine_excitation(controls[:1, :, 0], hop, net.c.sample_rate, samples)[0] if sine else None
    previous = np.zeros(samples, np.float32)  # level of sample t-1 at t
    out = np.zeros(samples, np.int64)
    for t in range(samples):
        start = max(0, t - field + 1)
        # A window that starts at a frame boundary keeps the repetition aligned; the extra
        # samples before ``start`` are zeros, as at the very start of the audio.
        begin = (start // hop) * hop
        window = np.zeros(t + 1 - begin, np.float32)
        window[start - begin:] = previous[start:t + 1]
        frames = slice(begin // hop, t // hop + 1)
        head = net(torch.from_numpy(window)[None], torch.from_numpy(controls[:1, frames]),
                   torch.from_numpy(pitch[:1, frames]), torch.from_numpy(program[:1, frames]),
                   torch.from_numpy(excitation[..., begin:t + 1]) if sine else None)
        out[t] = inverse_cdf(net.class_log_probs(head[..., -1:])[0, :, 0].numpy(), uniforms[t], temperature)
        if t + 1 < samples:
            previous[t + 1] = level(out[t])
    return out


class FastGenerator:
    """Paine et al.'s generator: a queue a layer holds the last ``d`` inputs of its dilated
    convolution, so one sample costs one matrix product a layer. Runs ``batch`` sequences side
    by side (several notes at once cost little more than one: the per-sample work is Python
    overhead, not arithmetic) and carries its state across calls (``run`` continues where the
    last call stopped)."""

    def __init__(self, net: WaveNetNet, batch: int = 1):
        self.net, self.c, self.batch = net, net.c, batch
        g = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
        self.w_in, self.b_in = g(net.input.weight)[:, :, 0].T.copy(), g(net.input.bias)  # [inputs, r]
        # conv weight [2r, r, 2]: tap 0 sees h[t - d], tap 1 sees h[t].
        self.w_past = [g(c.weight)[:, :, 0].T.copy() for c in net.dilated]
        self.w_now = [g(c.weight)[:, :, 1].T.copy() for c in net.dilated]
        self.b_dil = [g(c.bias) for c in net.dilated]
        self.w_rs = [g(c.weight)[:, :, 0].T.copy() for c in net.res_skip]
        self.b_rs = [g(c.bias) for c in net.res_skip]
        self.w_o1, self.b_o1 = g(net.out1.weight)[:, :, 0].T.copy(), g(net.out1.bias)
        self.w_o2, self.b_o2 = g(net.out2.weight)[:, :, 0].T.copy(), g(net.out2.bias)
        self.reset()

    def reset(self) -> None:
        r = self.c.residual
        self.queues = [np.zeros((d, self.batch, r), np.float32) for d in self.c.dilations]
        self.t = 0
        self.previous = np.zeros((self.batch, 1), np.float32)  # level of the last sample (0 at the start)
        self.cycles = np.zeros(self.batch)  # the sine excitation's phase

    def run(self, controls, pitch, program, uniforms, temperature: float = 1.0, progress=None) -> np.ndarray:
        """Classes ``[b, T]`` (``[T]`` for one sequence) for uniforms ``[b, T]`` (or ``[T]``), driven by
        ``controls [b, frames, 2]`` (or ``[frames, 2]``; ``frames * hop >= T``, the first frame at
        this generator's position). ``progress(samples)`` is called after each frame."""
        net, hop, r = self.net, self.c.hop, self.c.residual
        single = np.ndim(uniforms) == 1
        uniforms = np.atleast_2d(uniforms)
        controls, pitch, program = _check_controls(controls, pitch, program, uniforms.shape[1], hop)
        if len(controls) != self.batch or len(uniforms) != self.batch:
            raise CadenzaError(f"this generator runs {self.batch} sequences, got {len(controls)} "
                               f"conditionings and {len(uniforms)} draws")
        with torch.inference_mode():
            cond = net.frame_conditioning(torch.from_numpy(controls), torch.from_numpy(pitch),
                                          torch.from_numpy(program))
        # A layer's bias and conditioning are added together once a frame, not once a sample.
        cond = [c.numpy() + b for c, b in zip(cond, self.b_dil)]  # [b, frames, 2r] each
        softmax = self.c.output == "softmax"
        samples = uniforms.shape[1]
        sine = self.c.excitation == "sine"
        if sine:
            excitation, self.cycles = sine_excitation(controls[..., 0], hop, self.c.sample_rate, samples, self.cycles)
        inputs = np.broadcast_to(self.b_in, (self.batch, hop, r))
        out = np.zeros(uniforms.shape, np.int64)
        for i in range(samples):
            frame, offset = divmod(i, hop)
            if sine and offset == 0:  # the input layer's share of the excitation, a frame at a time
                inputs = np.einsum("bkt,kr->btr", excitation[..., i:i + hop], self.w_in[1:]) + self.b_in
            h = self.previous * self.w_in[0] + inputs[:, offset]  # [b, r]
            skip = 0.0
            for k, queue in enumerate(self.queues):
                slot = self.t % len(queue)
                z = queue[slot] @ self.w_past[k] + h @ self.w_now[k] + cond[k][:, frame]
                queue[slot] = h
                o = (np.tanh(z[:, :r]) / (1 + np.exp(-z[:, r:]))) @ self.w_rs[k] + self.b_rs[k]
                h, skip = h + o[:, :r], skip + o[:, r:]
            head = np.maximum(np.maximum(skip, 0) @ self.w_o1 + self.b_o1, 0) @ self.w_o2 + self.b_o2
            if not softmax:
                with torch.inference_mode():
                    head = net.class_log_probs(torch.from_numpy(head)[:, :, None])[:, :, 0].numpy()
            out[:, i] = inverse_cdf(head, uniforms[:, i], temperature)
            self.previous = level(out[:, i])[:, None]
            self.t += 1
            if progress is not None and (i + 1) % hop == 0:
                progress(hop)
        return out[0] if single else out


def generate_fast(net: WaveNetNet, controls, pitch, program, uniforms, temperature: float = 1.0) -> np.ndarray:
    """Classes for ``uniforms`` (``[T]``, or ``[b, T]`` for a batch) by :class:`FastGenerator`,
    from a fresh start."""
    return FastGenerator(net, len(np.atleast_2d(uniforms))).run(controls, pitch, program, uniforms, temperature)


class Examples(torch.utils.data.Dataset):
    """Training crops: audio ``[frames * hop]``, controls ``[frames, 2]`` (f0 Hz, loudness dB),
    and the crop's pitch and General MIDI program."""

    def __init__(self, arrays: dict, pitch: np.ndarray, program: np.ndarray):
        self.audio = torch.from_numpy(arrays["audio"])
        self.controls = torch.from_numpy(np.stack([arrays["f0"], arrays["loudness"]], -1))
        self.pitch, self.program = torch.from_numpy(pitch), torch.from_numpy(program)

    def __len__(self):
        return len(self.audio)

    def __getitem__(self, i):
        return self.audio[i], self.controls[i], self.pitch[i], self.program[i]
