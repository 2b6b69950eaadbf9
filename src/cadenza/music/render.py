"""Rendering scores to audio through a SoundFont (TinySoundFont).

Which SoundFont plays (:func:`soundfont_info` says, with its licence):
``$CADENZA_SOUNDFONT`` when set; else FluidR3_GM (Debian
``fluid-soundfont-gm``, MIT, 148 MB) when installed; else the General MIDI
``TimGM6mb.sf2`` that pretty_midi ships (GPL-2.0), so rendering works
offline on a fresh install. Audio sets record the SoundFont that made them.

The synthesizer is TinySoundFont (the ``tinysoundfont`` package). symusic
0.5.9's own synthesizer plays many programs of this SoundFont at the wrong
pitch (a piano's middle C sounds near G#5), and 0.6.0's does not run at all.
Events are scheduled here, from the score in seconds, so tempo changes,
programs and drum tracks (channel 10, bank 128) come out as written.
A loaded SoundFont is kept for the next call (FluidR3 takes ~0.5 s and
~430 MB to load), one at a time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from cadenza.errors import CadenzaError

DEFAULT_SAMPLE_RATE = 22050
TAIL_SECONDS = 1.0  # let the last notes ring out
DRUM_CHANNEL = 9


FLUIDR3_GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_MUSESCORE = "MIT, parts public domain or CC0 (S. Christian Collins; Debian musescore-general-soundfont-small)"
LICENCES = {  # SoundFont file stem: licence (from each package's copyright file)
    "FluidR3_GM": "MIT (Frank Wen; Debian fluid-soundfont-gm)",
    "FluidR3Mono_GM": "MIT (Michael Cowgill after Frank Wen; Debian fluidr3mono-gm-soundfont)",
    "MuseScore_General": _MUSESCORE,
    "MuseScore_General_Lite": _MUSESCORE,
    "TimGM6mb": "GPL-2.0 (Tim Brechbill; shipped by pretty_midi)",
}


@dataclass(frozen=True)
class SoundFontInfo:
    """A SoundFont file, what it is called and the licence of what it renders."""

    name: str
    path: Path
    licence: str

    @property
    def key(self) -> str:
        """Name and size: enough to tell one SoundFont's caches from another's."""
        if not self.path.is_file():
            raise CadenzaError(f"{self.path}: no such SoundFont")
        return f"{self.name}-{self.path.stat().st_size:x}"


def _timgm6mb() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def soundfont_info(soundfont: str | os.PathLike | None = None) -> SoundFontInfo:
    """The SoundFont :func:`render` uses for ``soundfont`` and its licence. None: ``$CADENZA_SOUNDFONT``
    when set, else FluidR3_GM when installed, else TimGM6mb."""
    if soundfont is None:
        soundfont = os.environ.get("CADENZA_SOUNDFONT") or None
    if soundfont is None:
        soundfont = FLUIDR3_GM if FLUIDR3_GM.is_file() else _timgm6mb()
    path = Path(soundfont).expanduser()
    name = path.resolve().stem  # a link such as default-GM.sf2 is named after its target
    return SoundFontInfo(name, path, LICENCES.get(name, "unknown (a user's SoundFont: check its licence)"))


def default_soundfont() -> Path:
    """The SoundFont file rendering uses when none is given (see :func:`soundfont_info`)."""
    return soundfont_info().path


def _channels(score: symusic.Score) -> list[int]:
    """A MIDI channel a track: drums on 10, others spread over the other 15 by program."""
    channels, by_program = [], {}
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    for track in score.tracks:
        if track.is_drum:
            channels.append(DRUM_CHANNEL)
        elif track.program in by_program:
            channels.append(by_program[track.program])
        else:
            # More programs than channels: the last ones share a channel (and its program).
            channel = free[min(len(by_program), len(free) - 1)]
            by_program[track.program] = channel
            channels.append(channel)
    return channels


_LOADED: dict = {}  # the last SoundFont loaded: {"key": ..., "synth": ..., "sfid": ...}
_LOCK = threading.Lock()


def _synthesizer(soundfont: Path, sample_rate: int):
    """A TinySoundFont synth with ``soundfont`` loaded, silent; kept for the next call."""
    try:
        import tinysoundfont
    except ImportError:
        raise CadenzaError("rendering needs tinysoundfont: pip install --no-deps tinysoundfont "
                           "(make setup does this)") from None

    stat = soundfont.stat()
    key = (str(soundfont.resolve()), stat.st_size, stat.st_mtime_ns, int(sample_rate))
    if _LOADED.get("key") == key:
        synth = _LOADED["synth"]
        synth.sounds_off()  # a quick release, not silence at once: let it end (256 samples suffice)
        synth.generate(int(0.1 * sample_rate))
        return synth, _LOADED["sfid"]
    _LOADED.clear()  # free the previous one before loading the next
    synth = tinysoundfont.Synth(samplerate=int(sample_rate))
    try:
        sfid = synth.sfload(str(soundfont))
    except Exception as exc:  # tinysoundfont raises SoundFontException on a corrupt file
        raise CadenzaError(f"{soundfont}: cannot load SoundFont ({str(exc).splitlines()[0][:200]})") from None
    _LOADED.update(key=key, synth=synth, sfid=sfid)
    return synth, sfid


def _select(synth, sfid: int, channel: int, program: int, drums: bool) -> None:
    bank = 128 if drums else 0
    for preset in (program, 0):  # a SoundFont may lack a program: fall back to its first
        try:
            synth.program_select(channel, sfid, bank, preset, drums)
            return
        except RuntimeError:
            continue


def render(score: symusic.Score, sample_rate: int = DEFAULT_SAMPLE_RATE,
           soundfont: str | os.PathLike | None = None, stereo: bool = False) -> np.ndarray:
    """Render ``score`` to ``[channels, samples]`` float32, peak at most 0.99."""
    path = soundfont_info(soundfont).path
    if not path.is_file():
        raise CadenzaError(f"{path}: no such SoundFont")
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise CadenzaError(f"{path}: not a SoundFont (.sf2 or .sf3)")
    if not 8000 <= int(sample_rate) <= 192000:
        raise CadenzaError(f"sample rate must be between 8000 and 192000 Hz, got {sample_rate}")
    sample_rate = int(sample_rate)
    with _LOCK:
        return _render(score, path, sample_rate, stereo)


def _render(score: symusic.Score, path: Path, sample_rate: int, stereo: bool) -> np.ndarray:
    synth, sfid = _synthesizer(path, sample_rate)
    timed = score.to("second")
    channels = _channels(score)
    events = []  # (sample, order, channel, key, velocity): note-offs (order 0) before note-ons
    for track, channel in zip(timed.tracks, channels):
        _select(synth, sfid, channel, track.program, track.is_drum)
        for note in track.notes:
            start = int(round(note.time * sample_rate))
            end = max(start + 1, int(round(note.end * sample_rate)))
            events.append((start, 1, channel, note.pitch, max(1, min(127, note.velocity))))
            events.append((end, 0, channel, note.pitch, 0))
    events.sort()
    total = (events[-1][0] if events else 0) + int(TAIL_SECONDS * sample_rate)
    chunks, cursor = [], 0
    for sample, order, channel, key, velocity in events:
        if sample > cursor:
            chunks.append(np.frombuffer(synth.generate(sample - cursor), dtype=np.float32).copy())
            cursor = sample
        if order:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if total > cursor:
        chunks.append(np.frombuffer(synth.generate(total - cursor), dtype=np.float32).copy())
    audio = np.concatenate(chunks) if chunks else np.zeros(2 * total, dtype=np.float32)
    audio = audio.reshape(-1, 2).T  # interleaved stereo -> [2, samples]
    if not stereo:
        audio = audio.mean(axis=0, keepdims=True)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio
