"""Streaming engine: streamed output equals offline output, causality, the meter, live I/O errors."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from cadenza.cli import main
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.ddsp import DDSP
from cadenza.realtime import LatencyMeter, NoteTracker, Stream, run_blocks
from cadenza.realtime.controls import ScoreControls


def melody(keys):
    score = symusic.Score(480)
    track = symusic.Track()
    for i, key in enumerate(keys):
        track.notes.append(symusic.Note(i * 240, 240, key, 60 + 10 * i))
    score.tracks.append(track)
    return score


@pytest.fixture(scope="module")
def model():
    data = from_scores([melody([67, 69, 71, 72, 74, 76])], 73, "tiny")
    return DDSP(**{**DDSP.tiny_config, "max_steps": 2}).fit(data)


@pytest.mark.parametrize("block", [64, 128, 256, 1024])
def test_streamed_equals_offline(model, block):
    score = melody([60, 64, 67, 72, 67])
    offline = model.render_score(score, seed=3).samples
    streamed = run_blocks(model.stream(3), model.score_blocks(score, block))
    assert streamed.shape == offline.shape
    assert np.abs(streamed - offline).max() < 1e-4


def test_stream_is_a_stream_and_restarts_clean(model):
    stream = model.stream(0)
    assert isinstance(stream, Stream)
    controls = np.tile([[330.0, -30.0]], (40, 1))
    stream.init_state()
    first = stream.step(controls)
    stream.step(controls)
    stream.init_state()
    assert np.array_equal(stream.step(controls), first)


def test_tracker_is_causal_and_follows_velocity():
    tracker = NoteTracker(16000, 64)
    quiet = tracker.frames(5)[-1, 1]
    tracker.note_on(69, 100)
    loud = tracker.frames(100)
    assert loud[-1, 0] == pytest.approx(440, rel=1e-4)
    assert loud[-1, 1] == pytest.approx(tracker.envelope.level(100), abs=0.1) and loud[-1, 1] > quiet
    tracker.note_on(72, 100)
    tracker.note_off(72)  # back to the note still held
    assert tracker.frames(1)[0, 0] == pytest.approx(440, rel=1e-4)
    tracker.note_off(69)
    assert tracker.frames(200)[-1, 1] == pytest.approx(tracker.envelope.floor_db, abs=0.1)


def test_score_controls_do_not_depend_on_the_future():
    short, long_ = melody([60, 62]), melody([60, 62, 64, 65, 67])
    a = ScoreControls(short, NoteTracker(16000, 64)).read(100)
    b = ScoreControls(long_, NoteTracker(16000, 64)).read(100)
    first_change = int(np.ceil(0.5 * 16000 / 64))  # the third note starts at 0.5 s
    assert np.array_equal(a[:first_change], b[:first_change])


def test_latency_meter():
    meter = LatencyMeter(16000)
    for _ in range(10):
        meter.measure(lambda: np.zeros((1, 256)))
    report = meter.report()
    assert report["blocks"] == 10 and report["deadline_ms"] == 16.0
    assert report["deadline_misses"] == 0 and report["p99_ms"] >= report["median_ms"]
    assert report["real_time_factor"] > 1


def test_cli_stream_equals_cli_render(model, tmp_path, capsys):
    from cadenza.audio.io import read_audio
    from cadenza.music.io import write_midi

    run = model.save(tmp_path / "run")
    write_midi(melody([60, 64, 67, 72]), tmp_path / "in.mid")
    main(["render", str(tmp_path / "in.mid"), str(tmp_path / "render.wav"), "--model", str(run)])
    main(["stream", "--model", str(run), "--midi", str(tmp_path / "in.mid"), "--block", "256",
          "--out", str(tmp_path / "stream.wav")])
    assert "p99" in capsys.readouterr().out
    a, b = read_audio(tmp_path / "render.wav")[0], read_audio(tmp_path / "stream.wav")[0]
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    with pytest.raises(SystemExit) as exit_:
        main(["stream", "--model", str(run), "--midi", str(tmp_path / "in.mid"), "--block", "100",
              "--out", str(tmp_path / "x.wav")])
    assert exit_.value.code == 2 and "multiple of" in capsys.readouterr().err


def test_play_without_devices_is_one_clear_message(model, tmp_path, capsys):
    run = model.save(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_:
        main(["play", "--model", str(run), "--seconds", "0.1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "sounddevice" in err or "device" in err or "MIDI" in err


def test_score_blocks_rejects_a_score_without_notes(model):
    with pytest.raises(CadenzaError, match="no pitched notes"):
        list(model.score_blocks(symusic.Score(480), 256))
