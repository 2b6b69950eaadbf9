"""Causal control curves from notes: MIDI in, f0 and loudness a frame out.

An audio model conditioned on f0 and loudness (DDSP) plays a score, or a
MIDI keyboard, through these curves. The tracker is causal on purpose: it
only knows the notes that have started, so a live performance and an
offline render of the same notes give the same curves frame for frame.

Monophonic, last-note priority: a new note takes over, releasing it returns
to a note still held. Loudness follows a one-pole glide in dB towards the
level of the sounding note's velocity (attack) or the floor (release); f0
stays on the last note through rests so the oscillator never jumps in
silence.

Each tracker also declares the controls it takes by name (``parameters``) and
takes them one at a time through ``set(name, value)``: the names a live
control map (:mod:`cadenza.realtime.mapping`) binds OSC addresses and MIDI
controllers to, so a binding to a control a model lacks is refused by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import symusic

from cadenza.audio.features import LOUDNESS_FLOOR_DB, midi_to_hz


@dataclass(frozen=True)
class Parameter:
    """A control a tracker takes by name: what it means, and the span ``[low, high]`` that a
    0..1 controller (a MIDI CC, an OSC fader with a ``range``) covers unless a map says otherwise."""

    description: str
    low: float = 0.0
    high: float = 1.0


NOTE = Parameter("a note: on/off with a velocity (MIDI note messages; OSC: pitch, velocity; velocity 0 is off)",
                 0, 127)


@dataclass
class Envelope:
    """How note velocity maps to loudness (calibrated on training data by the model)."""

    intercept_db: float = -40.0  # loudness of a velocity-0 note, by extrapolation
    slope_db: float = 25.0  # dB from velocity 0 to 127
    floor_db: float = -80.0  # loudness in rests
    attack_s: float = 0.015
    release_s: float = 0.06

    def level(self, velocity: int) -> float:
        return self.intercept_db + self.slope_db * velocity / 127

    @classmethod
    def calibrate(cls, data) -> Envelope:
        """The envelope of a training set (an AudioSet: ``loudness``, ``velocity`` where a score
        made the audio, ``confidence``): loudness against velocity by least squares, the floor
        at its 5th percentile; without velocities, the voiced level stands for velocity 100."""
        loud = np.concatenate(data.loudness)
        floor = float(np.clip(np.percentile(loud, 5), LOUDNESS_FLOOR_DB, -30))
        if data.velocity is not None:
            velocity = np.concatenate(data.velocity)
            on = velocity > 0
            if on.sum() > 10 and np.ptp(velocity[on]) > 0:
                slope, intercept = np.polyfit(velocity[on] / 127, loud[on], 1)
                return cls(float(intercept), float(slope), floor)
            if on.sum() > 10:
                return cls(float(np.median(loud[on])) - 25.0 * float(velocity[on][0]) / 127, 25.0, floor)
            return cls(floor_db=floor)
        voiced = loud[np.concatenate(data.confidence) > 0.5]
        if len(voiced) > 10:
            return cls(float(np.percentile(voiced, 75)) - 25.0 * 100 / 127, 25.0, floor)
        return cls(floor_db=floor)


class NoteTracker:
    """MIDI note events -> frames of ``(f0 Hz, loudness dB)``, one frame every ``hop`` samples.

    Continuous controls (``set``) override what notes decide: ``pitch`` or ``f0`` moves the
    oscillator until the next note moves it again (a pitch fader, a bend), and ``loudness`` or
    ``velocity`` sets the level the envelope glides to, with or without a note held, until
    :meth:`reset` (an expression pedal: notes then only choose the pitch)."""

    width = 2  # values a frame
    controllers: tuple[int, ...] = ()  # MIDI CC numbers it follows (none)
    parameters: dict[str, Parameter] = {
        "pitch": Parameter("MIDI pitch, fractional between keys", 0, 127),
        "f0": Parameter("fundamental frequency (Hz)", 20, 4000),
        "loudness": Parameter("loudness the envelope glides to (dB)", -80, -10),
        "velocity": Parameter("loudness as the velocity of a note (0 is silence)", 0, 127),
        "note": NOTE,
    }

    def __init__(self, sample_rate: int, hop: int, envelope: Envelope | None = None, first_f0: float = 440.0):
        self.sample_rate, self.hop = sample_rate, hop
        self.envelope = envelope or Envelope()
        frame = hop / sample_rate
        self._attack = 1 - math.exp(-frame / self.envelope.attack_s)
        self._release = 1 - math.exp(-frame / self.envelope.release_s)
        self.first_f0 = first_f0
        self.reset()

    def reset(self) -> None:
        self.held: list[tuple[int, int]] = []  # (pitch, velocity), newest last
        self.f0 = self.first_f0
        self.level = max(self.envelope.floor_db, LOUDNESS_FLOOR_DB)
        self.loudness: float | None = None  # a continuous level (dB) set by a control; None: notes decide

    def note_on(self, pitch: int, velocity: int) -> None:
        if velocity <= 0:
            self.note_off(pitch)
            return
        self.held = [h for h in self.held if h[0] != pitch] + [(pitch, velocity)]
        self.f0 = float(midi_to_hz(pitch))

    def note_off(self, pitch: int) -> None:
        newest = bool(self.held) and self.held[-1][0] == pitch
        self.held = [h for h in self.held if h[0] != pitch]
        if newest and self.held:  # back to the note still held
            self.f0 = float(midi_to_hz(self.held[-1][0]))

    def set(self, name: str, value) -> None:
        """Set the control ``name`` (one of :attr:`parameters`) to ``value`` (``note``: a pair
        ``(pitch, velocity)``)."""
        if name == "note":
            pitch, velocity = value
            self.note_on(int(pitch), int(velocity))
        elif name == "pitch":
            self.f0 = float(midi_to_hz(float(value)))
        elif name == "f0":
            self.f0 = max(float(value), 1e-3)
        elif name == "loudness":
            self.loudness = float(value)
        elif name == "velocity":
            self.loudness = self.envelope.level(value) if value > 0 else self.envelope.floor_db
        else:
            raise KeyError(name)

    def frame(self) -> tuple[float, float]:
        if self.loudness is not None:
            target = self.loudness
            rate = self._attack if target > self.level else self._release
        elif self.held:
            target, rate = self.envelope.level(self.held[-1][1]), self._attack
        else:
            target, rate = self.envelope.floor_db, self._release
        self.level += (target - self.level) * rate
        return self.f0, self.level

    def frames(self, count: int) -> np.ndarray:
        return np.array([self.frame() for _ in range(count)], dtype=np.float32).reshape(count, 2)

    def control_change(self, number: int, value: int) -> None:
        """f0 and loudness follow notes only."""


class ParameterTracker:
    """MIDI notes and controllers -> frames of ``[c_1 .. c_k, pitch, onset]``: the values of the
    CC ``controllers`` scaled to [0, 1] (``initial`` until one arrives), the MIDI key of the
    newest held note (last-note priority; it stays on the last note through rests) and 1 on the
    frame a note starts (0 elsewhere). For models played by continuous parameters and one-shot
    notes (the Sound Model Factory: CC 1 and 2 are its x and y); a note-off starts nothing and
    stops nothing, a one-shot rings out.

    The controllers' values are controls by name too (``names``: ``x`` and ``y`` for two, else
    ``cc<number>``), beside ``pitch`` (moves the pitch without a new note), ``onset`` (strikes
    the current pitch again) and ``note``."""

    def __init__(self, sample_rate: int, hop: int, controllers: tuple[int, ...] = (1, 2), initial: float = 0.5,
                 first_pitch: float = 60.0, names: tuple[str, ...] | None = None):
        self.sample_rate, self.hop = sample_rate, hop
        self.controllers = tuple(controllers)
        self.width = len(self.controllers) + 2
        if names is None:
            names = ("x", "y") if len(self.controllers) == 2 else tuple(f"cc{n}" for n in self.controllers)
        self.names = tuple(names)
        self.parameters: dict[str, Parameter] = {
            **{name: Parameter(f"value of CC {number}, 0..1") for name, number in zip(self.names, self.controllers)},
            "pitch": Parameter("MIDI pitch, fractional between keys", 0, 127),
            "onset": Parameter("strike the current pitch again (any value above 0)"),
            "note": NOTE,
        }
        self.initial, self.first_pitch = initial, first_pitch
        self.reset()

    def reset(self) -> None:
        self.held: list[int] = []
        self.values = [self.initial] * len(self.controllers)
        self.pitch, self.onset = self.first_pitch, False

    @property
    def f0(self) -> float:
        return float(midi_to_hz(self.pitch))

    @f0.setter
    def f0(self, hz: float) -> None:  # where a player starts: on the first note's pitch
        self.pitch = 69 + 12 * math.log2(hz / 440)

    def note_on(self, pitch: int, velocity: int) -> None:
        if velocity <= 0:
            self.note_off(pitch)
            return
        self.held = [p for p in self.held if p != pitch] + [pitch]
        self.pitch, self.onset = float(pitch), True

    def note_off(self, pitch: int) -> None:
        newest = bool(self.held) and self.held[-1] == pitch
        self.held = [p for p in self.held if p != pitch]
        if newest and self.held:  # back to the note still held
            self.pitch = float(self.held[-1])

    def control_change(self, number: int, value: int) -> None:
        if number in self.controllers:
            self.values[self.controllers.index(number)] = min(max(value, 0), 127) / 127

    def set(self, name: str, value) -> None:
        """Set the control ``name`` (one of :attr:`parameters`) to ``value`` (``note``: a pair
        ``(pitch, velocity)``)."""
        if name in self.names:
            self.values[self.names.index(name)] = min(max(float(value), 0.0), 1.0)
        elif name == "pitch":
            self.pitch = float(value)
        elif name == "onset":
            self.onset = self.onset or value > 0
        elif name == "note":
            pitch, velocity = value
            self.note_on(int(pitch), int(velocity))
        else:
            raise KeyError(name)

    def frame(self) -> tuple[float, ...]:
        onset, self.onset = self.onset, False
        return (*self.values, self.pitch, 1.0 if onset else 0.0)

    def frames(self, count: int) -> np.ndarray:
        return np.array([self.frame() for _ in range(count)], dtype=np.float32).reshape(count, self.width)


def score_controls(score: symusic.Score, numbers: tuple[int, ...]) -> list[tuple[float, int, int, int]]:
    """Controller events ``(seconds, 2, number, value)`` of a score for the CC ``numbers``, in time order."""
    if not numbers:
        return []
    seconds = score.to("second")
    return sorted((c.time, 2, c.number, c.value) for track in seconds.tracks for c in track.controls
                  if c.number in numbers)


def score_events(score: symusic.Score) -> list[tuple[int, int, int, int]]:
    """Note events ``(sample_time, kind, pitch, velocity)`` of a score's pitched tracks in time
    order, kind 0 for note off and 1 for on (offs first at equal times, so repeated notes retrigger)."""
    seconds = score.to("second")
    events = []
    for track in seconds.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            events.append((note.time, 1, note.pitch, note.velocity))
            events.append((note.end, 0, note.pitch, 0))
    return sorted(events)


class ScoreControls:
    """A score's note events (and the controllers the tracker follows) fed to a
    :class:`NoteTracker` or :class:`ParameterTracker` block by block, as a live player would:
    an event takes effect at the first frame at or after its time."""

    def __init__(self, score: symusic.Score, tracker: NoteTracker, tail_seconds: float = 1.0):
        self.tracker = tracker
        hop_seconds = tracker.hop / tracker.sample_rate
        self.events = [(math.ceil(t / hop_seconds - 1e-9), kind, pitch, vel)
                       for t, kind, pitch, vel in score_events(score)]
        controls = [(math.ceil(t / hop_seconds - 1e-9), kind, number, value)
                    for t, kind, number, value in score_controls(score, tracker.controllers)]
        self._queue = sorted(self.events + controls)  # notes and controllers, in time order
        end = max((e[0] for e in self.events), default=0)
        self.total_frames = end + int(math.ceil(tail_seconds / hop_seconds))
        self.reset()

    def reset(self) -> None:
        self.tracker.reset()
        first = next((e for e in self.events if e[1] == 1), None)
        if first is not None:
            self.tracker.f0 = float(midi_to_hz(first[2]))  # start on the first note's pitch
        self.position, self.next_event = 0, 0

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` frames ``[count, tracker.width]`` ((f0, loudness) for a NoteTracker)."""
        out = np.empty((count, self.tracker.width), np.float32)
        for i in range(count):
            while self.next_event < len(self._queue) and self._queue[self.next_event][0] <= self.position:
                _, kind, pitch, velocity = self._queue[self.next_event]
                if kind == 2:
                    self.tracker.control_change(pitch, velocity)
                else:
                    (self.tracker.note_on(pitch, velocity) if kind else self.tracker.note_off(pitch))
                self.next_event += 1
            out[i] = self.tracker.frame()
            self.position += 1
        return out
