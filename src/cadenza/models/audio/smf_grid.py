"""The Sound Model Factory's grid: a square of a GAN's latent space, re-spaced to sound even.

Wyse, Kamath & Gupta 2022, "Sound Model Factory: An Integrated System Architecture for
Generative Audio Modelling", EvoMUSART (https://arxiv.org/abs/2206.13085), section 3: four
latent vectors are the corners of a square, a grid of sounds fills it, and a self-organising
map (Kohonen 1982) re-spaces the grid so that neighbouring sounds are about equally far apart
to the ear, not in the latent space.

- :func:`bilinear_grid`: ``z(x, y) = (1-x)(1-y) z00 + x(1-y) z10 + (1-x) y z01 + x y z11``, a
  plain bilinear fill (no slerp: the corners' norms are alike for Gaussian draws of a few
  hundred dimensions, and the bilinear square is what the SOM re-spaces anyway).
- :func:`neighbour_cv`: evenness, the coefficient of variation (std / mean) of the distances
  between 4-neighbours' features (0: perfectly even).
- :func:`som_respace`: a batch SOM of ``n x n`` nodes trained on the features of a dense
  bilinear sample of the square (``factor (n-1) + 1`` points a side), its nodes started at the
  bilinear grid's features (so the map keeps the corners' orientation) and its four corner
  nodes pinned to the corners' features; each node then takes the latent of a dense point
  whose features lie nearest its weight vector, every dense point used once at most (an
  optimal assignment, so that no two nodes share a sound and no neighbour distance is 0); the
  points' places in the square may be added to their features (``stiffness``) so that the map
  does not fold, and :func:`respaced_grid` keeps the most even of a few stiffnesses.
- :func:`arc_length_respace`: the grid's columns and rows moved to equal steps of the feature
  distance walked along x and along y. :func:`respaced_grid` keeps the most even of the
  bilinear, SOM and arc-length grids; on the shipped GAN the SOM did not even the grid out
  (its nodes follow the density of the dense sample, which is highest where the sound changes
  least, and its border nodes are pulled inwards) and the arc length did (docs/benchmarks.md).

Everything here is numpy; :func:`features_of` renders with a trained GAN (torch).
"""

from __future__ import annotations

import numpy as np


def bilinear_grid(corners: np.ndarray, n: int) -> np.ndarray:
    """``corners [4, latent]`` in the order (x0 y0), (x1 y0), (x0 y1), (x1 y1) -> ``[n, n, latent]``,
    row ``i`` at ``y = i / (n-1)``, column ``j`` at ``x = j / (n-1)``."""
    c = np.asarray(corners, np.float64)
    if c.ndim != 2 or len(c) != 4:
        raise ValueError(f"corners must be [4, latent], got {list(c.shape)}")
    t = np.linspace(0.0, 1.0, n)
    y, x = t[:, None, None], t[None, :, None]
    grid = (1 - x) * (1 - y) * c[0] + x * (1 - y) * c[1] + (1 - x) * y * c[2] + x * y * c[3]
    return grid.astype(np.float32)


def neighbour_distances(grid_features: np.ndarray) -> np.ndarray:
    """Distances between horizontal and vertical neighbours of ``[n, n, dims]`` features (flat)."""
    g = np.asarray(grid_features, np.float64)
    across = np.linalg.norm(g[:, 1:] - g[:, :-1], axis=-1)
    down = np.linalg.norm(g[1:] - g[:-1], axis=-1)
    return np.concatenate([across.ravel(), down.ravel()])


def neighbour_cv(grid_features: np.ndarray) -> float:
    """Evenness of a grid: std / mean of its 4-neighbour feature distances (0 is perfectly even)."""
    d = neighbour_distances(grid_features)
    return float(d.std() / d.mean()) if d.mean() > 0 else 0.0


def dense_side(n: int, factor: int) -> int:
    """Points a side of the dense sample: the ``n`` grid points and ``factor - 1`` between each pair."""
    return factor * (n - 1) + 1


STIFFNESS = (0.0, 0.5, 1.0, 2.0)  # position weights tried by respaced_grid (0: the features alone)


