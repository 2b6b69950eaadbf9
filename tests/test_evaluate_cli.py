"""cadenza eval / compare / bench polyphonic, end to end, and bad input as one line + exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import symusic

from support import run_cli


def write_tunes(folder, n, seed, length=32):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        s = symusic.Score(480)
        s.tracks.append(symusic.Track("Melody", 0, False, [
            symusic.Note(j * 480, 480, int(p), 80) for j, p in enumerate(rng.integers(60, 72, length))]))
        (folder / f"tune{i:02d}.mid").write_bytes(s.dumps_midi())
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return write_tunes(root / "gen", 6, 0), write_tunes(root / "gen2", 4, 1), write_tunes(root / "ref", 24, 2)


def test_eval_writes_tables_json_and_plots(folders, tmp_path, capsys):
    gen, _, ref = folders
    code, out, err = run_cli(["eval", gen, "--reference", ref, "--json", tmp_path / "r.json",
                          "--plots", tmp_path / "plots"], capsys)
    assert code == 0, err
    assert "pitch_entropy" in out and "copy_rate_8" in out and "note_count" in out
    record = json.loads((tmp_path / "r.json").read_text())
    system = record["systems"]["gen"]
    assert system["pieces"] == 6 and len(system["per_piece"]) == 6
    assert 0 <= system["mean_oa"] <= 1
    assert (tmp_path / "plots" / "metrics.png").is_file()
    assert (tmp_path / "plots" / "distance-pitch_class_histogram.png").is_file()


def test_compare_lays_systems_side_by_side(folders, tmp_path, capsys):
    gen, gen2, ref = folders
    code, out, err = run_cli(["compare", gen, gen2, "--reference", ref, "--json", tmp_path / "c.json"], capsys)
    assert code == 0, err
    assert "gen2" in out
    assert set(json.loads((tmp_path / "c.json").read_text())["systems"]) == {"gen", "gen2"}


def test_bench_polyphonic_baseline(jsb_path, capsys):
    code, out, err = run_cli(["bench", "polyphonic", "markov-pitch", "--data", jsb_path], capsys)
    assert code == 0, err
    assert "10.49" in out and "8.10" in out
    # The strongest published numbers too, each marked exact, bound or estimate.
    assert "5.56" in out and "4.74" in out and "3.99" in out
    assert "bound" in out and "estimate" in out and "NLL all" in out


@pytest.mark.parametrize("make_input", ["missing", "empty", "text", "corrupt"])
def test_bad_generated_input_is_one_line(folders, tmp_path, capsys, make_input):
    _, _, ref = folders
    target = tmp_path / "x"
    if make_input == "empty":
        target.mkdir()
    elif make_input == "text":
        target = tmp_path / "notes.txt"
        target.write_text("hello")
    elif make_input == "corrupt":
        target.mkdir()
        (target / "bad.mid").write_bytes(b"garbage")
    code, out, err = run_cli(["eval", target, "--reference", ref], capsys)
    assert code == 2 and err.count("\n") == 1 and "error:" in err


def test_bench_bad_inputs(tmp_path, capsys):
    code, _, err = run_cli(["bench", "polyphonic", "bernoulli", "--data", tmp_path / "none.mat"], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(["bench", "polyphonic", "nope", "--data", tmp_path / "none.mat"], capsys)
    assert code == 2 and err.count("\n") == 1


# --- audio -----------------------------------------------------------------------------------------

def write_notes(folder, n, seed, kind="tone"):
    from cadenza.audio.io import Audio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / 16000
    for i in range(n):
        if kind == "tone":
            x = sum(0.3 / k * np.sin(2 * np.pi * 220 * 2 ** (rng.integers(0, 12) / 12) * k * t) for k in (1, 2, 3))
        else:
            x = 0.2 * rng.standard_normal(len(t))
        Audio(x.astype(np.float32), 16000).write(folder / f"note{i:02d}.wav")
    return folder


@pytest.fixture(scope="module")
def audio_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    return write_notes(root / "gen", 6, 0), write_notes(root / "ref", 30, 1)


def test_eval_audio_against_an_audio_folder(audio_folders, tmp_path, capsys):
    gen, ref = audio_folders
    code, out, err = run_cli(["eval", gen, "--reference", ref, "--json", tmp_path / "a.json"], capsys)
    assert code == 0, err
    assert "Fréchet CREPE" in out and "NDB/K" in out and "test (real)" in out
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["generated"]["clips"] == 6 and record["generated"]["label"] == "gen"
    assert record["real_vs_real"]["clips"] >= 2 and record["reference"]["train_clips"] >= 20
    assert record["generated"]["frechet_logmel"] >= 0 and 0 <= record["generated"]["ndb_over_k"] <= 1


@pytest.mark.parametrize("case", ["empty", "unreadable", "midi-vs-audio", "audio-vs-corpus", "mixed"])
def test_bad_audio_input_is_one_line(audio_folders, folders, tmp_path, capsys, case):
    gen, ref = audio_folders
    target, reference = tmp_path / "x", str(ref)
    target.mkdir()
    if case == "unreadable":
        (target / "bad.wav").write_bytes(b"RIFF garbage")
    elif case == "midi-vs-audio":
        target = folders[0]
    elif case == "audio-vs-corpus":
        target, reference = gen, str(folders[2])
    elif case == "mixed":
        write_notes(target, 1, 0)
        (target / "x.mid").write_bytes((folders[0] / "tune00.mid").read_bytes())
    code, out, err = run_cli(["eval", target, "--reference", reference], capsys)
    assert code == 2 and err.count("\n") == 1 and "error:" in err, err
