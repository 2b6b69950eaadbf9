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

Rendering runs in bounded memory and time: the synthesizer writes blocks of
:data:`BLOCK` samples straight into the output array, which is allocated once,
and a score longer than :data:`MAX_SECONDS` or with more than
:data:`MAX_NOTES` notes is refused before anything is allocated (a single
note lasting millions of ticks would otherwise ask for hours of audio).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from cadenza.errors import CadenzaError
from cadenza.music.transforms import note_count

DEFAULT_SAMPLE_RATE = 22050
TAIL_SECONDS = 1.0  # let the last notes ring out
DRUM_CHANNEL = 9
MAX_SECONDS = 30 * 60  # the longest audio render makes: 159 MB mono (317 MB stereo) at 22,050 Hz
MAX_NOTES = 500_000  # notes render schedules (~2 s of Python for the events); a dense piano hour has ~70,000
BLOCK = 16_384  # samples the synthesizer writes a call (128 kB), a multiple of its 64-sample update block


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
    """Render ``score`` to ``[channels, samples]`` float32, peak at most 0.99.

    Raises :class:`CadenzaError` for a score longer than :data:`MAX_SECONDS`
    (with the ring-out tail) or with more than :data:`MAX_NOTES` notes.
    """
    path = soundfont_info(soundfont).path
    if not path.is_file():
        raise CadenzaError(f"{path}: no such SoundFont")
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise CadenzaError(f"{path}: not a SoundFont (.sf2 or .sf3)")
    if not 8000 <= int(sample_rate) <= 192000:
        raise CadenzaError(f"sample rate must be between 8000 and 192000 Hz, got {sample_rate}")
    sample_rate = int(sample_rate)
    timed = _timed_within_limits(score)
    with _LOCK:
        return _render(score, timed, path, sample_rate, stereo)


def _timed_within_limits(score: symusic.Score) -> symusic.Score:
    """``score`` in seconds, once it is known to fit :data:`MAX_NOTES` and :data:`MAX_SECONDS`."""
    notes = note_count(score)
    if notes > MAX_NOTES:
        raise CadenzaError(f"the score has {notes:,} notes; rendering takes at most {MAX_NOTES:,} "
                           "(cadenza.music.render.MAX_NOTES)")
    timed = score.to("second")
    seconds = 0.0
    for track in timed.tracks:
        if len(track.notes):
            notes = track.notes.numpy()
            seconds = max(seconds, float((notes["time"] + notes["duration"]).max()))
    if seconds + TAIL_SECONDS > MAX_SECONDS:
        length = f"{seconds / 3600:,.1f} hours" if seconds >= 7200 else f"{seconds / 60:.1f} minutes"
        raise CadenzaError(f"the score lasts {length}; rendering makes at most {MAX_SECONDS // 60} minutes "
                           "of audio (cadenza.music.render.MAX_SECONDS): cut the score first")
    return timed


def _events(synth, sfid: int, score: symusic.Score, timed: symusic.Score, sample_rate: int) -> list[tuple]:
    """Note-ons and note-offs as ``(sample, order, channel, key, velocity)``, in time order,
    note-offs (order 0) before note-ons at the same sample; selects each track's program."""
    columns = []
    for track, channel in zip(timed.tracks, _channels(score)):
        _select(synth, sfid, channel, track.program, track.is_drum)
        if not len(track.notes):
            continue
        notes = track.notes.numpy()  # float32 seconds, as symusic holds them
        start = np.rint(notes["time"].astype(np.float64) * sample_rate).astype(np.int64)
        end = np.rint((notes["time"] + notes["duration"]).astype(np.float64) * sample_rate).astype(np.int64)
        end = np.maximum(end, start + 1)
        key = notes["pitch"].astype(np.int64)
        velocity = np.clip(notes["velocity"].astype(np.int64), 1, 127)
        count = len(start)
        columns.append((np.concatenate([start, end]), np.repeat([1, 0], count), np.full(2 * count, channel),
                        np.concatenate([key, key]), np.concatenate([velocity, np.zeros(count, np.int64)])))
    if not columns:
        return []
    sample, order, channel, key, velocity = (np.concatenate(c) for c in zip(*columns))
    rank = np.lexsort((velocity, key, channel, order, sample))  # the last key sorts first
    return list(zip(*(a[rank].tolist() for a in (sample, order, channel, key, velocity))))


def _render(score: symusic.Score, timed: symusic.Score, path: Path, sample_rate: int, stereo: bool) -> np.ndarray:
    synth, sfid = _synthesizer(path, sample_rate)
    events = _events(synth, sfid, score, timed, sample_rate)
    total = (events[-1][0] if events else 0) + int(TAIL_SECONDS * sample_rate)
    audio = np.zeros((2 if stereo else 1, total), dtype=np.float32)
    block = np.empty((BLOCK, 2), dtype=np.float32)  # interleaved stereo, as the synthesizer writes it
    buffer = memoryview(block).cast("B")
    cursor = 0

    def play_until(stop: int) -> None:
        nonlocal cursor
        while cursor < stop:
            count = min(BLOCK, stop - cursor)
            synth.generate_simple(count, buffer=buffer[:count * block.itemsize * 2])
            frames = block[:count]
            if stereo:
                audio[:, cursor:cursor + count] = frames.T
            else:
                np.mean(frames, axis=1, out=audio[0, cursor:cursor + count])
            cursor += count

    for sample, order, channel, key, velocity in events:
        play_until(sample)
        if order:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    play_until(total)
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0  # no |audio| copy
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio
