"""The demo writes MIDI, MusicXML, WAV and PNG that other programs can open."""

from __future__ import annotations

import json

from cadenza.audio.io import read_audio
from cadenza.demo import run_demo
from cadenza.music import read_score


def test_demo_outputs_open(tmp_path, bach):
    report = run_demo(tmp_path / "demo", n=2, seed=0, length=24, progress=False)
    assert report.train_pieces + report.test_pieces < 350 and 2.0 < report.bits_per_note < 8.0
    assert len(report.samples) == 2
    for sample in report.samples:
        stem = tmp_path / "demo" / sample["name"]
        midi = read_score(stem.with_suffix(".mid"))
        assert midi.note_num() == sample["notes"] > 0
        xml = read_score(stem.with_suffix(".musicxml"))
        assert [n.pitch for n in xml.tracks[0].notes] == [n.pitch for n in midi.tracks[0].notes]
        audio, rate = read_audio(stem.with_suffix(".wav"))
        assert audio.shape[1] / rate >= sample["seconds"] - 0.01 and abs(audio).max() > 0.01
        assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((tmp_path / "demo" / "run" / "cadenza.json").read_text())
    assert record["metrics"]["test_bits_per_note"] == report.bits_per_note
