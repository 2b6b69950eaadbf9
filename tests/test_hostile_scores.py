"""Hostile and careless score files: parsing isolated, scores that parse but break later,
damaged caches. Every bad file is made here, from a good one, never shipped."""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import symusic

import cadenza.music.plot as plot
import cadenza.music.render as render
from cadenza.data import audio_sets, corpora
from cadenza.errors import CadenzaError
from cadenza.music.io import check_midi_chunks, midi_from_bytes, read_score
from cadenza.music.plot import plot_piano_roll
from cadenza.music.render import render as render_score
from support import run_cli


def _score(notes, tpq: int = 480, time_signature=None) -> symusic.Score:
    score = symusic.Score(tpq)
    score.tracks.append(symusic.Track("Melody", 0, False, [symusic.Note(*n) for n in notes]))
    if time_signature:
        score.time_signatures.append(symusic.TimeSignature(0, *time_signature))
    return score


def _scale_midi(notes: int = 64) -> bytes:
    """A good MIDI file: a rising line with a tempo, a time signature and a controller."""
    score = _score([(i * 240, 240, 60 + i % 12, 90) for i in range(notes)], time_signature=(3, 4))
    score.tempos.append(symusic.Tempo(0, 100.0))
    score.tracks[0].controls.append(symusic.ControlChange(0, 7, 100))
    return score.dumps_midi()


def _one_error_line(code: int, err: str) -> None:
    """The CLI's contract for bad input: exit 2, one line on stderr, no traceback."""
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of this test's own, so that damaging it touches nothing else."""
    root = tmp_path / "cache"
    monkeypatch.setenv("CADENZA_CACHE", str(root))
    return root


# --- truncated MIDI: refused before symusic reads past the end of the buffer ------------------

def test_every_cut_of_a_midi_file_is_refused_with_one_clear_error():
    # symusic believes the chunk lengths: cut at 44 bytes it read ~268 MB past the buffer and
    # died of SIGSEGV in about one run in three; other cuts "parsed" into garbage notes
    data = _scale_midi()
    for cut in range(len(data)):
        with pytest.raises(CadenzaError) as info:
            midi_from_bytes(data[:cut], "cut.mid")
        text = str(info.value)
        assert text.startswith("cut.mid: ") and "\n" not in text
        assert ("truncated" in text or "not a MIDI file" in text), text
    assert midi_from_bytes(data, "whole.mid").note_num() == 64


def test_a_header_that_declares_more_tracks_than_the_file_holds_is_refused():
    data = bytearray(_scale_midi())
    data[10:12] = struct.pack(">H", 3)  # one MTrk chunk, three declared
    with pytest.raises(CadenzaError, match="ends before track 2 of the 3"):
        check_midi_chunks(bytes(data), "x.mid")
    data[10:12] = struct.pack(">H", 1)
    data[4:8] = struct.pack(">I", 7)  # a header that is not 6 bytes long
    with pytest.raises(CadenzaError, match="header of 7 bytes"):
        check_midi_chunks(bytes(data), "x.mid")


def test_bytes_after_the_last_track_are_ignored_as_symusic_ignores_them():
    data = _scale_midi() + b"\x00" * 5  # some writers pad their files
    check_midi_chunks(data)
    assert midi_from_bytes(data).note_num() == 64


@pytest.fixture
def truncated_folder(tmp_path):
    """A folder of one good MIDI file and the same file cut short at several points."""
    data = _scale_midi(400)
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "whole.mid").write_bytes(data)
    cuts = (10, 16, 30, 44, 200, len(data) // 2, len(data) - 3)
    for cut in cuts:
        (folder / f"cut{cut}.mid").write_bytes(data[:cut])
    return folder, [f"cut{cut}.mid" for cut in cuts]


def test_truncated_files_in_a_folder_are_listed_and_the_rest_loads(truncated_folder, cache, capsys):
    folder, bad = truncated_folder
    loaded = corpora.corpus(folder, progress=False)
    assert loaded.ids == ["whole"]
    assert sorted(os.path.basename(e["path"]) for e in loaded.errors) == sorted(bad)
    assert all("truncated" in e["error"] for e in loaded.errors)
    code, out, err = run_cli(["corpus", "info", folder], capsys)
    assert code == 0 and err == "" and "Traceback" not in out
    assert f"{len(bad)} unreadable pieces skipped" in out
    assert all(name in out for name in bad)


def test_corpus_info_on_truncated_files_never_dies_of_a_signal(truncated_folder, cache):
    # The tester's case: before, `cadenza corpus info DIR` ended in SIGSEGV (exit 139) now and then.
    folder, bad = truncated_folder
    command = [sys.executable, "-c", "from cadenza.cli import main; main()", "corpus", "info", str(folder)]
    for _ in range(3):  # the crash was a matter of memory layout: try more than once
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "CADENZA_CACHE": str(cache)})
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and all(name in result.stdout for name in bad)


