"""The ``drums`` audio set: patterns, rendered one-shots and recorded one-shots, labelled by kind.

Three parts, dealt into splits by id:

- patterns of the cellular-automaton drum machine (the ``automaton`` model with
  ``mapping="drums"``, :mod:`cadenza.models.symbolic.automaton`): elementary
  and Life-like rules over a few drum kits, played on GM channel 10 through
  the SoundFont (labels: ``kind="pattern"``, rule, tempo, drums, hits);
- one-shots of every GM drum note 35-81 on the SoundFont's standard kit at
  a few velocities (labels: ``kind`` from :data:`GM_KINDS`, note, name, velocity);
- the recorded one-shots of Debian's ``sonic-pi-samples``
  (``/usr/share/sonic-pi/samples``; freesound.org recordings that Sonic Pi
  ships under CC0), :data:`SONIC_PI_KINDS` only: the files its copyright
  file lists as CC0, and drums rather than synth blips. Without the
  package the set is made of the rendered parts alone and says so in
  ``meta["notes"]``.

Kinds: ``kick``, ``snare``, ``clap``, ``hat``, ``tom``, ``cymbal``, ``perc``.
Drums have no single f0: f0 and its confidence are 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import symusic

from cadenza.data.audio_sets import HOP, SAMPLE_RATE, AudioSet, _progress, by_split, rendered_meta, unpitched_clip
from cadenza.errors import CadenzaError

SONIC_PI_SAMPLES = Path("/usr/share/sonic-pi/samples")
MAX_SECONDS = 2.0  # one-shots are cut (with a fade) after this
TRIM_DB = -60.0  # a rendered one-shot ends where it falls this far below its peak

KINDS = ("kick", "snare", "clap", "hat", "tom", "cymbal", "perc")


def _kinds(spec: dict[str, str]) -> dict:
    return {key: kind for kind, keys in spec.items() for key in keys.split()}


GM_KINDS: dict[int, str] = {n: "perc" for n in range(35, 82)} | {int(k): v for k, v in _kinds({
    "kick": "35 36", "snare": "37 38 40", "clap": "39", "hat": "42 44 46",
    "tom": "41 43 45 47 48 50", "cymbal": "49 51 52 53 55 57 59"}).items()}

SONIC_PI_KINDS: dict[str, str] = _kinds({
    "kick": "bd_808 bd_ada bd_boom bd_fat bd_gas bd_haus bd_klub bd_pure bd_sone bd_tek bd_zome bd_zum "
            "drum_bass_hard drum_bass_soft drum_heavy_kick elec_hollow_kick elec_soft_kick",
    "snare": "sn_dolf sn_dub sn_zome drum_snare_hard drum_snare_soft elec_filt_snare elec_hi_snare "
             "elec_lo_snare elec_mid_snare elec_snare",
    "hat": "drum_cymbal_closed drum_cymbal_open drum_cymbal_pedal",
    "cymbal": "drum_cymbal_hard drum_cymbal_soft drum_splash_hard drum_splash_soft elec_cymbal",
    "tom": "drum_tom_hi_hard drum_tom_hi_soft drum_tom_mid_hard drum_tom_mid_soft drum_tom_lo_hard "
           "drum_tom_lo_soft elec_fuzz_tom",
    "perc": "drum_cowbell elec_triangle elec_wood perc_snap perc_snap2"})

KITS = (("kick", "snare", "closed_hat", "open_hat"),
        ("kick", "snare", "closed_hat", "clap", "low_tom", "high_tom"),
        ("kick", "snare", "closed_hat", "open_hat", "clap", "low_tom", "high_tom", "ride"))
RULES = ("30", "45", "73", "90", "105", "110", "150", "B3/S23", "B36/S23", "B3678/S34678")
TEMPOS = (90.0, 110.0, 130.0)


def samples_dir() -> Path | None:
    """sonic-pi-samples' folder when the Debian package is installed, else None."""
    return SONIC_PI_SAMPLES if (SONIC_PI_SAMPLES / "bd_808.flac").is_file() else None


