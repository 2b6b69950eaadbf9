"""The Sound Model Factory measured (issue #16 part 2): the grid's evenness before and after the
SOM, real-time cost of the stream, how fast it answers a parameter step, and how near the GRU
synthesiser's notes are to the GAN's, at the grid points it learned and between them.

``pretrained/smf`` when it exists (``python scripts/train_smf.py``), else the run given on the
command line (``python benchmarks/bench_smf.py RUN``).

- Evenness: the coefficient of variation (std / mean) of the log-mel-statistics distances between
  4-neighbours of the grid, the bilinear grid's, the SOM's and the arc-length grid's (measured at
  fit time, at the middle pitch; :mod:`cadenza.models.audio.smf_grid`).
- Real time: 256-sample blocks on one torch thread over 20 s of a walk (a note a second, x and y
  moving), :class:`cadenza.realtime.stream.LatencyMeter`: real-time factor and p99 block latency.
- Response to a step: one note held at (x0, y0) with x and y jumping to (x1, y1) half a second in,
  beside the same note at (x0, y0) and at (x1, y1) throughout; each block's log-mel frame (512-sample
  window ending at the block's end, 40 bands) is compared, and the response is the blocks from the
  step until the stepped output's distance to the (x1, y1) output has fallen to 10% of the (x0, y0)
  output's distance to it (90% of the way), median over 8 random steps.
- Fidelity: the log-mel-statistics distance (:func:`cadenza.models.audio.gan_system.logmel_features`,
  the grid's measure) between the GRU's note and the GAN's note for the same parameters, at the
  trained grid points (trained pitches) and at the centres of grid cells (the GAN's latent there
  the bilinear mix of the cell's four corner latents), beside the distance between neighbouring
  grid sounds of the GAN (the grid's step: the scale of a perceptible move); and the share of the
  GRU's and the GAN's notes at those grid points that CREPE hears within 50 cents of their pitch.
"""

from __future__ import annotations

import sys

import numpy as np

TITLE = "Sound Model Factory: grid evenness (SOM), real-time cost, response to a step, fidelity to the GAN"
RUN = "pretrained/smf"
BLOCK = 256


def _walk(model, seconds: float, rng) -> np.ndarray:
    rate = model.sample_rate / model.hop
    count = int(seconds * rate)
    knots = rng.uniform(0, 1, size=(int(seconds) + 2, 2))
    t = np.arange(count) / rate
    frames = np.zeros((count, 4), np.float32)
    frames[:, 0] = np.interp(t, np.arange(len(knots)), knots[:, 0])
    frames[:, 1] = np.interp(t, np.arange(len(knots)), knots[:, 1])
    frames[:, 2] = rng.choice(model.pitches_, size=1)[0]
    frames[(np.arange(0, seconds) * rate).astype(int), 3] = 1.0
    return frames


def _real_time(model) -> dict:
    from cadenza.realtime.stream import LatencyMeter, run_blocks
    from cadenza.utils import one_thread

    frames = _walk(model, 20.0, np.random.default_rng(0))
    per = BLOCK // model.hop
    meter = LatencyMeter(model.sample_rate)
    with one_thread():
        run_blocks(model.stream(0), [frames[i:i + per] for i in range(0, len(frames), per)], meter)
    return meter.report()


