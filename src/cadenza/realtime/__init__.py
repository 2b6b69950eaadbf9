"""Streaming engine: a model-independent contract, a latency meter, MIDI controls, live I/O."""

from cadenza.realtime.controls import NoteTracker, score_events
from cadenza.realtime.stream import LatencyMeter, Stream, run_blocks

__all__ = ["LatencyMeter", "NoteTracker", "Stream", "run_blocks", "score_events"]
