"""The Generator base, run directories and the first-order Markov chain."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import symusic

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.base import coerce
from cadenza.models.symbolic.markov_viewpoints import GRID, REST, melody_events


def _melody(pitches, durations_q, tpq=480):
    score = symusic.Score(tpq)
    track = symusic.Track("Melody", 0, False)
    time = 0
    for pitch, q in zip(pitches, durations_q):
        if pitch is not None:
            track.notes.append(symusic.Note(time, int(q * tpq), pitch, 80))
        time += int(q * tpq)
    score.tracks.append(track)
    return score


def test_melody_events_quantise_and_fill_rests():
    score = _melody([60, None, 62, 64], [1, 0.5, 1 / 3, 2])
    assert melody_events(score) == [(60, GRID), (REST, GRID // 2), (62, GRID // 3), (64, 2 * GRID)]


def test_transition_counts_known_answer():
    # Two pieces: C D C and C E. Transitions from start: C twice.
    pieces = [_melody([60, 62, 60], [1, 1, 1]), _melody([60, 64], [1, 1])]
    model = cadenza.create("markov", order=1).fit(pieces)
    c, d, e = ((p, GRID) for p in (60, 62, 64))
    assert model.counts([]) == {c: 2}
    assert model.counts([c]) == {d: 1, e: 1, "END": 1}  # C ends the first piece
    assert model.counts([d]) == {c: 1} and model.counts([e]) == {"END": 1}


def test_log_prob_matches_hand_computation_in_bits():
    pieces = [_melody([60, 62, 60], [1, 1, 1]), _melody([60, 64], [1, 1])]
    model = cadenza.create("markov", order=1).fit(pieces)
    result = model.log_prob([_melody([60, 62], [1, 1])])
    # Interpolated Kneser-Ney (see tests/test_markov.py): outcomes END, UNK, C, D, E.
    d1, d0 = 5 / 7, 1 / 3  # n1/(n1+2 n2): bigrams 5 once, 1 twice; continuation counts 2 once, 2 twice
    p0_c = (2 - d0) / 6 + d0 * 4 / 6 / 5
    p0_d = (1 - d0) / 6 + d0 * 4 / 6 / 5
    expected = math.log((2 - d1) / 2 + d1 * 1 / 2 * p0_c) + math.log((1 - d1) / 3 + d1 * 3 / 3 * p0_d)
    assert result.events == 2
    assert result.total == pytest.approx(expected)
    assert result.bits_per_event == pytest.approx(-expected / 2 / math.log(2))


def test_unseen_events_get_finite_probability():
    model = cadenza.create("markov").fit([_melody([60, 62], [1, 1])])
    result = model.log_prob([_melody([90, 91, 92], [0.25, 3, 1])])
    assert math.isfinite(result.total) and result.events == 3


def test_exact_length_and_temperature():
    model = cadenza.create("markov", order=1).fit([_melody([60, 62, 64, 65, 67], [1] * 5)] * 3)
    for piece in model.generate(n=5, seed=1, length=12):
        assert len(melody_events(piece)) == 12
    cold = model.generate(n=1, seed=0, length=4, temperature=0.05)[0]
    # Almost all mass on the learned scale step at low temperature.
    assert [n.pitch for n in cold.tracks[0].notes] == [60, 62, 64, 65]


def test_run_directory_format(tmp_path, tiny_corpus):
    model = cadenza.create("markov", part="Soprano").fit(tiny_corpus)
    run = model.save(tmp_path / "run", metrics={"note": 1})
    record = json.loads((run / "cadenza.json").read_text())
    assert record["model"] == "markov" and record["config"]["part"] == "Soprano"
    assert record["data"]["corpus"] == "bach" and record["data"]["split"] == "train"
    assert record["metrics"] == {"note": 1}
    assert (run / "model.safetensors").is_file()
    # Saving again replaces the run as a whole.
    model.save(run)
    assert sorted(p.name for p in run.iterdir()) == ["cadenza.json", "model.safetensors"]


def test_load_rejects_bad_runs(tmp_path):
    with pytest.raises(CadenzaError, match="no such run"):
        cadenza.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CadenzaError, match="not a Cadenza run"):
        cadenza.load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cadenza.json").write_text("{not json")
    with pytest.raises(CadenzaError, match="not valid JSON"):
        cadenza.load(bad)
    (bad / "cadenza.json").write_text(json.dumps({"model": "markov", "format_version": 99}))
    with pytest.raises(CadenzaError, match="run format 99"):
        cadenza.load(bad)
    (bad / "cadenza.json").write_text(json.dumps({"model": "nosuch", "format_version": 1}))
    with pytest.raises(CadenzaError, match="unknown model 'nosuch'"):
        cadenza.load(bad)


def test_damaged_weights_are_a_clear_error(tmp_path):
    model = cadenza.create("markov").fit([_melody([60, 62], [1, 1])])
    run = model.save(tmp_path / "run")
    (run / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CadenzaError, match="damaged weights"):
        cadenza.load(run)


def test_coerce_parses_cli_strings():
    assert coerce("3", int, "x") == 3
    assert coerce("0.5", float, "x") == 0.5
    assert coerce("no", bool, "x") is False
    assert coerce("none", int | None, "x") is None
    assert coerce("1,2,3", list[int], "x") == [1, 2, 3]
    with pytest.raises(CadenzaError, match="must be int"):
        coerce("2.5", int, "x")
    with pytest.raises(CadenzaError):
        coerce("nan", float, "x")


def test_create_unknown_model():
    with pytest.raises(CadenzaError, match="unknown model 'nope'"):
        cadenza.create("nope")


def test_generated_pieces_are_independent_of_n(tiny_corpus):
    model = cadenza.create("markov", part="Soprano").fit(tiny_corpus)
    many = model.generate(n=4, seed=11, length=16)
    assert [p.dumps_midi() for p in model.generate(n=2, seed=11, length=16)] == \
        [p.dumps_midi() for p in many[:2]]
    assert len({p.dumps_midi() for p in many}) == 4
    assert np.all([len(p.tracks) == 1 for p in many])
