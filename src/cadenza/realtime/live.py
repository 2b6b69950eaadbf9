"""Playing a streaming model live: controls in, blocks of audio out, latency measured.

:class:`LivePlayer` is the engine behind ``cadenza play``. Each block it drains
the controls that arrived since the last one (:class:`~cadenza.realtime.mapping.LiveControls`),
asks the tracker for the block's control frames and runs the model's stream
over them: the same ``step`` the offline render runs, so a live performance
sounds like its offline render. Two drivers call it:

- a sound card's callback, once per block when the card needs audio
  (``cadenza play`` with a sound card);
- :meth:`LivePlayer.run`, a loop paced by the clock at real time that keeps the
  blocks (``cadenza play --out take.wav --seconds 10``: a live take without a
  sound card, and what the tests and the benchmark drive).

:func:`play_glide` drives it unpaced for the studio's Play tab: faders gliding from a start
to an end value and notes struck over a take, each sent as the OSC message a performer would
send, so the take is what ``cadenza play`` gives for the same moves.

It records when each block's audio was ready and, for every control message,
the block it took effect in, so "message received -> audio that carries it" is
a measurement (:meth:`LivePlayer.latencies`), as is a block that came too late
for its deadline (what a sound card would have played as a dropout).

:func:`open_midi_input` opens a MIDI port (mido, python-rtmidi backend) whose
messages go to the controls, or says in one line why it cannot.
"""

from __future__ import annotations

import math
import time

import numpy as np

from cadenza.errors import CadenzaError
from cadenza.realtime.mapping import LiveControls
from cadenza.realtime.stream import LatencyMeter


class LivePlayer:
    """A streaming model played by :class:`LiveControls`, ``block`` samples at a time."""

    def __init__(self, model, controls: LiveControls, block: int = 256, seed: int = 0, clock=time.perf_counter):
        model.check_block(block)
        self.controls, self.block, self.clock = controls, block, clock
        self.sample_rate, self.frames_per_block = model.sample_rate, block // model.hop
        self.block_seconds = block / model.sample_rate
        self.stream = model.stream(seed)
        self.stream.init_state()
        self.meter = LatencyMeter(model.sample_rate)
        self.ready: list[float] = []  # clock time each block's audio was ready
        self.late = 0  # blocks ready after their deadline (paced runs): a sound card's dropouts

    @property
    def blocks(self) -> int:
        return len(self.ready)

    def step(self) -> np.ndarray:
        """The next block ``[channels, block]``: queued controls first, then the model."""
        self.controls.apply(self.blocks)
        frames = self.controls.tracker.frames(self.frames_per_block)
        audio = self.meter.measure(self.stream.step, frames)
        self.ready.append(self.clock())
        return audio

    def run(self, seconds: float, pace: bool = True) -> np.ndarray:
        """``seconds`` of audio ``[channels, samples]``, block by block; ``pace``: each block starts
        at its time on the clock, as a sound card would ask for it, and one ready after the next
        block's start counts as :attr:`late`. Without ``pace``, as fast as the model goes."""
        count = max(1, math.ceil(seconds / self.block_seconds))
        start = self.clock()
        out = []
        for i in range(count):
            if pace:
                wait = start + i * self.block_seconds - self.clock()
                if wait > 0:
                    time.sleep(wait)
            out.append(self.step())
            if pace and self.ready[-1] > start + (i + 1) * self.block_seconds:
                self.late += 1
        return np.concatenate(out, axis=-1)

    def latencies(self) -> np.ndarray:
        """Seconds from each applied message's arrival to the end of the block that carried it."""
        return np.array([self.ready[m.block] - m.arrived for m in self.controls.applied
                         if 0 <= m.block < len(self.ready)])

    def report(self) -> dict:
        """The latency meter's report, with the messages and their control-to-audio latency."""
        report = self.meter.report()
        latency = self.latencies()
        controls = self.controls
        report.update(messages=controls.received, applied=len(controls.applied), unknown=controls.unknown,
                      malformed=controls.malformed, late_blocks=self.late)
        if len(latency):
            report.update(control_median_ms=round(float(np.median(latency)) * 1000, 2),
                          control_max_ms=round(float(latency.max()) * 1000, 2))
        return report


