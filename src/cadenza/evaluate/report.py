"""Reports of evaluations: Rich tables, JSON and PNG plots.

Every table puts the systems side by side with the reference's real-vs-real
line (its test split measured against its train split), so that a number is
never read without knowing what real music scores.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from rich.table import Table

from cadenza.evaluate.compare import FEATURES
from cadenza.evaluate.metrics import METRICS
from cadenza.evaluate.suite import Evaluation, Reference, _nanmean
from cadenza.utils import atomic_path, atomic_write_text


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _columns(evaluations: list[Evaluation], reference: Reference) -> list[tuple[str, Evaluation]]:
    cols = [(e.label, e) for e in evaluations]
    if reference.real is not None:
        cols.append((f"{reference.name} test (real)", reference.real))
    return cols


def _table(title: str, first: str, cols: list[tuple[str, Evaluation]]) -> Table:
    """A table with a name column, then one right-aligned column a system."""
    table = Table(title=title)
    table.add_column(first)
    for label, _ in cols:
        table.add_column(label, justify="right")
    return table


def metrics_table(evaluations: list[Evaluation], reference: Reference) -> Table:
    """Mean of each per-piece metric, a column a system, then the reference's test and train."""
    cols = _columns(evaluations, reference)
    table = _table(f"Per-piece metrics (means) against {reference.name}", "metric", cols)
    table.add_column(f"{reference.name} train", justify="right")
    for name in METRICS:
        train = _nanmean(reference.train_metrics[name])
        row = [_fmt(_nanmean(e.metrics[name])) for _, e in cols]
        if all(r == "-" for r in row) and math.isnan(train):
            continue  # e.g. drum metrics on music without drums
        table.add_row(name, *row, _fmt(train))
    return table


def comparison_table(evaluations: list[Evaluation], reference: Reference) -> Table:
    """Yang & Lerch overlapping area (higher is closer) and KL (lower is closer) a feature."""
    cols = [(label, e) for label, e in _columns(evaluations, reference) if e.comparison]
    table = _table(f"Set comparison with {reference.name} train (Yang & Lerch 2018): OA / KL", "feature", cols)
    for name in FEATURES:
        table.add_row(name, *[f"{_fmt(e.comparison[name].oa)} / {_fmt(e.comparison[name].kl)}" for _, e in cols])
    table.add_row("mean", *[f"{_fmt(np.mean([c.oa for c in e.comparison.values()]))} / "
                            f"{_fmt(np.mean([c.kl for c in e.comparison.values()]))}" for _, e in cols],
                  style="bold")
    return table


def novelty_structure_table(evaluations: list[Evaluation], reference: Reference) -> Table:
    cols = _columns(evaluations, reference)
    table = _table(f"Novelty against {reference.name} train ({reference.kind} events) and structure",
                   "measure", cols)
    novelty = [e.summary()["novelty"] for _, e in cols]
    for key in novelty[0]:
        table.add_row(key, *[_fmt(n.get(key)) for n in novelty])
    shape = [e.structure_means() for _, e in cols]
    for key in shape[0]:
        table.add_row(key, *[_fmt(s.get(key)) for s in shape])
    table.add_row("pieces", *[str(len(e.names)) for _, e in cols])
    table.add_row("seconds", *[f"{e.seconds:.2f}" for _, e in cols])
    return table


def tables(evaluations: list[Evaluation], reference: Reference) -> list[Table]:
    out = [metrics_table(evaluations, reference)]
    if any(e.comparison for e in evaluations):
        out.append(comparison_table(evaluations, reference))
    out.append(novelty_structure_table(evaluations, reference))
    return out


def json_ready(x):
    """``x`` with numpy numbers made plain and NaN made None, so that JSON can hold it."""
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def to_json(evaluations: list[Evaluation], reference: Reference, per_piece: bool = True) -> dict:
    clean = json_ready

    record = {
        "reference": {"name": reference.name, "train_pieces": len(reference.train),
                      "test_pieces": len(reference.test) if reference.test else 0,
                      "novelty_events": reference.kind,
                      "train_metrics": {k: _nanmean(v) for k, v in reference.train_metrics.items()},
                      "real_vs_real": reference.real.summary() if reference.real is not None else None},
        "systems": {e.label: {**e.summary(), **({"per_piece": e.per_piece()} if per_piece else {})}
                    for e in evaluations},
    }
    return clean(record)


def write_json(path: str | os.PathLike, evaluations: list[Evaluation], reference: Reference) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(to_json(evaluations, reference), indent=2) + "\n")
    return path


# --- plots -----------------------------------------------------------------------------------------

def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def plot_feature_distances(evaluation: Evaluation, reference: Reference, folder: str | os.PathLike) -> list[Path]:
    """One PNG a feature: densities of intra-set (generated, reference) and inter-set distances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written = []
    if not evaluation.comparison:
        return written
    for name, c in evaluation.comparison.items():
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        ax.plot(c.grid, c.density["intra_a"], label=f"intra: {evaluation.label}")
        ax.plot(c.grid, c.density["intra_b"], label=f"intra: {reference.name} train")
        ax.plot(c.grid, c.density["inter"], label="inter-set", linestyle="--")
        ax.set_xlabel("Euclidean distance")
        ax.set_ylabel("density")
        ax.set_title(f"{name}: OA {c.oa:.3f}, KL {c.kl:.3f}")
        ax.legend(fontsize="small")
        fig.tight_layout()
        written.append(_save(fig, folder / f"distance-{name}.png"))
    return written


def plot_metric_histograms(evaluation: Evaluation, reference: Reference, folder: str | os.PathLike) -> Path:
    """One PNG: a histogram a metric, generated against the reference's train split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m in METRICS if not np.isnan(evaluation.metrics[m]).all()
             or not np.isnan(reference.train_metrics[m]).all()]
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), dpi=90, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        gen = evaluation.metrics[name][~np.isnan(evaluation.metrics[name])]
        ref = reference.train_metrics[name][~np.isnan(reference.train_metrics[name])]
        both = np.concatenate([gen, ref])
        bins = np.linspace(both.min(), both.max() + 1e-9, 25) if both.size else 10
        ax.hist(ref, bins=bins, density=True, alpha=0.5, label=f"{reference.name} train")
        ax.hist(gen, bins=bins, density=True, alpha=0.5, label=evaluation.label)
        ax.set_title(name, fontsize="small")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize="x-small")
    fig.tight_layout()
    return _save(fig, Path(folder) / "metrics.png")


def write_plots(evaluation: Evaluation, reference: Reference, folder: str | os.PathLike,
                pieces=None, ssm_count: int = 3) -> list[Path]:
    """Feature-distance densities, metric histograms and a few self-similarity matrices."""
    from cadenza.evaluate.structure import plot_self_similarity

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = plot_feature_distances(evaluation, reference, folder)
    written.append(plot_metric_histograms(evaluation, reference, folder))
    for name, score in list(zip(evaluation.names, pieces or []))[:ssm_count]:
        stem = Path(name).with_suffix("").as_posix().replace("/", "_")
        written.append(folder / f"ssm-{stem}.png")
        plot_self_similarity(score, written[-1], title=f"self-similarity: {name}")
    return written
