"""Music theory: pitch names, keys and modes, key estimation, chords, the score builder:
known answers from any harmony textbook."""

import numpy as np
import pytest
import symusic
from hypothesis import given
from hypothesis import strategies as st

from cadenza.errors import CadenzaError
from cadenza.music.drums import drum_note
from cadenza.music.theory import (
    MODES,
    TPQ,
    Key,
    estimate_key,
    estimate_key_strength,
    make_score,
    note_name,
    parse_diatonic_key,
    parse_key,
    parse_pitch_class,
    roman_chord,
    signature_key,
)


def pcs(pitches):
    return sorted({p % 12 for p in pitches})


def test_pitch_class_names():
    assert [parse_pitch_class(n) for n in ("C", "C#", "Db", "F#", "Bb", "B", "E-", "Cb")] == [0, 1, 1, 6, 10, 11, 3, 11]
    with pytest.raises(CadenzaError):
        parse_pitch_class("H")


def test_parse_keys_and_modes():
    assert parse_key("D dorian") == Key(2, "dorian")
    assert parse_key("G major") == Key(7, "major")
    assert parse_key("Bb minor") == Key(10, "minor")
    assert parse_key("Am") == Key(9, "minor")
    assert parse_key("F#") == Key(6, "major")
    assert parse_key("c aeolian") == Key(0, "minor")
    assert parse_key("A minor pentatonic").mode == "minor_pentatonic"
    assert parse_key("E harmonic-minor").pitch_classes == frozenset({4, 6, 7, 9, 11, 0, 3})
    for bad in ("", "X major", "C bogus"):
        with pytest.raises(CadenzaError):
            parse_key(bad)


def test_parse_key_reads_accidentals_and_modes():
    assert parse_key("F# minor") == Key(6, "minor", "F#")
    assert parse_key("Bb").tonic == 10 and parse_key("Bb").fifths == -2
    assert parse_key("ebm").mode == "minor" and parse_key("ebm").fifths == -6
    assert parse_key("F# minor").fifths == 3 and parse_key("Gb major").fifths == -6
    assert parse_key("F# major").fifths == 6 and parse_key("D dorian").fifths == 0
    assert parse_key("Cb major").tonic == 11
    assert parse_key("A harmonic minor").members == parse_key("A minor").members
    assert parse_key("E- minor") == Key(3, "minor") and parse_key("Dm") == Key(2, "minor")
    for bad in ("H major", "F# blues", "", "7"):
        with pytest.raises(CadenzaError):
            parse_diatonic_key(bad)


def test_key_names_and_signatures():
    assert str(parse_key("F# minor")) == "F# minor" and parse_key("bb").name == "Bb major"
    assert Key(3, "minor").name == "D# minor"  # six sharps or six flats: sharps unless spelled
    assert Key.from_signature(-2, True).name == "G minor" and Key.from_signature(-6, False).name == "Gb major"
    assert Key.from_signature(3, False) == Key(9, "major")
    assert parse_key("D minor").melody_classes == frozenset({2, 4, 5, 7, 9, 10, 0, 1})  # C# allowed
    assert parse_key("D dorian").melody_classes == parse_key("D dorian").pitch_classes
    assert parse_key("A minor pentatonic").minor and not parse_key("A mixolydian").minor
    assert note_name(60) == "C4" and note_name(61) == "C#4" and note_name(21) == "A0"


def test_estimate_key_from_a_melody():
    f_sharp_minor = [66, 68, 69, 71, 73, 71, 69, 68, 69, 66, 65, 66, 73, 74, 73, 71, 69, 68, 66, 65, 66]
    b_flat_major = [70, 72, 74, 75, 77, 75, 74, 72, 74, 70, 69, 70, 77, 79, 77, 75, 74, 72, 69, 70]
    assert estimate_key(f_sharp_minor, [1] * 20 + [4]) == Key(6, "minor")
    assert estimate_key(b_flat_major, [1] * 19 + [4]) == Key(10, "major")
    # A key signature of one flat allows only F major and D minor.
    assert estimate_key([62, 65, 69, 62], [1, 1, 1, 2], fifths=-1) == Key(2, "minor")
    key, r = estimate_key_strength([60, 64, 67, 72], [1, 1, 1, 1])
    assert key == Key(0, "major") and 0.5 < r <= 1
    key, r = estimate_key_strength([], [])
    assert key == Key(0, "major") and np.isnan(r)


