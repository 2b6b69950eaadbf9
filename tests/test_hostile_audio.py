"""Hostile and careless input to the audio paths and the studio: a decompression bomb, a
file that is not audio, empty audio, unknown options, presets and models, caps on what one
click makes; and long audio through transfer in bounded memory, blocks equal to a whole
render, on one torch thread.

Each bad input is tried through the command line (exit 2, one line on stderr, nothing
written) and through the studio's service (one line for the page, never a stack)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
import soundfile

import cadenza
from cadenza.audio import features
from cadenza.audio.io import Audio
from cadenza.data.audio_sets import from_scores
from cadenza.errors import CadenzaError
from cadenza.models.audio.ddsp import DDSP
from support import melody, run_cli

SR = 16000
BOMB_MINUTES = 30


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """30 minutes of stereo silence in a FLAC of a few hundred KB (115 MB once decoded)."""
    path = tmp_path_factory.mktemp("bomb") / "silence.flac"
    rate = 8000
    with soundfile.SoundFile(str(path), "w", rate, 2, format="FLAC") as f:
        minute = np.zeros((60 * rate, 2), np.float32)
        for _ in range(BOMB_MINUTES):
            f.write(minute)
    assert path.stat().st_size < 1_000_000
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, bomb):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "words.wav").write_bytes(b"this is not a recording\n" * 40)
    soundfile.write(str(folder / "empty.wav"), np.zeros((0, 1), np.float32), SR)
    return {"bomb": (bomb, f"over the {20 * 60:g} s limit"), "not audio": (folder / "words.wav", "cannot read audio"),
            "empty": (folder / "empty.wav", "empty (no audio samples)")}


@pytest.fixture(scope="module")
def model():
    data = from_scores([melody([67, 69, 71, 72, 74, 72, 71, 69]), melody([72, 76, 79, 76], 2)], 73, "tiny")
    return DDSP(**{**DDSP.tiny_config, "max_steps": 2}).fit(data)


@pytest.fixture(scope="module")
def runs(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    model.save(folder / "violin")
    cadenza.create("markov", order=2).fit([melody([60, 62, 64, 65, 67, 65, 64, 62] * 2)] * 3).save(folder / "tunes")
    return folder


@pytest.fixture
def studio(runs, tmp_path):
    pytest.importorskip("gradio")
    from cadenza.studio.service import Studio

    scores = tmp_path / "scores"
    scores.mkdir()
    from cadenza.music.io import write_midi

    for i in range(4):
        write_midi(melody([60 + i, 62, 64, 65, 67]), scores / f"tune{i}.mid")
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for i in range(2):
        Audio(0.3 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR)[None], SR).write(recordings / f"take{i}.wav")
    return Studio(runs=runs, references={}, session_root=tmp_path / "sessions",
                  corpora={"scores": str(scores), "violin": "violin", "recordings": str(recordings)})


def one_line_for_the_page(exc: BaseException) -> str:
    from cadenza.studio.session import message

    text = message(exc)
    assert text.startswith("**Error:**") and "something went wrong" not in text
    assert "\n" not in text and "Traceback" not in text
    return text


def tone(seconds: float, rate: int = SR) -> Audio:
    """A 330 Hz tone with a slow vibrato and a swell: pitch and loudness that move."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 330 * 2 ** (0.3 * np.sin(2 * np.pi * 0.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    return Audio((0.3 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t)) * np.sin(phase))[None].astype(np.float32), rate)


# --- audio files ------------------------------------------------------------------------------------------

def test_a_decompression_bomb_is_refused_from_its_header(bomb):
    tracemalloc.start()
    try:
        with pytest.raises(CadenzaError) as error:
            Audio.read(bomb, max_seconds=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(error.value) == f"{bomb}: {BOMB_MINUTES * 60:.1f} s is over the 60 s limit"
    assert peak < 2_000_000  # decoding it would hold 115 MB
    assert Audio.read(bomb, max_seconds=BOMB_MINUTES * 60).seconds == BOMB_MINUTES * 60  # at the limit: read


@pytest.mark.parametrize("case", ["bomb", "not audio", "empty"])
def test_bad_audio_through_the_cli_is_one_line_and_writes_nothing(case, bad_files, runs, tmp_path, capsys):
    path, expected = bad_files[case]
    out = tmp_path / "out" / "transferred.wav"
    tracemalloc.start()
    try:
        code, _, err = run_cli(["transfer", path, "--model", runs / "violin", "--out", out], capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))
    assert peak < 20_000_000  # the model's weights, not the bomb's 115 MB


