"""Audio data sets with frame-rate features: audio, f0 (+ confidence), loudness, labels.

One class (:class:`AudioSet`), two sources:

- the symbolic corpora played through a General MIDI SoundFont
  (:func:`cadenza.music.render.soundfont_info` says which one and its licence:
  FluidR3_GM when installed, else TimGM6mb), so the true f0 and the labels
  come for free: ``violin``, ``flute``, ``cello`` (one instrument plays a
  corpus's melodies), ``ensemble`` (Bach chorales on four instruments),
  ``notes`` and ``notes-wide`` (NSynth-like single notes, see
  :mod:`cadenza.data.audio_notes`) and ``drums`` (automaton patterns and
  one-shots, see :mod:`cadenza.data.audio_drums`);
- any folder of .wav/.flac/.ogg files (f0 from the pitch tracker). A file
  that cannot be read, is silent, holds NaN or is too short is skipped and
  listed in ``errors``.

Features are computed once into ``$CADENZA_CACHE/audio/`` (an .npz a split
and a ``summary.json``) with a progress bar; loading is then a file read. A
rendered set's cache is named after the SoundFont that made it, so sets made
with two SoundFonts are never mixed up. A cache file that was cut short or
overwritten is found on reading, said so in one line on stderr, and rebuilt.

At ~530 lines this module is a little over the house's 500: the AudioSet, the
rendering of corpora and the named-set cache are read together; the builders
of the larger sets live beside it (``audio_notes``, ``audio_drums``,
``audio_folders``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic

from cadenza.audio.features import check_audio, loudness, midi_to_hz, pitch
from cadenza.errors import CadenzaError

CACHE_VERSION = 3  # 3: labels, errors, the SoundFont in the cache's name; notes 1.5 s long
SAMPLE_RATE, HOP = 16000, 64  # 250 frames a second, as in the DDSP paper
SPLITS = ("train", "valid", "test")
MIN_SECONDS = 0.1  # shorter files in a folder are listed as errors
SILENT_PEAK = 1e-4  # -80 dBFS: quieter files are listed as silent
MINUTES = {"train": 10.0, "valid": 1.5, "test": 1.5}
ESSEN_LICENCE = "melodies: Essen collection, non-commercial use only (music21 corpus)"
BACH_LICENCE = "scores: public domain (music21 corpus)"


@dataclass(frozen=True)
class SetInfo:
    """A named audio set: what it holds, the licence of its music (the sounds' is the
    SoundFont's, added by :func:`licence`), and what its builder needs."""

    kind: str  # "solo", "ensemble", "notes" or "drums"
    description: str
    licence: str
    corpus: str | None = None
    program: int | None = None
    transpose: int = 0
    minutes: dict = field(default_factory=lambda: dict(MINUTES))  # planned, for solo and ensemble sets


AUDIO_SETS: dict[str, SetInfo] = {
    "violin": SetInfo("solo", "Essen folk melodies on the GM violin (program 40), true f0", ESSEN_LICENCE,
                      "essen", 40),
    "flute": SetInfo("solo", "Essen folk melodies on the GM flute (program 73), true f0", ESSEN_LICENCE,
                     "essen", 73),
    # Bach's top voice lies in the soprano range: an octave down suits a cello.
    "cello": SetInfo("solo", "Bach chorale top voices an octave down on the GM cello (program 42), true f0",
                     BACH_LICENCE, "bach", 42, -12),
    "ensemble": SetInfo("ensemble", "Bach chorales, soprano/alto/tenor/bass on GM violin, viola, cello, bassoon "
                                    "(40, 41, 42, 70); polyphonic: no f0, voices in the labels", BACH_LICENCE, "bach"),
    "notes": SetInfo("notes", "Single notes, 5 GM programs x 25 pitches x 3 velocities (NSynth-like), true f0",
                     "generated notes"),
    "notes-wide": SetInfo("notes", "Single notes, 27 GM programs in 13 families over each one's range x 3 "
                                   "velocities, labelled program/family/pitch/velocity (NSynth-like), true f0",
                          "generated notes"),
    "drums": SetInfo("drums", "Cellular-automaton drum patterns and GM kit one-shots, plus sonic-pi-samples' "
                              "one-shots when installed; labelled by kind, no f0",
                     "generated patterns; sonic-pi-samples one-shots CC0 (freesound.org via Sonic Pi)"),
}


@dataclass
class AudioSet:
    """Mono clips with their features a frame (``hop`` samples).

    ``velocity`` is the sounding note's MIDI velocity a frame (0 in rests)
    where a monophonic score made the audio, else None. ``labels`` is one
    dict a clip (program, family, pitch, kind, ...) where the source knows
    them, else None. ``errors`` lists the inputs that were skipped
    (``{"id", "path", "error"}``). ``meta`` says where the audio came from:
    ``description``, ``licence``, ``soundfont`` (``{"name", "licence", "key"}``
    or None), ``f0`` (``"true"``, ``"tracked"`` or ``"none"``: then f0 and its
    confidence are 0) and ``notes``.
    """

    name: str
    split: str
    sample_rate: int
    hop: int
    audio: list[np.ndarray]
    f0: list[np.ndarray]
    confidence: list[np.ndarray]
    loudness: list[np.ndarray]
    velocity: list[np.ndarray] | None = None
    ids: list[str] = field(default_factory=list)
    labels: list[dict] | None = None
    errors: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.audio)

    def __iter__(self):
        return iter(range(len(self)))

    @property
    def seconds(self) -> float:
        return sum(len(a) for a in self.audio) / self.sample_rate

    @property
    def spec(self) -> dict:
        """What a run records about its data (JSON), the SoundFont that made it included."""
        spec = {"audio_set": self.name, "split": self.split, "clips": len(self),
                "seconds": round(self.seconds, 1), "sample_rate": self.sample_rate}
        if self.meta.get("soundfont"):
            spec["soundfont"] = self.meta["soundfont"]["key"]
        return spec

    def clip(self, index: int):
        """Clip ``index`` as an :class:`~cadenza.audio.io.Audio`."""
        from cadenza.audio.io import Audio

        return Audio(self.audio[index][None], self.sample_rate)

    def label(self, key: str) -> np.ndarray:
        """One label of every clip as an array (``data.label("pitch")``)."""
        if self.labels is None:
            raise CadenzaError(f"audio set {self.name} has no labels")
        missing = [i for i, lab in enumerate(self.labels) if key not in lab]
        if missing:
            raise CadenzaError(f"audio set {self.name}: clip {self.ids[missing[0]]} has no label {key!r} "
                               f"(labels: {', '.join(self.labels[missing[0]])})")
        return np.array([lab[key] for lab in self.labels])

    def label_counts(self) -> dict[str, dict]:
        """Clips a value of every label that takes few values (at most 40)."""
        counts: dict[str, Counter] = {}
        for lab in self.labels or []:
            for key, value in lab.items():
                if isinstance(value, (str, int, bool)):
                    counts.setdefault(key, Counter())[value] += 1
        return {k: dict(sorted(c.items())) for k, c in counts.items() if len(c) <= 40}

    def examples(self, frames: int, stride: int | None = None, min_loudness_db: float = -60.0) -> dict:
        """Windows of ``frames`` frames as stacked arrays (f0, loudness ``[n, frames]``, audio
        ``[n, frames*hop]``, ``clip``: the index of each window's clip, for its labels),
        skipping near-silent ones; deterministic."""
        stride = stride or frames
        out = {"f0": [], "loudness": [], "audio": []}
        clips = []
        for index, (f0, ld, audio) in enumerate(zip(self.f0, self.loudness, self.audio)):
            for start in range(0, len(f0) - frames + 1, stride):
                window = ld[start:start + frames]
                if np.median(window) < min_loudness_db:
                    continue
                out["f0"].append(f0[start:start + frames])
                out["loudness"].append(window)
                out["audio"].append(audio[start * self.hop:(start + frames) * self.hop])
                clips.append(index)
        arrays = {k: np.stack(v).astype(np.float32) if v else np.zeros((0, frames), np.float32)
                  for k, v in out.items()}
        arrays["clip"] = np.array(clips, dtype=np.int64)
        return arrays


