"""The streaming contract every real-time model implements, and a latency meter.

A stream turns a block of inputs into a block of audio, holding whatever it
needs between blocks (recurrent state, oscillator phase, filter tails) in
its state::

    stream.init_state()            # a fresh performance
    audio = stream.step(inputs)    # [channels, samples] for one block, every call

The same ``step`` runs live (an audio callback) and offline (a loop over a
file), so what you hear live is what the offline render gives; the tests
hold every model to that, block size by block size.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Stream(Protocol):
    sample_rate: int
    channels: int

    def init_state(self) -> None:
        """Forget the past: the next ``step`` starts a new performance."""

    def step(self, block) -> np.ndarray:
        """Audio ``[channels, samples]`` float32 for one block of inputs."""


@dataclass
class LatencyMeter:
    """Wall-clock time of each block against its deadline (the block's duration)."""

    sample_rate: int
    times: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)

    def measure(self, step, *args):
        started = time.perf_counter()
        out = step(*args)
        self.times.append(time.perf_counter() - started)
        self.samples.append(int(np.asarray(out).shape[-1]))
        return out

    def report(self) -> dict:
        if not self.times:
            return {"blocks": 0}
        times = np.array(self.times)
        deadlines = np.array(self.samples) / self.sample_rate
        audio_seconds = float(deadlines.sum())
        return {
            "blocks": len(times),
            "block_samples": int(np.median(self.samples)),
            "deadline_ms": round(float(np.median(deadlines)) * 1000, 3),
            "median_ms": round(float(np.median(times)) * 1000, 4),
            "p99_ms": round(float(np.percentile(times, 99)) * 1000, 4),
            "max_ms": round(float(times.max()) * 1000, 4),
            "deadline_misses": int((times > deadlines).sum()),
            "real_time_factor": round(audio_seconds / float(times.sum()), 2),
        }


def run_blocks(stream: Stream, blocks: Iterable, meter: LatencyMeter | None = None) -> np.ndarray:
    """Run ``stream`` from a fresh state over ``blocks`` and join the audio ``[channels, samples]``."""
    stream.init_state()
    outputs = [meter.measure(stream.step, b) if meter is not None else stream.step(b) for b in blocks]
    if not outputs:
        return np.zeros((stream.channels, 0), np.float32)
    return np.concatenate(outputs, axis=-1)
