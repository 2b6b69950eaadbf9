"""Declared abilities drive the interfaces: a toy audio model registered here, outside the
package, appears with its controls in `cadenza models`, `generate --help`, `transfer`,
`stream` and the studio, with no edit to either; and old runs migrate."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import symusic

import cadenza
from cadenza.audio.io import Audio
from cadenza.config import option
from cadenza.models.abilities import Codec, LatentSpace, Streaming, Transfer, abilities
from cadenza.models.base import Generator, Sampling
from cadenza.realtime.controls import NoteTracker
from cadenza.testing import CHECKS, contract_data, registered
from support import run_cli

RATE, HOP = 8000, 80


@dataclass
class ToyConfig:
    level: float = option(0.5, "Peak level of the tone.")


@dataclass
class ToySampling(Sampling):
    pitch: int = option(69, "MIDI pitch of the tone.")


@dataclass
class ToyTransferOptions:
    gain: float = option(1.0, "Gain applied to the input.")


class ToneStream:
    """Control frames (f0 Hz, loudness dB) -> a sine, phase carried across blocks."""

    def __init__(self, level: float):
        self.sample_rate, self.channels, self.level = RATE, 1, level

    def init_state(self):
        self.phase = 0.0

    def step(self, block):
        block = np.asarray(block, np.float32).reshape(-1, 2)
        f0 = np.repeat(block[:, 0], HOP).astype(np.float64)
        phase = self.phase + 2 * np.pi * np.cumsum(f0) / RATE
        self.phase = float(phase[-1] % (2 * np.pi)) if len(phase) else self.phase
        return (self.level * np.sin(phase))[None].astype(np.float32)


class ToyTone(Generator, Streaming, Transfer, Codec, LatentSpace):
    """A sine-tone instrument: the smallest model with every audio ability."""

    name = "toytone"
    domain = "audio"
    needs_fit = False
    learns_from_data = False
    controls = ("pitch", "midi", "audio", "tokens", "latent")
    Config = ToyConfig
    Sampling = ToySampling
    TransferOptions = ToyTransferOptions
    deterministic = True

    hop = HOP
    sample_rate = RATE
    codebook_size = 256
    frame_rate = RATE / HOP
    latent_size = 1

    def stream(self, seed=0):
        return ToneStream(self.config.level)

    def tracker(self):
        return NoteTracker(RATE, HOP)

    def transfer(self, audio, seed=0, **options):
        o = self.transfer_options(options)
        return Audio(audio.mono().resample(RATE).samples * o.gain, RATE), ["toy"]

    def encode(self, audio, bitrate=None):
        x = audio.mono().resample(RATE).samples[0]
        frames = x[: len(x) // HOP * HOP].reshape(-1, HOP).mean(1)
        return np.clip(np.round((frames + 1) * 127.5), 0, 255).astype(np.int64)[None]

    def decode(self, tokens):
        return Audio(np.repeat(tokens[0] / 127.5 - 1, HOP)[None].astype(np.float32), RATE)

    def _generate_one(self, rng, options):
        frames = np.tile([[440.0 * 2 ** ((options.pitch - 69) / 12), -20.0]], (options.length or 50, 1))
        stream = self.stream()
        stream.init_state()
        return Audio(stream.step(frames), RATE)


@pytest.fixture
def toy():
    with registered(ToyTone):
        yield ToyTone


def _tone_file(path, seconds=0.5):
    t = np.arange(int(seconds * 16000)) / 16000
    Audio((0.3 * np.sin(2 * np.pi * 330 * t))[None], 16000).write(path)
    return path


def _score_file(path):
    from cadenza.music.io import write_midi

    score = symusic.Score(480)
    track = symusic.Track()
    track.notes.extend([symusic.Note(0, 480, 60, 100), symusic.Note(480, 480, 67, 100)])
    score.tracks.append(track)
    return write_midi(score, path)


def test_abilities_are_declared_by_inheritance():
    assert abilities(ToyTone) == ["streaming", "transfer", "codec", "latent"]
    ddsp = cadenza.available()["ddsp"]
    assert issubclass(ddsp, Streaming) and issubclass(ddsp, Transfer) and not issubclass(ddsp, Codec)
    assert abilities(cadenza.available()["markov"]) == []


def test_the_toy_passes_the_contract(toy, tiny_corpus):
    data = contract_data(list(tiny_corpus[:2]), seconds=2.0)
    for check in CHECKS:
        check(toy, data)


def test_cli_lists_the_toy_with_its_controls(toy, capsys):
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0 and "toytone" in out and "streaming" in out
    code, out, _ = run_cli(["generate", "toytone", "--help"], capsys)
    assert code == 0 and "--pitch" in out and "Controls: pitch" in out


def test_cli_generates_transfers_and_streams_with_the_toy(toy, tmp_path, capsys):
    code, out, err = run_cli(["generate", "toytone", "--out", tmp_path / "gen", "--pitch", "60", "-n", "2"], capsys)
    assert code == 0, err
    clip = Audio.read(tmp_path / "gen" / "toytone-s0-01.wav")
    spectrum = np.abs(np.fft.rfft(clip.samples[0]))
    assert np.fft.rfftfreq(len(clip), 1 / RATE)[spectrum.argmax()] == pytest.approx(261.6, abs=RATE / len(clip))

    run = toy().save(tmp_path / "run")
    code, out, _ = run_cli(["transfer", "--model", run, "--help"], capsys)
    assert code == 0 and "--gain" in out
    source = _tone_file(tmp_path / "in.wav")
    code, out, err = run_cli(["transfer", source, "--model", run, "--out", tmp_path / "t.wav", "--gain", "0.5"],
                             capsys)
    assert code == 0, err
    expected = Audio.read(source).resample(RATE).samples * 0.5
    assert np.allclose(Audio.read(tmp_path / "t.wav").samples, expected, atol=1e-4)

    midi = _score_file(tmp_path / "m.mid")
    code, out, err = run_cli(["stream", "--model", run, "--midi", midi, "--block", "160", "--out",
                              tmp_path / "s.wav"], capsys)
    assert code == 0, err
    streamed = Audio.read(tmp_path / "s.wav")
    offline = toy().render_score(symusic.Score.from_file(str(midi)))
    assert np.allclose(streamed.samples, offline.samples, atol=1e-4)


def test_transfer_refuses_a_model_that_cannot(tmp_path, capsys, tiny_corpus):
    run = cadenza.create("markov").fit(tiny_corpus[:3]).save(tmp_path / "markov")
    code, _, err = run_cli(["transfer", _tone_file(tmp_path / "in.wav"), "--model", run, "--out",
                            tmp_path / "o.wav"], capsys)
    assert code == 2 and "transfer needs a model that transforms audio" in err


def test_the_studio_finds_the_toy_and_its_runs(toy, tmp_path):
    pytest.importorskip("gradio")
    from cadenza.studio.service import Studio

    toy().save(tmp_path / "runs" / "tone")
    studio = Studio(runs=tmp_path / "runs", references={}, session_root=tmp_path / "sessions", corpora={})
    assert "model:toytone" in [value for _, value in studio.sources()]
    assert studio.timbre_runs() == ["tone"]
    take = studio.generate(None, "model:toytone", {}, {"pitch": 72}, 1, 0)
    assert Audio.read(take["wavs"][0]).sample_rate == RATE
    upload = _tone_file(tmp_path / "in.wav")
    path, notes = studio.transfer(None, "tone", str(upload), {"gain": 2.0, "pitch_shift": 3})
    assert notes == ["toy"] and np.abs(Audio.read(path).samples).max() == pytest.approx(0.6, abs=0.02)


def test_a_format_1_run_migrates(tmp_path, tiny_corpus):
    run = cadenza.create("markov").fit(tiny_corpus[:3]).save(tmp_path / "run")
    record = json.loads((run / "cadenza.json").read_text())
    assert record["format_version"] == 2
    record["format_version"] = 1
    record["config"].update(accelerator="gpu", devices="2", precision="bf16-mixed")  # trained on a GPU, once
    (run / "cadenza.json").write_text(json.dumps(record))
    loaded = cadenza.load(run)
    assert loaded.generate(n=1, seed=0)[0].dumps_midi() == cadenza.load(run).generate(n=1, seed=0)[0].dumps_midi()
    record["format_version"] = 99
    (run / "cadenza.json").write_text(json.dumps(record))
    with pytest.raises(cadenza.CadenzaError, match="run format 99"):
        cadenza.load(run)


def test_shipped_ddsp_run_loads_without_training_options():
    model = cadenza.load("pretrained/ddsp-violin")
    assert not {"accelerator", "devices", "precision", "max_minutes"} & set(vars(model.config))