# --- a parser crash costs only its file ------------------------------------------------------------

_REAL_PARSE = corpora.parse_task


def _segfault_on_crash_files(task):
    """Stands in for symusic dying in C++: a worker that parses a ``crash*`` file kills itself."""
    if os.path.basename(task.path).startswith("crash"):
        faulthandler.disable()  # pytest's crash report would be noise: a user's run has none
        os.kill(os.getpid(), signal.SIGSEGV)
    return _REAL_PARSE(task)


needs_fork = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                                reason="the stand-in parser reaches the workers by fork")


@needs_fork
@pytest.mark.parametrize("workers,files,crashing", [
    (2, 40, (3, 17, 18, 39)),  # a worker dies mid-pool, twice in a row, and on the last task
    (1, 3, (0,)),  # a few files with one worker: parsed in a worker too, not in this process
])
def test_a_file_that_crashes_its_worker_is_listed_and_the_rest_loads(tmp_path, cache, monkeypatch,
                                                                     workers, files, crashing):
    monkeypatch.setattr(corpora, "parse_task", _segfault_on_crash_files)
    data = _scale_midi()
    names = [f"crash{i:02d}.mid" if i in crashing else f"ok{i:02d}.mid" for i in range(files)]
    for name in names:
        (tmp_path / name).write_bytes(data)
    loaded = corpora.corpus(tmp_path, progress=False, workers=workers)
    assert loaded.ids == [n[:-4] for n in names if n.startswith("ok")]
    crashed = sorted(os.path.basename(e["path"]) for e in loaded.errors)
    assert crashed == [n for n in names if n.startswith("crash")]
    assert all("killed by SIGSEGV" in e["error"] for e in loaded.errors)