def _trim(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cut a one-shot where it has decayed ``TRIM_DB`` under its peak, at most ``MAX_SECONDS``,
    ending in a 10 ms fade."""
    loud = np.nonzero(np.abs(audio) > float(np.abs(audio).max()) * 10 ** (TRIM_DB / 20))[0]
    end = min(int(loud[-1]) + 1 if len(loud) else len(audio), int(MAX_SECONDS * sample_rate))
    audio = np.array(audio[:max(end, 4 * HOP)], dtype=np.float32)
    fade = min(len(audio), int(0.01 * sample_rate))
    audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return audio


def drum_patterns(count: int = 96, steps: int = 32, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                  progress: bool = False) -> list[dict]:
    """``count`` automaton drum patterns of ``steps`` sixteenths, rendered; rules, kits and tempos cycle."""
    # The one import against the layer order (data/ below models/): the patterns are the
    # automaton technique's output. Lazy, and to go once the automaton's rule engine moves
    # down to music/ (it needs no model); nothing in models/ imports this module.
    from cadenza.models.symbolic.automaton import CellularAutomaton
    from cadenza.music.render import render

    clips = []
    for index in _progress(list(range(count)), "rendering drum patterns", progress):
        rule, kit, tempo = RULES[index % len(RULES)], KITS[index % len(KITS)], TEMPOS[index % len(TEMPOS)]
        density = (0.15, 0.25, 0.35)[index % 3]
        model = CellularAutomaton(rule=rule, mapping="drums", drums=list(kit), tempo=tempo, density=density,
                                  steps=steps)  # what cadenza.create("automaton", ...) makes
        score = model.generate(n=1, seed=index)[0]
        if score.note_num() == 0:
            continue
        clip = unpitched_clip(render(score, sample_rate)[0], sample_rate, hop)
        clip["id"] = f"pattern/{index:04d}"
        hits = {name: 0 for name in kit}
        names = {_note(name): name for name in kit}
        for note in score.tracks[0].notes:
            hits[names[note.pitch]] += 1
        clip["label"] = {"source": "automaton", "kind": "pattern", "rule": rule, "tempo": tempo,
                         "steps": steps, "density": density, "drums": ",".join(kit), "hits": hits}
        clips.append(clip)
    return clips


def _note(name: str) -> int:
    from cadenza.music.drums import drum_note

    return drum_note(name)


def kit_one_shots(notes=range(35, 82), velocities=(60, 100, 127), sample_rate: int = SAMPLE_RATE,
                  hop: int = HOP, progress: bool = False) -> list[dict]:
    """Every GM drum ``note`` at each velocity on the SoundFont's standard kit (channel 10)."""
    import pretty_midi

    from cadenza.music.render import TAIL_SECONDS, render

    held = int(round((MAX_SECONDS - TAIL_SECONDS) * 960))  # 120 bpm: the render lasts MAX_SECONDS
    clips = []
    for note, velocity in _progress([(n, v) for n in notes for v in velocities], "rendering the kit", progress):
        score = symusic.Score(480)
        score.tracks.append(symusic.Track("Drums", 0, True, [symusic.Note(0, held, note, velocity)]))
        audio = render(score, sample_rate)[0]
        if np.abs(audio).max() < 1e-3:
            continue  # the kit has no sound for this note
        clip = unpitched_clip(_trim(audio, sample_rate), sample_rate, hop)
        clip["id"] = f"kit/{note:03d}-{velocity:03d}"
        clip["label"] = {"source": "soundfont", "kind": GM_KINDS[note], "note": note,
                         "name": pretty_midi.note_number_to_drum_name(note), "velocity": velocity}
        clips.append(clip)
    return clips


def recorded_one_shots(folder: Path | None = None, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                       names=None, progress: bool = False) -> tuple[list[dict], list[dict]]:
    """sonic-pi-samples' drum one-shots (:data:`SONIC_PI_KINDS`, or ``names`` of them): clips and errors."""
    from cadenza.audio.io import read_audio
    from cadenza.audio.resample import resample
    from cadenza.data.audio_sets import audio_problem

    folder = folder or samples_dir()
    if folder is None:
        return [], []
    clips, errors = [], []
    for name in _progress(list(names or SONIC_PI_KINDS), "reading sonic-pi-samples", progress):
        path = folder / f"{name}.flac"
        try:
            audio, rate = read_audio(path)
        except CadenzaError as exc:
            errors.append({"id": f"sonic-pi/{name}", "path": str(path), "error": str(exc).split(": ", 1)[-1]})
            continue
        problem = audio_problem(audio, rate)
        if problem:
            errors.append({"id": f"sonic-pi/{name}", "path": str(path), "error": problem})
            continue
        mono = resample(audio.mean(axis=0, keepdims=True), rate, sample_rate)[0]
        clip = unpitched_clip(_trim(mono, sample_rate), sample_rate, hop)
        clip["id"] = f"sonic-pi/{name}"
        clip["label"] = {"source": "sonic-pi-samples", "kind": SONIC_PI_KINDS[name], "file": path.name,
                         "licence": "CC0"}
        clips.append(clip)
    return clips, errors


def drum_set(patterns: int = 96, steps: int = 32, notes=range(35, 82), velocities=(60, 100, 127),
             samples: bool | Path = True, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
             progress: bool = False, name: str = "drums") -> dict[str, AudioSet]:
    """The ``drums`` set a split. ``samples``: read sonic-pi-samples when installed (True), from another
    folder laid out the same way (a path), or not at all (False)."""
    folder = samples_dir() if samples is True else (Path(samples) if samples else None)
    clips = drum_patterns(patterns, steps, sample_rate, hop, progress)
    clips += kit_one_shots(notes, velocities, sample_rate, hop, progress)
    recorded, errors = recorded_one_shots(folder, sample_rate, hop, progress=progress) if folder else ([], [])
    notes_ = [] if folder else ["sonic-pi-samples is not installed: rendered patterns and kit one-shots only "
                                f"(apt install sonic-pi-samples adds {len(SONIC_PI_KINDS)} recorded CC0 one-shots)"]
    if not clips + recorded:
        raise CadenzaError(f"{name}: nothing to build (no patterns, notes or samples)")
    return by_split(name, clips + recorded, sample_rate, hop, rendered_meta("none", notes_), errors)