def _block_logmel(audio: np.ndarray, rate: int, bands: int = 40, window: int = 512) -> np.ndarray:
    """Log-mel frame of each block ``[blocks, bands]``: a Hann window of ``window`` samples ending
    at the block's end."""
    from cadenza.nn.losses import mel_filterbank

    fb = mel_filterbank(rate, window, bands).numpy()
    padded = np.concatenate([np.zeros(window - BLOCK, np.float32), audio])
    hann = np.hanning(window).astype(np.float32)
    out = []
    for b in range(len(audio) // BLOCK):
        segment = padded[b * BLOCK:b * BLOCK + window] * hann
        out.append(np.log(fb @ np.abs(np.fft.rfft(segment)) + 1e-5))
    return np.array(out)


def _response(model, steps: int = 8) -> dict:
    rng = np.random.default_rng(1)
    rate, hop = model.sample_rate, model.hop
    count = model.sound_frames_
    step_at = min(count // 2, int(0.5 * rate / hop))
    step_at -= step_at % (BLOCK // hop)
    blocks_after = []
    for _ in range(steps):
        (x0, y0), (x1, y1) = rng.uniform(0, 1, size=(2, 2))
        pitch = float(rng.choice(model.pitches_))

        def path(a, b, switch, pitch=pitch):
            f = np.zeros((count, 4), np.float32)
            f[:, 2], f[0, 3] = pitch, 1.0
            f[:, 0], f[:, 1] = a
            f[switch:, 0], f[switch:, 1] = b
            return f

        before = _block_logmel(model.render_controls(path((x0, y0), (x0, y0), count)).samples[0], rate)
        after = _block_logmel(model.render_controls(path((x1, y1), (x1, y1), count)).samples[0], rate)
        stepped = _block_logmel(model.render_controls(path((x0, y0), (x1, y1), step_at)).samples[0], rate)
        first = step_at // (BLOCK // hop)
        gap = np.linalg.norm(before - after, axis=1)
        left = np.linalg.norm(stepped - after, axis=1)
        done = [b for b in range(first, len(gap) - 1) if gap[b] > 1e-3 and left[b] <= 0.1 * gap[b]]
        blocks_after.append((done[0] - first + 1) if done else np.nan)
    value = float(np.nanmedian(blocks_after)) if not np.isnan(blocks_after).all() else float("nan")
    return {"blocks": value, "ms": value * BLOCK / rate * 1000, "never": int(np.isnan(blocks_after).sum()),
            "steps": steps}


def _fidelity(model, cells: int = 8) -> dict | None:
    import torch

    from cadenza.errors import CadenzaError
    from cadenza.models.audio.gan_system import logmel_features

    try:
        gan = model.gan_model()
    except CadenzaError as exc:
        return {"error": str(exc)}
    rng = np.random.default_rng(2)
    n, grid, sf = model.config.grid, model.grid_, model.sound_frames_
    ins = None if model.instrument_ is None else gan.instruments_.index(model.instrument_)

    def features(audio):
        with torch.no_grad():
            return logmel_features(torch.from_numpy(np.asarray(audio, np.float32)), model.sample_rate).numpy()

    def ours(x, y, pitch):
        frames = np.zeros((sf, 4), np.float32)
        frames[:, 0], frames[:, 1], frames[:, 2], frames[0, 3] = x, y, pitch, 1.0
        return model.render_controls(frames).samples[0]

    on_grid, between, neighbours = [], [], []
    heard = {"ours": [], "gan": [], "keys": []}  # the notes at grid points, for their pitch
    for _ in range(cells):
        i, j = rng.integers(0, n - 1, size=2)
        pitch = int(rng.choice(model.pitches_))
        index = model.gan_class(gan, pitch)
        corners = np.stack([grid[i, j], grid[i, j + 1], grid[i + 1, j], grid[i + 1, j + 1]])
        middle = corners.mean(0)  # the bilinear mix at the cell's centre
        real = gan.render(np.stack([corners[0], corners[1], corners[2], middle]), index, ins)
        f_real = features(real[:, :sf * model.hop])
        x, y = j / (n - 1), i / (n - 1)
        f_ours = features(np.stack([ours(x, y, pitch), ours((j + 0.5) / (n - 1), (i + 0.5) / (n - 1), pitch)])
                          [:, :real.shape[1]])
        heard["ours"].append(ours(x, y, pitch)[:real.shape[1]])
        heard["gan"].append(real[0])
        heard["keys"].append(pitch)
        on_grid.append(np.linalg.norm(f_ours[0] - f_real[0]))
        between.append(np.linalg.norm(f_ours[1] - f_real[3]))
        neighbours += [np.linalg.norm(f_real[0] - f_real[1]), np.linalg.norm(f_real[0] - f_real[2])]
    from cadenza.audio.io import Audio
    from cadenza.evaluate.audio import pitch_accuracy

    def at_pitch(sounds):
        return pitch_accuracy([Audio(np.asarray(a, np.float32)[None], model.sample_rate) for a in sounds],
                              heard["keys"])["accuracy"]

    return {"grid": float(np.mean(on_grid)), "between": float(np.mean(between)),
            "neighbours": float(np.mean(neighbours)), "cells": cells,
            "pitch_ours": at_pitch(heard["ours"]), "pitch_gan": at_pitch(heard["gan"])}


def _measure(run: str) -> str:
    import cadenza

    model = cadenza.load(run)
    m = model.metrics_
    rt = _real_time(model)
    response = _response(model)
    fidelity = _fidelity(model)
    cv_before, cv_after, cv_arc = m.get("grid_cv_bilinear"), m.get("grid_cv_som"), m.get("grid_cv_arc_length")
    head = []
    if cv_before is not None and cv_after is not None:
        head.append(f"neighbour-distance CV of the SOM grid **{cv_after / cv_before:.2f}x** the bilinear grid's"
                    + (f", of the arc-length grid **{cv_arc / cv_before:.2f}x**" if cv_arc is not None else ""))
    head.append(f"**{rt['real_time_factor']}x** real time, p99 block {rt['p99_ms']} ms of a {rt['deadline_ms']} ms "
                "deadline")
    if fidelity and "grid" in fidelity:
        head.append(f"GRU-to-GAN distance **{fidelity['grid'] / fidelity['neighbours']:.2f}x** (grid points) and "
                    f"**{fidelity['between'] / fidelity['neighbours']:.2f}x** (between them) the grid's step")
    lines = ["; ".join(head) + ".", "",
             f"`{run}` (learned from `{model.config.gan}`; grid {model.config.grid} x {model.config.grid}, "
             f"pitches {model.pitches_}, "
             f"{m.get('train_steps')} steps, {m.get('train_seconds', float('nan')) / 60:.0f} min of training):", "",
             "| measure | value |", "|---|---:|",
             f"| neighbour-distance CV, bilinear grid | {cv_before} |",
             f"| neighbour-distance CV, SOM grid (best stiffness {m.get('grid_som_stiffness')}) | {cv_after} |",
             f"| neighbour-distance CV, arc-length grid | {cv_arc} |",
             f"| grid kept | {m.get('grid_spacing')} |",
             f"| real-time factor, {BLOCK}-sample blocks, 1 thread | {rt['real_time_factor']} |",
             f"| block latency median / p99 / max (ms) | {rt['median_ms']} / {rt['p99_ms']} / {rt['max_ms']} |",
             f"| deadline misses | {rt['deadline_misses']} of {rt['blocks']} |",
             f"| response to an x, y step (blocks to 90%, median of {response['steps']}) | {response['blocks']:.0f} "
             f"({response['ms']:.0f} ms; {response['never']} never reached) |"]
    if fidelity and "grid" in fidelity:
        lines += [f"| log-mel distance GRU vs GAN at grid points ({fidelity['cells']} cells) | "
                  f"{fidelity['grid']:.2f} |",
                  f"| log-mel distance GRU vs GAN between grid points | {fidelity['between']:.2f} |",
                  f"| log-mel distance between neighbouring GAN grid sounds | {fidelity['neighbours']:.2f} |",
                  f"| notes at the {fidelity['cells']} grid points within 50 cents of their pitch: the GRU's / "
                  "the GAN's | "
                  f"{fidelity['pitch_ours']:.0%} / {fidelity['pitch_gan']:.0%} |"]
    elif fidelity:
        lines += ["", f"Fidelity not measured: {fidelity['error']}"]
    return "\n".join(lines)


def run(runs: list[str] | None = None) -> str:
    from cadenza.models.base import is_run

    chosen = runs or ([RUN] if is_run(RUN) else [])
    if not chosen:
        return "No shipped Sound Model Factory yet (python scripts/train_smf.py); nothing measured."
    return "\n\n".join(_measure(r) for r in chosen)


if __name__ == "__main__":
    print(run(sys.argv[1:] or None))