@needs_fork
def test_the_cli_lists_a_crashing_file_like_any_unreadable_one(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setattr(corpora, "parse_task", _segfault_on_crash_files)
    data = _scale_midi()
    for name in ("a.mid", "crash.mid", "b.mid"):
        (tmp_path / name).write_bytes(data)
    code, out, err = run_cli(["corpus", "info", tmp_path], capsys)
    assert code == 0 and err == ""
    assert "1 unreadable pieces skipped" in out and "crash.mid: the parser crashed on this file" in out


@needs_fork
def test_parse_alone_reports_how_its_process_died(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "parse_task", _segfault_on_crash_files)
    for name in ("crash.mid", "fine.mid"):
        (tmp_path / name).write_bytes(_scale_midi())
    crashed = corpora.parse_alone(corpora.Task("crash", str(tmp_path / "crash.mid")))
    assert crashed == ("crash", "", None, "the parser crashed on this file: its process was killed by SIGSEGV")
    fine = corpora.Task("fine", str(tmp_path / "fine.mid"))  # a task that survives: parse_task's own answer
    assert corpora.parse_alone(fine) == _REAL_PARSE(fine)


# --- scores that parse but break later ----------------------------------------------------------

LONG_NOTE = [(0, 480, 60, 90), (480, 50_000_000, 62, 90)]  # one note of ~14 hours at 120 bpm
FAR_NOTE = [(0, 480, 60, 90), (120_000_000, 480, 62, 90)]  # a note ~35 hours past the first


@pytest.mark.parametrize("notes", [LONG_NOTE, FAR_NOTE], ids=["long-note", "far-note"])
def test_render_refuses_hours_of_audio_before_allocating_them(tmp_path, capsys, notes):
    path = tmp_path / "long.mid"
    path.write_bytes(_score(notes).dumps_midi())
    with pytest.raises(CadenzaError, match=r"lasts .* hours; rendering makes at most 30 minutes"):
        render_score(read_score(path))
    out = tmp_path / "long.wav"
    code, _, err = run_cli(["render", path, out], capsys)
    _one_error_line(code, err)
    assert "MAX_SECONDS" in err and not out.exists() and not list(tmp_path.glob(".long.wav*"))


@pytest.mark.parametrize("notes", [LONG_NOTE, FAR_NOTE], ids=["long-note", "far-note"])
def test_plot_of_a_score_hours_long_is_quick(tmp_path, capsys, notes):
    path = tmp_path / "long.mid"
    path.write_bytes(_score(notes).dumps_midi())
    started = time.perf_counter()
    code, out, err = run_cli(["plot", path, "--out", tmp_path / "long.png"], capsys)
    assert code == 0 and err == "", err
    assert time.perf_counter() - started < 60  # was ~120 s: one axvline a bar
    assert (tmp_path / "long.png").read_bytes()[:4] == b"\x89PNG"


def test_a_tiny_file_with_millions_of_bars_plots_quickly_without_bar_lines(tmp_path):
    # 61 bytes: bars of 1/64 and a note 200 million ticks in make 6.7 million bars
    path = tmp_path / "bars.mid"
    path.write_bytes(_score([(0, 120, 60, 90), (200_000_000, 120, 62, 90)], time_signature=(1, 64)).dumps_midi())
    assert path.stat().st_size < 100
    score = read_score(path)
    assert plot.bar_count(score) > 6_000_000
    started = time.perf_counter()
    fig = plot_piano_roll(score, tmp_path / "bars.png")
    assert time.perf_counter() - started < 30  # was over 150 s
    ax = fig.axes[0]
    assert not [c for c in ax.collections if c.get_label() == "bar lines"]
    assert "too many to draw" in ax.get_xlabel()


def test_bar_count_agrees_with_bar_starts():
    from cadenza.music.transforms import bar_starts

    for signature, end in [((4, 4), 1920 * 3), ((3, 4), 1440 * 5 + 1), ((6, 8), 7), (None, 0), ((5, 16), 99_999)]:
        score = _score([(0, end, 60, 80)] if end else [], time_signature=signature)
        assert plot.bar_count(score) == max(len(bar_starts(score)), 1)
    score = _score([(0, 5000, 60, 80)], time_signature=(3, 4))
    score.time_signatures.append(symusic.TimeSignature(1440 * 2, 2, 4))
    assert plot.bar_count(score) == len(bar_starts(score))


def test_a_dense_score_plots_in_seconds_and_caps_are_refused(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    notes = [(i * 60, 120, int(p), 80) for i, p in enumerate(rng.integers(40, 88, 60_000))]
    score = _score(notes)
    started = time.perf_counter()
    plot_piano_roll(score, tmp_path / "dense.png")
    assert time.perf_counter() - started < 60  # 200,000 notes took 123 s before, 8 s now
    monkeypatch.setattr(plot, "MAX_NOTES", 1000)
    with pytest.raises(CadenzaError, match="60,000 notes; a plot draws at most 1,000"):
        plot_piano_roll(score, tmp_path / "refused.png")
    assert not (tmp_path / "refused.png").exists()


def test_render_refuses_too_many_notes(monkeypatch):
    monkeypatch.setattr(render, "MAX_NOTES", 10)
    with pytest.raises(CadenzaError, match="11 notes; rendering takes at most 10"):
        render_score(_score([(i * 10, 10, 60, 80) for i in range(11)]))


def test_render_works_in_bounded_memory():
    # Five minutes of sparse notes at 8 kHz: a mono output of 9.6 MB. Before, the audio was
    # held as stereo blocks, joined, then averaged: at least four times the output.
    score = _score([(i * 9600, 480, 60 + i % 12, 90) for i in range(30)])  # one note every 10 s
    render_score(_score([(0, 10, 60, 80)]), 8000)  # load the SoundFont outside the measurement
    tracemalloc.start()
    try:
        audio = render_score(score, 8000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.shape[0] == 1 and audio.dtype == np.float32
    assert audio.shape[1] == int(round(290.5 * 8000)) + 8000  # last note-off, then the 1 s tail
    assert np.abs(audio).max() > 0.01
    assert peak < 1.5 * audio.nbytes, (peak, audio.nbytes)


def test_piano_roll_refuses_too_many_frames():
    from cadenza.music.roll import piano_roll

    with pytest.raises(CadenzaError, match="frames; the limit is"):
        piano_roll(_score([(0, 2_000_000_000, 60, 80)]))


def _empty_mxl(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/container.xml",
                         '<?xml version="1.0"?><container><rootfiles>'
                         '<rootfile full-path="score.xml"/></rootfiles></container>')
        archive.writestr("score.xml", '<?xml version="1.0"?><score-partwise version="3.1">'
                                      "<part-list/></score-partwise>")


@pytest.mark.parametrize("name,write,message", [
    ("empty.mxl", _empty_mxl, "contains no notes"),
    ("absurd.abc", lambda p: p.write_text("X:1\nT:absurd\nM:4/4\nL:1/8\nK:C\nC99999999 D E F|\n"), "too long"),
    ("whole-notes.abc", lambda p: p.write_text("X:1\nM:4/4\nL:1/1\nK:C\nC2000000|\n"), "too long"),
])
def test_scores_music21_reads_but_cadenza_cannot_use_give_one_error(tmp_path, capsys, name, write, message):
    path = tmp_path / name
    write(path)
    with pytest.raises(CadenzaError, match=message):
        read_score(path)
    for command in (["plot", path, "--out", tmp_path / "x.png"], ["render", path, tmp_path / "x.wav"]):
        code, _, err = run_cli(command, capsys)
        _one_error_line(code, err)
        assert message in err
    assert not list(tmp_path.glob("*x.*"))  # no output, not even a half-written one


def test_file_names_that_are_not_utf8_or_look_like_markup(tmp_path, capsys, cache):
    folder = tmp_path / os.fsdecode(b"songs-\xe9")
    folder.mkdir()
    source = folder / os.fsdecode(b"bad\xffname.mid")
    source.write_bytes(_scale_midi())
    png, wav = tmp_path / os.fsdecode(b"roll\xfe.png"), tmp_path / os.fsdecode(b"take\xfe.wav")
    # rich wraps long lines at the console's width, which depends on where the tests run
    code, out, err = run_cli(["plot", source, "--out", png], capsys)
    assert code == 0 and err == "" and "roll\\xfe.png" in out.replace("\n", "") and png.is_file()
    code, out, err = run_cli(["render", source, wav], capsys)
    assert code == 0 and err == "" and "take\\xfe.wav" in out.replace("\n", "") and wav.is_file()
    (folder / os.fsdecode(b"cut\xff.mid")).write_bytes(_scale_midi()[:40])
    code, out, err = run_cli(["corpus", "info", folder], capsys)
    assert code == 0 and err == "" and "cut\\xff.mid: corrupt or truncated" in out.replace("\n", "")
    for missing in (tmp_path / os.fsdecode(b"nope\xff.mid"), tmp_path / "[/x].mid"):
        code, _, err = run_cli(["plot", missing, "--out", png], capsys)
        _one_error_line(code, err)
        assert "no such file" in err
    assert "[/x].mid" in err


def test_printable_and_stable_hash_take_names_as_the_os_gives_them():
    import hashlib

    from cadenza.utils import printable, stable_hash

    name = os.fsdecode(b"caf\xe9.mid")  # Latin-1 bytes: a lone surrogate in Python
    assert printable(name) == "caf\\xe9.mid" and printable("café [x]") == "café [x]"
    assert stable_hash(name) == int.from_bytes(hashlib.sha1(b"caf\xe9.mid").digest()[:8], "big")
    assert corpora.split_of(name) in ("train", "valid", "test")


# --- damaged caches --------------------------------------------------------------------------------

def _damage_scores_bin_by_truncating(cache_dir):
    blob = cache_dir / "scores.bin"
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])


def _damage_scores_bin_with_garbage(cache_dir):
    blob = cache_dir / "scores.bin"
    blob.write_bytes(b"MThd" + bytes(np.random.default_rng(1).integers(0, 256, blob.stat().st_size - 4,
                                                                          dtype=np.uint8)))


def _damage_index_by_truncating(cache_dir):
    index = cache_dir / "index.json"
    index.write_bytes(index.read_bytes()[:50])


def _damage_index_with_bytes(cache_dir):
    (cache_dir / "index.json").write_bytes(b"\xff\xfe\x00garbage")


def _damage_index_offsets(cache_dir):
    index = json.loads((cache_dir / "index.json").read_text())
    index["pieces"][0]["offset"] = 10**9
    (cache_dir / "index.json").write_text(json.dumps(index))


def _damage_an_old_cache(cache_dir):
    """A cache from before sizes and checksums were recorded: each piece's chunks are checked."""
    index = json.loads((cache_dir / "index.json").read_text())
    del index["scores"]
    (cache_dir / "index.json").write_text(json.dumps(index))
    blob = bytearray((cache_dir / "scores.bin").read_bytes())
    blob[20:22] = b"\xff\xff"  # the first track's length, now far past the end
    (cache_dir / "scores.bin").write_bytes(bytes(blob))


def _remove_index(cache_dir):
    (cache_dir / "index.json").unlink()


@pytest.mark.parametrize("damage", [
    _damage_scores_bin_by_truncating, _damage_scores_bin_with_garbage, _damage_index_by_truncating,
    _damage_index_with_bytes, _damage_index_offsets, _damage_an_old_cache, _remove_index])
def test_a_damaged_corpus_cache_is_rebuilt_with_one_line(tmp_path, cache, capsys, damage):
    folder = tmp_path / "songs"
    folder.mkdir()
    for i in range(3):
        (folder / f"s{i}.mid").write_bytes(_score([(j * 480, 480, 60 + i + j, 80) for j in range(8)]).dumps_midi())
    first = corpora.corpus(folder, progress=False)
    built = corpora.build_cache(folder, progress=False)
    capsys.readouterr()
    damage(built)
    again = corpora.corpus(folder, progress=False)
    err = capsys.readouterr().err
    assert [s.dumps_midi() for s in again] == [s.dumps_midi() for s in first] and again.ids == first.ids
    assert len(err.strip().splitlines()) == 1 and "damaged" in err and "rebuilding" in err, err
    assert corpora._cache_is_current(built, corpora._source(folder)[3])  # mended on disk too
    damage(built)
    code, out, err = run_cli(["corpus", "info", folder], capsys)
    assert code == 0 and len(err.strip().splitlines()) == 1 and "damaged" in err and "Traceback" not in out + err


def test_a_current_folder_cache_is_not_parsed_again(tmp_path, cache, monkeypatch):
    (tmp_path / "a.mid").write_bytes(_scale_midi())
    corpora.corpus(tmp_path, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(corpora, "_parse_all", fail)  # the fingerprint once never matched its JSON copy
    assert len(corpora.corpus(tmp_path, progress=False)) == 1


def _tiny_audio_set() -> audio_sets.AudioSet:
    hop, frames = 64, [10, 5]
    return audio_sets.AudioSet(
        "tiny", "train", 16000, hop, [np.zeros(n * hop, np.float32) for n in frames],
        [np.full(n, 440.0, np.float32) for n in frames], [np.ones(n, np.float32) for n in frames],
        [np.zeros(n, np.float32) for n in frames], None, ["a", "b"])


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    lambda p: p.write_bytes(b"garbage, not a zip"),
    lambda p: p.write_bytes(b"PK\x03\x04" + bytes(200)),
], ids=["truncated", "garbage", "bad-zip"])
def test_a_damaged_audio_cache_file_is_removed_with_one_line(tmp_path, capsys, damage):
    path = tmp_path / "train.npz"
    audio_sets._save(path, _tiny_audio_set())
    assert [len(f) for f in audio_sets.load_cached(path, "tiny", "train").f0] == [10, 5]
    damage(path)
    assert audio_sets.load_cached(path, "tiny", "train") is None
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "damaged" in err and not path.exists()


