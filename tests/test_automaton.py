"""Cellular automata: Wolfram's rules and Life by known answers, then the musical mapping."""

from math import comb

import numpy as np
import pytest
import symusic

import cadenza
from cadenza.errors import CadenzaError
from cadenza.models.symbolic.automaton import (
    elementary_step,
    life_step,
    parse_life_rule,
    parse_pattern,
    seed_from_melody,
    totalistic_step,
)


def single(width):
    row = np.zeros(width, dtype=np.int8)
    row[width // 2] = 1
    return row


def rows(step, first, n):
    out, row = [], first
    for _ in range(n):
        out.append(row)
        row = step(row)
    return out


def text(row):
    return "".join(map(str, row)).strip("0")


def test_rule_30_from_one_cell():
    history = rows(lambda r: elementary_step(r, 30, "zero"), single(21), 5)
    assert [text(r) for r in history] == ["1", "111", "11001", "1101111", "110010001"]


def test_rule_90_is_pascal_mod_2():
    width, centre = 41, 20
    history = rows(lambda r: elementary_step(r, 90, "zero"), single(width), 16)
    for t, row in enumerate(history):
        expected = [comb(t, (t + x - centre) // 2) % 2 if (t + x - centre) % 2 == 0 and abs(x - centre) <= t
                    else 0 for x in range(width)]
        assert row.tolist() == expected


def test_wrap_and_zero_boundaries_differ_at_the_edge():
    row = np.array([1, 0, 0, 0, 0], dtype=np.int8)
    assert elementary_step(row, 90, "wrap").tolist() == [0, 1, 0, 0, 1]
    assert elementary_step(row, 90, "zero").tolist() == [0, 1, 0, 0, 0]


def test_totalistic_codes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        row = (rng.random(30) < 0.5).astype(np.int8)
        # k=2 totalistic code 6 (sum 1 or 2 lives) is elementary rule 126; code 2 is rule 22.
        assert totalistic_step(row, 6).tolist() == elementary_step(row, 126).tolist()
        assert totalistic_step(row, 2).tolist() == elementary_step(row, 22).tolist()
    # k=3 code 1599 has base-3 digits 0,2,0,2,1,0,2 for sums 0..6.
    history = rows(lambda r: totalistic_step(r, 1599, 3, 1, "zero"), single(11), 3)
    assert [text(r) for r in history] == ["1", "222", "121"]


def test_life_blinker_has_period_2():
    grid = np.zeros((5, 5), dtype=np.int8)
    grid[2, 1:4] = 1
    once, twice = life_step(grid), life_step(life_step(grid))
    assert not np.array_equal(once, grid) and np.array_equal(twice, grid)
    assert once[1:4, 2].tolist() == [1, 1, 1] and once.sum() == 3


def test_life_glider_moves_one_cell_diagonally_in_4_steps():
    grid = np.zeros((10, 10), dtype=np.int8)
    grid[1:4, 1:4] = parse_pattern(".O./..O/OOO")
    state = grid
    for _ in range(4):
        state = life_step(state, boundary="zero")
    assert np.array_equal(state, np.roll(np.roll(grid, 1, 0), 1, 1))


def test_b_s_parsing():
    assert parse_life_rule("B3/S23") == ({3}, {2, 3})
    assert parse_life_rule("s23/b36") == ({3, 6}, {2, 3})
    assert parse_life_rule("B2/S") == ({2}, set())  # Seeds
    for bad in ("B3", "B9/S23", "B3/S23/S1", "23/3"):
        with pytest.raises(CadenzaError):
            parse_life_rule(bad)


@pytest.mark.parametrize("config", [{"rule": "256"}, {"rule": "B3/S2x"}, {"rule": "30", "colours": 3},
                                    {"rule": "99999", "kind": "totalistic", "colours": 3},
                                    {"lanes": 80}, {"drums": ["kick", "cowbel"]}, {"pattern": "01a"},
                                    {"key": "H minor"}, {"boundary": "mirror"}, {"density": 1.5}])
def test_bad_config_is_a_clear_error(config):
    with pytest.raises(CadenzaError):
        cadenza.create("automaton", **config)


def test_pitch_lanes_play_a_one_cell_rule_90():
    model = cadenza.create("automaton", rule="90", init="single", lanes=5, width=5, key="C major",
                           octave=4, rhythm="onsets", steps=3, boundary="zero")
    notes = [(n.time // 120, n.pitch) for n in model.generate(1)[0].tracks[0].notes]
    # generations 00100, 01010, 10001 on lanes C D E F G
    assert notes == [(0, 64), (1, 62), (1, 65), (2, 60), (2, 67)]
    held = cadenza.create("automaton", rule="204", init="single", lanes=3, width=3, steps=4)  # 204: identity
    track = held.generate(1)[0].tracks[0]
    assert [(n.time, n.duration) for n in track.notes] == [(0, 4 * 120)]


def test_drum_machine_uses_general_midi_on_channel_10():
    drums = ["kick", "snare", "closed_hat", "open_hat", "clap", "low_tom", "high_tom", "ride"]
    for rule in ("30", "B3/S23"):
        score = cadenza.create("automaton", rule=rule, mapping="drums", drums=drums).generate(1, seed=2)[0]
        track = score.tracks[0]
        assert track.is_drum and len(track.notes) > 10
        assert {n.pitch for n in track.notes} <= {36, 38, 42, 46, 39, 45, 50, 51}
        midi = score.dumps_midi()
        assert b"\x99" in midi and not any(0x90 <= b <= 0x98 for b in _note_on_statuses(midi))
        assert symusic.Score.from_midi(midi).tracks[0].is_drum


def _note_on_statuses(midi: bytes):
    return [b for b in midi if 0x90 <= b <= 0x9F]


def test_life_board_is_a_bar_of_piano_roll():
    # A blinker standing in column 1 of a 3x4 board: lanes 0-2 at step 1, then lane 1 across steps 0-2.
    model = cadenza.create("automaton", rule="B3/S23", pattern=".O../.O../.O..", lanes=3, width=4,
                           key="C major", octave=4, rhythm="onsets", steps=8, boundary="zero")
    notes = sorted((n.time // 120, n.pitch) for n in model.generate(1)[0].tracks[0].notes)
    assert notes == [(1, 60), (1, 62), (1, 64), (4, 62), (5, 62), (6, 62)]


def test_velocity_mappings():
    states = cadenza.create("automaton", rule="1599", kind="totalistic", colours=3, velocity="state",
                            pattern="1", init="single", steps=3, rhythm="onsets").generate(1)[0]
    assert {n.velocity for n in states.tracks[0].notes} == {60, 110}
    crowd = cadenza.create("automaton", rule="B3/S23", velocity="neighbours").generate(1, seed=0)[0]
    assert len({n.velocity for n in crowd.tracks[0].notes}) > 2


def test_seeding_from_a_pattern_a_melody_and_a_corpus(tmp_path):
    model = cadenza.create("automaton", rule="204", pattern="101", width=9, lanes=9, steps=1, octave=4,
                           key="C major", rhythm="onsets")
    assert [n.pitch for n in model.generate(1)[0].tracks[0].notes] == [65, 69]  # cells 3 and 5

    tune = symusic.Score(480)
    tune.tracks.append(symusic.Track("t", 0, False))
    for i, pitch in enumerate([60, 64, 67, 72]):  # C E G C: lanes 0, 2, 4 (C5 folds onto C4)
        tune.tracks[0].notes.append(symusic.Note(480 * i, 480, pitch, 80))
    path = tmp_path / "tune.mid"
    tune.dump_midi(path)
    seeded = cadenza.create("automaton", rule="204", melody=str(path), key="C major", octave=4, lanes=7,
                            width=7, steps=1)
    assert [n.pitch for n in seeded.generate(1)[0].tracks[0].notes] == [60, 64, 67]

    board = cadenza.create("automaton", rule="B3/S23", key="C major", octave=4, lanes=7, width=16)
    grid = seed_from_melody(tune, board.config)  # the first bar as a piano roll, lane 0 at the bottom
    assert [(6 - y, x) for y, x in zip(*np.nonzero(grid))] == \
        [(4, x) for x in range(8, 12)] + [(2, x) for x in range(4, 8)] + [(0, x) for x in (0, 1, 2, 3, 12, 13, 14, 15)]

    fitted = cadenza.create("automaton", rule="204", key="C major", octave=4, lanes=7, width=7, steps=1)
    assert fitted.fit([tune]) is fitted and fitted.seeds_ == ["1010100"]
    assert [n.pitch for n in fitted.generate(1, seed=3)[0].tracks[0].notes] == [60, 64, 67]
    fitted.save(tmp_path / "run")
    again = cadenza.load(tmp_path / "run")
    assert again.generate(1, seed=3)[0].dumps_midi() == fitted.generate(1, seed=3)[0].dumps_midi()


def test_defaults_and_brief_example_are_seeded():
    model = cadenza.create("automaton", rule="30")
    pieces = model.generate(4, seed=1)
    assert all(len(p.tracks[0].notes) > 10 for p in pieces)
    assert len({p.dumps_midi() for p in pieces}) == 4
    assert model.generate(4, seed=1)[3].dumps_midi() == pieces[3].dumps_midi()
    assert cadenza.create("automaton").generate(1, seed=0, length=16)[0].end() <= 16 * 120
