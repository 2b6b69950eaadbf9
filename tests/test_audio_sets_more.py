"""The labelled audio sets (notes-wide, ensemble, drums), the SoundFont choice, the cache, the CLI.

Every set is built tiny here (the builders take their sizes); the full sets
are measured in docs/audio-data.md.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import symusic

from cadenza.data import audio_drums, audio_notes, audio_sets
from cadenza.errors import CadenzaError
from cadenza.music import render as render_module
from cadenza.music.render import FLUIDR3_GM, render, soundfont_info
from support import run_cli
from test_audio_sets import SR, measured_pitch

TIMGM6MB = render_module._timgm6mb()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CADENZA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def centroid(audio: np.ndarray, seconds: float = 0.2) -> float:
    """Spectral centroid (Hz) of a one-shot's first ``seconds``."""
    head = audio[:int(seconds * SR)]
    power = np.abs(np.fft.rfft(head)) ** 2
    return float((power * np.fft.rfftfreq(len(head), 1 / SR)).sum() / power.sum())


# --- the SoundFont ----------------------------------------------------------------------

def test_soundfont_choice_and_licence(monkeypatch):
    monkeypatch.delenv("CADENZA_SOUNDFONT", raising=False)
    chosen = soundfont_info()
    if FLUIDR3_GM.is_file():
        assert chosen.name == "FluidR3_GM" and chosen.licence.startswith("MIT")
    else:
        assert chosen.name == "TimGM6mb"
    monkeypatch.setattr(render_module, "FLUIDR3_GM", render_module.Path("/nonexistent/FluidR3_GM.sf2"))
    fallback = soundfont_info()
    assert fallback.name == "TimGM6mb" and fallback.path == TIMGM6MB and fallback.licence.startswith("GPL-2.0")
    monkeypatch.setenv("CADENZA_SOUNDFONT", str(TIMGM6MB))
    assert soundfont_info().name == "TimGM6mb"
    assert soundfont_info("/some/where/My_Font.sf2").licence.startswith("unknown")
    link = render_module.Path("/usr/share/sounds/sf2/default-GM.sf2")  # Debian's alternatives link
    if link.resolve() == FLUIDR3_GM:
        assert soundfont_info(link).name == "FluidR3_GM" and soundfont_info(link).licence.startswith("MIT")
    assert chosen.key != fallback.key or chosen.name == fallback.name


def test_a_kept_synth_renders_what_a_fresh_one_does():
    score = symusic.Score(480)
    score.tracks.append(symusic.Track("v", 40, False, [symusic.Note(0, 480, 69, 100), symusic.Note(240, 480, 76, 80)]))
    score.tracks.append(symusic.Track("d", 0, True, [symusic.Note(0, 60, 36, 110), symusic.Note(0, 60, 49, 127)]))
    render_module._LOADED.clear()
    fresh = render(score, SR)
    assert np.array_equal(render(score, SR), fresh)  # right after a render whose cymbal still rang
    render(score, 22050, TIMGM6MB)  # another SoundFont and rate in between
    assert np.array_equal(render(score, SR), fresh)


def test_cache_and_spec_record_the_soundfont(cache, monkeypatch):
    tiny = {"programs": {73: (72, 72)}, "velocities": (100,)}
    monkeypatch.setenv("CADENZA_SOUNDFONT", str(TIMGM6MB))
    timgm = audio_sets.build("notes-wide", progress=False, **tiny)
    data = audio_sets.audio_set("notes-wide", "all", progress=False)
    assert "TimGM6mb" in timgm.name and data.spec["soundfont"] == soundfont_info().key
    assert data.meta["soundfont"]["licence"].startswith("GPL-2.0") and "GPL-2.0" in data.meta["licence"]
    monkeypatch.setattr(render_module, "soundfont_info", lambda soundfont=None: render_module.SoundFontInfo(
        "Other", TIMGM6MB, "MIT (test)"))  # another SoundFont in use
    assert audio_sets.cache_dir("notes-wide") != timgm
    assert audio_sets.summary("notes-wide") is None  # the TimGM6mb cache is not this SoundFont's
    assert json.loads((timgm / "summary.json").read_text())["soundfont"]["name"] == "TimGM6mb"


def test_licences_name_the_music_and_the_sounds():
    sf = soundfont_info()
    assert "non-commercial" in audio_sets.licence("violin") and sf.licence in audio_sets.licence("violin")
    assert "public domain" in audio_sets.licence("ensemble")
    assert "CC0" in audio_sets.licence("drums") and sf.name in audio_sets.licence("drums")


# --- notes-wide ---------------------------------------------------------------------------

