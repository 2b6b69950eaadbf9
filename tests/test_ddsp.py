"""DDSP: fit on a tiny audio set, render, transfer, save/load, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cadenza
from cadenza.audio.io import Audio, read_audio, write_audio
from cadenza.cli import main
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.evaluate.audio import harmonic_baseline, resynthesis_metrics
from cadenza.models.audio.ddsp import DDSP
from support import melody

SR = 16000


@pytest.fixture(scope="module")
def data():
    return from_scores([melody([67, 69, 71, 72, 74, 72, 71, 69]), melody([72, 76, 79, 76], 2)], 73, "tiny")


@pytest.fixture(scope="module")
def model(data):
    return DDSP(**{**DDSP.tiny_config, "max_steps": 3}).fit(data)


@pytest.fixture(scope="module")
def run(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("ddsp") / "run")


def test_fit_records_data_and_calibrates_the_envelope(model, data):
    assert model.data_spec_["audio_set"] == "tiny"
    loud = np.concatenate(data.loudness)[np.concatenate(data.velocity) > 0]
    assert abs(model.envelope_.level(100) - np.median(loud)) < 6


def test_render_score_follows_the_notes(model):
    clip = model.render_score(melody([60, 64, 67]))
    assert isinstance(clip, Audio) and clip.sample_rate == SR
    audio = clip.samples
    assert audio.shape[0] == 1 and np.isfinite(audio).all()
    assert audio.shape[1] == pytest.approx((1.5 + 1.0) * SR, abs=2 * model.config.hop)


def test_transfer_keeps_f0_and_says_what_it_adapted(model):
    t = np.arange(int(0.8 * 22050)) / 22050
    tone = 0.3 * np.sin(2 * np.pi * 392 * t)
    stereo = np.stack([tone, tone]).astype(np.float32)
    clip, notes = model.transfer(Audio(stereo, 22050), pitch_shift=12)
    out = clip.samples
    assert any("resampled from 22050" in n for n in notes) and any("mono" in n for n in notes)
    # The oscillators play the input's f0 exactly, an octave up here: whatever the
    # (untrained) timbre, the energy lies on the harmonics of 784 Hz.
    middle = out[0, len(out[0]) // 4: 3 * len(out[0]) // 4]
    power = np.abs(np.fft.rfft(middle * np.hanning(len(middle)))) ** 2
    freqs = np.fft.rfftfreq(len(middle), 1 / SR)
    harmonic = np.abs(freqs / 784 - np.round(freqs / 784)) * 784 < 15
    assert power[harmonic & (freqs > 400)].sum() > 0.95 * power[freqs > 400].sum()


@pytest.mark.parametrize("audio, message", [
    (np.full((1, 8000), np.nan, np.float32), "NaN"),
    (np.zeros((1, 16000), np.float32), "silent"),
    (np.zeros((1, 100), np.float32), "too short"),
    (np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16000)).astype(np.float32), "no pitch"),
])
def test_bad_transfer_input_is_one_clear_error(model, audio, message):
    with pytest.raises(CadenzaError, match=message):
        model.transfer(Audio(audio, SR), pitch_method="yin")


def test_baseline_and_metrics(model, data):
    sine = harmonic_baseline(data.f0[0], data.loudness[0], SR, model.config.hop)
    assert sine.shape == data.audio[0].shape
    metrics = resynthesis_metrics(model, data, max_seconds=3.0)
    assert metrics["valid_seconds"] == pytest.approx(3.0, abs=0.1)
    assert metrics["f0_l1_semitones_of_input"] < 0.2  # the set's f0 is true
    assert np.isfinite(metrics["spectral_distance"]) and np.isfinite(metrics["loudness_l1_db"])


def test_save_load_renders_the_same(model, run):
    loaded = cadenza.load(run)
    score = melody([62, 65])
    assert loaded.render_score(score) == model.render_score(score)


def test_bad_config_and_data():
    with pytest.raises(CadenzaError):
        DDSP(sample_rate=16000, hop=96)  # not a divisor of the rate
    with pytest.raises(CadenzaError, match="empty"):
        DDSP(**DDSP.tiny_config).fit([])
    other = from_scores([melody([60])], 73, "x", sample_rate=22050)
    with pytest.raises(CadenzaError, match="22050"):
        DDSP(**DDSP.tiny_config).fit(other)


def test_cli_transfer_render_and_errors(run, tmp_path, capsys):
    t = np.arange(44100) / 44100
    write_audio(tmp_path / "in.wav", 0.3 * np.sin(2 * np.pi * 330 * t), 44100)
    main(["transfer", str(tmp_path / "in.wav"), "--model", str(run), "--out", str(tmp_path / "out.wav")])
    audio, rate = read_audio(tmp_path / "out.wav")
    assert rate == SR and audio.shape[1] == pytest.approx(SR, abs=128)
    assert "resampled" in capsys.readouterr().out
    from cadenza.music.io import write_midi

    write_midi(melody([60, 62]), tmp_path / "m.mid")
    main(["render", str(tmp_path / "m.mid"), str(tmp_path / "r.wav"), "--model", str(run)])
    assert read_audio(tmp_path / "r.wav")[1] == SR
    (tmp_path / "bad.xyz").write_text("nope")
    for argv, message in [
        (["transfer", str(tmp_path / "bad.xyz"), "--model", str(run), "--out", str(tmp_path / "o.wav")], "cannot read"),
        (["transfer", str(tmp_path / "in.wav"), "--model", str(tmp_path), "--out", str(tmp_path / "o.wav")],
         "not a Cadenza run"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_a_run_of_another_kind_is_refused(tmp_path, capsys, tiny_corpus):
    markov = cadenza.create("markov").fit(tiny_corpus[:3]).save(tmp_path / "markov")
    with pytest.raises(SystemExit) as exit_:
        main(["stream", "--model", str(markov), "--midi", "x.mid", "--out", str(tmp_path / "o.wav")])
    assert exit_.value.code == 2 and "audio instrument" in capsys.readouterr().err


REAL = Path("/usr/share/sonic-pi/samples/guit_harmonics.flac")  # Debian sonic-pi-samples, CC0


@pytest.mark.skipif(not REAL.is_file(), reason="apt-get install sonic-pi-samples for a real recording")
def test_transfer_of_a_real_recording(model):
    audio, rate = read_audio(REAL)
    clip, notes = model.transfer(Audio(audio[:, :rate], rate))  # its first second
    out = clip.samples
    assert any("resampled from 44100" in n for n in notes)
    assert out.shape[1] == pytest.approx(SR, abs=2 * model.config.hop) and np.isfinite(out).all()
    assert np.abs(out).max() > 1e-3


def test_how_it_was_trained_is_not_part_of_the_run(data, tmp_path):
    import json

    model = DDSP(**{**DDSP.tiny_config, "max_steps": 2})
    model.fit(data, trainer={"precision": "bf16-mixed", "max_minutes": 5, "workers": 0})
    record = json.loads((model.save(tmp_path / "run") / "cadenza.json").read_text())
    assert record["format_version"] == 2
    assert not {"accelerator", "devices", "num_nodes", "strategy", "precision", "max_minutes"} & set(record["config"])
    with pytest.raises(CadenzaError, match="trainer option"):
        model.fit(data, trainer={"gpus": 1})


def test_fits_on_audio_clips_and_on_a_folder(data, tmp_path):
    clips = [data.clip(i) for i in range(len(data))]
    assert all(isinstance(c, Audio) for c in clips)
    model = DDSP(**{**DDSP.tiny_config, "max_steps": 2}).fit(clips)
    assert model.data_spec_["clips"] == len(clips) and isinstance(model.generate(n=1)[0], Audio)
    for i, clip in enumerate(clips):
        clip.write(tmp_path / "folder" / f"take-{i}.wav")
    from_folder = DDSP(**{**DDSP.tiny_config, "max_steps": 2}).fit(str(tmp_path / "folder" / "take-0.wav"))
    assert from_folder.data_spec_["clips"] == 1
    with pytest.raises(CadenzaError, match="fits on audio"):
        DDSP(**DDSP.tiny_config).fit([np.zeros(100)])