def som_respace(features: np.ndarray, n: int, factor: int, epochs: int = 40, sigma_start: float | None = None,
                sigma_end: float = 0.5, stiffness: float = 0.0) -> np.ndarray:
    """The dense points a re-spaced ``n x n`` grid takes: indices ``[n, n]`` into ``features``.

    ``features`` ``[S*S, dims]`` are the dense bilinear sample's (row-major, ``S = dense_side(n,
    factor)``). A batch SOM (each epoch every node moves to the neighbourhood-weighted mean of the
    points it and its lattice neighbours win; the neighbourhood's width shrinks from
    ``sigma_start`` to ``sigma_end`` nodes) starts from the bilinear grid's features with its
    corners pinned; then each node takes the unused dense point nearest its weight vector
    (optimal assignment; the corners keep their own points). Deterministic."""
    from scipy.optimize import linear_sum_assignment

    x = np.asarray(features, np.float64)
    side = dense_side(n, factor)
    if x.shape[0] != side * side:
        raise ValueError(f"features must have {side * side} rows for n={n}, factor={factor}, got {x.shape[0]}")
    scale = x.std(0).mean() or 1.0
    x = (x - x.mean(0)) / scale  # distances are unchanged up to one factor; the sums stay well scaled
    node_at = (np.arange(n) * factor)  # dense indices of the bilinear grid along a side
    start = (node_at[:, None] * side + node_at[None, :]).ravel()  # [n*n]
    if stiffness > 0:
        step = neighbour_distances(x[start].reshape(n, n, -1)).mean()  # a typical grid step of features
        rows, cols = np.divmod(np.arange(side * side), side)
        place = np.stack([rows, cols], 1) / factor  # in grid steps
        x = np.concatenate([x, stiffness * step * place], 1)
    corner_nodes = np.array([0, n - 1, n * (n - 1), n * n - 1])
    corner_points = start[corner_nodes]
    weights = x[start].copy()  # [n*n, dims]
    lattice = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2).astype(np.float64)
    lattice_d2 = ((lattice[:, None] - lattice[None]) ** 2).sum(-1)  # [n*n, n*n]
    sigma_start = sigma_start if sigma_start is not None else max(n / 2.0, sigma_end)
    for epoch in range(epochs):
        sigma = sigma_start * (sigma_end / sigma_start) ** (epoch / max(epochs - 1, 1))
        d2 = ((x ** 2).sum(1)[:, None] - 2 * x @ weights.T + (weights ** 2).sum(1)[None])  # [points, nodes]
        winner = d2.argmin(1)
        h = np.exp(-lattice_d2[winner] / (2 * sigma * sigma))  # [points, nodes]
        weights = (h.T @ x) / np.maximum(h.sum(0), 1e-12)[:, None]
        weights[corner_nodes] = x[corner_points]
    cost = ((weights[:, None] - x[None]) ** 2).sum(-1)  # [nodes, points]
    cost[:, corner_points] = np.inf  # the corners' points belong to the corners
    free = np.setdiff1d(np.arange(n * n), corner_nodes)
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost[free]), cost[free], 1e18))
    chosen = start.copy()
    chosen[free[rows]] = cols
    return chosen.reshape(n, n)


def arc_length_respace(features: np.ndarray, n: int, factor: int) -> np.ndarray:
    """The dense points of a grid re-spaced by feature arc length, separably: the grid's columns
    sit at equal steps of the cumulative feature distance along x (averaged over the dense rows),
    its rows likewise along y. Indices ``[n, n]`` into ``features`` (``[S*S, dims]`` row-major).
    A SOM places its nodes by the density of its training points, and a bilinear sample is
    densest in feature space exactly where the sound changes least, so a map alone does not
    even the spacing out; measuring the distance walked along each axis does, wherever the
    unevenness runs along the axes."""
    x = np.asarray(features, np.float64)
    side = dense_side(n, factor)
    grid = x.reshape(side, side, -1)
    along_x = np.linalg.norm(np.diff(grid, axis=1), axis=-1).mean(0)  # [side - 1]
    along_y = np.linalg.norm(np.diff(grid, axis=0), axis=-1).mean(1)

    def positions(steps: np.ndarray) -> np.ndarray:
        walked = np.concatenate([[0.0], np.cumsum(steps)])
        return np.interp(np.linspace(0.0, walked[-1], n), walked, np.arange(side)).round().astype(int)

    columns, rows = positions(along_x), positions(along_y)
    for at in (columns, rows):  # two grid points may round to one dense point: keep them apart
        for i in range(1, n):
            at[i] = max(at[i], at[i - 1] + 1)
        for i in range(n - 2, -1, -1):
            at[i] = min(at[i], at[i + 1] - 1)
    return rows[:, None] * side + columns[None, :]


