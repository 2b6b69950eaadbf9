"""Prompts for the masked token model: which codec tokens of a recording are kept.

A prompt is a ``keep`` array ``[codebooks, frames]`` of booleans: True where the
token comes from the input, False where the model generates it. Garcia,
Seetharaman, Kumar & Pardo 2023, "VampNet: Music Generation via Masked Acoustic
Token Modeling" (https://arxiv.org/abs/2307.04686), section 3.3, prompt by such
masks; this module writes them from a short text::

    periodic:7            keep every 7th frame (all codebooks): a "vamp" on the input
    prefix:1.5            keep the first 1.5 s: a continuation
    suffix:1              keep the last second: an introduction leading into it
    inpaint:2-3.5         regenerate 2 s to 3.5 s, keep the rest
    codebooks:2           keep the first 2 codebooks everywhere, regenerate the finer ones
    onsets                keep 3 frames around each onset of the input (onsets:5 for 5)
    none                  keep nothing: generate everything afresh
    periodic:7+codebooks:1   several rules: a token is kept where ANY rule keeps it

Rules are joined by ``+`` or ``,``. A mask that keeps every token leaves nothing to
generate, and one that keeps nothing of a given input ignores it: both are refused
(:func:`check_prompt`), except that ``none`` says on purpose that nothing is kept.

Onsets are found by spectral flux (Bello, Daudet, Abdallah, Duxbury, Davies &
Sandler 2005, "A Tutorial on Onset Detection in Music Signals", IEEE TSALP 13(5)):
the half-wave rectified rise of the log-compressed magnitude spectrum, summed over
bins, peaks picked above a moving average. VampNet uses a beat tracker for its
beat-driven prompts; onsets need no tempo and work on a single note too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from cadenza.errors import CadenzaError

GRAMMAR = ("periodic:N, prefix:SECONDS, suffix:SECONDS, inpaint:START-END, codebooks:K, onsets[:WIDTH] "
           "or none, joined by + or ,")
ONSET_WIDTH = 3  # frames kept around an onset when the rule gives no width


@dataclass(frozen=True)
class Rule:
    kind: str  # periodic, prefix, suffix, inpaint, codebooks, onsets, none
    values: tuple[float, ...] = ()


def _bad(spec: str, why: str) -> CadenzaError:
    return CadenzaError(f"bad mask {spec!r}: {why} (a mask is {GRAMMAR})")


def _number(text: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(spec, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _bad(spec, f"{what} must be a number of at least 0, got {text!r}")
    return value


def _whole(text: str, spec: str, what: str, least: int) -> int:
    if not re.fullmatch(r"\d+", text.strip()) or int(text) < least:
        raise _bad(spec, f"{what} must be a whole number of at least {least}, got {text!r}")
    return int(text)


def parse(spec: str) -> list[Rule]:
    """The rules of a mask spec, or one CadenzaError naming the spec and the grammar."""
    if not isinstance(spec, str) or not spec.strip():
        raise _bad(str(spec), "empty")
    rules = []
    for part in re.split(r"[+,]", spec):
        part = part.strip().lower()
        name, _, arg = part.partition(":")
        name, arg = name.strip(), arg.strip()
        if name == "none" and not arg:
            rules.append(Rule("none"))
        elif name == "periodic" and arg:
            rules.append(Rule("periodic", (_whole(arg, spec, "periodic's N", 1),)))
        elif name in ("prefix", "suffix") and arg:
            rules.append(Rule(name, (_number(arg.removesuffix("s"), spec, f"{name}'s seconds"),)))
        elif name == "inpaint" and "-" in arg:
            start, _, end = arg.partition("-")
            start, end = (_number(v.strip().removesuffix("s"), spec, "inpaint's time") for v in (start, end))
            if not end > start:
                raise _bad(spec, f"inpaint's END must come after its START, got {arg!r}")
            rules.append(Rule("inpaint", (start, end)))
        elif name == "codebooks" and arg:
            rules.append(Rule("codebooks", (_whole(arg, spec, "codebooks' K", 0),)))
        elif name == "onsets":
            rules.append(Rule("onsets", (_whole(arg, spec, "onsets' WIDTH", 1) if arg else ONSET_WIDTH,)))
        elif not part:
            raise _bad(spec, "an empty rule")
        else:
            raise _bad(spec, f"unknown rule {part!r}")
    return rules


def build(spec: str, codebooks: int, frames: int, frame_rate: float, audio: np.ndarray | None = None,
          sample_rate: int | None = None) -> np.ndarray:
    """``keep`` ``[codebooks, frames]``: True where any rule of ``spec`` keeps the input token.
    ``audio`` (mono samples at ``sample_rate``) is needed by ``onsets`` only."""
    keep = np.zeros((codebooks, frames), bool)
    frame = np.arange(frames)
    for rule in parse(spec):
        if rule.kind == "periodic":
            keep[:, frame % int(rule.values[0]) == 0] = True
        elif rule.kind == "prefix":
            keep[:, frame < round(rule.values[0] * frame_rate)] = True
        elif rule.kind == "suffix":
            keep[:, frame >= frames - round(rule.values[0] * frame_rate)] = True
        elif rule.kind == "inpaint":
            start, end = (round(v * frame_rate) for v in rule.values)
            keep[:, (frame < start) | (frame >= end)] = True
        elif rule.kind == "codebooks":
            keep[:int(rule.values[0])] = True
        elif rule.kind == "onsets":
            if audio is None or sample_rate is None:
                raise CadenzaError(f"mask {spec!r}: onsets need input audio")
            width = int(rule.values[0])
            for onset in onset_frames(audio, sample_rate, frame_rate, frames):
                low = max(0, onset - (width - 1) // 2)
                keep[:, low:min(frames, low + width)] = True
    return keep


def check_prompt(spec: str, keep: np.ndarray) -> np.ndarray:
    """``keep``, unless it keeps every token (nothing to generate) or, without an explicit
    ``none``, no token of the input (the input would be ignored): one clear line each."""
    if keep.all():
        raise CadenzaError(f"mask {spec!r} keeps every token of the input: nothing to generate "
                           "(try periodic:7, or a longer output)")
    if not keep.any() and not any(rule.kind == "none" for rule in parse(spec)):
        raise CadenzaError(f"mask {spec!r} keeps no token of the input, so the input would be ignored; "
                           "say none to generate everything afresh")
    return keep


# --- onsets --------------------------------------------------------------------------------


def onset_envelope(audio: np.ndarray, sample_rate: int, hop_seconds: float = 0.01,
                   window_seconds: float = 0.032) -> tuple[np.ndarray, float, int]:
    """Spectral flux ``[frames]`` a ``hop_seconds`` frame, that frame rate and the window in
    samples: the summed positive rise of log(1 + 100 |X|) from one frame to the next (Bello et
    al. 2005, eq. 4), on Hann windows of about ``window_seconds``."""
    from cadenza.audio.features import stft

    signal = np.asarray(audio, np.float64).reshape(-1)
    hop = max(1, int(round(hop_seconds * sample_rate)))
    n_fft = 1 << max(4, int(round(math.log2(window_seconds * sample_rate))))
    magnitude = np.log1p(100 * np.abs(stft(signal, n_fft, hop)))  # [frames, bins]
    flux = np.maximum(np.diff(magnitude, axis=0, prepend=0), 0).sum(axis=1)  # silence before the start
    return flux, sample_rate / hop, n_fft


def onset_times(audio: np.ndarray, sample_rate: int, delta: float = 0.07, gap: float = 0.05) -> np.ndarray:
    """Onset times in seconds: peaks of the flux that are the largest within 30 ms, rise
    ``delta`` (a share of the largest flux) above its mean over the surrounding 100 ms, and come
    at least ``gap`` seconds after the previous onset. Silence has none.

    A centred window sees a sound begin about a quarter of a window before its centre reaches
    it (where the Hann window rises fastest): the peaks are moved that much later. Peaks within
    half a window of the end are left out (the cut of the signal there is not an onset)."""
    flux, rate, n_fft = onset_envelope(audio, sample_rate)
    if len(flux) < 3 or not flux.max() > 1e-6:
        return np.zeros(0)
    flux = flux / flux.max()
    near, around = max(1, round(0.03 * rate)), max(1, round(0.1 * rate))
    padded = np.pad(flux, near, constant_values=-1)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * near + 1).max(axis=1)
    kernel = np.ones(2 * around + 1) / (2 * around + 1)
    mean = np.convolve(np.pad(flux, around, mode="edge"), kernel, mode="valid")
    peaks = np.flatnonzero((flux >= local_max) & (flux >= mean + delta))
    end = (len(np.asarray(audio).reshape(-1)) - n_fft / 2) / sample_rate
    times, last = [], -np.inf
    for peak in peaks:
        if (peak - last) / rate >= gap and peak / rate < end:
            times.append(peak / rate + n_fft / 4 / sample_rate)
            last = peak
    return np.array(times)


def onset_frames(audio: np.ndarray, sample_rate: int, frame_rate: float, frames: int) -> np.ndarray:
    """The token frames (of ``frame_rate`` a second) where onsets fall, within ``frames``."""
    found = np.round(onset_times(audio, sample_rate) * frame_rate).astype(int)
    return np.unique(found[(found >= 0) & (found < frames)])


# --- the picture ---------------------------------------------------------------------------

PLOT_COLUMNS = 2000  # the waveform is drawn as this many min/max columns at most, however long


def kept_runs(row: np.ndarray) -> np.ndarray:
    """``[runs, 2]`` start and end (exclusive) frames of each stretch of True in ``row``."""
    edges = np.diff(np.concatenate([[0], np.asarray(row, np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def plot_mask(keep: np.ndarray, frame_rate: float, path, audio: np.ndarray | None = None,
              sample_rate: int | None = None, title: str | None = None):
    """A PNG of a prompt: the waveform of ``audio`` (mono samples at ``sample_rate``) with the
    frames ``keep`` ``[codebooks, frames]`` keeps shaded; one band a codebook (the first at the
    top) when the codebooks are kept differently, one band over the whole height otherwise.
    Drawn with matplotlib's object API (no pyplot state: safe from the studio's threads)."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from cadenza.utils import atomic_path

    keep = np.asarray(keep, bool)
    codebooks, frames = keep.shape
    seconds = frames / frame_rate
    fig = Figure(figsize=(9, 3.2), dpi=100)
    ax = fig.add_subplot()
    peak = 1.0
    if audio is not None and sample_rate and len(audio):
        signal = np.asarray(audio, np.float32).reshape(-1)
        signal = np.where(np.isfinite(signal), signal, 0)
        columns = min(len(signal), PLOT_COLUMNS)
        cut = np.array_split(signal, columns)
        low = np.array([c.min() for c in cut])
        high = np.array([c.max() for c in cut])
        edges = np.cumsum([0] + [len(c) for c in cut[:-1]]) / sample_rate
        ax.fill_between(edges, low, high, step="post", color="tab:blue", alpha=0.8, linewidth=0.6, zorder=2)
        peak = max(float(np.abs(signal).max()), 1e-3)
    lim = 1.1 * peak
    rows = [keep[0]] if (keep == keep[:1]).all() else list(keep)
    height = 2 * lim / len(rows)
    for index, row in enumerate(rows):
        runs = kept_runs(row) / frame_rate
        bottom = lim - (index + 1) * height
        ax.broken_barh([(start, end - start) for start, end in runs], (bottom, height), facecolor="tab:orange",
                       alpha=0.35, linewidth=0, zorder=1)
        if len(rows) > 1:
            ax.text(1.005, 1 - (index + 0.5) / len(rows), f"cb {index + 1}", transform=ax.transAxes,
                    fontsize=7, va="center")
            if index:
                ax.axhline(bottom + height, color="grey", linewidth=0.4, zorder=1)
    ax.set_xlim(0, seconds)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("seconds")
    ax.set_yticks([])
    ax.set_title(title or f"kept {keep.mean():.0%} of the tokens", fontsize=10, loc="left")
    ax.legend(handles=[Patch(facecolor="tab:orange", alpha=0.35, label="kept from the input"),
                       Patch(facecolor="white", edgecolor="grey", label="generated")],
              loc="lower right", bbox_to_anchor=(1, 1), ncol=2, fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
