"""Structure: the self-similarity matrix of a piece and how much it repeats.

A self-similarity matrix (J. Foote, "Visualizing music and audio using
self-similarity", ACM Multimedia 1999) compares every bar with every other
bar. Each bar is described by its duration-weighted chroma (12 pitch
classes), its onset pattern (onsets on a 16th-note grid, all tracks), or both
concatenated; similarity is the cosine. Repetition shows as off-diagonal
stripes: a piece built AABA has a stripe at the lag of A.

Scores derived from it:

- ``repetition_rate``: share of bars (after the first) that nearly repeat
  (cosine >= ``threshold``, default 0.95) some earlier bar;
- ``max_lag_score``: the largest mean similarity along one off-diagonal
  (lag 1 to half the piece), high when the piece repeats at a fixed period;
- ``mean_similarity``: the mean off-diagonal similarity (1 for a piece that
  is one bar repeated, lower for through-composed music).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import symusic

from cadenza.evaluate.metrics import Piece
from cadenza.utils import atomic_path

FEATURES = ("chroma", "onset", "both")
GRID = 4  # onset slots a quarter note


def bar_features(score: symusic.Score | Piece, feature: str = "both") -> np.ndarray:
    """``[bars, dims]`` features a bar: chroma (12), onsets (16th grid), or both."""
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {', '.join(FEATURES)}, got {feature!r}")
    piece = Piece.of(score)
    pitched, every = piece.notes(), piece.notes(drums=None)
    end = piece.length
    starts = piece.bar_starts
    bars = starts.size
    bounds = np.append(starts, max(end, starts[-1] + 1))
    tpq = piece.ticks_per_quarter
    chroma = _bar_chroma(pitched, bounds)
    longest = int(np.diff(bounds).max()) if bars else 1
    slots = max(1, -(-longest * GRID // tpq))
    onset = np.zeros((bars, slots))
    if every["time"].size:
        bar_of = np.clip(np.searchsorted(bounds, every["time"], side="right") - 1, 0, bars - 1)
        slot = np.clip((every["time"] - starts[bar_of]) * GRID // tpq, 0, slots - 1)
        onset[bar_of, slot] = 1
    if feature == "chroma":
        return chroma
    if feature == "onset":
        return onset
    def norm(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return np.concatenate([norm(chroma), norm(onset)], axis=1)


def _bar_chroma(pitched: dict[str, np.ndarray], bounds: np.ndarray) -> np.ndarray:
    """``[bars, 12]``: each note's duration split over the bars it spans (``bounds``: bar edges)."""
    bars = bounds.size - 1
    t, e, p = pitched["time"], pitched["end"], pitched["pitch"]
    first = np.maximum(np.searchsorted(bounds, t, side="right") - 1, 0)
    # A note touches bars first..last: those that begin before it ends.
    last = np.minimum(np.searchsorted(bounds, e, side="left"), bars) - 1
    spans = np.maximum(last - first + 1, 0)
    note = np.repeat(np.arange(t.size), spans)
    bar = first[note] + np.arange(note.size) - np.repeat(np.cumsum(spans) - spans, spans)
    ticks = np.minimum(e[note], bounds[bar + 1]) - np.maximum(t[note], bounds[bar])
    flat = np.bincount(bar * 12 + p[note] % 12, weights=ticks, minlength=bars * 12)
    return flat.reshape(bars, 12)


def self_similarity(score: symusic.Score | Piece, feature: str = "both") -> np.ndarray:
    """``[bars, bars]`` cosine similarity of bar features; an empty bar is similar only to empty bars."""
    x = bar_features(score, feature)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.maximum(norms, 1e-12)[:, None]
    s = unit @ unit.T
    empty = norms == 0
    s[np.ix_(empty, empty)] = 1.0
    return np.clip(s, -1.0, 1.0)


def structure_scores(ssm: np.ndarray, threshold: float = 0.95) -> dict[str, float]:
    n = ssm.shape[0]
    if n < 2:
        return {"repetition_rate": math.nan, "max_lag_score": math.nan, "mean_similarity": math.nan}
    earlier = np.tril(ssm, k=-1)[1:, :]  # row i: bar i+1 against bars 0..i
    repeats = (np.where(np.tri(n, k=-1, dtype=bool)[1:, :], earlier, -np.inf).max(axis=1) >= threshold)
    lags = [float(np.diagonal(ssm, offset=k).mean()) for k in range(1, max(2, n // 2 + 1)) if k < n]
    off = ssm[~np.eye(n, dtype=bool)]
    return {"repetition_rate": float(repeats.mean()), "max_lag_score": max(lags),
            "mean_similarity": float(off.mean())}


def structure(score: symusic.Score | Piece, feature: str = "both", threshold: float = 0.95) -> dict[str, float]:
    """Repetition scores of one piece (see the module docstring)."""
    return structure_scores(self_similarity(score, feature), threshold)


def plot_self_similarity(score: symusic.Score | Piece, path: str | os.PathLike | None = None,
                         feature: str = "both", title: str | None = None):
    """Draw the self-similarity matrix (bars on both axes); save a PNG when ``path`` is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ssm = self_similarity(score, feature)
    fig, ax = plt.subplots(figsize=(5.5, 4.8), dpi=100)
    image = ax.imshow(ssm, origin="lower", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
                      extent=(0.5, ssm.shape[0] + 0.5, 0.5, ssm.shape[0] + 0.5))
    fig.colorbar(image, ax=ax, label="cosine similarity")
    ax.set_xlabel("bar")
    ax.set_ylabel("bar")
    ax.set_title(title or f"self-similarity ({feature})")
    fig.tight_layout()
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return fig
