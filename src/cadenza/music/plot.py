"""Pictures of scores: a piano roll with bar lines, one colour a track."""

from __future__ import annotations

import os
from pathlib import Path

import symusic

from cadenza.music.theory import note_name
from cadenza.music.transforms import bar_starts
from cadenza.utils import atomic_path


def plot_piano_roll(score: symusic.Score, path: str | os.PathLike | None = None,
                    title: str | None = None, width: float | None = None):
    """Draw ``score`` as a piano roll; save it as PNG when ``path`` is given.

    The x axis counts quarter notes; thin vertical lines mark bars. Returns the
    matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    tpq = score.ticks_per_quarter
    notes = [(track, n) for track in score.tracks for n in track.notes]
    end_q = max(score.end() / tpq, 1.0)
    pitches = [n.pitch for _, n in notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    width = width or min(24.0, max(6.0, end_q / 6))
    height = min(10.0, max(3.0, (high - low) / 6))
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    colours = plt.get_cmap("tab10")
    legend = []
    for index, track in enumerate(score.tracks):
        colour = colours(index % 10)
        boxes = [Rectangle((n.time / tpq, n.pitch - 0.4), max(n.duration / tpq, 0.05), 0.8)
                 for n in track.notes]
        if boxes:
            ax.add_collection(PatchCollection(boxes, facecolor=colour, edgecolor="black",
                                              linewidth=0.3, alpha=0.85))
            label = track.name or f"Track {index + 1}"
            legend.append(Patch(facecolor=colour, label=label + (" (drums)" if track.is_drum else "")))
    for tick in bar_starts(score):
        ax.axvline(tick / tpq, color="grey", linewidth=0.6, alpha=0.6, zorder=0)
    ax.set_xlim(0, end_q)
    ax.set_ylim(low, high)
    # Every C; on a narrow roll also every E and G, so that a melody can be read.
    classes = (0,) if high - low > 24 else (0, 4, 7)
    ticks = [p for p in range(low, high + 1) if p % 12 in classes] or [low]
    ax.set_yticks(ticks)
    ax.set_yticklabels([note_name(p) for p in ticks])
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("pitch")
    ax.grid(axis="y", alpha=0.2)
    if title:
        ax.set_title(title)
    if len(legend) > 1 or (legend and score.tracks[0].name):
        ax.legend(handles=legend, loc="upper right", fontsize="small", framealpha=0.8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return fig