def test_wide_notes_are_labelled_and_sound_at_their_label(cache):
    programs = {0: (60, 72), 33: (40, 52), 40: (67, 79), 73: (72, 84)}  # piano, bass, violin, flute
    parts = audio_notes.wide_notes(programs, step=12, velocities=(60, 110))
    data = audio_sets.concat(list(parts.values()))
    assert len(data) == 4 * 2 * 2 and not data.errors
    for index, label in enumerate(data.labels):
        assert data.ids[index] == f"{label['program']:03d}-{label['pitch']:03d}-{label['velocity']:03d}"
        assert label["family"] == {0: "keyboard", 33: "bass", 40: "string", 73: "flute"}[label["program"]]
        assert label["instrument"] == audio_sets.instrument(label["program"])
        assert data.velocity[index].max() == label["velocity"]
        assert len(data.audio[index]) == int(1.5 * SR) // 64 * 64  # 1 s held, 0.5 s release
        held = data.audio[index][int(0.15 * SR):int(0.95 * SR)].astype(np.float64)
        assert measured_pitch(held) == pytest.approx(label["pitch"], abs=0.15), label
    assert sorted(set(data.label("family"))) == ["bass", "flute", "keyboard", "string"]
    soft, loud = (data.label("velocity") == 60), (data.label("velocity") == 110)
    peaks = np.array([np.abs(a).max() for a in data.audio])
    assert np.median(peaks[loud]) > np.median(peaks[soft])


def test_wide_table_families_and_silent_notes(cache):
    families = {audio_notes.family(p) for p in audio_notes.WIDE_PROGRAMS}
    assert {"keyboard", "guitar", "bass", "string", "brass", "reed", "flute", "synth_lead"} <= families
    assert audio_sets.planned("notes-wide")["clips"] == 3 * sum(
        len(range(lo, hi + 1, 3)) for lo, hi in audio_notes.WIDE_PROGRAMS.values())
    if soundfont_info().name != "FluidR3_GM":
        pytest.skip("FluidR3_GM's violin is silent at key 94; other SoundFonts may not be")
    parts = audio_notes.wide_notes({40: (91, 94)}, step=3, velocities=(100,))
    data = audio_sets.concat(list(parts.values()))
    assert data.ids == ["040-091-100"]
    assert data.errors == [{"id": "040-094-100", "path": "040-094-100",
                            "error": "the SoundFont plays no sound for this note"}]


# --- ensemble -----------------------------------------------------------------------------

