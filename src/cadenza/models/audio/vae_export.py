"""Export a VAE for live use: a TorchScript module that nn~ (Max, Pd) loads, and ONNX graphs that stream.

A fitted :class:`cadenza.models.audio.vae.VAE` streams in Python with explicit state
(``VAENet.encode_stream`` / ``decode_stream``); a live host wants one file, no
Python, and a module that remembers its past between calls. Its encoder,
decoder and PQMF stages are converted by :mod:`cadenza.nn.stateful` (caches in
buffers, weight norm folded); the decoder's heads are :meth:`VAENet._bands`'s:
``tanh(waveform) * amplitude(gain)`` plus noise filtered a chunk at a time by
``amplitude(noise - 5)``. The noise is drawn with ``torch.rand`` from the
global generator, time-major as ``draw_noise`` draws it (so
``torch.manual_seed(s)`` reproduces a decode with ``Generator().manual_seed(s)``),
and can be switched off (``set_noise(False)``) for exact comparisons.

The nn~ layout (the conventions of the ``nn_tilde`` package, v1.6, MIT,
implemented here rather than imported: it needs a newer torch):

- methods ``encode`` (audio ``[B, 1, T]`` -> latent means ``[B, latent, T /
  block_size]``), ``decode`` (the reverse) and ``forward`` (decode of encode),
  each taking and returning one float tensor ``[batch, channels, time]``; the
  batch is nn~'s multichannel (mc.nn~) dimension;
- for each method a buffer ``{method}_params = [in_channels, in_ratio,
  out_channels, out_ratio]`` and the lists ``{method}_input_labels`` /
  ``{method}_output_labels``;
- ``get_methods()``, ``get_attributes()`` (one settable attribute, ``noise``,
  with ``get_noise()`` / ``set_noise(bool)`` and ``noise_params = [0]``, nn~'s
  code for a bool), ``get_buffer_attributes()`` (none), ``get_sample_rate()``
  and ``set_sample_rate()``, the sample rate as the attribute ``sr``.

What it changes from nn_tilde's modules: the methods are *stateful streams*
(each call continues from the last, as nn~ calls them block by block;
``reset()`` starts over), and a block whose length is not a multiple of the
method's ratio raises one clear line instead of being cut. ``forward``
shares ``encode``'s and ``decode``'s caches: use one method per loaded copy
(nn~ loads a copy per object). ``set_sample_rate`` keeps ``sr``: the network
runs at the rate it was trained at, and a host at another rate must resample
(``get_sample_rate`` tells it the model's). Switching the noise on again
restarts its filter's cache from silence (one chunk of the first block hears
it). ``latent_size``, ``sample_rate``, ``block_size`` (one latent frame, the
smallest block) and ``delay`` (the PQMF's round trip, in samples) are plain
attributes.

ONNX: :func:`export_onnx` writes one graph a method, ``NAME.onnx`` (forward,
audio to audio), ``NAME.encode.onnx`` and ``NAME.decode.onnx``, with the
TorchScript-based exporter (``dynamo=False``). A graph takes ``input
[1, channels, time]`` (time dynamic, in whole latent frames: the graph does
not check, :class:`OnnxStream` does) and the states ``state_in_0 ..``, and
returns ``output`` and ``state_out_0 ..``; feeding the states back streams
block by block (:class:`OnnxStream`). The sample rate,
latent size, block size, ratios and state shapes are in each model's
``metadata_props``. The TorchScript-based ONNX exporter has no rfft/irfft, so
the noise filter is the same circular filtering written as two small DFT
matrix products (equal to the FFT's within float rounding), in TorchScript
too; an ONNX graph's noise comes from onnxruntime's generator, not torch's.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from cadenza.errors import CadenzaError
from cadenza.models.audio.vae_net import amplitude
from cadenza.nn.stateful import Pointwise, convert, pqmf_analysis, pqmf_synthesis, stateful_layers
from cadenza.utils import atomic_path

NN_BOOL = 0  # nn_tilde's type code for a bool attribute (TYPE_HASH)
ONNX_OPSET = 17
TEST_SAMPLES = 8192  # nn_tilde tests each method on a block this long before saving


# --- the VAE ------------------------------------------------------------------------------------


class VAEHeads(nn.Module):
    """The decoder's heads (``VAENet._bands``): hidden ``[B, h, L]`` -> bands ``[B, M, L]``."""

    def __init__(self, net):
        super().__init__()
        self.waveform, self.gain = convert(net.waveform), convert(net.gain)
        self.has_noise = net.noise is not None
        # a placeholder keeps the module's type fixed for TorchScript when there is no noise branch
        self.noise = convert(net.noise) if self.has_noise else Pointwise(nn.Identity())
        self.bands, self.hop = net.n_bands, net.noise_hop
        self.bins = self.hop // 2 + 1
        # rfft and irfft of one chunk as matrices (the ONNX exporter has no rfft): noise @ dft gives (Re, Im) of its
        # spectrum [.., 2 bins]; (Re, Im) @ idft is irfft's sum, the bins between DC and Nyquist counted twice
        t = torch.arange(self.hop, dtype=torch.float64)
        angle = 2 * math.pi * t[:, None] * torch.arange(self.bins, dtype=torch.float64) / self.hop  # [hop, bins]
        twice = torch.full((self.bins, 1), 2.0, dtype=torch.float64)
        twice[0] = 1.0
        if self.hop % 2 == 0:
            twice[-1] = 1.0  # the Nyquist bin
        dft = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1)  # [hop, 2 bins]
        idft = torch.cat([twice * torch.cos(angle.T), -twice * torch.sin(angle.T)], dim=0) / self.hop  # [2 bins, hop]
        self.register_buffer("dft", dft.float())
        self.register_buffer("idft", idft.float())

    def forward(self, hidden: torch.Tensor, noise: bool) -> torch.Tensor:
        bands = torch.tanh(self.waveform(hidden)) * amplitude(self.gain(hidden))  # [B, M, L]
        if self.has_noise and noise:
            gains = amplitude(self.noise(hidden) - 5)  # [B, M * bins, F]; -5 as VAENet: quiet at the start
            batch, chunks = hidden.shape[0], gains.shape[-1]
            # time-major, as draw_noise: a stream draws the numbers an offline pass draws
            white = torch.rand(batch, chunks, self.bands, self.hop, dtype=hidden.dtype, device=hidden.device)
            white = (white * 2 - 1).permute(0, 2, 1, 3)  # [B, M, F, hop]
            gains = gains.reshape(batch, self.bands, self.bins, chunks).transpose(2, 3)  # [B, M, F, bins]
            shaped = ((white @ self.dft) * torch.cat([gains, gains], dim=-1)) @ self.idft  # [B, M, F, hop]
            bands = bands + shaped.reshape(batch, self.bands, chunks * self.hop)
        return bands

    def reset(self) -> None:
        self.waveform.reset()
        self.gain.reset()
        self.noise.reset()