def dense_latents(corners: np.ndarray, n: int, factor: int) -> np.ndarray:
    """The dense bilinear sample of the square ``[S*S, latent]`` (row-major), ``S = dense_side(n, factor)``."""
    side = dense_side(n, factor)
    return bilinear_grid(corners, side).reshape(side * side, -1)


def features_of(gan, latents: np.ndarray, class_index: int, instrument: int | None, batch: int = 64) -> np.ndarray:
    """The GAN's sounds for ``latents [m, latent]`` at one class and their log-mel summaries
    ``[m, dims]`` (:func:`cadenza.models.audio.gan_system.logmel_features`), and the sounds."""
    import torch

    from cadenza.models.audio.gan_system import logmel_features

    sounds, feats = [], []
    for start in range(0, len(latents), batch):
        audio = gan.render(latents[start:start + batch], class_index, instrument)  # [b, samples]
        sounds.append(audio)
        with torch.no_grad():
            feats.append(logmel_features(torch.from_numpy(audio), gan.sample_rate).numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(sounds)


def respaced_grid(gan, corners: np.ndarray, n: int, class_index: int, instrument: int | None,
                  som: bool = True, factor: int = 4) -> dict:
    """The grid of latents ``[n, n, latent]`` for a GAN at one class (the reference pitch):
    bilinear, then (``som``) re-spaced by :func:`som_respace` (fitted at each of
    :data:`STIFFNESS`) and by :func:`arc_length_respace`; the most even of the three (lowest
    neighbour-distance CV) is kept. Returns ``latents``, ``cv_bilinear``, ``cv_som`` and
    ``cv_arc_length`` (None without ``som``), ``stiffness`` (of the best SOM) and ``spacing``
    (``"bilinear"``, ``"som"`` or ``"arc-length"``)."""
    bilinear = bilinear_grid(corners, n)
    if not som:
        feats, _ = features_of(gan, bilinear.reshape(n * n, -1), class_index, instrument)
        return {"latents": bilinear, "cv_bilinear": neighbour_cv(feats.reshape(n, n, -1)), "cv_som": None,
                "cv_arc_length": None, "stiffness": None, "spacing": "bilinear"}
    dense = dense_latents(corners, n, factor)
    feats, _ = features_of(gan, dense, class_index, instrument)
    side = dense_side(n, factor)
    node_at = np.arange(n) * factor
    cv_bilinear = neighbour_cv(feats.reshape(side, side, -1)[np.ix_(node_at, node_at)])
    maps = [(neighbour_cv(feats[chosen]), stiffness, chosen) for stiffness in STIFFNESS
            for chosen in [som_respace(feats, n, factor, stiffness=stiffness)]]
    cv_som, stiffness, by_som = min(maps, key=lambda m: m[0])
    by_arc = arc_length_respace(feats, n, factor)
    cv_arc = neighbour_cv(feats[by_arc])
    spacing, latents = min([(cv_bilinear, 0, "bilinear", bilinear), (cv_som, 1, "som", dense[by_som]),
                            (cv_arc, 2, "arc-length", dense[by_arc])], key=lambda m: m[:2])[2:]
    return {"latents": latents.astype(np.float32), "cv_bilinear": cv_bilinear, "cv_som": cv_som,
            "cv_arc_length": cv_arc, "stiffness": stiffness, "spacing": spacing}