def open_midi_input(name: str | None, callback):
    """The MIDI input port ``name`` (None: the first there is), calling ``callback(message)`` for
    each message on the backend's thread; or one clear error saying why there is none."""
    try:
        import mido

        names = mido.get_input_names()
    except Exception as exc:  # ImportError, or the backend's own error when no MIDI system runs (no ALSA sequencer)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise CadenzaError(f"no MIDI input available ({reason}); pip install python-rtmidi, or play over OSC "
                           "(--osc PORT)") from None
    if not names:
        raise CadenzaError("no MIDI input port found; connect a keyboard, or play over OSC (--osc PORT)")
    if name is not None and name not in names:
        raise CadenzaError(f"no MIDI input port {name!r} (ports: {', '.join(names)})")
    try:
        return mido.open_input(name or names[0], callback=callback)
    except Exception as exc:
        raise CadenzaError(f"cannot open MIDI input {name or names[0]!r} ({str(exc).splitlines()[0][:120]})") from None


def glide_curves(start: dict[str, float], end: dict[str, float], blocks: int) -> dict[str, np.ndarray]:
    """Each control's value in each of ``blocks`` blocks, moving linearly from its ``start`` value
    (first block) to its ``end`` value (last block); a control in only one of them holds that value."""
    curves = {}
    for name in dict.fromkeys([*start, *end]):
        a = float(start.get(name, end.get(name)))
        b = float(end.get(name, start.get(name)))
        curves[name] = np.linspace(a, b, blocks) if blocks > 1 else np.array([a])
    return curves


def glide_messages(start: dict[str, float], end: dict[str, float], blocks: int,
                   notes: list[int] | tuple[int, ...] = (), velocity: int = 100) -> list[list[tuple]]:
    """The OSC messages ``(address, *args)`` a performer would send before each of ``blocks`` blocks:
    one fader message a control a block, its value on :func:`glide_curves`, while ``notes`` are
    struck one after the other (``/note pitch velocity``), each in its own equal share of the take
    and released at 90% of it (``/note pitch 0``).

    A block's notes come before its faders, so a control that is moved wins over what a note
    sets (a ``pitch`` fader over the notes' keys), as the newest message does live. Addresses
    are ``/<control>``, as :meth:`ControlMap.default_for` binds them."""
    curves = glide_curves(start, end, blocks)
    events: list[list[tuple]] = [[] for _ in range(blocks)]
    for k, pitch in enumerate(notes):
        on = k * blocks // len(notes)
        share = (k + 1) * blocks // len(notes) - on
        off = on + max(1, math.floor(0.9 * share))
        events[on].append(("/note", int(pitch), int(velocity)))
        if off < blocks:
            events[off].insert(0, ("/note", int(pitch), 0))
    return [events[i] + [(f"/{name}", float(values[i])) for name, values in curves.items()] for i in range(blocks)]

def play_glide(model, start: dict[str, float], end: dict[str, float], seconds: float,
               notes: list[int] | tuple[int, ...] = (), seed: int = 0, block: int = 256) -> tuple[np.ndarray, dict]:
    """``seconds`` of audio ``[channels, samples]`` from a streaming ``model`` whose controls glide
    from ``start`` to ``end`` while ``notes`` are struck (see :func:`glide_messages`), rendered
    offline (unpaced) by a :class:`LivePlayer`: every value goes in as the OSC message a fader
    would send, through :class:`LiveControls` and the default map, so the take is what ``cadenza
    play`` gives for the same moves. Also returns the curves: ``{"time": each block's start in
    seconds, name: each control's value in each block}``."""
    from cadenza.realtime.mapping import ControlMap

    tracker = model.tracker()
    controls = LiveControls(ControlMap.default_for(tracker), tracker)
    player = LivePlayer(model, controls, block, seed)
    blocks = max(1, math.ceil(seconds / player.block_seconds))
    out = []
    for row in glide_messages(start, end, blocks, notes):
        for address, *args in row:
            controls.osc(address, *args)
        out.append(player.step())
    if controls.unknown or controls.malformed:
        raise CadenzaError(f"{controls.unknown + controls.malformed} control messages were not taken "
                           f"(controls of {model.name}: {', '.join(tracker.parameters)})")
    audio = np.concatenate(out, axis=-1)[..., :max(1, round(seconds * player.sample_rate))]
    return audio, {"time": np.arange(blocks) * player.block_seconds, **glide_curves(start, end, blocks)}
