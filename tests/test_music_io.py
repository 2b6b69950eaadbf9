"""Score I/O: MIDI and music21 formats, round trips, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import symusic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.errors import CadenzaError
from cadenza.music import io, read_score, write_midi, write_musicxml

ABC_TUNE = """X:1
T:Test tune
M:3/4
L:1/8
K:D
A|d2 f2 a2|g4 f2|e6|]
"""

def _no_same_pitch_overlap(notes):
    """MIDI cannot tell which note-off ends which of two overlapping notes of one pitch."""
    kept, busy_until = [], {}
    for time, duration, pitch, velocity in sorted(notes):
        if time >= busy_until.get(pitch, -1):
            kept.append((time, duration, pitch, velocity))
            busy_until[pitch] = time + duration
    return kept


notes_strategy = st.lists(
    st.tuples(st.integers(0, 20_000), st.integers(1, 4_000), st.integers(0, 127), st.integers(1, 127)),
    min_size=1, max_size=40).map(_no_same_pitch_overlap)


def _score(tracks, tpq=480):
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, 97.0))
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    score.key_signatures.append(symusic.KeySignature(0, -2, 1))
    for index, notes in enumerate(tracks):
        track = symusic.Track(f"Track {index}", index * 8, False)
        for time, duration, pitch, velocity in notes:
            track.notes.append(symusic.Note(time, duration, pitch, velocity))
        score.tracks.append(track)
    return score


def _note_set(track):
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in track.notes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tracks=st.lists(notes_strategy, min_size=1, max_size=3))
def test_midi_round_trip_is_lossless(tracks, tmp_path):
    score = _score(tracks)
    path = write_midi(score, tmp_path / "x.mid")
    again = read_score(path)
    assert len(again.tracks) == len(score.tracks)
    for a, b in zip(score.tracks, again.tracks):
        assert a.name == b.name and a.program == b.program
        assert _note_set(a) == _note_set(b)
    assert again.tempos[0].qpm == pytest.approx(97.0, abs=0.01)
    assert (again.time_signatures[0].numerator, again.time_signatures[0].denominator) == (3, 4)
    assert (again.key_signatures[0].key, again.key_signatures[0].tonality) == (-2, 1)


melody_strategy = st.lists(st.tuples(st.integers(48, 84), st.sampled_from([1, 2, 3, 4, 6, 8])),
                           min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(melody=melody_strategy)
def test_musicxml_round_trip_keeps_grid_aligned_melodies(melody, tmp_path):
    # Durations in sixteenths: what MusicXML can spell exactly.
    tpq, time, notes = 480, 0, []
    for pitch, sixteenths in melody:
        notes.append((time, sixteenths * tpq // 4, pitch, 80))
        time += sixteenths * tpq // 4
    score = _score([notes])
    again = read_score(write_musicxml(score, tmp_path / "x.musicxml"))
    got = [(n.time, n.duration, n.pitch) for n in again.tracks[0].notes]
    assert got == [(t, d, p) for t, d, p, _ in notes]


def test_musicxml_keeps_a_dotted_rhythm_music21_would_requantise(tmp_path):
    # Found by hypothesis: music21's own MIDI quantiser moved the third note.
    notes = [(0, 360, 48, 80), (360, 720, 48, 80), (1080, 960, 64, 80)]
    again = read_score(write_musicxml(_score([notes]), tmp_path / "x.musicxml"))
    assert [(n.time, n.duration, n.pitch) for n in again.tracks[0].notes] == [n[:3] for n in notes]


def test_read_abc_and_pickup_bar(tmp_path):
    path = tmp_path / "tune.abc"
    path.write_text(ABC_TUNE)
    score = read_score(path)
    notes = score.tracks[0].notes
    # The pickup A (an eighth) sits at the end of an incomplete first bar of 3/4.
    assert notes[0].pitch == 69 and notes[0].time == int(2.5 * 480)
    assert notes[1].pitch == 74 and notes[1].time == 3 * 480  # first full bar
    assert [n.pitch for n in notes] == [69, 74, 78, 81, 79, 78, 76]
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert score.key_signatures[0].key == 2


def test_music21_chorale_keeps_four_named_parts(bach):
    score = bach[bach.ids.index("bwv269")]
    assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert score.tracks[0].notes[0].pitch == 67  # G4, the first soprano note of BWV 269


def test_kern_and_mxl_read(tmp_path):
    import music21

    krn = next(p for p in music21.corpus.getComposer("palestrina") if str(p).endswith(".krn"))
    score = read_score(krn)
    assert len(score.tracks) >= 2 and score.note_num() > 50
    mxl = music21.corpus.getWork("bach/bwv269")
    assert read_score(mxl).note_num() == 225


@pytest.mark.parametrize("name,data,message", [
    ("empty.mid", b"", "empty file"),
    ("random.mid", bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)), "not a MIDI file"),
    ("truncated.mid", None, "corrupt or truncated"),
    ("notes.txt", b"hello", "unknown file type"),
    ("bad.abc", b"this is not abc at all", ""),
    ("bad.musicxml", b"<score-partwise><part>", "cannot parse"),
    ("bad.mxl", b"PK\x03\x04 not really a zip", "cannot parse"),
])
def test_bad_files_give_one_clear_error(tmp_path, name, data, message):
    if data is None:  # a real MIDI file cut in the middle of its track chunk
        data = _score([[(0, 480, 60, 80), (480, 480, 62, 80)]]).dumps_midi()[:30]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CadenzaError) as info:
        read_score(path)
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CadenzaError, match="no such file"):
        read_score(tmp_path / "nope.mid")
    (tmp_path / "dir.mid").mkdir()
    with pytest.raises(CadenzaError, match="not a file"):
        read_score(tmp_path / "dir.mid")


def test_midi_without_notes_is_rejected(tmp_path):
    path = write_midi(_score([[]]), tmp_path / "silent.mid")
    with pytest.raises(CadenzaError, match="contains no notes"):
        read_score(path)


def test_write_score_picks_format_by_suffix(tmp_path):
    score = _score([[(0, 480, 60, 80)]])
    assert io.write_score(score, tmp_path / "a.mid").read_bytes()[:4] == b"MThd"
    assert b"score-partwise" in io.write_score(score, tmp_path / "a.musicxml").read_bytes()[:2000]
    with pytest.raises(CadenzaError, match="cannot write"):
        io.write_score(score, tmp_path / "a.pdf")


def test_ties_merge_across_bars(tmp_path):
    # (music21's ABC reader drops ties written on chords, "[FA]2-", so none here.)
    path = tmp_path / "tied.abc"
    path.write_text("X:1\nT:t\nM:3/4\nL:1/8\nK:D\n[FA]2 F4-|F2 d2-|d2 e4|\n")
    notes = [(n.time, n.duration, n.pitch) for n in read_score(path).tracks[0].notes]
    assert notes == [(0, 480, 66), (0, 480, 69), (480, 1440, 66), (1920, 960, 74), (2880, 960, 76)]
