"""The command line: every command end to end, and bad input as one line + exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import symusic

from support import run_cli


@pytest.fixture(scope="module")
def melody_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "tune.mid"
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    score.tracks.append(symusic.Track("Melody", 0, False,
                                      [symusic.Note(i * 480, 480, 60 + i, 90) for i in range(8)]))
    path.write_bytes(score.dumps_midi())
    return path


def test_help_lists_commands_and_defaults(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for command in ("corpus", "train", "generate", "render", "plot", "demo", "models"):
        assert command in out
    code, out, _ = run_cli(["train", "markov", "--help"], capsys)
    assert code == 0 and "--max-length" in out and "default: 256" in out and "--data" in out
    code, out, _ = run_cli(["generate", "markov", "--help"], capsys)
    assert code == 0 and "--temperature" in out and "--length" in out and "INTEGER" in out


def test_train_generate_same_seed_same_files(tmp_path, capsys, bach):
    code, out, err = run_cli(["train", "markov", "--data", "bach", "--out", tmp_path / "run",
                          "--part", "Soprano"], capsys)
    assert code == 0, err
    assert "valid_bits_per_event" in out
    for name in ("a", "b"):
        code, _, err = run_cli(["generate", tmp_path / "run", "--out", tmp_path / name, "-n", "3",
                            "--seed", "5", "--length", "24", "--formats", "mid,png"], capsys)
        assert code == 0, err
    a = sorted((tmp_path / "a").glob("*.mid"))
    b = sorted((tmp_path / "b").glob("*.mid"))
    assert len(a) == 3 and [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert len(list((tmp_path / "a").glob("*.png"))) == 3


def test_render_and_plot(tmp_path, capsys, melody_file):
    code, out, err = run_cli(["render", melody_file, tmp_path / "x.wav", "--sample-rate", "16000"], capsys)
    assert code == 0, err
    assert (tmp_path / "x.wav").read_bytes()[:4] == b"RIFF" and "real time" in out
    code, _, err = run_cli(["plot", melody_file, "--out", tmp_path / "x.png"], capsys)
    assert code == 0, err
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_corpus_commands(capsys, bach):
    code, out, _ = run_cli(["corpus", "list"], capsys)
    assert code == 0 and "essen" in out and "non-commercial" in out
    code, out, _ = run_cli(["corpus", "info", "bach"], capsys)
    assert code == 0 and "350" in out


def _bad_inputs(tmp: Path, melody_file: Path):
    (tmp / "empty.mid").write_bytes(b"")
    (tmp / "random.mid").write_bytes(os.urandom(500))
    (tmp / "trunc.mid").write_bytes(melody_file.read_bytes()[:40])
    (tmp / "song.xyz").write_bytes(b"x")
    (tmp / "emptydir").mkdir()
    return [
        (["render", tmp / "missing.mid", tmp / "o.wav"], "no such file"),
        (["render", tmp / "empty.mid", tmp / "o.wav"], "empty file"),
        (["plot", tmp / "random.mid", "--out", tmp / "o.png"], "not a MIDI file"),
        (["plot", tmp / "trunc.mid", "--out", tmp / "o.png"], "corrupt or truncated"),
        (["render", tmp / "song.xyz", tmp / "o.wav"], "unknown file type"),
        (["render", melody_file, tmp / "o.mp4"], "cannot write"),
        (["train", "markov", "--data", "nosuch", "--out", tmp / "r"], "unknown corpus 'nosuch'"),
        (["train", "nosuch", "--data", "bach", "--out", tmp / "r"], "unknown trainable model 'nosuch'"),
        (["generate", "nosuch", "--out", tmp / "g"], "unknown model or run directory 'nosuch'"),
        (["generate", tmp / "emptydir", "--out", tmp / "g"], "not a Cadenza run"),
        (["train", "markov", "--data", tmp / "emptydir", "--out", tmp / "r"], "no score files"),
        (["corpus", "info", "nosuch"], "unknown corpus"),
        (["train", "markov", "--data", "bach", "--out", tmp / "r", "--order", "0"], "order"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, melody_file, bach):
    for args, message in _bad_inputs(tmp_path, melody_file):
        code, _, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err


def test_entry_point_never_shows_a_traceback(tmp_path, melody_file):
    (tmp_path / "random.mid").write_bytes(os.urandom(200))
    cadenza = Path(sys.executable).parent / "cadenza"
    result = subprocess.run([str(cadenza), "plot", str(tmp_path / "random.mid"), "--out", str(tmp_path / "x.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "not a MIDI file" in result.stderr
    result = subprocess.run([str(cadenza), "generate", "markov", "--out", str(tmp_path / "g")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "not trained yet" in result.stderr


def test_generate_writes_a_report_for_a_model_that_reports(tmp_path, capsys):
    code, _, err = run_cli(["generate", "genetic", "--out", tmp_path, "--generations", "3", "--population", "8"],
                           capsys)
    assert code == 0, err
    assert (tmp_path / "genetic-s0-report.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "genetic-s0-01.mid").is_file()