# --- building sets ---------------------------------------------------------------------

def note_frames(score: symusic.Score, count: int, sample_rate: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """True f0 (Hz) and velocity a frame of a monophonic score; f0 is held through rests
    (the first note's before it) so the oscillator never jumps in silence."""
    notes = sorted((n.time, n.end, n.pitch, n.velocity) for t in score.to("second").tracks for n in t.notes)
    times = np.arange(count) * hop / sample_rate
    f0 = np.full(count, np.nan)
    velocity = np.zeros(count, np.float32)
    for start, end, key, vel in notes:
        inside = (times >= start) & (times < end)
        f0[inside] = midi_to_hz(key)
        velocity[inside] = vel
    if np.isnan(f0).all():
        f0[:] = 440.0
    valid = ~np.isnan(f0)
    index = np.where(valid, np.arange(count), 0)
    np.maximum.accumulate(index, out=index)
    held = f0[index]
    first = np.argmax(valid)
    held[:first] = f0[first]
    return held.astype(np.float32), velocity


def render_clip(score: symusic.Score, program: int, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                transpose: int = 0, tail_seconds: float = 0.5) -> dict:
    """A monophonic score on one GM program: audio plus its true features."""
    from cadenza.music.render import render
    from cadenza.music.transforms import melody
    from cadenza.music.transforms import transpose as shift

    line = melody(score)
    if transpose:
        line = shift(line, transpose)
    for track in line.tracks:
        track.program = program
        track.is_drum = False
    audio = render(line, sample_rate)[0]
    seconds = line.to("second").end() + tail_seconds
    audio = np.pad(audio, (0, max(0, int(seconds * sample_rate) - len(audio))))
    count = len(audio) // hop
    audio = audio[:count * hop]
    f0, velocity = note_frames(line, count, sample_rate, hop)
    return {"audio": audio.astype(np.float32), "f0": f0, "confidence": (velocity > 0).astype(np.float32),
            "loudness": loudness(audio, sample_rate, hop), "velocity": velocity}


def unpitched_clip(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, hop: int = HOP) -> dict:
    """Features of mono audio with no single f0 (a mix, drums): f0 and confidence 0."""
    count = len(audio) // hop
    audio = np.asarray(audio[:count * hop], dtype=np.float32)
    zeros = np.zeros(count, np.float32)
    return {"audio": audio, "f0": zeros, "confidence": zeros.copy(), "loudness": loudness(audio, sample_rate, hop)}


def instrument(program: int) -> str:
    """The General MIDI name of ``program`` (0-127)."""
    import pretty_midi

    return pretty_midi.program_to_instrument_name(int(program))


def render_scores(scores, clip_of, name: str, sample_rate: int, max_seconds: float | None = None,
                  ids: list[str] | None = None, progress: bool = False) -> list[dict]:
    """``clip_of(score)`` for each score with notes, in order, until ``max_seconds`` of audio;
    each clip gets its id (``ids[i]``, else the index)."""
    clips, total = [], 0.0
    scores = list(scores)
    for index, score in enumerate(_progress(scores, f"rendering {name}", progress)):
        if not isinstance(score, symusic.core.ScoreTick):
            raise CadenzaError(f"expected symusic Scores or an AudioSet, got {type(score).__name__}")
        if score.note_num() == 0:
            continue
        clip = clip_of(score)
        clip["id"] = ids[index] if ids else str(index)
        clips.append(clip)
        total += len(clip["audio"]) / sample_rate
        if max_seconds is not None and total >= max_seconds:
            break
    if not clips:
        raise CadenzaError(f"{name}: no notes to render")
    return clips


def from_scores(scores, program: int = 40, name: str = "scores", split: str = "all",
                sample_rate: int = SAMPLE_RATE, hop: int = HOP, max_seconds: float | None = None,
                transpose: int = 0, progress: bool = False, ids: list[str] | None = None) -> AudioSet:
    """Render symbolic pieces (their top voice) with GM ``program`` into an AudioSet."""
    label = {"program": program, "instrument": instrument(program)}

    def clip_of(score):
        return {**render_clip(score, program, sample_rate, hop, transpose), "label": dict(label)}

    clips = render_scores(scores, clip_of, name, sample_rate, max_seconds, ids, progress)
    return _assemble(name, split, sample_rate, hop, clips, meta=rendered_meta(f0="true"))


def from_audio(items, name: str = "audio", split: str = "all", sample_rate: int = SAMPLE_RATE,
               hop: int = HOP, pitch_method: str = "auto", progress: bool = False,
               errors: list[dict] | None = None) -> AudioSet:
    """``(id, audio [channels, samples], rate)`` or ``(id, Audio)`` items -> AudioSet with tracked f0
    (resampled, mono). Clips with NaN, silence or under :data:`MIN_SECONDS` are skipped and listed in
    ``errors`` (which starts from the ``errors`` given)."""
    from cadenza.audio.resample import resample

    clips, errors = [], list(errors or [])
    for item in _progress(list(items), f"features of {name}", progress):
        clip_id, audio, rate = (item[0], item[1].samples, item[1].sample_rate) if len(item) == 2 else item
        problem = audio_problem(audio, rate)
        if problem:
            errors.append({"id": clip_id, "path": clip_id, "error": problem})
            continue
        mono = resample(np.asarray(audio, np.float32).mean(axis=0, keepdims=True), rate, sample_rate)[0]
        count = len(mono) // hop
        mono = mono[:count * hop]
        f0, confidence = pitch(mono, sample_rate, hop, pitch_method)
        clips.append({"id": clip_id, "audio": mono, "f0": f0, "confidence": confidence,
                      "loudness": loudness(mono, sample_rate, hop)})
    if not clips:
        first = f" (first: {errors[0]['path']}: {errors[0]['error']})" if errors else ""
        raise CadenzaError(f"{name}: no usable audio{first}")
    return _assemble(name, split, sample_rate, hop, clips, errors,
                     {"f0": "tracked", "soundfont": None, "notes": []})


def audio_problem(audio: np.ndarray, rate: int) -> str | None:
    """Why a clip cannot be used (NaN, silent, too short), or None."""
    try:
        audio = check_audio(audio, "audio", 1)
    except CadenzaError as exc:
        return str(exc).split(": ", 1)[-1]
    if audio.shape[1] < MIN_SECONDS * rate:
        return f"too short ({audio.shape[1] / rate:.3f} s; at least {MIN_SECONDS} s)"
    if float(np.abs(audio).max()) < SILENT_PEAK:
        return "silent (peak below -80 dBFS)"
    return None


def rendered_meta(f0: str, notes: list[str] | None = None) -> dict:
    """``meta`` of a set the current SoundFont rendered."""
    from cadenza.music.render import soundfont_info

    sf = soundfont_info()
    return {"f0": f0, "soundfont": {"name": sf.name, "licence": sf.licence, "key": sf.key}, "notes": notes or []}


def _assemble(name, split, sample_rate, hop, clips, errors=None, meta=None) -> AudioSet:
    velocity = [c["velocity"] for c in clips] if all("velocity" in c for c in clips) else None
    labels = [c["label"] for c in clips] if all("label" in c for c in clips) else None
    return AudioSet(name, split, sample_rate, hop, [c["audio"] for c in clips], [c["f0"] for c in clips],
                    [c["confidence"] for c in clips], [c["loudness"] for c in clips], velocity,
                    [c["id"] for c in clips], labels, list(errors or []), dict(meta or {}))


def by_split(name: str, clips: list[dict], sample_rate: int, hop: int, meta: dict,
             errors: list[dict] | None = None) -> dict[str, AudioSet]:
    """Clips dealt into train/valid/test by the stable hash of their ids."""
    from cadenza.data.corpora import split_of

    parts = {split: [c for c in clips if split_of(c["id"]) == split] for split in SPLITS}
    return {split: _assemble(name, split, sample_rate, hop, c, errors, meta) for split, c in parts.items() if c}


def solo_set(info: SetInfo, name: str, split: str, minutes: float | None = None, progress: bool = False) -> AudioSet:
    """One split of a solo set: the corpus's melodies on one program, ``minutes`` long at most."""
    from cadenza.data.corpora import corpus

    pieces = corpus(info.corpus, split=split, progress=progress)
    minutes = info.minutes[split] if minutes is None else minutes
    return from_scores(pieces, info.program, name, split, max_seconds=minutes * 60, transpose=info.transpose,
                       progress=progress, ids=list(pieces.ids))


def single_notes(programs=(0, 24, 40, 56, 73), pitches=range(36, 85, 2), velocities=(64, 100, 127),
                 seconds: float = 1.0, sample_rate: int = SAMPLE_RATE, hop: int = HOP, progress: bool = False,
                 name: str = "notes") -> dict[str, AudioSet]:
    """NSynth-like one-shots a split: each ``(program, pitch, velocity)`` held ``seconds`` plus a
    0.5 s release, labelled. ``programs`` may map a program to its own pitches."""
    from cadenza.data.audio_notes import render_notes

    table = programs if isinstance(programs, dict) else {p: pitches for p in programs}
    return render_notes(table, velocities, seconds, sample_rate, hop, progress, name)


# --- named sets and folders, cached ------------------------------------------------------

def licence(name: str) -> str:
    """The licence of a named set: its music's and its sounds' (the SoundFont in use)."""
    from cadenza.music.render import soundfont_info

    sf = soundfont_info()
    return f"{AUDIO_SETS[name].licence}; sounds: {sf.name} SoundFont, {sf.licence}"


def cache_dir(name: str) -> Path:
    """Where a named set lives in the cache: its name, the cache version and the SoundFont's key
    (and for ``drums``, whether sonic-pi-samples was there)."""
    from cadenza.music.render import soundfont_info

    key = f"{name}.v{CACHE_VERSION}-{soundfont_info().key}"
    if AUDIO_SETS[name].kind == "drums":
        from cadenza.data.audio_drums import samples_dir

        key += "-sonicpi" if samples_dir() is not None else "-rendered"
    return _cache_root() / key


def _cache_root() -> Path:
    from cadenza.data.corpora import cache_root

    return cache_root() / "audio"


def _save(path: Path, audio_set: AudioSet) -> None:
    from cadenza.utils import atomic_path

    lengths = np.array([len(f) for f in audio_set.f0])
    meta = {"ids": audio_set.ids, "sample_rate": audio_set.sample_rate, "hop": audio_set.hop,
            "labels": audio_set.labels, "errors": audio_set.errors, "meta": audio_set.meta}
    arrays = {"lengths": lengths, "audio": np.concatenate(audio_set.audio),
              "f0": np.concatenate(audio_set.f0), "confidence": np.concatenate(audio_set.confidence),
              "loudness": np.concatenate(audio_set.loudness),
              "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    if audio_set.velocity is not None:
        arrays["velocity"] = np.concatenate(audio_set.velocity)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


# What reading a damaged .npz raises: not a zip, cut short, an array or a key missing, bad JSON
_DAMAGED = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile)


def _load(path: Path, name: str, split: str) -> AudioSet:
    """The set saved by :func:`_save` in ``path``; raises one of ``_DAMAGED`` when it is damaged."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        hop = meta["hop"]
        bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
        frames = {key: len(data[key]) for key in ("f0", "confidence", "loudness")}
        if set(frames.values()) != {int(bounds[-1])} or len(data["audio"]) != bounds[-1] * hop \
                or len(meta["ids"]) != len(bounds) - 1:
            raise ValueError("its arrays disagree on the clips' lengths")

        def cut(key, scale=1):
            array = data[key]  # each data[key] reads the whole array again: once, then views of it
            return [array[a * scale:b * scale] for a, b in zip(bounds[:-1], bounds[1:])]

        return AudioSet(name, split, meta["sample_rate"], hop, cut("audio", hop), cut("f0"), cut("confidence"),
                        cut("loudness"), cut("velocity") if "velocity" in data else None, meta["ids"],
                        meta.get("labels"), meta.get("errors", []), meta.get("meta", {}))


def load_cached(path: Path, name: str, split: str) -> AudioSet | None:
    """The set cached in ``path``; None when there is none, or when it is damaged: then the
    file is removed, with a one-line notice, for the caller to build it again."""
    if not path.is_file():
        return None
    try:
        return _load(path, name, split)
    except _DAMAGED as exc:
        from cadenza.data.corpora import cache_notice
        from cadenza.music.io import one_line

        cache_notice(f"the audio cache {path} is damaged ({one_line(exc)}); rebuilding it")
        path.unlink(missing_ok=True)
        return None


def concat(parts: list[AudioSet], split: str = "all") -> AudioSet:
    """One AudioSet of the clips of ``parts`` (splits of one set), in order; errors listed once."""
    first = parts[0]

    def join(attr):
        return [x for p in parts for x in getattr(p, attr)]

    velocity = join("velocity") if all(p.velocity is not None for p in parts) else None
    labels = join("labels") if all(p.labels is not None for p in parts) else None
    errors = []
    for error in join("errors"):  # by_split gives every split the set's errors
        if error not in errors:
            errors.append(error)
    return AudioSet(first.name, split, first.sample_rate, first.hop, join("audio"), join("f0"), join("confidence"),
                    join("loudness"), velocity, join("ids"), labels, errors, dict(first.meta))


def audio_set(name: str | os.PathLike, split: str = "train", progress: bool = True) -> AudioSet:
    """A named audio set (see :data:`AUDIO_SETS`) or a folder of audio files, one split or ``all``."""
    if split not in SPLITS + ("all",):
        raise CadenzaError(f"unknown split {split!r} (expected train, valid, test or all)")
    key = str(name)
    if "+" in key and not Path(key).exists():
        return mix(key.split("+"), split, progress)
    if key in AUDIO_SETS:
        if summary(key) is None:
            build(key, progress=progress)
        built = list(summary(key)["splits"])
        if split != "all" and split not in built:
            raise CadenzaError(f"audio set {key} has no {split} split")
        wanted = built if split == "all" else [split]
        parts = [load_cached(cache_dir(key) / f"{s}.npz", key, s) for s in wanted]
        if None in parts:  # a split's file is missing or was damaged (and removed): build the set again,
            build(key, force=True, progress=progress, **summary(key).get("sizes", {}))  # to the same size
            try:
                parts = [_load(cache_dir(key) / f"{s}.npz", key, s) for s in wanted]
            except _DAMAGED as exc:  # the disk does not keep what is written to it
                from cadenza.music.io import one_line

                raise CadenzaError(f"{cache_dir(key)}: the audio cache is damaged again after a rebuild "
                                   f"({one_line(exc)})") from None
        return concat(parts) if split == "all" else parts[0]
    folder = Path(name).expanduser()
    if not folder.exists():
        known = ", ".join(AUDIO_SETS)
        raise CadenzaError(f"{name}: no such audio set or folder (audio sets: {known})")
    from cadenza.data.audio_folders import folder_set

    return folder_set(folder, split, progress)


def mix(names: list[str], split: str = "train", progress: bool = True) -> AudioSet:
    """Several named sets as one (``violin+drums``): their clips in order, labels kept where
    every set has them; the sets must share a sample rate and hop."""
    unknown = [n for n in names if n not in AUDIO_SETS]
    if unknown or len(names) < 2:
        raise CadenzaError(f"{'+'.join(names)}: a mix names two or more audio sets "
                           f"({', '.join(AUDIO_SETS)}){'; unknown: ' + ', '.join(unknown) if unknown else ''}")
    parts = [audio_set(n, split, progress) for n in names]
    if len({(p.sample_rate, p.hop) for p in parts}) > 1:
        raise CadenzaError(f"{'+'.join(names)}: the sets differ in sample rate or hop")
    mixed = concat(parts, split)
    mixed.name = "+".join(names)
    mixed.ids = [f"{p.name}/{i}" for p in parts for i in p.ids]
    mixed.meta = {**mixed.meta, "description": "a mix of " + ", ".join(names),
                  "licence": "; ".join(dict.fromkeys(licence(n) for n in names)),
                  "f0": "none" if any(p.meta.get("f0") == "none" for p in parts) else mixed.meta.get("f0")}
    return mixed


def planned(name: str) -> dict:
    """The size a named set is built to by default: ``{"clips": int | None, "minutes": float}``."""
    info = AUDIO_SETS[name]
    if info.kind == "notes":
        from cadenza.data.audio_notes import RELEASE_SECONDS, WIDE_PROGRAMS

        keys = [len(range(lo, hi + 1, 3)) for lo, hi in WIDE_PROGRAMS.values()] if name == "notes-wide" else [25] * 5
        clips = 3 * sum(keys)
        return {"clips": clips, "minutes": round(clips * (1 + RELEASE_SECONDS) / 60, 1)}
    if info.kind == "drums":
        from cadenza.data.audio_drums import SONIC_PI_KINDS, samples_dir

        clips = 96 + len(range(35, 82)) * 3 + (len(SONIC_PI_KINDS) if samples_dir() else 0)
        return {"clips": clips, "minutes": 11.0}  # ~8.5 of patterns, ~2.5 of one-shots
    return {"clips": None, "minutes": round(sum(info.minutes.values()), 1)}


def summary(name: str) -> dict | None:
    """What a named set's cache holds (clips, seconds, label counts a split, errors, SoundFont,
    licence, build time), or None when it is not built."""
    try:
        record = json.loads((cache_dir(name) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON, or bytes that are not UTF-8
        return None
    splits = record.get("splits") if isinstance(record, dict) else None
    if not isinstance(splits, dict) or not all(isinstance(s, dict) and {"clips", "seconds"} <= s.keys()
                                               for s in splits.values()):
        return None  # damaged: build() says so and rebuilds
    return record


def build(name: str, force: bool = False, progress: bool = True, **sizes) -> Path:
    """Build a named set into its cache (skipped when built, unless ``force``); ``sizes`` go to its
    builder (tests build tiny versions into a temporary cache)."""
    from cadenza.utils import atomic_write_text

    if name not in AUDIO_SETS:
        raise CadenzaError(f"unknown audio set {name!r} (audio sets: {', '.join(AUDIO_SETS)})")
    folder = cache_dir(name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait, then use its result
        if not force and summary(name) is not None:
            return folder
        if not force and (folder / "summary.json").exists():
            from cadenza.data.corpora import cache_notice

            cache_notice(f"the audio cache {folder / 'summary.json'} is damaged; rebuilding it")
        started = time.perf_counter()
        parts = _build_parts(name, progress, sizes)
        for split, part in parts.items():
            part.meta.update(description=AUDIO_SETS[name].description, licence=licence(name))
            _save(folder / f"{split}.npz", part)
        first = next(iter(parts.values()))
        record = {"name": name, "description": AUDIO_SETS[name].description, "licence": licence(name),
                  "soundfont": first.meta.get("soundfont"), "f0": first.meta.get("f0"),
                  "notes": first.meta.get("notes", []), "sample_rate": first.sample_rate, "hop": first.hop,
                  "build_seconds": round(time.perf_counter() - started, 1), "sizes": sizes,
                  "splits": {s: {"clips": len(p), "seconds": round(p.seconds, 1), "labels": p.label_counts()}
                             for s, p in parts.items()},
                  "errors": first.errors}  # by_split gives every split the set's errors
        atomic_write_text(folder / "summary.json", json.dumps(record, indent=1))
    for stale in folder.parent.glob(f"{name}.v*"):  # caches of older versions (other SoundFonts' are kept)
        if stale.is_dir() and not stale.name.startswith(f"{name}.v{CACHE_VERSION}-"):
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def _build_parts(name: str, progress: bool, sizes: dict) -> dict[str, AudioSet]:
    from cadenza.data import audio_drums, audio_notes

    info = AUDIO_SETS[name]
    if info.kind == "drums":
        return audio_drums.drum_set(name=name, progress=progress, **sizes)
    if info.kind == "notes":
        notes = audio_notes.wide_notes if name == "notes-wide" else single_notes
        return notes(name=name, progress=progress, **sizes)
    minutes = {**info.minutes, **sizes.get("minutes", {})}
    if info.kind == "ensemble":
        return {s: audio_notes.ensemble_set(name, s, minutes[s], progress=progress) for s in SPLITS}
    return {s: solo_set(info, name, s, minutes[s], progress) for s in SPLITS}


def _progress(items, label: str, enabled: bool):
    if not enabled or len(items) < 2:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True)
