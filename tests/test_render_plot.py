"""Rendering through a SoundFont and piano-roll pictures."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from cadenza.audio.io import read_audio, write_audio
from cadenza.errors import CadenzaError
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import default_soundfont, render


def _scale(seconds_per_note=0.5):
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))  # a quarter = 0.5 s
    score.tracks.append(symusic.Track("Piano", 0, False,
                                      [symusic.Note(i * 480, 480, p, 100) for i, p in enumerate([60, 64, 67, 72])]))
    return score


def test_render_makes_sound_of_the_right_length():
    audio = render(_scale(), 16000)
    assert audio.shape[0] == 1 and audio.dtype == np.float32
    assert audio.shape[1] == 3 * 16000  # 2 s of notes plus a 1 s tail
    assert np.abs(audio[:, : 2 * 16000]).max() > 0.01
    assert np.abs(audio).max() <= 0.99 + 1e-6
    assert render(_scale(), 16000, stereo=True).shape[0] == 2


@pytest.mark.parametrize("program", [0, 24, 40, 73])  # piano, guitar, violin, flute
@pytest.mark.parametrize("key", [57, 69])
def test_render_pitch_is_right(program, key):
    # symusic 0.5.9's synthesizer played piano and violin up to two octaves off.
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 60.0))
    score.tracks.append(symusic.Track("Solo", program, False, [symusic.Note(0, 960, key, 100)]))  # 2 s
    audio = render(score, 16000)[0, 2000:10000].astype(np.float64)
    audio -= audio.mean()
    corr = np.correlate(audio, audio, "full")[len(audio) - 1:]
    lags = np.arange(16000 // 1000, 16000 // 100)  # 100 Hz .. 1 kHz
    period = lags[np.argmax(corr[lags])]
    expected = 440 * 2 ** ((key - 69) / 12)
    assert 16000 / period == pytest.approx(expected, rel=0.03)


def test_render_bad_soundfont(tmp_path):
    with pytest.raises(CadenzaError, match="no such SoundFont"):
        render(_scale(), 16000, tmp_path / "x.sf2")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(CadenzaError, match="not a SoundFont"):
        render(_scale(), 16000, tmp_path / "x.txt")
    with pytest.raises(CadenzaError, match="sample rate"):
        render(_scale(), 100)
    assert default_soundfont().is_file()


def test_audio_round_trip(tmp_path):
    audio = (np.sin(np.linspace(0, 100, 8000)) * 0.5).astype(np.float32)[None]
    path = write_audio(tmp_path / "a.wav", audio, 8000)
    back, rate = read_audio(path)
    assert rate == 8000 and back.shape == audio.shape
    assert np.abs(back - audio).max() < 1e-3  # 16-bit PCM
    with pytest.raises(CadenzaError, match="NaN"):
        write_audio(tmp_path / "b.wav", np.full((1, 10), np.nan), 8000)


def test_plot_draws_one_colour_a_track_and_bar_lines(tmp_path):
    score = _scale()
    score.tracks.append(symusic.Track("Bass", 32, False, [symusic.Note(0, 1920, 36, 90)]))
    fig = plot_piano_roll(score, tmp_path / "roll.png", title="t")
    assert (tmp_path / "roll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    notes = [c for c in ax.collections if c.get_label() != "bar lines"]
    colours = [tuple(c.get_facecolor()[0]) for c in notes]
    assert len(colours) == 2 and colours[0] != colours[1]
    bar_lines, = [c for c in ax.collections if c.get_label() == "bar lines"]  # all bars, one collection
    assert [segment[0][0] for segment in bar_lines.get_segments()] == [0.0]  # one 4/4 bar of 4 quarters
