"""Comparing two sets of pieces, feature by feature.

L.-C. Yang and A. Lerch, "On the evaluation of generative models in music",
Neural Computing and Applications 32, 2020 (online 2018). For each feature
(a number or a vector per piece) the method takes every pairwise Euclidean
distance *within* a set (intra-set) and *between* the two sets (inter-set),
smooths each distance sample into a density with a Gaussian kernel density
estimate, and compares the densities: the Kullback-Leibler divergence
KL(intra || inter) and the overlapping area OA = integral of min(p, q). A
generated set that matches the reference has an intra-set distribution like
the reference's and overlaps the inter-set distribution as much as two
samples of real music do; that real-vs-real value (train vs test) is the
reference line to read generated numbers against.

Features (as the paper's, adapted to scores in quarter notes rather than
seconds): total used pitch, pitch-class histogram, pitch-class transition
matrix, pitch range, average pitch interval, note count, average inter-onset
interval, note-length histogram and note-length transition matrix (12 length
classes). Sequence features (intervals, transitions, inter-onset intervals,
lengths) are read from the melody (the top voice), as the paper's are from a
single instrument; histograms and counts use every pitched note.

Changes: distances are subsampled (fixed seed) to at most ``max_distances``
before the KDE so that 1,000-piece sets compare in seconds; the KDE bandwidth
is Scott's rule with a floor so that a set of identical pieces (all distances
zero) still has a density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import symusic

from cadenza.evaluate.metrics import Piece

# Note-length classes in quarters: whole, half, quarter, 8th, 16th, their
# dotted forms, and half, quarter and 8th triplets (the paper's 12 classes).
LENGTHS = np.array([4, 2, 1, 0.5, 0.25, 3, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3])

FEATURES = ("total_used_pitch", "pitch_class_histogram", "pitch_class_transition_matrix",
            "pitch_range", "avg_pitch_interval", "note_count", "avg_ioi",
            "note_length_histogram", "note_length_transition_matrix")


def _length_class(durations_q: np.ndarray) -> np.ndarray:
    return np.abs(durations_q[:, None] - LENGTHS[None, :]).argmin(axis=1)


def features(score: symusic.Score | Piece) -> dict[str, np.ndarray]:
    """The nine features of one piece, each a 1-D float array."""
    piece = Piece.of(score)
    n, top = piece.notes(), piece.top_voice
    tpq = piece.ticks_per_quarter
    p, mp = n["pitch"], top["pitch"]
    pch = np.bincount(p % 12, minlength=12).astype(float)
    pctm = np.zeros((12, 12))
    if mp.size > 1:
        np.add.at(pctm, (mp[:-1] % 12, mp[1:] % 12), 1)
    classes = _length_class(top["duration"] / tpq) if mp.size else np.zeros(0, int)
    nlh = np.bincount(classes, minlength=12).astype(float)
    nltm = np.zeros((12, 12))
    if classes.size > 1:
        np.add.at(nltm, (classes[:-1], classes[1:]), 1)
    onsets = np.unique(n["time"])
    return {
        "total_used_pitch": np.array([np.unique(p).size], float),
        "pitch_class_histogram": pch / max(pch.sum(), 1),
        "pitch_class_transition_matrix": (pctm / max(pctm.sum(), 1)).ravel(),
        "pitch_range": np.array([p.max() - p.min() if p.size else 0], float),
        "avg_pitch_interval": np.array([np.abs(np.diff(mp)).mean() if mp.size > 1 else 0], float),
        "note_count": np.array([p.size], float),
        "avg_ioi": np.array([np.diff(onsets).mean() / tpq if onsets.size > 1 else 0], float),
        "note_length_histogram": nlh / max(nlh.sum(), 1),
        "note_length_transition_matrix": (nltm / max(nltm.sum(), 1)).ravel(),
    }


def feature_matrix(scores) -> dict[str, np.ndarray]:
    """``{feature: [pieces, dims]}`` over a sequence of scores (or :class:`~cadenza.evaluate.metrics.Piece` objects)."""
    rows = [features(s) for s in scores]
    return {name: np.stack([r[name] for r in rows]) for name in FEATURES}


# --- distances and densities ----------------------------------------------------------------

def _pairwise(a: np.ndarray, b: np.ndarray | None, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Euclidean distances within ``a`` (all pairs i < j) or between ``a`` and ``b``.

    At most ``limit`` distances, drawn without replacement, are returned.
    """
    if b is None:
        i, j = np.triu_indices(len(a), k=1)
        pairs = i.size
    else:
        pairs = len(a) * len(b)
    pick = rng.choice(pairs, size=limit, replace=False) if pairs > limit else np.arange(pairs)
    if b is None:
        x, y = a[i[pick]], a[j[pick]]
    else:
        x, y = a[pick // len(b)], b[pick % len(b)]
    return np.sqrt(((x - y) ** 2).sum(axis=1))


def kde(sample: np.ndarray, grid: np.ndarray, floor: float) -> np.ndarray:
    """Gaussian kernel density of ``sample`` on ``grid`` (Scott's bandwidth, at least ``floor``)."""
    sample = np.asarray(sample, float)
    h = max(sample.std() * sample.size ** (-1 / 5), floor)
    density = np.zeros(grid.size)
    for chunk in np.array_split(sample, max(1, sample.size // 2048)):
        z = (grid[None, :] - chunk[:, None]) / h
        density += np.exp(-0.5 * z * z).sum(axis=0)
    density /= sample.size * h * math.sqrt(2 * math.pi)
    return density


def kl_divergence(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """KL(p || q) in nats of two densities on one grid; q is floored to stay finite."""
    p = p / max(p.sum() * dx, 1e-300)
    q = q / max(q.sum() * dx, 1e-300)
    mask = p > 0
    kl = float((p[mask] * np.log(p[mask] / np.maximum(q[mask], 1e-10))).sum() * dx)
    return max(kl, 0.0)  # rounding can dip below zero for equal densities


def overlap_area(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    p = p / max(p.sum() * dx, 1e-300)
    q = q / max(q.sum() * dx, 1e-300)
    return float(np.minimum(p, q).sum() * dx)


@dataclass
class FeatureComparison:
    """One feature of two sets: distance samples, their densities, and KL/OA."""

    name: str
    intra_a: np.ndarray  # distances within set A (generated)
    intra_b: np.ndarray  # distances within set B (reference)
    inter: np.ndarray  # distances between A and B
    grid: np.ndarray = field(repr=False)
    density: dict = field(repr=False)  # {"intra_a", "intra_b", "inter"} on grid
    kl: float = math.nan  # KL(intra_a || inter)
    oa: float = math.nan  # OA(intra_a, inter)
    kl_ref: float = math.nan  # KL(intra_b || inter)
    oa_ref: float = math.nan  # OA(intra_b, inter)

    def summary(self) -> dict:
        return {"intra_mean": float(self.intra_a.mean()), "intra_std": float(self.intra_a.std()),
                "intra_ref_mean": float(self.intra_b.mean()), "intra_ref_std": float(self.intra_b.std()),
                "inter_mean": float(self.inter.mean()), "inter_std": float(self.inter.std()),
                "kl": self.kl, "oa": self.oa, "kl_ref": self.kl_ref, "oa_ref": self.oa_ref}


def compare_sets(a, b, max_distances: int = 4000, grid_points: int = 512, seed: int = 0,
                 features_a: dict | None = None, features_b: dict | None = None
                 ) -> dict[str, FeatureComparison]:
    """Compare set ``a`` (generated) with set ``b`` (reference), every feature.

    ``a`` and ``b`` are sequences of scores (each needs at least two pieces);
    precomputed :func:`feature_matrix` results may be passed instead through
    ``features_a``/``features_b``.
    """
    fa = features_a if features_a is not None else feature_matrix(a)
    fb = features_b if features_b is not None else feature_matrix(b)
    for label, f in (("generated", fa), ("reference", fb)):
        if len(next(iter(f.values()))) < 2:
            raise ValueError(f"the {label} set needs at least two pieces to compare")
    rng = np.random.default_rng(seed)
    out = {}
    for name in FEATURES:
        intra_a = _pairwise(fa[name], None, max_distances, rng)
        intra_b = _pairwise(fb[name], None, max_distances, rng)
        inter = _pairwise(fa[name], fb[name], max_distances, rng)
        top = max(intra_a.max(), intra_b.max(), inter.max())
        span = top if top > 0 else 1.0
        grid = np.linspace(-0.1 * span, 1.1 * span, grid_points)
        dx = float(grid[1] - grid[0])
        floor = 0.02 * span
        dens = {k: kde(v, grid, floor) for k, v in (("intra_a", intra_a), ("intra_b", intra_b), ("inter", inter))}
        out[name] = FeatureComparison(
            name, intra_a, intra_b, inter, grid, dens,
            kl=kl_divergence(dens["intra_a"], dens["inter"], dx),
            oa=overlap_area(dens["intra_a"], dens["inter"], dx),
            kl_ref=kl_divergence(dens["intra_b"], dens["inter"], dx),
            oa_ref=overlap_area(dens["intra_b"], dens["inter"], dx))
    return out
