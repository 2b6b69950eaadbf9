"""Live control maps: which OSC address or MIDI message drives which control of a playing model.

A performer plays a streaming model (DDSP, WaveNet, the Sound Model Factory)
from a keyboard, a fader box or a tablet sending OSC. A map file says what
each incoming message means, in the names the model's tracker declares
(:attr:`NoteTracker.parameters <cadenza.realtime.controls.NoteTracker.parameters>`:
``pitch``, ``f0``, ``loudness``, ``velocity``, ``note`` for DDSP and WaveNet;
``x``, ``y``, ``pitch``, ``onset``, ``note`` for the smf)::

    [osc]
    port = 9000               # UDP, on 127.0.0.1 unless host = "..." says otherwise
    [midi]
    port = "My Keyboard"      # optional: a MIDI input port by name

    [[bind]]
    osc = "/pitch"            # a float in the control's own units (MIDI pitch) ...
    control = "pitch"
    [[bind]]
    osc = "/level"
    control = "loudness"
    range = [-60, -10]        # ... or, with a range, 0..1 spread over it
    [[bind]]
    midi = "cc 74"            # a MIDI controller: 0..127 spread over the range
    control = "loudness"      # (the control's own span when none is given)
    [[bind]]
    midi = "velocity"         # each note-on's velocity, 0..127, as a controller
    control = "x"
    [[bind]]
    midi = "note"             # note on/off -> the control "note" (pitch and gate)

Everything about a map that can be wrong is refused when it is loaded
(:meth:`ControlMap.load`) or checked against a model (:meth:`ControlMap.check`),
with one line naming the file, the binding and what the model does have; at run
time a message nobody bound is counted and ignored, never a crash.

:class:`LiveControls` is the bridge between the threads that receive messages
(the OSC server's, the MIDI backend's) and the audio thread: a message becomes
``(control, value)`` pairs where it arrives, stamped with its arrival time, and
waits in a queue that the audio thread drains at the start of each block, so the
tracker is only ever touched by one thread (as the MIDI callback of ``cadenza
play`` always did). The stamps let :mod:`cadenza.realtime.live` measure how long
a message takes to reach the audio.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.errors import CadenzaError

OSC_FORBIDDEN = set(" #*,?[]{}")  # characters an OSC address may not hold (the OSC 1.0 spec)
MIDI_SOURCES = '"note", "velocity" or "cc N" (N from 0 to 127)'
_CC = re.compile(r"cc\s*(\d+)")


@dataclass(frozen=True)
class Binding:
    """One incoming message kind -> one control: ``osc`` (an address) or ``midi`` (``note``,
    ``velocity`` or ``cc N``), and an optional ``range`` that a 0..1 value is spread over."""

    control: str
    osc: str | None = None
    midi: str | None = None
    range: tuple[float, float] | None = None

    @property
    def source(self) -> str:
        return f"osc {self.osc}" if self.osc is not None else f"midi {self.midi}"

    @property
    def cc(self) -> int | None:
        """The controller number of a ``cc N`` binding (None otherwise)."""
        match = _CC.fullmatch(self.midi or "")
        return int(match.group(1)) if match else None


@dataclass
class ControlMap:
    """Bindings from OSC addresses and MIDI messages to a model's controls, and where to listen."""

    bindings: list[Binding]
    osc_port: int | None = None  # None: no OSC unless the command line asks for it
    osc_host: str = "127.0.0.1"
    midi_port: str | None = None
    origin: str = "the default map"  # the file it came from, for messages

    @classmethod
    def load(cls, path) -> ControlMap:
        """Read and check a TOML map file; anything wrong is one :class:`CadenzaError` line."""
        from cadenza.utils import read_toml

        path = Path(path)
        data = read_toml(path, "map file")
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict, origin: str = "the map") -> ControlMap:
        """A map from parsed TOML (``{"osc": {...}, "midi": {...}, "bind": [{...}, ...]}``)."""
        def fail(message: str):
            raise CadenzaError(f"{origin}: {message}")

        unknown = sorted(set(data) - {"osc", "midi", "bind"})
        if unknown:
            fail(f"unknown section {unknown[0]!r} (a map has [osc], [midi] and [[bind]] entries)")
        osc, midi = data.get("osc", {}), data.get("midi", {})
        if not isinstance(osc, dict) or not isinstance(midi, dict):
            fail("[osc] and [midi] must be tables")
        for name, table, keys in (("osc", osc, {"port", "host"}), ("midi", midi, {"port"})):
            extra = sorted(set(table) - keys)
            if extra:
                fail(f"[{name}] has no setting {extra[0]!r} (it takes {', '.join(sorted(keys))})")
        port = osc.get("port")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535):
            fail(f"[osc] port must be a whole number from 0 to 65535, got {port!r}")
        host = osc.get("host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            fail(f"[osc] host must be an address such as \"127.0.0.1\", got {host!r}")
        midi_port = midi.get("port")
        if midi_port is not None and not isinstance(midi_port, str):
            fail(f"[midi] port must be a port name in quotes, got {midi_port!r}")
        entries = data.get("bind", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            fail("bindings are [[bind]] tables")
        if not entries:
            fail("binds nothing (add [[bind]] entries: osc = \"/pitch\" or midi = \"cc 74\", and control = ...)")
        bindings = [_binding(entry, f"{origin}: [[bind]] {i}") for i, entry in enumerate(entries, 1)]
        return cls(bindings, port, host, midi_port, origin)

    @classmethod
    def default_for(cls, tracker) -> ControlMap:
        """What a model takes with no map file: every control at ``/<name>`` over OSC, MIDI notes
        as notes, and the controllers the tracker follows (the smf's CC 1 and 2: x and y)."""
        names = list(tracker.parameters)
        bindings = [Binding(name, osc=f"/{name}") for name in names]
        bindings.append(Binding("note", midi="note"))
        for number, name in zip(tracker.controllers, getattr(tracker, "names", ())):
            bindings.append(Binding(name, midi=f"cc {number}"))
        return cls(bindings)

    def check(self, tracker, model: str) -> None:
        """Refuse a binding to a control that ``tracker`` (the model called ``model``) does not take."""
        for i, binding in enumerate(self.bindings, 1):
            if binding.control not in tracker.parameters:
                raise CadenzaError(f"{self.origin}: [[bind]] {i} ({binding.source}): {model} has no control "
                                   f"{binding.control!r} (its controls: {', '.join(tracker.parameters)})")

    def describe(self) -> str:
        """The bindings on one line, for the console."""
        return ", ".join(f"{b.source} -> {b.control}" for b in self.bindings)


def _binding(entry: dict, where: str) -> Binding:
    """One ``[[bind]]`` table checked: exactly one source, a control name, a sane range."""
    extra = sorted(set(entry) - {"osc", "midi", "control", "range"})
    if extra:
        raise CadenzaError(f"{where}: unknown key {extra[0]!r} (a binding has osc or midi, control, range)")
    osc, midi = entry.get("osc"), entry.get("midi")
    if (osc is None) == (midi is None):
        raise CadenzaError(f"{where}: give exactly one of osc = \"/address\" or midi = {MIDI_SOURCES}")
    if osc is not None:
        if not isinstance(osc, str) or not osc.startswith("/") or len(osc) < 2 or OSC_FORBIDDEN & set(osc):
            raise CadenzaError(f"{where}: {osc!r} is not an OSC address (one starts with '/', like \"/pitch\", "
                               "and holds no spaces or any of #*,?[]{})")
    else:
        midi = midi.strip().lower() if isinstance(midi, str) else midi
        match = _CC.fullmatch(midi) if isinstance(midi, str) else None
        if midi not in ("note", "velocity") and not (match and int(match.group(1)) <= 127):
            raise CadenzaError(f"{where}: midi = {entry.get('midi')!r} is not {MIDI_SOURCES}")
    control = entry.get("control", "note" if midi == "note" else None)
    if not isinstance(control, str) or not control:
        raise CadenzaError(f"{where}: which control does it drive? (control = \"pitch\", say)")
    if midi == "note" and control != "note":
        raise CadenzaError(f"{where}: midi = \"note\" drives the control \"note\" (pitch and gate), not "
                           f"{control!r}; bind midi = \"velocity\" to send velocities elsewhere")
    if control == "note" and midi not in (None, "note"):
        raise CadenzaError(f"{where}: the control \"note\" takes notes (midi = \"note\", or an OSC address "
                           f"sent pitch and velocity), not midi = {midi!r}")
    span = entry.get("range")
    if span is not None:
        if (not isinstance(span, list) or len(span) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in span) or span[0] == span[1]):
            raise CadenzaError(f"{where}: range must be two different numbers, like [-60, -10], got {span!r}")
        span = (float(span[0]), float(span[1]))
    return Binding(control, osc, midi, span)


