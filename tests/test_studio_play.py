"""The studio's Play tab (issue 17, part 2): a streaming model's live controls gliding over a take,
through the same path as ``cadenza play`` over OSC; bad input is one line and writes nothing."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")

from cadenza.audio import features
from cadenza.audio.io import Audio
from cadenza.errors import CadenzaError

DDSP, SMF = "pretrained/ddsp-violin", "pretrained/smf"


@pytest.fixture
def studio(tmp_path, one_torch_thread):
    """A studio over an empty runs folder and the shipped runs."""
    from cadenza.studio.service import Studio

    studio = Studio(runs=tmp_path / "runs", references={}, session_root=tmp_path / "sessions", corpora={})
    yield studio
    studio.sessions.close()


def quarters_db(samples: np.ndarray) -> np.ndarray:
    """The level (dB RMS) of each quarter of a take."""
    return np.array([10 * np.log10(np.mean(np.square(q)) + 1e-20) for q in np.array_split(samples[0], 4)])


def median_f0(samples: np.ndarray, sample_rate: int) -> float:
    """The median YIN pitch (Hz) of the voiced frames of a clip."""
    f0, confidence = features.pitch(samples, sample_rate, 256, method="yin")
    return float(np.median(f0[confidence > 0.5]))


def test_the_streaming_runs_and_their_controls(studio):
    runs = studio.play_runs()
    assert {DDSP, SMF, "pretrained/wavenet-violin"} <= set(runs)
    assert "pretrained/vamp" not in runs and "pretrained/vae-violin" not in runs
    ddsp = studio.play_controls(DDSP)
    assert [c["name"] for c in ddsp] == ["pitch", "f0", "loudness", "velocity"]  # note is an event, not a slider
    for c in ddsp:
        assert c["low"] <= c["default"] <= c["high"] and c["description"]
    assert not any(c["selected"] for c in ddsp)  # the notes decide pitch and loudness until a control is moved
    smf = {c["name"]: c for c in studio.play_controls(SMF)}
    assert list(smf) == ["x", "y", "pitch"] and (smf["x"]["low"], smf["x"]["high"]) == (0.0, 1.0)
    assert smf["x"]["selected"] and smf["y"]["selected"] and not smf["pitch"]["selected"]


def test_a_loudness_glide_rises_and_a_pitch_glide_moves_the_peak(studio):
    rate = studio.load_run(DDSP).sample_rate
    result = studio.play("s1", DDSP, {"loudness": -50, "pitch": 64}, {"loudness": -15}, 3.0, None, 0)
    assert result["status"].startswith(f"Played 3 s of {DDSP}, seed 0: loudness -50 to -15, pitch 64")
    assert "\n" not in result["status"] and Path(result["image"]).stat().st_size > 0
    audio = Audio.read(result["audio"])
    assert audio.sample_rate == rate and audio.samples.shape[-1] == 3 * rate
    level = quarters_db(audio.samples)
    assert level[-1] > level[0] + 10 and np.all(np.diff(level) > -3), level

    glide = Audio.read(studio.play("s1", DDSP, {"pitch": 57, "loudness": -20}, {"pitch": 81}, 3.0)["audio"])
    low, high = (median_f0(part, rate) for part in (glide.samples[:, rate // 4:rate], glide.samples[:, -rate // 2:]))
    assert 2.5 < high / low < 6, (low, high)  # two octaves up, by the output's pitch


def test_the_take_is_what_osc_faders_moved_the_same_way_give(studio):
    from cadenza.realtime.live import LivePlayer
    from cadenza.realtime.mapping import ControlMap, LiveControls

    model = studio.load_run(DDSP)
    take = Audio.read(studio.play("s1", DDSP, {"loudness": -40}, {"loudness": -20}, 1.0, [62, 69], 5)["audio"])
    tracker = model.tracker()
    controls = LiveControls(ControlMap.default_for(tracker), tracker)
    player = LivePlayer(model, controls, 256, 5)
    blocks = int(np.ceil(model.sample_rate / 256))
    out = []
    for i in range(blocks):
        if i in (0, blocks // 2):
            controls.osc("/note", 62 if i == 0 else 69, 100)  # each note in its half of the take
        if i == int(0.9 * (blocks // 2)):
            controls.osc("/note", 62, 0)
        controls.osc("/loudness", -40 + 20 * i / (blocks - 1))
        out.append(player.step())
    live = np.concatenate(out, axis=-1)[:, :model.sample_rate]
    np.testing.assert_allclose(take.samples, live, atol=2e-3)


def test_the_smf_x_glide_changes_the_sound(studio):
    still = Audio.read(studio.play("s1", SMF, {"x": 0.0}, None, 2.0, "60 64 67", 1)["audio"]).samples
    again = Audio.read(studio.play("s1", SMF, {"x": 0.0}, None, 2.0, "60 64 67", 1)["audio"]).samples
    moved = Audio.read(studio.play("s1", SMF, {"x": 0.0}, {"x": 1.0}, 2.0, "60 64 67", 1)["audio"]).samples
    np.testing.assert_array_equal(still, again)  # same seed, same take
    assert np.sqrt(np.mean(np.square(still))) > 1e-3  # the notes sound
    assert not np.allclose(moved, still, atol=1e-3)


BAD = [
    ((DDSP, {"x": 0.5}, None), "ddsp has no control 'x' to glide, not one of them (its controls: pitch, f0, "
                               "loudness, velocity)"),
    ((DDSP, {"note": 60}, None), "has no control 'note' to glide, an event (strike notes with the notes box)"),
    ((DDSP, {"loudness": 5}, None), "start: loudness goes from -80 to -10, got 5"),
    ((DDSP, None, {"pitch": float("nan")}), "end: pitch goes from 0 to 127, got nan"),
    ((DDSP, {"pitch": "high"}, None), "start: pitch must be a number, got 'high'"),
    ((DDSP, {"pitch": 60}, {"f0": 300}), "pitch and f0 drive the same thing: move one of them"),
    ((DDSP, None, None, 0), "seconds: choose a number above 0 and at most 30, got 0"),
    ((DDSP, None, None, 31), "seconds: choose a number above 0 and at most 30, got 31"),
    ((DDSP, None, None, 1, "60 x"), "notes: each a MIDI key: a whole number, got 'x'"),
    ((DDSP, None, None, 1, [60, 200]), "notes: each a MIDI key: choose a whole number from 0 to 127, got 200"),
    ((DDSP, None, None, 1, None, -1), "seed: choose a whole number"),
    (("pretrained/vamp", None, None), "pretrained/vamp is a maskgit run: it does not stream"),
    (("nothing", None, None), "no run called 'nothing' in the runs folder"),
    (("", None, None), "choose a model to play"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_is_one_line_and_writes_nothing(studio, args, message):
    with pytest.raises(CadenzaError, match=re.escape(message)) as caught:
        studio.play("s1", *args)
    assert "\n" not in str(caught.value)
    assert not [p for p in studio.sessions.folder("s1").rglob("*") if p.is_file()]
    if args[0] == "":
        with pytest.raises(CadenzaError, match="choose a model to play"):
            studio.play_controls("")


def test_the_play_tab_through_the_api(tmp_path, one_torch_thread):
    gradio_client = pytest.importorskip("gradio_client")
    from cadenza.studio import launch

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo, url = launch("127.0.0.1", port, tmp_path / "runs", block=False, session_root=tmp_path / "sessions",
                       references={"bach": "bach"}, corpora={"bach": "bach"})
    client = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    try:
        status, audio, image = client.predict(SMF, '{"x": 0}', '{"x": 1, "y": 0.2}', 1.0, "60 64", 0,
                                              api_name="/play")
        assert status.startswith(f"Played 1 s of {SMF}, seed 0: x 0 to 1, y 0.2; notes 60 64")
        assert Audio.read(audio).seconds == pytest.approx(1.0, abs=0.02) and Path(image).stat().st_size > 0
        status, audio, image = client.predict(SMF, '{"z": 0}', "", 1.0, "", 0, api_name="/play")
        assert audio is None and image is None and "\n" not in status
        assert status.startswith("**Error:** start: smf has no control 'z'")
        status, audio, _ = client.predict(SMF, "[1]", "", 1.0, "", 0, api_name="/play")
        assert audio is None and status.startswith("**Error:** start: a JSON object")
    finally:
        client.close()
        demo.close()


def test_the_page_shows_the_run_s_controls_and_plays_the_ticked_ones(tmp_path, one_torch_thread):
    from types import SimpleNamespace

    from cadenza.studio.app import build_app

    demo = build_app(tmp_path / "runs", references={"bach": "bach"}, session_root=tmp_path / "sessions",
                     corpora={"bach": "bach"})
    fns = list(demo.fns.values()) if isinstance(demo.fns, dict) else list(demo.fns)
    change = next(f for f in fns if [type(c).__name__ for c in f.inputs] == ["Dropdown"] and len(f.outputs) == 10)
    page = next(f for f in fns if f.name == "play_from_page")
    ticks, *sliders, status = change.fn(SMF)
    assert ticks["choices"] == ["x", "y", "pitch"] and ticks["value"] == ["x", "y"]
    starts, ends = sliders[:4], sliders[4:]
    assert [s["visible"] for s in starts] == [s["visible"] for s in ends] == [True, True, False, False]
    assert starts[0]["label"] == "x: start" and (starts[0]["minimum"], starts[0]["maximum"]) == (0.0, 1.0)
    assert starts[2]["label"] == "pitch: start" and starts[2]["maximum"] == 127.0

    def component(kind: str, label: str | None = None):
        return next(c for c in page.inputs if type(c).__name__ == kind and (label is None or c.label == label))

    data = {c: c.value for c in page.inputs}
    data.update({component("Dropdown"): SMF, component("CheckboxGroup"): ["x"], component("Textbox", "notes"): "60 64"})
    for slider in (c for c in page.inputs if type(c).__name__ == "Slider"):  # every start at 0, every end at 1
        data[slider] = 0.0 if slider.label.endswith("start") else 1.0
    text, audio, image = page.fn(data, SimpleNamespace(session_hash="page"))
    assert text.startswith(f"Played 4 s of {SMF}, seed 0: x 0 to 1; notes 60 64"), text
    assert Audio.read(audio).seconds == pytest.approx(4.0, abs=0.02) and Path(image).is_file()
    demo.studio.sessions.close()
