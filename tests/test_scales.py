"""Scales, modes and chords: known answers from any harmony textbook."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadenza.errors import CadenzaError
from cadenza.music.drums import drum_note
from cadenza.music.scales import MODES, Scale, parse_pitch_class, parse_scale, roman_chord


def pcs(pitches):
    return sorted({p % 12 for p in pitches})


def test_pitch_class_names():
    assert [parse_pitch_class(n) for n in ("C", "C#", "Db", "F#", "Bb", "B", "E-", "Cb")] == [0, 1, 1, 6, 10, 11, 3, 11]
    with pytest.raises(CadenzaError):
        parse_pitch_class("H")


def test_parse_keys_and_modes():
    assert parse_scale("D dorian") == Scale(2, "dorian")
    assert parse_scale("G major") == Scale(7, "major")
    assert parse_scale("Bb minor") == Scale(10, "minor")
    assert parse_scale("Am") == Scale(9, "minor")
    assert parse_scale("F#") == Scale(6, "major")
    assert parse_scale("c aeolian") == Scale(0, "minor")
    assert parse_scale("A minor pentatonic").mode == "minor_pentatonic"
    assert parse_scale("E harmonic-minor").pitch_classes == frozenset({4, 6, 7, 9, 11, 0, 3})
    for bad in ("", "X major", "C bogus"):
        with pytest.raises(CadenzaError):
            parse_scale(bad)


def test_modes_are_rotations_of_major():
    major = MODES["major"]
    for shift, name in enumerate(["major", "dorian", "phrygian", "lydian", "mixolydian", "minor", "locrian"]):
        rotated = tuple(sorted((s - major[shift]) % 12 for s in major))
        assert MODES[name] == rotated


def test_degrees_cross_octaves():
    c = parse_scale("C major")
    assert [c.pitch(d) for d in (-1, 0, 1, 6, 7, 8)] == [59, 60, 62, 71, 72, 74]
    d = parse_scale("D dorian")
    assert [d.pitch(i, 4) for i in range(8)] == [62, 64, 65, 67, 69, 71, 72, 74]
    assert c.degree(61) == 0 and c.degree(72) == 7 and c.degree(59) == -1  # C#: tie goes down


@given(st.sampled_from(list(MODES)), st.integers(0, 11), st.integers(-20, 20))
def test_degree_inverts_pitch(mode, tonic, degree):
    scale = Scale(tonic, mode)
    assert scale.degree(scale.pitch(degree)) == degree
    assert scale.contains(scale.pitch(degree))


def test_diatonic_chords_take_the_mode_quality():
    c = parse_scale("C major")
    assert c.chord(0) == [60, 64, 67]
    assert c.chord(1) == [62, 65, 69]  # ii is minor
    assert c.chord(6) == [71, 74, 77]  # vii is diminished
    assert c.chord(4, 4) == [67, 71, 74, 77]  # V7
    assert pcs(parse_scale("D dorian").chord(3)) == pcs([67, 71, 74])  # IV of dorian is major


def test_roman_numerals():
    c = parse_scale("C major")
    assert roman_chord("I", c) == [60, 64, 67]
    assert roman_chord("ii", c) == [62, 65, 69]
    assert roman_chord("V7", c) == [67, 71, 74, 77]
    assert roman_chord("viio7", c) == [71, 74, 77, 80]
    assert roman_chord("viiø7", c) == [71, 74, 77, 81]
    assert roman_chord("IVmaj7", c) == [65, 69, 72, 76]
    assert roman_chord("bVII", c) == [70, 74, 77]
    assert roman_chord("III+", c) == [64, 68, 72]
    a = parse_scale("A minor")
    assert pcs(roman_chord("V7", a)) == pcs([64, 68, 71, 74])  # raised leading tone
    assert pcs(roman_chord("III", a)) == pcs([60, 64, 67])
    with pytest.raises(CadenzaError):
        roman_chord("VIII", c)


def test_general_midi_drums():
    assert [drum_note(n) for n in ("kick", "snare", "closed_hat", "open_hat", "clap", "ride", "crash")] == \
        [36, 38, 42, 46, 39, 51, 49]
    assert drum_note("Low Tom") == 45 and drum_note("50") == 50
    for bad in ("cowbel", "20"):
        with pytest.raises(CadenzaError):
            drum_note(bad)
