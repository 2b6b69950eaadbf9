"""Labelled notes and ensembles rendered through the General MIDI SoundFont.

- NSynth-like single notes (Engel et al. 2017, "Neural Audio Synthesis of
  Musical Notes with WaveNet Autoencoders", ICML): each clip one note of one
  program at one pitch and velocity, labelled ``program``, ``instrument``
  (its GM name), ``family``, ``pitch`` and ``velocity``. ``notes-wide`` plays
  :data:`WIDE_PROGRAMS`, 27 programs in 13 families, each over its own range
  (every third key): ranges where FluidR3_GM sounds every key at its written
  pitch (checked key by key with the pitch tracker and an FFT; FluidR3's
  violin, for one, is silent at key 94 and above 101 and up to 25 cents sharp
  from 89, and organs with 16' stops sound an octave low: left out).
- Ensembles: Bach chorales with each voice on its own instrument
  (:data:`ENSEMBLE_PROGRAMS`). The mix is polyphonic, so f0 and its
  confidence are 0; the labels keep each voice's instrument and range.
"""

from __future__ import annotations

import numpy as np
import symusic

from cadenza.data.audio_sets import (
    HOP,
    SAMPLE_RATE,
    AudioSet,
    _assemble,
    _progress,
    by_split,
    instrument,
    render_clip,
    render_scores,
    rendered_meta,
    unpitched_clip,
)
from cadenza.errors import CadenzaError

RELEASE_SECONDS = 0.5
FADE_SECONDS = 0.01

# NSynth's family names where they fit; GM's groups of eight otherwise.
FAMILIES = ("keyboard", "mallet", "organ", "guitar", "bass", "string", "ensemble", "brass",
            "reed", "flute", "synth_lead", "synth_pad", "synth_fx", "ethnic", "percussive", "fx")