def test_the_cli_cap_on_recordings_can_be_raised(runs, tmp_path, capsys):
    path = tmp_path / "long.wav"
    tone(3).write(path)
    code, _, err = run_cli(["transfer", path, "--model", runs / "violin", "--out", tmp_path / "o.wav",
                            "--max-minutes", "0.02"], capsys)
    assert code == 2 and "over the 1.2 s limit" in err
    code, _, err = run_cli(["transfer", path, "--model", runs / "violin", "--out", tmp_path / "o.wav",
                            "--max-minutes", "0.1", "--pitch-method", "yin", "--no-progress"], capsys)
    assert code == 0, err
    assert Audio.read(tmp_path / "o.wav").seconds == pytest.approx(3, abs=0.01)


@pytest.mark.parametrize("case", ["bomb", "not audio", "empty"])
def test_bad_audio_through_the_studio_is_one_line(case, bad_files, studio):
    path, expected = bad_files[case]
    expected = expected.replace(f"{20 * 60:g} s", "60 s")  # the studio's own cap
    tracemalloc.start()
    try:
        with pytest.raises(CadenzaError) as error:
            studio.transfer("s1", "violin", str(path), {"pitch_shift": 0.0})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = one_line_for_the_page(error.value)
    assert text.startswith("**Error:** recording: ") and expected in text
    assert peak < 20_000_000


def test_studio_transfer_refuses_an_option_the_model_does_not_take(studio, tmp_path):
    tone(1).write(tmp_path / "in.wav")
    with pytest.raises(CadenzaError, match="unknown ddsp transfer option 'pitch_shfit'"):
        studio.transfer("s1", "violin", str(tmp_path / "in.wav"), {"pitch_shfit": 3})
    path, notes = studio.transfer("s1", "violin", str(tmp_path / "in.wav"), {"pitch_shift": 2.0,
                                                                             "pitch_method": "yin"})
    assert Audio.read(path).seconds == pytest.approx(1, abs=0.01) and notes


# --- the studio's requests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("source, config, sampling, n, seed, expected", [
    ("run:tunes", {"bogus": 1}, {}, 1, 0, "unknown markov option 'bogus' (options of a trained run: "),
    ("run:tunes", {"order": 5}, {}, 1, 0, "order: a trained run keeps the settings it was trained with"),
    ("run:tunes", {}, {"bogus": 1}, 1, 0, "unknown markov sampling option 'bogus'"),
    ("run:tunes", {}, {"length": 10**7}, 1, 0, "length: at most 4096 in the studio"),
    ("model:automaton", {"steps": 50_000}, {}, 1, 0, "steps: at most 4096 in the studio"),
    ("model:lsystem", {"max_symbols": 5_000_000}, {}, 1, 0, "max_symbols: at most 200000"),
    ("run:tunes", {}, {}, 1000, 0, "pieces: choose a whole number from 1 to 8"),
    ("run:tunes", {}, {}, 1, -1, "seed: choose a whole number from 0 to"),
    ("run:tunes", {}, {}, "many", 0, "pieces: a whole number, got 'many'"),
    ("run:violin", {}, {"length": 10**9}, 1, 0, "length: at most 960000 in the studio"),
])
def test_studio_generate_refuses_unknown_options_and_oversized_requests(studio, source, config, sampling, n, seed,
                                                                       expected):
    with pytest.raises(CadenzaError) as error:
        studio.generate("s1", source, config, sampling, n, seed)
    assert expected in one_line_for_the_page(error.value)


def test_studio_caps_the_score_an_audio_model_plays(studio, tmp_path):
    import symusic

    from cadenza.music.io import write_midi

    score = melody([60, 62])
    score.tracks[0].notes.append(symusic.Note(480 * 2, 480 * 4000, 64, 90))  # a note held for 4000 beats
    write_midi(score, tmp_path / "long.mid")
    with pytest.raises(CadenzaError, match="midi: the score lasts 33.4 min; the studio plays up to 5 min"):
        studio.generate("s1", "run:violin", {}, {"midi": str(tmp_path / "long.mid")}, 1, 0)
    write_midi(melody([60, 62]), tmp_path / "short.mid")
    take = studio.generate("s1", "run:violin", {}, {"midi": str(tmp_path / "short.mid")}, 1, 0)
    assert Audio.read(take["wavs"][0]).sample_rate == SR


