"""VAE export: block latency of the exported streams against the eager PyTorch one.

For 2048-sample blocks on one thread (``torch.set_num_threads(1)``, onnxruntime with one intra-op
thread), the median and p99 latency of a block and the real-time factor of three ways to run the
same network audio in, audio out (encode then decode, noise on):

- eager PyTorch: ``VAE.stream()`` (:class:`cadenza.models.audio.vae.TransferStream`), the encode
  and decode streams chained with explicit state, weight norm computed once a block;
- the TorchScript export (:func:`cadenza.models.audio.vae_export.script`), what nn~ loads: caches in
  buffers, weight norm folded;
- the ONNX export run by onnxruntime (:class:`cadenza.realtime.export.OnnxStream`).

On two networks: the ``laptop`` preset's (16 kHz, 8 bands, 512 samples a latent frame) and the
``44k`` preset's (44.1 kHz, 16 bands, 1024 samples a frame, RAVE's layout). Random weights: speed
does not depend on training. Before timing, each path runs a few blocks with the noise off and its
output is compared with the eager stream's (the largest difference is in the table).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

TITLE = "VAE export: TorchScript and onnxruntime against the eager PyTorch stream"
BLOCK = 2048  # samples: nn~'s usual buffer
PRESETS = ("laptop", "44k")
SECONDS = {"laptop": 20.0, "44k": 10.0}  # audio timed a path
WARMUP_BLOCKS = 8  # TorchScript's profiling executor optimises after the first calls
PARITY_BLOCKS = 6


def _network(preset: str):
    import torch

    from cadenza.models.audio.vae import VAE
    from cadenza.models.audio.vae_net import VAENet

    torch.manual_seed(0)
    model = VAE(**VAE.presets[preset])
    model.net_ = VAENet(model.config).eval()
    return model


def _paths(model, folder: Path) -> dict:
    """name -> (init_state, step(block [BLOCK] float32) -> [1, BLOCK], set_noise(bool))."""
    import torch

    from cadenza.models.audio.vae import TransferStream
    from cadenza.models.audio.vae_export import export_onnx, script
    from cadenza.realtime.export import OnnxStream

    eager = {}

    def eager_init(noise=True):
        eager["stream"] = TransferStream(model, seed=0, noise=noise)

    scripted = script(model)

    @torch.no_grad()
    def scripted_step(block):
        return scripted(torch.from_numpy(block)[None, None])[0].numpy()

    onnx = {}
    graphs = {noise: export_onnx(model, folder / f"vae-{noise}.onnx", noise=noise, methods=("forward",))[0]
              for noise in (False, True)}

    def onnx_init(noise=True):
        onnx["stream"] = OnnxStream(graphs[noise])

    def scripted_init(noise=True):
        scripted.set_noise(noise)
        scripted.reset()

    return {"eager PyTorch (`VAE.stream`)": (eager_init, lambda b: eager["stream"].step(b)),
            "TorchScript export (nn~)": (scripted_init, scripted_step),
            "ONNX export, onnxruntime": (onnx_init, lambda b: onnx["stream"].step(b))}


def _measure(model, paths: dict, audio: np.ndarray) -> dict:
    from cadenza.realtime.stream import LatencyMeter

    blocks = [audio[i:i + BLOCK] for i in range(0, len(audio) - BLOCK + 1, BLOCK)]
    results, reference = {}, None
    for name, (init, step) in paths.items():
        init(False)
        out = np.concatenate([step(b) for b in blocks[:PARITY_BLOCKS]], axis=-1)
        reference = out if reference is None else reference
        difference = float(np.abs(out - reference).max())
        init(True)
        for block in blocks[:WARMUP_BLOCKS]:
            step(block)
        init(True)
        meter = LatencyMeter(model.sample_rate)
        for block in blocks:
            meter.measure(step, block)
        results[name] = {**meter.report(), "difference": difference}
    return results


def run(seconds: dict | None = None) -> str:
    import torch

    seconds = seconds or SECONDS
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = ["| network | path | median ms | p99 ms | max ms | deadline ms | real-time factor | median speed-up "
             "against eager | largest difference from eager (noise off) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    leads = []
    with tempfile.TemporaryDirectory() as folder:
        for preset in PRESETS:
            model = _network(preset)
            rng = np.random.default_rng(0)
            audio = (0.3 * rng.standard_normal(int(seconds[preset] * model.sample_rate))).astype(np.float32)
            started = time.perf_counter()
            results = _measure(model, _paths(model, Path(folder)), audio)
            elapsed = time.perf_counter() - started
            eager = next(iter(results.values()))
            label = (f"`{preset}` ({model.sample_rate / 1000:g} kHz, {model.config.n_bands} bands, "
                     f"{sum(p.numel() for p in model.net_.parameters()) / 1e6:.2f}M parameters)")
            ratios = []
            for name, r in results.items():
                ratio = eager["median_ms"] / r["median_ms"]
                if r is not eager:
                    ratios.append(f"{name.split(' ')[0]} **{ratio:.2f}x**")
                table.append(f"| {label} | {name} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | "
                             f"{r['deadline_ms']:g} | {r['real_time_factor']:.1f}x | {ratio:.2f}x | "
                             f"{r['difference']:.1e} |")
            leads.append(f"{', '.join(ratios)} at {model.sample_rate / 1000:g} kHz (`{preset}`)")
            print(f"  {preset}: {elapsed:.0f} s", flush=True)
    lead = ("**Median block latency against the eager PyTorch stream (`VAE.stream`), same run, 2048-sample "
            "blocks, one thread** (above 1: the export is faster): " + "; ".join(leads) + ".")
    return "\n".join([lead, "", *table, "",
                      f"Blocks of {BLOCK} samples of white noise (0.3 standard deviation), "
                      f"{', '.join(f'{seconds[p]:g} s at `{p}`' for p in PRESETS)}, after {WARMUP_BLOCKS} "
                      "warm-up blocks; noise branch on. Real-time factor: seconds of audio a second of compute. "
                      "Random weights (speed does not depend on training). onnxruntime with one intra-op and "
                      f"one inter-op thread. Load average {load:.1f} on {os.cpu_count()} cores at the start."])


if __name__ == "__main__":
    print(run())