def test_make_score_builds_tracks_and_timing():
    score = make_score([(0, 480, 60, 80), (480, 240, 62, 90)], name="Line", program=5, tempo=90,
                       time_signature=(3, 4), key=parse_key("D major"))
    assert score.ticks_per_quarter == TPQ and [t.name for t in score.tracks] == ["Line"]
    track = score.tracks[0]
    assert track.program == 5 and not track.is_drum
    assert [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes] == [(0, 480, 60, 80), (480, 240, 62, 90)]
    assert score.tempos[0].qpm == pytest.approx(90) and score.time_signatures[0].numerator == 3
    assert signature_key(score) == Key(2, "major")
    same = make_score(np.array([[0, 480, 60, 80], [480, 240, 62, 90]]), name="Line", program=5)
    assert [(n.time, n.pitch) for n in same.tracks[0].notes] == [(0, 60), (480, 62)]
    copy = make_score(list(track.notes), name="Copy", like=score)
    assert copy.ticks_per_quarter == TPQ and len(copy.key_signatures) == 1 and len(copy.tempos) == 1
    assert make_score(tpq=96).ticks_per_quarter == 96 and not make_score().tracks.__len__()
    drums = make_score(tracks=[symusic.Track("Kit", 0, True)])
    assert drums.tracks[0].is_drum and not len(drums.tempos) and not len(drums.key_signatures)


def test_modes_are_rotations_of_major():
    major = MODES["major"]
    for shift, name in enumerate(["major", "dorian", "phrygian", "lydian", "mixolydian", "minor", "locrian"]):
        rotated = tuple(sorted((s - major[shift]) % 12 for s in major))
        assert MODES[name] == rotated


def test_degrees_cross_octaves():
    c = parse_key("C major")
    assert [c.pitch(d) for d in (-1, 0, 1, 6, 7, 8)] == [59, 60, 62, 71, 72, 74]
    d = parse_key("D dorian")
    assert [d.pitch(i, 4) for i in range(8)] == [62, 64, 65, 67, 69, 71, 72, 74]
    assert c.degree(61) == 0 and c.degree(72) == 7 and c.degree(59) == -1  # C#: tie goes down


@given(st.sampled_from(list(MODES)), st.integers(0, 11), st.integers(-20, 20))
def test_degree_inverts_pitch(mode, tonic, degree):
    scale = Key(tonic, mode)
    assert scale.degree(scale.pitch(degree)) == degree
    assert scale.contains(scale.pitch(degree))


def test_diatonic_chords_take_the_mode_quality():
    c = parse_key("C major")
    assert c.chord(0) == [60, 64, 67]
    assert c.chord(1) == [62, 65, 69]  # ii is minor
    assert c.chord(6) == [71, 74, 77]  # vii is diminished
    assert c.chord(4, 4) == [67, 71, 74, 77]  # V7
    assert pcs(parse_key("D dorian").chord(3)) == pcs([67, 71, 74])  # IV of dorian is major


def test_roman_numerals():
    c = parse_key("C major")
    assert roman_chord("I", c) == [60, 64, 67]
    assert roman_chord("ii", c) == [62, 65, 69]
    assert roman_chord("V7", c) == [67, 71, 74, 77]
    assert roman_chord("viio7", c) == [71, 74, 77, 80]
    assert roman_chord("viiø7", c) == [71, 74, 77, 81]
    assert roman_chord("IVmaj7", c) == [65, 69, 72, 76]
    assert roman_chord("bVII", c) == [70, 74, 77]
    assert roman_chord("III+", c) == [64, 68, 72]
    a = parse_key("A minor")
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