def family(program: int) -> str:
    """An NSynth-like instrument family of a GM program (voices, 52-54, are ``vocal``)."""
    return "vocal" if 52 <= program <= 54 else FAMILIES[int(program) // 8]


# program: (lowest, highest) key, where FluidR3_GM plays each at its written pitch: the pitch
# tracker's median within 10 cents of it (the accordion is left out: its reeds are tuned apart).
WIDE_PROGRAMS: dict[int, tuple[int, int]] = {
    0: (33, 96), 4: (36, 96),                  # keyboard: acoustic grand, electric piano 1
    11: (53, 89), 12: (45, 96),                # mallet: vibraphone, marimba
    20: (36, 91),                              # organ: reed organ
    24: (40, 84), 27: (40, 84),                # guitar: nylon, clean electric
    32: (28, 60), 33: (28, 60), 38: (28, 60),  # bass: acoustic, finger, synth bass 1
    40: (55, 88), 41: (48, 84), 42: (36, 76),  # string: violin, viola, cello
    48: (36, 96),                              # ensemble: string ensemble 1
    53: (48, 79),                              # vocal: voice oohs
    56: (55, 82), 57: (40, 72), 60: (41, 77),  # brass: trumpet, trombone, French horn
    65: (49, 81), 68: (58, 91), 70: (34, 72), 71: (50, 91),  # reed: alto sax, oboe, bassoon, clarinet
    73: (60, 96), 79: (60, 84),                # flute: flute, ocarina
    80: (36, 90), 81: (36, 90),                # synth_lead: square, sawtooth
    89: (36, 84),                              # synth_pad: warm pad
}

ENSEMBLE_PROGRAMS = (40, 41, 42, 70)  # soprano violin, alto viola, tenor cello, bass bassoon


def render_notes(table: dict, velocities, seconds: float = 1.0, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                 progress: bool = False, name: str = "notes") -> dict[str, AudioSet]:
    """One clip a ``(program, pitch, velocity)`` of ``table`` (program -> pitches), held ``seconds``
    then released for 0.5 s, dealt into splits by id. A note the SoundFont leaves silent is listed in
    ``errors``, not kept."""
    combos = [(p, k, v) for p, keys in table.items() for k in keys for v in velocities]
    clips, errors = [], []
    length = int(round((seconds + RELEASE_SECONDS) * sample_rate)) // hop * hop
    fade = np.linspace(1, 0, int(FADE_SECONDS * sample_rate), dtype=np.float32)
    for program, key, vel in _progress(combos, f"rendering {name}", progress):
        score = symusic.Score(480)
        track = symusic.Track(program=program)
        track.notes.append(symusic.Note(0, int(seconds * 2 * 480), key, vel))  # 120 bpm: 2 beats a second
        score.tracks.append(track)
        clip = render_clip(score, program, sample_rate, hop)
        clip_id = f"{program:03d}-{key:03d}-{vel:03d}"
        audio = np.pad(clip["audio"], (0, max(0, length - len(clip["audio"]))))[:length]
        if np.abs(audio[:int(seconds * sample_rate)]).max() < 1e-3:
            errors.append({"id": clip_id, "path": clip_id, "error": "the SoundFont plays no sound for this note"})
            continue
        audio[-len(fade):] *= fade
        frames = length // hop
        clips.append({"id": clip_id, "audio": audio, "f0": clip["f0"][:frames],
                      "confidence": clip["confidence"][:frames], "velocity": clip["velocity"][:frames],
                      "loudness": _loudness(audio, sample_rate, hop),
                      "label": {"program": program, "instrument": instrument(program), "family": family(program),
                                "pitch": key, "velocity": vel}})
    if not clips:
        raise CadenzaError(f"{name}: no note made a sound")
    return by_split(name, clips, sample_rate, hop, rendered_meta("true"), errors)


def wide_notes(programs: dict | None = None, step: int = 3, velocities=(50, 80, 110), seconds: float = 1.0,
               sample_rate: int = SAMPLE_RATE, hop: int = HOP, progress: bool = False,
               name: str = "notes-wide") -> dict[str, AudioSet]:
    """``notes-wide``: the programs of ``programs`` (default :data:`WIDE_PROGRAMS`, program -> lowest and
    highest key) at every ``step``-th key of their range and each velocity."""
    programs = WIDE_PROGRAMS if programs is None else programs
    table = {p: range(low, high + 1, step) for p, (low, high) in programs.items()}
    return render_notes(table, velocities, seconds, sample_rate, hop, progress, name)


def _loudness(audio, sample_rate, hop):
    from cadenza.audio.features import loudness

    return loudness(audio, sample_rate, hop)


# --- ensembles --------------------------------------------------------------------------

def ensemble(scores, programs=ENSEMBLE_PROGRAMS, name: str = "ensemble", split: str = "all",
             sample_rate: int = SAMPLE_RATE, hop: int = HOP, max_seconds: float | None = None,
             ids: list[str] | None = None, progress: bool = False) -> AudioSet:
    """Play every track of each score on its own program (track ``i`` on ``programs[i]``, cycling);
    the mix is polyphonic, so f0 is 0. Labels: the piece, and per voice its track name, program,
    instrument, note count and range."""
    from cadenza.music.render import render

    def clip_of(score):
        score = score.copy()
        for i, track in enumerate(score.tracks):
            track.program, track.is_drum = programs[i % len(programs)], False
        clip = unpitched_clip(render(score, sample_rate)[0], sample_rate, hop)
        tracks = [t for t in score.tracks if len(t.notes)]
        clip["label"] = {"voices": [t.name for t in tracks],
                         "programs": [t.program for t in tracks],
                         "instruments": [instrument(t.program) for t in tracks],
                         "notes": [len(t.notes) for t in tracks],
                         "lowest": [min(n.pitch for n in t.notes) for t in tracks],
                         "highest": [max(n.pitch for n in t.notes) for t in tracks]}
        return clip

    clips = render_scores(scores, clip_of, name, sample_rate, max_seconds, ids, progress)
    for clip in clips:  # the piece is the clip's id, given once the clip is made
        clip["label"] = {"piece": clip["id"], **clip["label"]}
    meta = rendered_meta("none", ["polyphonic: f0 and confidence are 0; each voice's instrument and range "
                                  "are in the labels"])
    return _assemble(name, split, sample_rate, hop, clips, meta=meta)


def ensemble_set(name: str, split: str, minutes: float, programs=ENSEMBLE_PROGRAMS,
                 progress: bool = False) -> AudioSet:
    """One split of ``ensemble``: Bach chorales of that split, ``minutes`` long at most."""
    from cadenza.data.corpora import corpus

    pieces = corpus("bach", split=split, progress=progress)
    return ensemble(pieces, programs, name, split, max_seconds=minutes * 60, ids=list(pieces.ids),
                    progress=progress)