class ExportedVAE(nn.Module):
    """A VAE network as a stateful stream in nn~'s layout (see the module docstring).

    ``encode``: audio ``[B, 1, T]`` -> latent means ``[B, latent, T / block_size]``;
    ``decode``: latents ``[B, latent, F]`` -> audio ``[B, 1, F * block_size]``;
    ``forward``: ``decode(encode(audio))``. Each call continues the stream; ``reset()`` starts over.
    """

    def __init__(self, net, config):
        super().__init__()
        self.analysis = pqmf_analysis(net.pqmf)
        self.encoder = convert(net.encoder)
        self.decoder = convert(net.decoder)
        self.heads = VAEHeads(net)
        self.synthesis = pqmf_synthesis(net.pqmf)

        self.latent_size = int(config.latent)
        self.sample_rate = int(config.sample_rate)
        self.sr = self.sample_rate  # nn~ reads the rate here
        self.block_size = int(net.frame_samples)  # samples a latent frame: the smallest block
        self.delay = int(net.delay)
        self.noise = (self.heads.has_noise,)  # an nn~ attribute is a tuple of values

        latent, frame = self.latent_size, self.block_size
        self.methods = ["encode", "decode", "forward"]
        self.attributes = ["noise"]
        self.register_buffer("encode_params", torch.tensor([1, 1, latent, frame]))
        self.register_buffer("decode_params", torch.tensor([latent, frame, 1, 1]))
        self.register_buffer("forward_params", torch.tensor([1, 1, 1, 1]))
        self.register_buffer("noise_params", torch.tensor([NN_BOOL]))
        latent_labels = [f"(signal) latent dimension {i}" for i in range(latent)]
        self.encode_input_labels = ["(signal) audio in"]
        self.encode_output_labels = latent_labels
        self.decode_input_labels = latent_labels
        self.decode_output_labels = ["(signal) audio out"]
        self.forward_input_labels = ["(signal) audio in"]
        self.forward_output_labels = ["(signal) audio out"]

    # --- the streams ------------------------------------------------------------------------

    def _check(self, x: torch.Tensor, method: str, channels: int, ratio: int, unit: str) -> None:
        """One clear line for a block the model cannot take (nn~ asked for a size it cannot give)."""
        if x.dim() != 3 or x.shape[1] != channels:
            raise ValueError(f"{method}: expected a block [batch, {channels}, time], got {list(x.shape)}")
        if x.shape[-1] == 0 or x.shape[-1] % ratio != 0:
            raise ValueError(f"{method}: a block of {x.shape[-1]} {unit}; this model takes multiples of {ratio} "
                             f"(one latent frame is {self.block_size} samples at {self.sample_rate} Hz)")

    def _encode(self, audio: torch.Tensor) -> torch.Tensor:
        bands = self.analysis(audio)  # [B, M, T / M]
        return self.encoder(bands)[:, : self.latent_size]  # [B, latent, F]: the posterior's means

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder(z)  # [B, h, F * prod(ratios)]
        return self.synthesis(self.heads(hidden, self.noise[0]))  # [B, 1, F * block_size]

    @torch.jit.export
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, T]`` (T a multiple of ``block_size``) -> latent means ``[B, latent, T / block_size]``."""
        self._check(audio, "encode", 1, self.block_size, "samples")
        return self._encode(audio)

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, latent, F]`` -> audio ``[B, 1, F * block_size]`` (``delay`` samples late)."""
        self._check(z, "decode", self.latent_size, 1, "latent frames")
        return self._decode(z)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, T]`` resynthesised: ``[B, 1, T]``, ``delay`` samples late."""
        self._check(audio, "forward", 1, self.block_size, "samples")
        return self._decode(self._encode(audio))

    @torch.jit.export
    def reset(self) -> None:
        """Forget the past: the next block starts a new stream (every cache back to silence)."""
        self.analysis.reset()
        self.encoder.reset()
        self.decoder.reset()
        self.heads.reset()
        self.synthesis.reset()

    # --- nn~'s interface --------------------------------------------------------------------

    @torch.jit.export
    def get_methods(self) -> list[str]:
        return self.methods

    @torch.jit.export
    def get_attributes(self) -> list[str]:
        return self.attributes

    @torch.jit.export
    def get_buffer_attributes(self) -> list[str]:
        none: list[str] = []  # no buffer attributes (nn~ 1.6 asks)
        return none

    @torch.jit.export
    def get_sample_rate(self) -> int:
        return self.sr

    @torch.jit.export
    def set_sample_rate(self, sample_rate: int) -> None:
        """Kept for nn~; the rate stays the model's: the network runs at the rate it was trained at."""
        pass

    @torch.jit.export
    def get_noise(self) -> tuple[bool]:
        return self.noise

    @torch.jit.export
    def set_noise(self, noise: bool) -> int:
        """Switch the decoder's filtered noise on or off (0: done, as nn~'s setters answer)."""
        if noise != self.noise[0]:
            self.heads.noise.reset()  # its cache stopped when the noise did
        self.noise = (noise,)
        return 0


# --- from a fitted model to files ---------------------------------------------------------------


def exported_vae(model) -> ExportedVAE:
    """The :class:`ExportedVAE` of a fitted VAE model (eager, not yet scripted)."""
    if getattr(model, "name", None) != "vae":
        raise CadenzaError(f"only a vae model exports for now, got {getattr(model, 'name', type(model).__name__)}")
    if getattr(model, "net_", None) is None:
        raise CadenzaError("vae: not fitted; nothing to export")
    return ExportedVAE(model.net_, model.config).eval()


def _nn_tilde_check(module) -> None:
    """Run each method on silence, as nn_tilde does before it saves (one channel, then several as
    mc.nn~ sends them), then start over."""
    with torch.no_grad():
        for method, batch in [(m, b) for b in (1, 2) for m in module.get_methods()]:
            params = getattr(module, f"{method}_params").tolist()
            length = TEST_SAMPLES // module.block_size * module.block_size // params[1]
            y = getattr(module, method)(torch.zeros(batch, params[0], length))
            expected = [batch, params[2], length * params[1] // params[3]]
            if list(y.shape) != expected or y.dtype != torch.float32:
                raise RuntimeError(f"export: {method} gave {list(y.shape)} {y.dtype}, nn~ expects {expected} float32")
    module.reset()


def script(model, noise: bool = True) -> torch.jit.ScriptModule:
    """The TorchScript module of a fitted VAE, checked as nn_tilde checks it; ``noise``: whether the
    decoder's filtered noise starts on (``set_noise`` switches it)."""
    with warnings.catch_warnings():
        # torch marks torch.jit as deprecated, but nn~ loads TorchScript and nothing else
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated")
        scripted = torch.jit.script(exported_vae(model))
    with torch.random.fork_rng(devices=[]):  # the check's noise leaves the caller's generator alone
        _nn_tilde_check(scripted)
    scripted.set_noise(noise)
    return scripted


def export_torchscript(model, path, noise: bool = True) -> Path:
    """Write a fitted VAE as a TorchScript file for nn~ (``.ts``), atomically; return the path."""
    path = Path(path)
    scripted = script(model, noise)
    data = io.BytesIO()
    torch.jit.save(scripted, data)  # to memory: the archive's inner folder is then "archive", not the temp name
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.getvalue())
    return path


