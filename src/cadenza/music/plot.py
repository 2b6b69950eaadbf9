"""Pictures of scores: a piano roll with bar lines, one colour a track.

Drawing takes bounded time whatever the file holds: each track's notes are
one polygon collection built from arrays, bar lines are one line collection,
and a score with more than :data:`MAX_BAR_LINES` bars (a 61-byte MIDI file
can declare two million 1/64 bars) is drawn without them; a score with more
than :data:`MAX_NOTES` notes is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.music.theory import note_name
from cadenza.music.transforms import bar_starts, note_count
from cadenza.utils import atomic_path, printable

MAX_NOTES = 500_000  # ~10 s to draw on one core; a dense piano hour has ~70,000
MAX_BAR_LINES = 1_000  # the widest roll is 2,400 pixels: more bars would be a grey smear
EDGE_NOTES = 20_000  # above this many notes, boxes have no black edge (it would hide their colour)


def bar_count(score: symusic.Score) -> int:
    """How many bars :func:`~cadenza.music.transforms.bar_starts` gives, counted without listing them."""
    tpq = score.ticks_per_quarter
    end = score.end()
    signatures = sorted(score.time_signatures, key=lambda ts: ts.time)
    if not signatures or signatures[0].time > 0:
        signatures.insert(0, symusic.TimeSignature(0, 4, 4))
    count = 0
    for i, ts in enumerate(signatures):
        stop = signatures[i + 1].time if i + 1 < len(signatures) else end
        bar = max(1, ts.numerator * tpq * 4 // max(ts.denominator, 1))
        count += max(0, math.ceil((stop - ts.time) / bar))
    return max(count, 1)


def plot_piano_roll(score: symusic.Score, path: str | os.PathLike | None = None,
                    title: str | None = None, width: float | None = None):
    """Draw ``score`` as a piano roll; save it as PNG when ``path`` is given.

    The x axis counts quarter notes; thin vertical lines mark bars (left out
    when there are more than :data:`MAX_BAR_LINES`). Returns the matplotlib
    figure. Raises :class:`CadenzaError` for more than :data:`MAX_NOTES` notes.
    """
    notes_in_all = note_count(score)
    if notes_in_all > MAX_NOTES:
        raise CadenzaError(f"the score has {notes_in_all:,} notes; a plot draws at most {MAX_NOTES:,} "
                           "(cadenza.music.plot.MAX_NOTES)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    tpq = score.ticks_per_quarter
    end_q = max(score.end() / tpq, 1.0)
    pitches = [track.notes.numpy()["pitch"] for track in score.tracks if len(track.notes)]
    low = min((int(p.min()) for p in pitches), default=60) - 2
    high = max((int(p.max()) for p in pitches), default=60) + 2
    width = width or min(24.0, max(6.0, end_q / 6))
    height = min(10.0, max(3.0, (high - low) / 6))
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    colours = plt.get_cmap("tab10")
    legend = []
    edge = dict(edgecolor="black", linewidth=0.3) if notes_in_all <= EDGE_NOTES else dict(linewidth=0)
    for index, track in enumerate(score.tracks):
        if not len(track.notes):
            continue
        colour = colours(index % 10)
        ax.add_collection(PolyCollection(_boxes(track, tpq), facecolor=colour, alpha=0.85, **edge))
        label = printable(track.name or f"Track {index + 1}")
        legend.append(Patch(facecolor=colour, label=label + (" (drums)" if track.is_drum else "")))
    bars = bar_count(score)
    xlabel = "quarter notes"
    if bars <= MAX_BAR_LINES:
        starts = np.asarray(bar_starts(score), dtype=np.float64) / tpq
        # x in data, y across the whole axes: one collection however many bars
        ax.vlines(starts, 0, 1, transform=ax.get_xaxis_transform(), colors="grey", linewidth=0.6,
                  alpha=0.6, zorder=0, label="bar lines")
    else:
        xlabel += f" ({bars:,} bars: too many to draw their lines)"
    ax.set_xlim(0, end_q)
    ax.set_ylim(low, high)
    # Every C; on a narrow roll also every E and G, so that a melody can be read.
    classes = (0,) if high - low > 24 else (0, 4, 7)
    ticks = [p for p in range(low, high + 1) if p % 12 in classes] or [low]
    ax.set_yticks(ticks)
    ax.set_yticklabels([note_name(p) for p in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pitch")
    ax.grid(axis="y", alpha=0.2)
    if title:
        ax.set_title(printable(title))  # a file name that is not UTF-8 has no glyphs to draw
    if len(legend) > 1 or (legend and score.tracks[0].name):
        ax.legend(handles=legend, loc="upper right", fontsize="small", framealpha=0.8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return fig


def _boxes(track: symusic.Track, tpq: int) -> np.ndarray:
    """``[notes, 4, 2]`` corners of the notes' boxes, in quarter notes and pitches: a box is
    0.8 of a semitone high and at least 0.05 of a quarter wide, so short notes stay visible."""
    notes = track.notes.numpy()
    x0 = notes["time"].astype(np.float64) / tpq
    x1 = x0 + np.maximum(notes["duration"].astype(np.float64) / tpq, 0.05)
    y0 = notes["pitch"].astype(np.float64) - 0.4
    y1 = y0 + 0.8
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                     np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