def test_an_audio_cache_whose_arrays_disagree_is_damaged(tmp_path, capsys):
    path = tmp_path / "train.npz"
    tiny = _tiny_audio_set()
    audio_sets._save(path, tiny)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["lengths"] = np.array([10, 500])  # says the second clip is longer than its arrays
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    assert audio_sets.load_cached(path, "tiny", "train") is None
    assert "disagree" in capsys.readouterr().err


def test_a_damaged_named_audio_set_is_rebuilt_with_one_line(cache, monkeypatch, capsys):
    monkeypatch.setenv("CADENZA_SOUNDFONT", str(render._timgm6mb()))
    tiny = {"programs": [0], "pitches": [60, 64, 67], "velocities": [100]}
    folder = audio_sets.build("notes", progress=False, **tiny)
    first = audio_sets.audio_set("notes", "all", progress=False)
    split = next(folder.glob("*.npz"))
    split.write_bytes(split.read_bytes()[:100])
    capsys.readouterr()
    again = audio_sets.audio_set("notes", "all", progress=False)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "damaged" in err and "rebuilding" in err, err
    assert again.ids == first.ids  # rebuilt to the size it was built to, not the full set
    assert all(np.array_equal(a, b) for a, b in zip(again.audio, first.audio))
    (folder / "summary.json").write_text('{"splits": ')  # cut short: the sizes it recorded are lost
    audio_sets.build("notes", progress=False, **tiny)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "summary.json is damaged" in err, err
    assert audio_sets.summary("notes")["sizes"] == tiny


def test_a_damaged_audio_summary_is_not_a_built_set(cache, monkeypatch):
    folder = audio_sets.cache_dir("notes")
    folder.mkdir(parents=True)
    for text in ("{not json", '{"splits": 3}', '{"splits": {"train": {"clips": 1}}}', "[]"):
        (folder / "summary.json").write_text(text)
        assert audio_sets.summary("notes") is None