class OnnxMethod(nn.Module):
    """One method of an :class:`ExportedVAE` as a pure function for ONNX:
    ``(input, *states) -> (output, *new_states)``, the states being the caches of the layers it uses."""

    def __init__(self, exported: ExportedVAE, method: str):
        super().__init__()
        self.exported, self.method = exported, method
        parts = {"encode": [exported.analysis, exported.encoder],
                 "decode": [exported.decoder, exported.heads, exported.synthesis]}
        parts["forward"] = parts["encode"] + parts["decode"]
        unused = set(stateful_layers(exported.heads.noise)) if not exported.noise[0] else set()
        # a plain list, not registered a second time
        self.layers = [m for part in parts[method] for m in stateful_layers(part) if m not in unused]

    def forward(self, x: torch.Tensor, *states: torch.Tensor):
        for layer, state in zip(self.layers, states):
            layer.cache = state  # the trace reads the state from the input ...
        y = getattr(self.exported, self.method)(x)
        return (y, *[layer.cache for layer in self.layers])  # ... and returns the updated one


def onnx_paths(path) -> dict[str, Path]:
    """The files :func:`export_onnx` writes for ``path``: ``NAME.onnx`` (forward), ``NAME.encode.onnx``,
    ``NAME.decode.onnx``."""
    path = Path(path)
    stem = path.name[: -len(".onnx")] if path.name.endswith(".onnx") else path.name
    return {"forward": path, "encode": path.with_name(f"{stem}.encode.onnx"),
            "decode": path.with_name(f"{stem}.decode.onnx")}


def export_onnx(model, path, noise: bool = True, methods=("forward", "encode", "decode")) -> list[Path]:
    """Write a fitted VAE as streaming ONNX graphs, one a method (see :func:`onnx_paths`), atomically;
    ``noise``: the decoder's filtered noise (from onnxruntime's generator). Returns the paths written."""
    import onnx

    paths = onnx_paths(path)
    written = []
    for method in methods:
        exported = exported_vae(model)
        exported.set_noise(noise)
        graph = OnnxMethod(exported, method).eval()
        in_channels, in_ratio, out_channels, out_ratio = getattr(exported, f"{method}_params").tolist()
        frames = 2  # the traced example; the time axis stays dynamic
        example = torch.zeros(1, in_channels, frames * exported.block_size // in_ratio)
        states = [layer.cache.clone() for layer in graph.layers]
        names = [f"state_in_{i}" for i in range(len(states))]
        outputs = ["output"] + [f"state_out_{i}" for i in range(len(states))]
        with atomic_path(paths[method]) as tmp, torch.no_grad(), warnings.catch_warnings(), \
                torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")  # the tracer's notes on Python ints: block sizes are checked outside
            torch.onnx.export(graph, (example, *states), str(tmp), input_names=["input", *names],
                              output_names=outputs, dynamic_axes={"input": {2: "time"}, "output": {2: "time_out"}},
                              opset_version=ONNX_OPSET, dynamo=False)
            proto = onnx.load(str(tmp))
            meta = {"producer": "cadenza", "model": "vae", "method": method,
                    "sample_rate": exported.sample_rate, "latent_size": exported.latent_size,
                    "block_size": exported.block_size, "delay": exported.delay, "noise": int(noise),
                    "in_channels": in_channels, "in_ratio": in_ratio, "out_channels": out_channels,
                    "out_ratio": out_ratio, "state_shapes": json.dumps([list(s.shape) for s in states])}
            for key, value in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, str(value)
            onnx.save(proto, str(tmp))
        written.append(paths[method])
    return written
