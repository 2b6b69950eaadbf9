"""Piano rolls, melody extraction, transposition, quantisation, bar lines."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cadenza.errors import CadenzaError
from cadenza.music import from_piano_roll, melody, piano_roll, quantize, transpose
from cadenza.music.transforms import bar_starts


def _score(*tracks, tpq=480, drums=()):
    score = symusic.Score(tpq)
    for index, notes in enumerate(tracks):
        track = symusic.Track(f"T{index}", 0, index in drums)
        for time, duration, pitch in notes:
            track.notes.append(symusic.Note(time, duration, pitch, 80))
        score.tracks.append(track)
    return score


@settings(max_examples=80, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.just(88)), elements=st.integers(0, 1)))
def test_roll_to_score_to_roll_is_lossless(roll):
    score = from_piano_roll(roll, fs=1, low=21)
    back = piano_roll(score, fs=1, low=21, high=109)
    expected = roll[: back.shape[0]]
    assert back.shape[0] <= roll.shape[0]
    assert not roll[back.shape[0]:].any()  # only trailing silence can be lost
    assert np.array_equal(back, expected)


def test_piano_roll_known_answer_and_seconds():
    score = _score([(0, 480, 60), (480, 240, 62), (960, 960, 64)])
    roll = piano_roll(score, fs=4, low=60, high=65)
    assert roll.shape == (16, 5)
    assert roll[:4, 0].all() and roll[4:6, 2].all() and roll[8:16, 4].all()
    assert roll.sum() == 4 + 2 + 8
    score.tempos.append(symusic.Tempo(0, 60.0))  # one quarter a second
    assert np.array_equal(piano_roll(score, fs=4, unit="second", low=60, high=65), roll)
    with pytest.raises(CadenzaError):
        piano_roll(score, fs=0)


def test_skyline_melody_takes_the_top_voice():
    score = _score([(0, 960, 72), (960, 960, 71)], [(0, 480, 60), (480, 480, 76), (960, 960, 55)])
    top = melody(score).tracks[0].notes
    assert [(n.time, n.duration, n.pitch) for n in top] == [(0, 480, 72), (480, 480, 76), (960, 960, 71)]


def test_named_part_melody_and_unknown_part():
    score = _score([(0, 480, 60), (0, 480, 64)], [(0, 480, 80)])
    assert [n.pitch for n in melody(score, "t0").tracks[0].notes] == [64]
    with pytest.raises(CadenzaError, match="no part named 'Soprano'"):
        melody(score, "Soprano")


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 2000), st.integers(0, 127)), min_size=1, max_size=30))
def test_melody_is_monophonic(notes):
    top = melody(_score(notes)).tracks[0].notes
    for a, b in zip(top, top[1:]):
        assert a.end <= b.time


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 2000), st.integers(30, 90)), min_size=1, max_size=30),
       st.integers(-30, 30))
def test_transpose_round_trip_and_drums_stay(notes, shift):
    score = _score(notes, [(0, 100, 36)], drums=(1,))
    moved = transpose(score, shift)
    assert [n.pitch for n in moved.tracks[0].notes] == [n.pitch + shift for n in score.tracks[0].notes]
    assert moved.tracks[1].notes[0].pitch == 36
    assert transpose(moved, -shift).tracks[0].notes == score.tracks[0].notes


def test_transpose_out_of_range():
    with pytest.raises(CadenzaError, match="MIDI range"):
        transpose(_score([(0, 1, 120)]), 12)


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 2000), st.integers(0, 127)), min_size=1, max_size=30),
       st.sampled_from([Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(1)]))
def test_quantize_snaps_to_grid_and_is_idempotent(notes, grid):
    score = _score(notes)
    step = int(grid * 480)
    once = quantize(score, grid)
    for n in once.tracks[0].notes:
        assert n.time % step == 0 and n.duration % step == 0 and n.duration >= step
    assert quantize(once, grid).tracks[0].notes == once.tracks[0].notes


def test_bar_starts_follow_time_signature_changes():
    score = _score([(0, 480 * 11, 60)])
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    score.time_signatures.append(symusic.TimeSignature(480 * 6, 6, 8))
    assert bar_starts(score) == [0, 1440, 2880, 4320]
