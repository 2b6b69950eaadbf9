"""Audio data sets: true f0 from scores, rendered pitch, folders of audio, caching."""

from __future__ import annotations

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


@pytest.mark.parametrize("program", [73, 40, 0])
def test_rendered_clip_sounds_at_its_true_f0(program):
    # symusic 0.5.9's synthesizer played violin and piano up to two octaves off;
    # the renderer must play every program at the written pitch.
    clip = audio_sets.render_clip(line([(0, 2, 67, 100), (2, 2, 74, 100), (4, 2, 72, 100)]), program, SR, HOP)
    tracked, confidence = pitch(clip["audio"], SR, HOP, "yin")
    judged = (clip["velocity"] > 0) & (confidence > 0.8)
    assert judged.mean() > 0.5
    error = np.abs(hz_to_midi(tracked) - hz_to_midi(clip["f0"]))[judged]
    assert np.median(error) < 0.1  # semitones


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