def test_ensemble_plays_each_voice_on_its_instrument(cache):
    chord = symusic.Score(480)
    for name, key in zip(("Soprano", "Alto", "Tenor", "Bass"), (72, 64, 55, 48)):
        chord.tracks.append(symusic.Track(name, 0, False, [symusic.Note(0, 1920, key, 90)]))  # 2 s
    data = audio_notes.ensemble([chord], name="chord")
    label = data.labels[0]
    assert label["programs"] == list(audio_notes.ENSEMBLE_PROGRAMS) == [40, 41, 42, 70]
    assert label["voices"] == ["Soprano", "Alto", "Tenor", "Bass"] and label["lowest"] == [72, 64, 55, 48]
    assert label["instruments"][0] == "Violin" and label["instruments"][3] == "Bassoon"
    assert not data.f0[0].any() and not data.confidence[0].any() and data.meta["f0"] == "none"
    audio = data.audio[0][int(0.2 * SR):int(1.8 * SR)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    floor = np.median(spectrum[(freqs > 100) & (freqs < 2000)])
    for key in (72, 64, 55, 48):  # every voice's fundamental stands out of the mix
        hz = 440 * 2 ** ((key - 69) / 12)
        assert spectrum[np.abs(freqs - hz) < hz * 0.01].max() > 20 * floor, key


# --- drums --------------------------------------------------------------------------------

def test_kit_one_shots_are_labelled_by_kind():
    clips = audio_drums.kit_one_shots(notes=[36, 38, 42, 45, 49], velocities=(100,))
    kinds = {c["label"]["note"]: c["label"]["kind"] for c in clips}
    assert kinds == {36: "kick", 38: "snare", 42: "hat", 45: "tom", 49: "cymbal"}
    bright = {c["label"]["kind"]: centroid(c["audio"], 0.05) for c in clips}  # the attack
    assert bright["kick"] < bright["tom"] < bright["snare"] < bright["hat"]
    lengths = {c["label"]["kind"]: len(c["audio"]) / SR for c in clips}
    assert lengths["hat"] < 0.6 and lengths["cymbal"] > 1.5  # a closed hat is short, a crash rings on
    assert all(len(c["audio"]) <= audio_drums.MAX_SECONDS * SR and not c["f0"].any() for c in clips)


@pytest.mark.skipif(audio_drums.samples_dir() is None, reason="sonic-pi-samples is not installed")
def test_recorded_one_shots_kinds_and_licence():
    names = ["bd_808", "drum_heavy_kick", "sn_dolf", "drum_snare_hard", "drum_cymbal_closed", "drum_cymbal_pedal"]
    clips, errors = audio_drums.recorded_one_shots(names=names)
    assert not errors and [c["id"] for c in clips] == [f"sonic-pi/{n}" for n in names]
    assert [c["label"]["kind"] for c in clips] == ["kick", "kick", "snare", "snare", "hat", "hat"]
    assert all(c["label"]["licence"] == "CC0" for c in clips)
    copyright_file = audio_drums.SONIC_PI_SAMPLES.parents[2] / "doc" / "sonic-pi-samples" / "copyright"
    if copyright_file.is_file():  # every file kept is listed as CC0 by the Debian package
        text = copyright_file.read_text()
        for name in audio_drums.SONIC_PI_KINDS:
            entry = text.split(f"Files: etc/samples/{name}.flac\n", 1)[1].split("\n\n", 1)[0]
            assert "License: CC0" in entry, name
    bright = [centroid(c["audio"]) for c in clips]
    assert max(bright[:2]) < min(bright[2:4]) and max(bright[2:4]) < min(bright[4:])


def test_drum_set_without_samples_says_so(cache):
    parts = audio_drums.drum_set(patterns=3, steps=16, notes=[36, 42], velocities=(100,), samples=False)
    data = audio_sets.concat(list(parts.values()))
    assert {lab["source"] for lab in data.labels} == {"automaton", "soundfont"}
    assert any("sonic-pi-samples is not installed" in note for note in data.meta["notes"])
    for index, label in enumerate(data.labels):
        assert not data.f0[index].any() and np.abs(data.audio[index]).max() > 0.01
        if label["kind"] == "pattern":
            assert sum(label["hits"].values()) > 0 and set(label["hits"]) == set(label["drums"].split(","))
    assert sorted(lab["kind"] for lab in data.labels if lab["source"] == "soundfont") == ["hat", "kick"]


def test_drum_patterns_come_from_the_automaton():
    from cadenza.models.symbolic.automaton import CellularAutomaton

    clip = audio_drums.drum_patterns(count=1, steps=16)[0]
    label = clip["label"]
    score = CellularAutomaton(rule=label["rule"], mapping="drums", drums=label["drums"].split(","),
                              tempo=label["tempo"], density=label["density"], steps=16).generate(n=1, seed=0)[0]
    assert score.tracks[0].is_drum and sum(label["hits"].values()) == score.note_num()
    assert np.array_equal(clip["audio"], audio_sets.unpitched_clip(render(score, SR)[0])["audio"])


# --- named sets through the cache and the CLI -----------------------------------------------

def test_named_set_builds_loads_and_shows_in_the_cli(cache, capsys):
    audio_sets.build("notes-wide", progress=False, programs={24: (52, 64), 56: (60, 60)}, step=6,
                     velocities=(100,))
    summary = audio_sets.summary("notes-wide")
    assert summary["soundfont"]["key"] == soundfont_info().key and summary["f0"] == "true"
    data = audio_sets.audio_set("notes-wide", "all", progress=False)
    assert len(data) == sum(s["clips"] for s in summary["splits"].values()) == 4
    ex = data.examples(32)
    assert set(data.label("program")[ex["clip"]]) <= {24, 56} and len(ex["clip"]) == len(ex["audio"])
    assert data.label_counts()["family"] == {"brass": 1, "guitar": 3}
    assert data.clip(0).sample_rate == SR and data.clip(0).samples.shape == (1, len(data.audio[0]))
    for split in summary["splits"]:  # a split's clips are views of one array read once, not a copy each
        part = audio_sets.audio_set("notes-wide", split, progress=False)
        assert len({id(a.base) for a in part.audio}) == 1 and part.audio[0].base is not None

    code, out, err = run_cli(["corpus", "list"], capsys)
    assert code == 0, err
    assert "notes-wide" in out and "drums" in out and "ensemble" in out and "yes" in out
    code, out, err = run_cli(["corpus", "info", "notes-wide"], capsys)
    assert code == 0, err
    for text in ("train", "16000", "licence:", soundfont_info().name, "family", "guitar: 3", "brass: 1"):
        assert text in out, text


def test_a_mix_of_named_sets_is_one_set(cache):
    audio_sets.build("notes-wide", progress=False, programs={24: (52, 64)}, step=6, velocities=(100,))
    audio_sets.build("drums", progress=False, patterns=3, steps=16, notes=[36], velocities=(100,), samples=False)
    mixed = audio_sets.audio_set("notes-wide+drums", "all", progress=False)
    notes, drums = (audio_sets.audio_set(n, "all", progress=False) for n in ("notes-wide", "drums"))
    assert len(mixed) == len(notes) + len(drums) and mixed.name == "notes-wide+drums"
    assert mixed.ids[0].startswith("notes-wide/") and mixed.ids[-1].startswith("drums/")
    assert np.array_equal(mixed.audio[-1], drums.audio[-1]) and mixed.meta["f0"] == "none"
    assert all(audio_sets.licence(n) in mixed.meta["licence"] for n in ("notes-wide", "drums"))
    for name, message in [("notes-wide+nothing", "unknown: nothing"), ("notes-wide+", "two or more")]:
        with pytest.raises(CadenzaError, match=message):
            audio_sets.audio_set(name, "train", progress=False)
