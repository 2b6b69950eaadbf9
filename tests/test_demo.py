"""The demo writes MIDI, MusicXML, WAV and PNG that other programs can open."""

from __future__ import annotations

import json

from cadenza.audio.io import read_audio
from cadenza.demo import ORDERS, common_key, run_demo
from cadenza.music import read_score
from cadenza.music.theory import parse_key


def test_demo_outputs_open(tmp_path, bach):
    report = run_demo(tmp_path / "demo", n=2, seed=0, length=24, progress=False)
    assert report.train_pieces + report.valid_pieces + report.test_pieces == len(bach)
    assert 2.0 < report.bits_per_note < 8.0 and 2.0 < report.valid_bits_per_note < 8.0
    # The order is the one that predicts the validation chorales best.
    assert sorted(report.valid_bits_by_order) == list(ORDERS)
    assert report.valid_bits_per_note == min(report.valid_bits_by_order.values())
    assert report.valid_bits_by_order[report.order] == report.valid_bits_per_note
    assert report.key in report.constraints and "cadence" in report.constraints
    tonic, allowed = parse_key(report.key).tonic, parse_key(report.key).melody_classes
    assert len(report.samples) == 2
    for sample in report.samples:
        stem = tmp_path / "demo" / sample["name"]
        midi = read_score(stem.with_suffix(".mid"))
        assert midi.note_num() == sample["notes"] > 0
        pitches = [n.pitch for n in sorted(midi.tracks[0].notes, key=lambda n: n.time)]
        assert all(p % 12 in allowed for p in pitches)  # in the key
        assert pitches[-1] % 12 == tonic  # ends on the tonic
        xml = read_score(stem.with_suffix(".musicxml"))
        assert [n.pitch for n in xml.tracks[0].notes] == [n.pitch for n in midi.tracks[0].notes]
        audio, rate = read_audio(stem.with_suffix(".wav"))
        assert audio.shape[1] / rate >= sample["seconds"] - 0.01 and abs(audio).max() > 0.01
        assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((tmp_path / "demo" / "run" / "cadenza.json").read_text())
    assert record["config"]["order"] == report.order and record["config"]["viewpoint"] == "joint"
    assert record["metrics"]["test_bits_per_note"] == report.bits_per_note
    assert record["metrics"]["valid_bits_per_note"] == report.valid_bits_per_note


def test_common_key_names_the_most_common_signature(bach):
    import symusic

    def piece(sharps, minor):
        score = symusic.Score(480)
        score.key_signatures.append(symusic.KeySignature(0, sharps, minor))
        return score
    assert common_key([piece(1, 0), piece(1, 0), piece(0, 1)]) == "G major"
    assert common_key([piece(0, 1)]) == "A minor"
    assert common_key([piece(-2, 1)]) == "G minor"
    assert common_key([piece(-3, 0)]) == "Eb major"
    assert common_key([symusic.Score(480)]) == "G major"