def test_studio_training_refuses_unknown_models_and_presets(studio):
    for call, expected in [
        (lambda: studio.train_config("nosuch", None, {}), "unknown model 'nosuch' (models that train: "),
        (lambda: studio.train_config("lsystem", None, {}), "lsystem does not train on a corpus"),
        (lambda: studio.train_config("ddsp", "turbo", {}), "unknown preset 'turbo' for ddsp (choose from laptop, gpu)"),
        (lambda: studio.start_training("nosuch", "scores", "x", {}), "unknown model 'nosuch'"),
    ]:
        with pytest.raises(CadenzaError) as error:
            call()
        assert expected in one_line_for_the_page(error.value)
    assert studio.train_config("ddsp", "laptop", {"hidden": 8})["hidden"] == 8


def test_a_symbolic_model_on_audio_leaves_no_run_folder(studio):
    with pytest.raises(CadenzaError) as error:
        studio.start_training("markov", "violin", "markov-violin", {})
    assert "markov learns from scores and 'violin' is an audio set: choose a score corpus (scores, recordings)" \
        in one_line_for_the_page(error.value)
    assert not (studio.runs / "markov-violin").exists()
    # a folder is only known for audio once it is read: the job fails, and leaves nothing behind
    job = studio.start_training("markov", "recordings", "markov-recordings", {})
    job.thread.join(120)
    assert isinstance(job.error, CadenzaError), job.error
    one_line_for_the_page(job.error)
    assert not (studio.runs / "markov-recordings").exists()


# --- long audio: blocks, bounded memory, one thread ----------------------------------------------------------

def test_chunked_transfer_equals_one_whole_pass(model, monkeypatch):
    clip = tone(2.5, 22050)
    whole = DDSP.render_block_frames
    monkeypatch.setattr(features, "FRAMES_A_BATCH", 10**9)
    monkeypatch.setattr(model, "render_block_frames", 10**9)
    one_pass, notes = model.transfer(clip, pitch_method="yin")
    monkeypatch.setattr(features, "FRAMES_A_BATCH", 7)
    monkeypatch.setattr(model, "render_block_frames", 13)
    chunked, again = model.transfer(clip, pitch_method="yin")
    assert notes == again and chunked.samples.shape == one_pass.samples.shape
    assert np.abs(one_pass.samples).max() > 1e-3
    assert np.abs(chunked.samples - one_pass.samples).max() < 1e-4
    assert whole == 4096  # the default: a block of about 16 s at 16 kHz


def test_long_transfer_runs_in_bounded_memory(runs, tmp_path):
    """In a fresh process: peak memory (all of it, numpy and torch) after a 30 s transfer, then
    after a 2 min one. Whole-file analysis and rendering grew by 650 MB here; in batches and
    blocks, by about 35 MB (the input, the output and a few copies of them)."""
    script = textwrap.dedent(f"""
        import json, resource
        import numpy as np
        import cadenza
        from cadenza.audio.io import Audio

        def tone(seconds):
            t = np.arange(int(seconds * {SR})) / {SR}
            return Audio((0.3 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32), {SR})

        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        model = cadenza.load({str(runs / "violin")!r})
        short, long = tone(30), tone(120)
        model.transfer(short, pitch_method="yin", progress=False)
        short = peak_mb()
        model.transfer(long, pitch_method="yin", progress=False)
        print(json.dumps({{"short": short, "long": peak_mb()}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    copy = 120 * SR * 4 / 2**20  # MB: 2 min of 16 kHz float32 audio
    assert peaks["long"] - peaks["short"] < 10 * copy, peaks


def test_audio_paths_run_on_one_torch_thread(model, monkeypatch):
    import torch

    from cadenza.models.audio import ddsp

    seen = []
    original_pitch, original_step = ddsp.pitch, ddsp.DDSPStream.step

    def pitch(*args, **kwargs):
        seen.append(("pitch", torch.get_num_threads()))
        return original_pitch(*args, **kwargs)

    def step(self, block):
        seen.append(("step", torch.get_num_threads()))
        return original_step(self, block)

    monkeypatch.setattr(ddsp, "pitch", pitch)
    monkeypatch.setattr(ddsp.DDSPStream, "step", step)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model.transfer(tone(0.5), pitch_method="yin")
        model.render_score(melody([60, 64]))
        model.generate(n=2, seed=0, length=100)
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)
    assert {kind for kind, _ in seen} == {"pitch", "step"} and {threads for _, threads in seen} == {1}
