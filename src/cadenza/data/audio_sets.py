"""Audio data sets with frame-rate features: audio, f0 (+ confidence), loudness.

Three sources, one class (:class:`AudioSet`):

- ``notes``: single notes rendered from the General MIDI SoundFont over
  programs x pitches x velocities, like NSynth, with the true f0;
- a corpus played by one GM program (``violin``: Essen melodies on the GM
  violin, program 40): minutes of solo-instrument audio whose f0 is the
  score's, exact to the frame;
- any folder of .wav/.flac/.ogg files (f0 from the pitch tracker).

Features are computed once into ``$CADENZA_CACHE/audio/`` (an .npz a split)
with a progress bar; loading is then a file read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic

from cadenza.audio.features import check_audio, loudness, midi_to_hz, pitch
from cadenza.errors import CadenzaError

CACHE_VERSION = 2  # 2: rendered with TinySoundFont (true pitches), no retuning
SAMPLE_RATE, HOP = 16000, 64  # 250 frames a second, as in the DDSP paper


@dataclass(frozen=True)
class RenderedSet:
    """A corpus played by one General MIDI program."""

    corpus: str
    program: int
    description: str
    minutes: dict = field(default_factory=lambda: {"train": 10.0, "valid": 1.5, "test": 1.5})


AUDIO_SETS: dict[str, RenderedSet | str] = {
    "violin": RenderedSet("essen", 40, "Essen folk melodies on the GM violin (program 40), true f0"),
    "flute": RenderedSet("essen", 73, "Essen folk melodies on the GM flute (program 73), true f0"),
    "cello": RenderedSet("bach", 42, "Bach chorale top voices an octave down on the GM cello (program 42), true f0"),
    "notes": "Single notes, 5 GM programs x 25 pitches x 3 velocities (NSynth-like), true f0",
}


@dataclass
class AudioSet:
    """Mono clips with their features a frame (``hop`` samples). ``velocity`` is
    the sounding note's MIDI velocity a frame (0 in rests) where a score made
    the audio, else None."""

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

    def __len__(self) -> int:
        return len(self.audio)

    def __iter__(self):
        return iter(range(len(self)))

    @property
    def seconds(self) -> float:
        return sum(len(a) for a in self.audio) / self.sample_rate

    @property
    def spec(self) -> dict:
        return {"audio_set": self.name, "split": self.split, "clips": len(self),
                "seconds": round(self.seconds, 1), "sample_rate": self.sample_rate}

    def examples(self, frames: int, stride: int | None = None, min_loudness_db: float = -60.0) -> dict:
        """Windows of ``frames`` frames as stacked arrays (f0, loudness ``[n, frames]``, audio
        ``[n, frames*hop]``), skipping near-silent ones; deterministic."""
        stride = stride or frames
        out = {"f0": [], "loudness": [], "audio": []}
        for f0, ld, audio in zip(self.f0, self.loudness, self.audio):
            for start in range(0, len(f0) - frames + 1, stride):
                window = ld[start:start + frames]
                if np.median(window) < min_loudness_db:
                    continue
                out["f0"].append(f0[start:start + frames])
                out["loudness"].append(window)
                out["audio"].append(audio[start * self.hop:(start + frames) * self.hop])
        return {k: np.stack(v).astype(np.float32) if v else np.zeros((0, frames), np.float32)
                for k, v in out.items()}


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


def from_scores(scores, program: int = 40, name: str = "scores", split: str = "all",
                sample_rate: int = SAMPLE_RATE, hop: int = HOP, max_seconds: float | None = None,
                transpose: int = 0, progress: bool = False, ids: list[str] | None = None) -> AudioSet:
    """Render symbolic pieces (their top voice) with GM ``program`` into an AudioSet."""
    clips, total = [], 0.0
    scores = list(scores)
    iterator = _progress(scores, f"rendering {name}", progress)
    for index, score in enumerate(iterator):
        if not isinstance(score, symusic.core.ScoreTick):
            raise CadenzaError(f"expected symusic Scores or an AudioSet, got {type(score).__name__}")
        if score.note_num() == 0:
            continue
        clip = render_clip(score, program, sample_rate, hop, transpose)
        clip["id"] = ids[index] if ids else str(index)
        clips.append(clip)
        total += len(clip["audio"]) / sample_rate
        if max_seconds is not None and total >= max_seconds:
            break
    if not clips:
        raise CadenzaError(f"{name}: no notes to render")
    return _assemble(name, split, sample_rate, hop, clips)


def from_audio(items, name: str = "audio", split: str = "all", sample_rate: int = SAMPLE_RATE,
               hop: int = HOP, pitch_method: str = "auto", progress: bool = False) -> AudioSet:
    """``(id, audio [channels, samples], rate)`` items -> AudioSet with tracked f0 (resampled, mono)."""
    from cadenza.audio.resample import resample

    clips = []
    for clip_id, audio, rate in _progress(list(items), f"features of {name}", progress):
        audio = check_audio(audio, clip_id, 1)
        mono = resample(audio.mean(axis=0, keepdims=True), rate, sample_rate)[0]
        count = len(mono) // hop
        if count < 1:
            continue
        mono = mono[:count * hop]
        f0, confidence = pitch(mono, sample_rate, hop, pitch_method)
        clips.append({"id": clip_id, "audio": mono, "f0": f0, "confidence": confidence,
                      "loudness": loudness(mono, sample_rate, hop)})
    if not clips:
        raise CadenzaError(f"{name}: no audio long enough for one frame")
    return _assemble(name, split, sample_rate, hop, clips)


def _assemble(name, split, sample_rate, hop, clips) -> AudioSet:
    velocity = [c["velocity"] for c in clips] if all("velocity" in c for c in clips) else None
    return AudioSet(name, split, sample_rate, hop, [c["audio"] for c in clips], [c["f0"] for c in clips],
                    [c["confidence"] for c in clips], [c["loudness"] for c in clips], velocity,
                    [c["id"] for c in clips])


def single_notes(programs=(0, 24, 40, 56, 73), pitches=range(36, 85, 2), velocities=(64, 100, 127),
                 seconds: float = 1.0, sample_rate: int = SAMPLE_RATE, hop: int = HOP, progress: bool = False):
    """NSynth-like one-shots: each ``(program, pitch, velocity)`` held ``seconds`` plus a release."""
    from cadenza.data.corpora import split_of

    clips = {"train": [], "valid": [], "test": []}
    combos = [(p, k, v) for p in programs for k in pitches for v in velocities]
    for program, key, vel in _progress(combos, "rendering notes", progress):
        score = symusic.Score(480)
        track = symusic.Track(program=program)
        track.notes.append(symusic.Note(0, int(seconds * 2 * 480), key, vel))  # 120 bpm: 2 beats a second
        score.tracks.append(track)
        clip = render_clip(score, program, sample_rate, hop)
        clip["id"] = f"{program:03d}-{key:03d}-{vel:03d}"
        clips[split_of(clip["id"])].append(clip)
    return {split: _assemble("notes", split, sample_rate, hop, c) for split, c in clips.items() if c}


# --- named sets and folders, cached ------------------------------------------------------

def _cache_dir(key: str) -> Path:
    from cadenza.data.corpora import cache_root

    return cache_root() / "audio" / f"{key}.v{CACHE_VERSION}"


def _save(path: Path, audio_set: AudioSet) -> None:
    from cadenza.utils import atomic_path

    lengths = np.array([len(f) for f in audio_set.f0])
    arrays = {"lengths": lengths, "audio": np.concatenate(audio_set.audio),
              "f0": np.concatenate(audio_set.f0), "confidence": np.concatenate(audio_set.confidence),
              "loudness": np.concatenate(audio_set.loudness),
              "meta": np.frombuffer(json.dumps({"ids": audio_set.ids, "sample_rate": audio_set.sample_rate,
                                                "hop": audio_set.hop}).encode(), dtype=np.uint8)}
    if audio_set.velocity is not None:
        arrays["velocity"] = np.concatenate(audio_set.velocity)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def _load(path: Path, name: str, split: str) -> AudioSet:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        hop = meta["hop"]
        bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
        def cut(key, scale=1):
            return [data[key][a * scale:b * scale] for a, b in zip(bounds[:-1], bounds[1:])]
        return AudioSet(name, split, meta["sample_rate"], hop, cut("audio", hop), cut("f0"), cut("confidence"),
                        cut("loudness"), cut("velocity") if "velocity" in data else None, meta["ids"])


def audio_set(name: str | os.PathLike, split: str = "train", progress: bool = True) -> AudioSet:
    """A named audio set (``violin``, ``flute``, ``cello``, ``notes``) or a folder of audio files."""
    if split not in ("train", "valid", "test", "all"):
        raise CadenzaError(f"unknown split {split!r} (expected train, valid, test or all)")
    if split == "all":
        parts = [audio_set(name, s, progress) for s in ("train", "valid", "test")]
        parts = [p for p in parts if len(p)]
        merged = parts[0]
        for p in parts[1:]:
            for attr in ("audio", "f0", "confidence", "loudness", "ids"):
                getattr(merged, attr).extend(getattr(p, attr))
            if merged.velocity is not None and p.velocity is not None:
                merged.velocity.extend(p.velocity)
        merged.split = "all"
        return merged
    key = str(name)
    if key in AUDIO_SETS:
        cache = _cache_dir(key) / f"{split}.npz"
        if not cache.is_file():
            _build_named(key, progress)
        if not cache.is_file():
            raise CadenzaError(f"audio set {key} has no {split} split")
        return _load(cache, key, split)
    folder = Path(name).expanduser()
    if not folder.exists():
        known = ", ".join(AUDIO_SETS)
        raise CadenzaError(f"{name}: no such audio set or folder (audio sets: {known})")
    return _folder_set(folder, split, progress)


def _build_named(key: str, progress: bool) -> None:
    if key == "notes":
        for split, part in single_notes(progress=progress).items():
            _save(_cache_dir(key) / f"{split}.npz", part)
        return
    info = AUDIO_SETS[key]
    from cadenza.data.corpora import corpus

    for split in ("train", "valid", "test"):
        pieces = corpus(info.corpus, split=split, progress=progress)
        # Bach's top voice lies in the soprano range: an octave down suits a cello.
        transpose = -12 if info.program in (42, 43, 32, 33) else 0
        part = from_scores(pieces, info.program, key, split, max_seconds=info.minutes[split] * 60,
                           transpose=transpose, progress=progress, ids=list(pieces.ids))
        _save(_cache_dir(key) / f"{split}.npz", part)


def _folder_set(folder: Path, split: str, progress: bool) -> AudioSet:
    from cadenza.audio.io import AUDIO_SUFFIXES, read_audio
    from cadenza.data.corpora import split_of

    files = sorted(p for p in ([folder] if folder.is_file() else folder.rglob("*"))
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise CadenzaError(f"{folder}: no {', '.join(AUDIO_SUFFIXES)} files")
    root = folder if folder.is_dir() else folder.parent
    ids = [str(p.relative_to(root)) for p in files]
    fingerprint = hashlib.sha1(json.dumps([(i, p.stat().st_size, p.stat().st_mtime_ns)
                                           for i, p in zip(ids, files)]).encode()).hexdigest()[:16]
    key = f"folder-{folder.resolve().name}-{fingerprint}"
    cache = _cache_dir(key) / f"{split}.npz"
    if cache.is_file():
        return _load(cache, str(folder), split)
    chosen = [(i, p) for i, p in zip(ids, files) if len(files) == 1 or split_of(i) == split]
    if not chosen:
        raise CadenzaError(f"{folder}: no files in the {split} split ({len(files)} files in all)")

    def items():
        for clip_id, path in chosen:
            audio, rate = read_audio(path)
            yield clip_id, audio, rate

    part = from_audio(items(), str(folder), split, progress=progress)
    _save(cache, part)
    return part


def _progress(items, label: str, enabled: bool):
    if not enabled or len(items) < 2:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True)

