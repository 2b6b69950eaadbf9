"""Peak resident memory (RSS) for benchmark rows: reset, run a step, read.

``peak_rss_mb()`` is the process's peak RSS since the last ``reset_peak_rss()``
(``resource.getrusage``'s ``ru_maxrss``). On Linux the peak can be reset
(writing 5 to ``/proc/self/clear_refs`` resets the high-water mark that
``getrusage`` reports), so each row reports its own step; where it cannot,
the number is the process's peak so far, an upper bound.
"""

from __future__ import annotations

import resource
import sys


def reset_peak_rss() -> bool:
    """Start a new peak at the current RSS; False where the platform cannot (then peaks accumulate)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
