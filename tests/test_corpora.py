"""Corpora: splits, the cache, folders with bad files, the piano-roll benchmarks."""

from __future__ import annotations

import collections
import hashlib
import json

import numpy as np
import pytest
import symusic

import cadenza
from cadenza.data import corpora, load_piano_rolls, roll_to_score, score_to_roll
from cadenza.data.corpora import abc_tasks, split_of
from cadenza.errors import CadenzaError


def test_splits_are_proportioned():
    counts = collections.Counter(split_of(f"piece-{i}") for i in range(20_000))
    assert abs(counts["train"] / 20_000 - 0.8) < 0.01
    assert abs(counts["valid"] / 20_000 - 0.1) < 0.01
    assert abs(counts["test"] / 20_000 - 0.1) < 0.01


def test_split_of_known_values():
    # sha1-based: the same on every machine and Python version. Frozen: a change
    # here would silently move pieces between train and test.
    assert [split_of(i) for i in ("bwv269", "bwv347", "altdeu10/1")] == ["valid", "train", "train"]
    bucket = int.from_bytes(hashlib.sha1(b"bwv269").digest()[:8], "big") % 100
    assert 80 <= bucket < 90
    assert {split_of(f"x{i}") for i in range(50)} == {"train", "valid", "test"}


def test_bach_has_350_distinct_chorales_with_four_voices(bach):
    # music21's iterator gives 371 Riemenschneider numbers; 21 repeat a chorale.
    assert len(bach) == 350 and not bach.errors
    assert all([t.name for t in s.tracks] == ["Soprano", "Alto", "Tenor", "Bass"] for s in bach)
    assert len(set(bach.ids)) == 350


def test_bach_splits_partition_the_corpus(bach):
    parts = {s: cadenza.corpus("bach", split=s, progress=False) for s in ("train", "valid", "test")}
    ids = [set(c.ids) for c in parts.values()]
    assert sum(map(len, ids)) == 350 and set.union(*ids) == set(bach.ids)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert parts["train"].spec == {"corpus": "bach", "split": "train", "pieces": len(parts["train"])}


def test_unknown_corpus_and_split():
    with pytest.raises(CadenzaError, match="unknown corpus 'nope'"):
        cadenza.corpus("nope")
    with pytest.raises(CadenzaError, match="unknown split"):
        cadenza.corpus("bach", split="dev")


def _midi(path, pitches):
    score = symusic.Score(480)
    score.tracks.append(symusic.Track("Melody", 0, False,
                                      [symusic.Note(i * 480, 480, p, 80) for i, p in enumerate(pitches)]))
    path.write_bytes(score.dumps_midi())


def test_folder_with_bad_files_loads_the_good_ones(tmp_path):
    folder = tmp_path / "songs"
    (folder / "sub").mkdir(parents=True)
    _midi(folder / "a.mid", [60, 62, 64])
    _midi(folder / "sub" / "b.midi", [67, 65])
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    (folder / "tunes.abc").write_text("%header\nX:1\nT:One\nK:C\nCDEF|\n\nX:2\nT:Two\nK:G\nGABc|\n")
    (folder / "notes.txt").write_text("ignored: not a score")
    loaded = cadenza.corpus(folder, progress=False)
    assert sorted(loaded.ids) == ["a", "sub/b", "tunes/1", "tunes/2"]
    assert [e["id"] for e in loaded.errors] == ["broken"]
    assert "corrupt or truncated" in loaded.errors[0]["error"]
    titles = dict(zip(loaded.ids, loaded.titles))
    assert titles["tunes/2"] == "Two"
    # A changed folder is parsed again.
    _midi(folder / "c.mid", [60])
    assert len(cadenza.corpus(folder, progress=False)) == 5


def test_empty_folder_and_all_bad_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CadenzaError, match="no score files"):
        cadenza.corpus(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mid").write_bytes(b"")
    with pytest.raises(CadenzaError, match="no readable pieces"):
        cadenza.corpus(bad, progress=False)


def test_cache_is_json_and_midi_only(bach):
    cache = corpora.build_cache("bach")
    index = json.loads((cache / "index.json").read_text())
    assert len(index["pieces"]) == 350
    blob = (cache / "scores.bin").read_bytes()
    first = index["pieces"][0]
    assert blob[first["offset"]:first["offset"] + 4] == b"MThd"


def test_abc_file_is_split_into_tunes(tmp_path):
    path = tmp_path / "set.abc"
    path.write_text("%%abc\nX:4\nT:A\nK:C\nC|\nX:4\nT:B\nK:C\nD|\n")
    tasks = abc_tasks(path, "set")
    assert [t.piece_id for t in tasks] == ["set/4", "set/4b"]
    assert all(t.abc_text.startswith("%%abc\n") for t in tasks)


def test_boulanger_lewandowski_loader(jsb_path):
    rolls = {s: load_piano_rolls(jsb_path, s) for s in ("train", "valid", "test")}
    assert [len(r) for r in rolls.values()] == [229, 76, 77]
    roll = rolls["train"][0]
    assert roll.shape[1] == 88 and roll.dtype == np.uint8 and set(np.unique(roll)) <= {0, 1}
    score = roll_to_score(roll)
    back = score_to_roll(score)
    assert np.array_equal(back, roll[: len(back)]) and not roll[len(back):].any()


def test_piano_roll_loader_bad_input(tmp_path, jsb_path):
    with pytest.raises(CadenzaError, match="no such file"):
        load_piano_rolls(tmp_path / "x.mat")
    (tmp_path / "x.mat").write_bytes(b"not a mat file")
    with pytest.raises(CadenzaError, match="not a MATLAB"):
        load_piano_rolls(tmp_path / "x.mat")
    with pytest.raises(CadenzaError, match="unknown split"):
        load_piano_rolls(jsb_path, "dev")
