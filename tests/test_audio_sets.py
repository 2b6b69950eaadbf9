"""Audio data sets: true f0 from scores, rendered pitch, folders of audio, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import symusic

from cadenza.audio.features import hz_to_midi, pitch
from cadenza.audio.io import write_audio
from cadenza.data import audio_sets
from cadenza.errors import CadenzaError

SR, HOP = 16000, 64


def line(notes, tpq=480):
    """A one-track score from (start beat, beats, pitch, velocity)."""
    score = symusic.Score(tpq)
    track = symusic.Track()
    for start, beats, key, vel in notes:
        track.notes.append(symusic.Note(int(start * tpq), int(beats * tpq), key, vel))
    score.tracks.append(track)
    return score


def test_note_frames_hold_f0_through_rests():
    score = line([(1, 1, 69, 90), (3, 1, 81, 50)])  # 120 bpm: notes at 0.5-1.0 s and 1.5-2.0 s
    f0, velocity = audio_sets.note_frames(score, 2 * SR // HOP, SR, HOP)
    def frame(seconds):
        return int(seconds * SR / HOP)
    assert f0[frame(0.1)] == pytest.approx(440, rel=1e-4)  # before the first note: its pitch
    assert velocity[frame(0.1)] == 0 and velocity[frame(0.7)] == 90
    assert f0[frame(1.2)] == pytest.approx(440, rel=1e-4)  # a rest holds the last note
    assert f0[frame(1.7)] == pytest.approx(880, rel=1e-4) and velocity[frame(1.7)] == 50


def measured_pitch(audio: np.ndarray, sample_rate: int = SR) -> float:
    """The pitch (MIDI, fractional) of a steady note: YIN for the octave, then the FFT's peak within
    half a semitone of it for the cents (YIN alone reads a sampled piano's stretched partials ~15
    cents sharp)."""
    f0, confidence = pitch(audio, sample_rate, HOP, "yin")
    coarse = float(np.median(f0[confidence > 0.8]))
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 8 * len(audio)))
    freqs = np.fft.rfftfreq(8 * len(audio), 1 / sample_rate)
    band = (freqs > coarse * 2 ** (-0.5 / 12)) & (freqs < coarse * 2 ** (0.5 / 12))
    return float(hz_to_midi(freqs[band][np.argmax(spectrum[band])]))


@pytest.mark.parametrize("program", [73, 40, 0])
def test_rendered_clip_sounds_at_its_true_f0(program):
    # symusic 0.5.9's synthesizer played violin and piano up to two octaves off;
    # the renderer must play every program at the written pitch, with any SoundFont in use.
    notes = [(0, 2, 67, 100), (2, 2, 74, 100), (4, 2, 72, 100)]  # 120 bpm: a second each
    clip = audio_sets.render_clip(line(notes), program, SR, HOP)
    assert np.allclose(hz_to_midi(clip["f0"][int(0.5 * SR / HOP)]), 67, atol=1e-3)
    for start, _, key, _ in notes:
        seconds = start / 2
        note = clip["audio"][int((seconds + 0.1) * SR):int((seconds + 0.95) * SR)].astype(np.float64)
        assert measured_pitch(note) == pytest.approx(key, abs=0.1)  # within 10 cents


def test_from_scores_and_examples():
    scores = [line([(0, 2, 67, 100), (2, 2, 69, 60)]), line([(0, 4, 72, 110)])]
    data = audio_sets.from_scores(scores, 73, "two")
    assert len(data) == 2 and data.velocity is not None
    assert all(len(a) == len(f) * HOP for a, f in zip(data.audio, data.f0))
    ex = data.examples(32)
    assert ex["audio"].shape[1] == 32 * HOP and ex["f0"].shape == ex["loudness"].shape
    with pytest.raises(CadenzaError):
        audio_sets.from_scores([symusic.Score(480)], 73)


def test_folder_of_audio_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CADENZA_CACHE", str(tmp_path / "cache"))
    t = np.arange(22050) / 22050
    write_audio(tmp_path / "a" / "tone.wav", 0.3 * np.sin(2 * np.pi * 330 * t), 22050)
    data = audio_sets.audio_set(tmp_path / "a" / "tone.wav", "train", progress=False)
    assert data.sample_rate == SR and len(data) == 1
    assert abs(np.median(data.f0[0][20:-20]) - 330) < 3
    assert (tmp_path / "cache" / "audio").is_dir()
    again = audio_sets.audio_set(tmp_path / "a" / "tone.wav", "train", progress=False)
    assert np.array_equal(again.f0[0], data.f0[0])  # from the cache
    with pytest.raises(CadenzaError, match="no such audio set"):
        audio_sets.audio_set(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CadenzaError, match="no .wav"):
        audio_sets.audio_set(tmp_path / "empty")


def test_corpus_dispatches_audio_set_names(monkeypatch):
    import cadenza

    monkeypatch.setattr(audio_sets, "audio_set", lambda name, split, progress: ("audio", name, split))
    assert cadenza.corpus("violin", split="valid") == ("audio", "violin", "valid")


def test_folder_skips_and_lists_bad_files(tmp_path, monkeypatch, capsys):
    import soundfile

    from support import run_cli

    monkeypatch.setenv("CADENZA_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "takes"
    t = np.arange(SR // 2) / SR
    write_audio(folder / "good.wav", 0.3 * np.sin(2 * np.pi * 220 * t), SR)
    write_audio(folder / "sub" / "good2.flac", 0.3 * np.sin(2 * np.pi * 330 * t), SR)
    (folder / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    write_audio(folder / "silent.wav", np.zeros(SR), SR)
    write_audio(folder / "short.wav", 0.3 * np.sin(2 * np.pi * 220 * t[:320]), SR)  # 0.02 s
    nan = 0.3 * np.sin(2 * np.pi * 220 * t)
    nan[100:200] = np.nan
    soundfile.write(folder / "nan.wav", nan, SR, subtype="FLOAT")  # write_audio refuses NaN

    data = audio_sets.audio_set(folder, "all", progress=False)
    assert sorted(data.ids) == ["good.wav", "sub/good2.flac"]
    reasons = {Path(e["path"]).name: e["error"] for e in data.errors}
    assert set(reasons) == {"corrupt.wav", "silent.wav", "short.wav", "nan.wav"}
    assert "cannot read" in reasons["corrupt.wav"] and "silent" in reasons["silent.wav"]
    assert "too short" in reasons["short.wav"] and "NaN" in reasons["nan.wav"]
    assert all(Path(e["path"]).is_file() for e in data.errors)
    assert data.meta["f0"] == "tracked" and data.meta["soundfont"] is None
    again = audio_sets.audio_set(folder, "all", progress=False)  # from the cache, errors and all
    assert again.errors == data.errors

    code, out, err = run_cli(["corpus", "info", folder], capsys)
    assert code == 0, err
    assert "4 bad files skipped" in out and "corrupt.wav" in out and "too short" in out

    for name in ("good.wav", "good2.flac"):
        next(folder.rglob(name)).unlink()
    with pytest.raises(CadenzaError, match="no usable audio"):
        audio_sets.audio_set(folder, "all", progress=False)


def test_from_audio_takes_audio_objects_and_skips_bad_clips():
    from cadenza.audio.io import Audio

    tone = Audio(0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)[None], 8000)
    bad = np.full((1, 8000), np.nan, dtype=np.float32)
    data = audio_sets.from_audio([("tone", tone), ("bad", bad, 8000)], "mixed", pitch_method="yin")
    assert data.ids == ["tone"] and data.sample_rate == SR and len(data.audio[0]) == len(data.f0[0]) * HOP
    assert data.errors == [{"id": "bad", "path": "bad", "error": "contains NaN or infinite samples"}]
    assert abs(np.median(data.f0[0][10:-10]) - 440) < 3