@dataclass
class Received:
    """One message as it arrived: when (``time.perf_counter`` seconds), from where, the
    ``(control, value)`` pairs it means, and the block it took effect in (set when applied)."""

    arrived: float
    source: str
    actions: list[tuple[str, object]]
    block: int = -1


@dataclass
class LiveControls:
    """Incoming OSC and MIDI messages -> a tracker, safe across threads.

    ``osc(address, *args)`` and ``midi(message)`` may be called from any thread (they are
    the OSC server's handler and the MIDI port's callback); they only translate and queue.
    ``apply(block)`` runs on the audio thread at the start of each block: it hands every
    queued message to the tracker and notes the block it took effect in."""

    control_map: ControlMap
    tracker: object
    clock: object = time.perf_counter
    log_size: int = 100_000  # applied messages kept for latency statistics (the newest)
    received: int = 0  # messages that arrived, bound or not
    unknown: int = 0  # OSC addresses (or MIDI messages) that no binding takes: ignored
    malformed: int = 0  # bound, but without a usable value (no number, not finite): ignored
    _queue: queue.SimpleQueue = field(default_factory=queue.SimpleQueue, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        self.applied: deque[Received] = deque(maxlen=self.log_size)
        self._osc: dict[str, list[Binding]] = {}
        self._midi: dict[str, list[Binding]] = {}
        for b in self.control_map.bindings:
            (self._osc.setdefault(b.osc, []) if b.osc is not None else self._midi.setdefault(b.midi, [])).append(b)

    def _count(self, unknown: int = 0, malformed: int = 0) -> None:
        with self._lock:
            self.received += 1
            self.unknown += unknown
            self.malformed += malformed

    def _scale(self, binding: Binding, unit: float, raw: float | None = None):
        """A value for ``binding``'s control: ``unit`` (0..1) spread over its range, or ``raw``
        (already in the control's units) where the binding has no range and a raw value exists."""
        if binding.control == "note":
            return None
        if raw is not None and binding.range is None:
            return raw
        low, high = binding.range or (self.tracker.parameters[binding.control].low,
                                      self.tracker.parameters[binding.control].high)
        return low + unit * (high - low)

    def osc(self, address: str, *args) -> None:
        """The OSC server's handler: ``/note pitch [velocity]``, any other control one number."""
        arrived = self.clock()
        bindings = self._osc.get(address)
        if not bindings:
            self._count(unknown=1)
            return
        numbers = [float(a) for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if not numbers or not all(math.isfinite(v) for v in numbers):
            self._count(malformed=1)
            return
        actions = []
        for b in bindings:
            if b.control == "note":
                velocity = numbers[1] if len(numbers) > 1 else 100
                actions.append(("note", (min(max(int(numbers[0]), 0), 127), min(max(int(velocity), 0), 127))))
            else:
                actions.append((b.control, self._scale(b, numbers[0], raw=numbers[0])))
        self._count()
        self._queue.put(Received(arrived, f"osc {address}", actions))

    def midi(self, message) -> None:
        """The MIDI port's callback (a :class:`mido.Message`): notes, velocities and controllers."""
        arrived = self.clock()
        kind = message.type
        actions = []
        if kind in ("note_on", "note_off"):
            velocity = message.velocity if kind == "note_on" else 0
            if "note" in self._midi:
                actions.append(("note", (message.note, velocity)))
            if velocity > 0:
                actions += [(b.control, self._scale(b, velocity / 127)) for b in self._midi.get("velocity", ())]
        elif kind == "control_change":
            actions = [(b.control, self._scale(b, message.value / 127)) for b in self._midi.get(f"cc {message.control}",
                                                                                             ())]
        if not actions:
            self._count(unknown=1)
            return
        self._count()
        self._queue.put(Received(arrived, f"midi {kind}", actions))

    def apply(self, block: int) -> int:
        """Hand every queued message to the tracker (on the audio thread, before block ``block``
        is made); returns how many there were."""
        count = 0
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return count
            for name, value in message.actions:
                self.tracker.set(name, value)
            message.block = block
            self.applied.append(message)
            count += 1
