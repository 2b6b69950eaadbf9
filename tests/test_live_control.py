"""Live control (issue 17 part 2): map files, OSC on loopback and MIDI messages driving a playing
model, end to end to the audio, and every bad input as one clear line before any work."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from cadenza.errors import CadenzaError
from cadenza.realtime.controls import NoteTracker, ParameterTracker
from cadenza.realtime.live import LivePlayer, open_midi_input
from cadenza.realtime.mapping import ControlMap, LiveControls
from cadenza.realtime.osc import OscServer
from support import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "maps"
WITHIN_BLOCKS = 3  # a control reaches the audio no later than this many blocks after the block it is applied in
WAIT_S = 10.0  # how long a test waits for a loopback datagram before it fails (never a timing assertion)


@pytest.fixture(scope="module")
def ddsp(one_torch_thread):
    from cadenza.models.base import load

    return load("pretrained/ddsp-violin")


@pytest.fixture(scope="module")
def smf(one_torch_thread):
    from cadenza.models.base import load

    return load("pretrained/smf")


def write_map(tmp_path, text: str) -> Path:
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


def wait_for(condition) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "an OSC message sent on loopback never arrived"
        time.sleep(0.002)


def db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio)) + 1e-20))


def reference(model, count: int, block: int = 256, seed: int = 0) -> list[np.ndarray]:
    """``count`` blocks of the same player with no control at all (same seed: same noise)."""
    player = LivePlayer(model, LiveControls(ControlMap.default_for(model.tracker()), model.tracker()), block, seed)
    return [player.step() for _ in range(count)]


def first_changed(blocks: list[np.ndarray], ref: list[np.ndarray]) -> int:
    return next(i for i, (a, b) in enumerate(zip(blocks, ref)) if np.abs(a - b).max() > 1e-6)


# --- map files ---------------------------------------------------------------------------------------------


def test_the_example_maps_load_and_fit_their_models():
    ddsp_map = ControlMap.load(EXAMPLES / "ddsp.toml")
    assert ddsp_map.osc_port == 9000 and ddsp_map.osc_host == "127.0.0.1"
    assert {b.source: b.control for b in ddsp_map.bindings}["midi cc 11"] == "loudness"
    level = next(b for b in ddsp_map.bindings if b.osc == "/level")
    assert level.range == (-60.0, -10.0)
    ddsp_map.check(NoteTracker(16000, 64), "ddsp")
    smf_map = ControlMap.load(EXAMPLES / "smf.toml")
    assert [b.cc for b in smf_map.bindings if b.cc is not None] == [1, 2]
    smf_map.check(ParameterTracker(16000, 64), "smf")
    with pytest.raises(CadenzaError, match=r"\[\[bind\]\] 1 \(osc /xy/x\): ddsp has no control 'x' \(its controls: "
                                           r"pitch, f0, loudness, velocity, note\)"):
        smf_map.check(NoteTracker(16000, 64), "ddsp")


def test_the_default_map_binds_every_control_the_tracker_declares():
    notes = ControlMap.default_for(NoteTracker(16000, 64))
    assert {b.osc for b in notes.bindings if b.osc} == {"/pitch", "/f0", "/loudness", "/velocity", "/note"}
    grid = ControlMap.default_for(ParameterTracker(16000, 64, (1, 2)))
    assert {b.source: b.control for b in grid.bindings if b.midi} == {"midi note": "note", "midi cc 1": "x",
                                                                      "midi cc 2": "y"}
    assert {"/x", "/y", "/onset"} <= {b.osc for b in grid.bindings}


BAD_MAPS = [
    ("[[bind]\nosc = '/x'", "not valid TOML for a map file"),
    ("[sound]\nport = 1\n[[bind]]\nosc = '/x'\ncontrol = 'x'", "unknown section 'sound'"),
    ("[osc]\nport = 70000\n[[bind]]\nosc = '/x'\ncontrol = 'x'", "port must be a whole number from 0 to 65535"),
    ("[osc]\nspeed = 1\n[[bind]]\nosc = '/x'\ncontrol = 'x'", "[osc] has no setting 'speed'"),
    ("[osc]\nport = 9000", "binds nothing"),
    ("[[bind]]\nosc = 'pitch'\ncontrol = 'pitch'", "'pitch' is not an OSC address"),
    ("[[bind]]\nosc = '/pi tch'\ncontrol = 'pitch'", "is not an OSC address"),
    ("[[bind]]\nmidi = 'cc 200'\ncontrol = 'pitch'", "midi = 'cc 200' is not"),
    ("[[bind]]\nmidi = 'aftertouch'\ncontrol = 'pitch'", "is not \"note\", \"velocity\" or \"cc N\""),
    ("[[bind]]\nosc = '/p'\nmidi = 'note'\ncontrol = 'pitch'", "exactly one of osc"),
    ("[[bind]]\ncontrol = 'pitch'", "exactly one of osc"),
    ("[[bind]]\nosc = '/p'", "which control does it drive"),
    ("[[bind]]\nosc = '/p'\ncontrol = 'pitch'\nrange = [1, 1]", "range must be two different numbers"),
    ("[[bind]]\nosc = '/p'\ncontrol = 'pitch'\nrange = 'low'", "range must be two different numbers"),
    ("[[bind]]\nosc = '/p'\ncontrol = 'pitch'\ncurve = 'log'", "unknown key 'curve'"),
    ("[[bind]]\nmidi = 'note'\ncontrol = 'pitch'", "midi = \"note\" drives the control \"note\""),
    ("[[bind]]\nmidi = 'cc 1'\ncontrol = 'note'", "the control \"note\" takes notes"),
]


@pytest.mark.parametrize(("text", "message"), BAD_MAPS, ids=[m for _, m in BAD_MAPS])
def test_a_malformed_map_is_one_clear_line(tmp_path, text, message):
    path = write_map(tmp_path, text)
    with pytest.raises(CadenzaError) as error:
        ControlMap.load(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_a_missing_map_file_is_one_line(tmp_path):
    with pytest.raises(CadenzaError, match="no such map file"):
        ControlMap.load(tmp_path / "none.toml")


# --- trackers take controls by name -------------------------------------------------------------------------


def test_note_tracker_controls_override_notes():
    tracker = NoteTracker(16000, 64)
    tracker.set("note", (60, 100))
    assert tracker.f0 == pytest.approx(261.63, abs=0.01)
    tracker.set("pitch", 69.0)
    assert tracker.f0 == pytest.approx(440.0)
    tracker.set("f0", 220.0)
    assert tracker.frame()[0] == 220.0
    tracker.set("loudness", -30.0)
    levels = [tracker.frame()[1] for _ in range(200)]
    assert levels[-1] == pytest.approx(-30.0, abs=0.1)
    tracker.set("note", (60, 0))  # released: the continuous loudness still holds the level
    assert tracker.frame()[1] == pytest.approx(-30.0, abs=0.1)
    tracker.set("velocity", 0)
    assert [tracker.frame()[1] for _ in range(400)][-1] < -70
    with pytest.raises(KeyError):
        tracker.set("x", 0.5)


def test_parameter_tracker_controls_by_name():
    tracker = ParameterTracker(16000, 64, (1, 2))
    assert list(tracker.parameters) == ["x", "y", "pitch", "onset", "note"]
    tracker.set("x", 0.25)
    tracker.set("y", 2.0)  # clipped to the grid
    tracker.set("pitch", 64.5)
    assert tracker.frame() == (0.25, 1.0, 64.5, 0.0)
    tracker.set("onset", 1.0)
    assert tracker.frame()[3] == 1.0 and tracker.frame()[3] == 0.0
    tracker.set("note", (72, 90))
    assert tracker.frame()[2:] == (72.0, 1.0)
    tracker.note_on(60, 90)
    tracker.note_off(60)  # back to the note still held
    assert tracker.frame()[2] == 72.0


# --- messages -> controls ---------------------------------------------------------------------------------


def test_osc_and_midi_messages_become_controls(tmp_path):
    control_map = ControlMap.load(EXAMPLES / "ddsp.toml")
    tracker = NoteTracker(16000, 64)
    controls = LiveControls(control_map, tracker)
    controls.osc("/level", 0.5)  # a 0..1 fader over [-60, -10]
    controls.osc("/pitch", 62)  # in the control's units: no range
    controls.osc("/nowhere", 1.0)  # unbound: counted, ignored
    controls.osc("/pitch")  # no value: counted, ignored
    controls.osc("/pitch", float("nan"))
    controls.midi(mido.Message("control_change", control=11, value=127))
    controls.midi(mido.Message("control_change", control=7, value=127))  # unbound controller
    controls.midi(mido.Message("note_on", note=67, velocity=80))
    assert (controls.received, controls.unknown, controls.malformed) == (8, 2, 2)
    assert controls.apply(block=3) == 4
    assert [m.actions for m in controls.applied] == [[("loudness", -35.0)], [("pitch", 62.0)],
                                                     [("loudness", -15.0)], [("note", (67, 80))]]
    assert all(m.block == 3 for m in controls.applied)
    assert tracker.loudness == -15.0 and tracker.held == [(67, 80)]
    controls.midi(mido.Message("note_off", note=67))
    controls.apply(block=4)
    assert tracker.held == []

    smf_controls = LiveControls(ControlMap.load(EXAMPLES / "smf.toml"), ParameterTracker(16000, 64))
    smf_controls.midi(mido.Message("note_on", note=60, velocity=127))  # note, and velocity -> y over [0.2, 1]
    smf_controls.midi(mido.Message("control_change", control=1, value=0))
    smf_controls.apply(block=0)
    assert smf_controls.tracker.frame() == (0.0, 1.0, 60.0, 1.0)


# --- end to end: OSC on loopback, MIDI messages, to the audio --------------------------------------------


def test_osc_on_loopback_reaches_the_audio_within_a_few_blocks(ddsp):
    controls = LiveControls(ControlMap.default_for(ddsp.tracker()), ddsp.tracker())
    player = LivePlayer(ddsp, controls, block=256)
    ref = reference(ddsp, 40)
    with OscServer(controls.osc, port=0) as server:
        client = SimpleUDPClient("127.0.0.1", server.port)
        blocks = [player.step() for _ in range(10)]
        client.send_message("/loudness", -20.0)
        client.send_message("/not/bound", 1.0)
        wait_for(lambda: controls.received == 2)
        blocks += [player.step() for _ in range(10)]
        client.send_message("/pitch", 81.0)  # A5: an octave above the first f0 (440 Hz)
        wait_for(lambda: controls.received == 3)
        blocks += [player.step() for _ in range(20)]
    loud, pitch = controls.applied
    assert (loud.block, pitch.block, controls.unknown) == (10, 20, 1)
    changed = first_changed(blocks, ref)
    assert loud.block <= changed <= loud.block + WITHIN_BLOCKS
    quiet, sounding = db(np.concatenate(blocks[:10], -1)), db(blocks[loud.block + WITHIN_BLOCKS])
    assert sounding > quiet + 40  # from the floor to -20 dB
    assert sounding == pytest.approx(-21, abs=8)

    def peak_hz(audio):
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        return np.argmax(spectrum) * ddsp.sample_rate / len(audio)

    before = np.concatenate(blocks[12:20], -1)[0]
    after = np.concatenate(blocks[pitch.block + WITHIN_BLOCKS:pitch.block + WITHIN_BLOCKS + 8], -1)[0]
    assert peak_hz(before) == pytest.approx(440, rel=0.05)
    assert peak_hz(after) == pytest.approx(880, rel=0.05)
    assert len(player.latencies()) == 2 and (player.latencies() >= 0).all()


def test_osc_moves_the_smf_grid_from_the_block_it_is_applied_in(smf, tmp_path):
    control_map = ControlMap.load(write_map(tmp_path, "[[bind]]\nosc = '/pad/x'\ncontrol = 'x'\n"
                                                      "[[bind]]\nosc = '/hit'\ncontrol = 'onset'\n"))
    control_map.check(smf.tracker(), smf.name)
    controls = LiveControls(control_map, smf.tracker())
    player = LivePlayer(smf, controls, block=256)
    ref_controls = LiveControls(control_map, smf.tracker())
    ref_player = LivePlayer(smf, ref_controls, block=256)
    ref_controls.osc("/hit", 1)  # both start with a note; only one moves x
    controls.osc("/hit", 1)
    ref = [ref_player.step() for _ in range(20)]
    with OscServer(controls.osc, port=0) as server:
        blocks = [player.step() for _ in range(6)]
        SimpleUDPClient("127.0.0.1", server.port).send_message("/pad/x", 0.0)
        wait_for(lambda: controls.received == 2)
        blocks += [player.step() for _ in range(14)]
    moved = controls.applied[-1]
    assert moved.block == 6 and np.abs(np.concatenate(blocks[:6], -1) - np.concatenate(ref[:6], -1)).max() == 0
    assert moved.block <= first_changed(blocks, ref) <= moved.block + WITHIN_BLOCKS


def test_midi_messages_play_the_model(ddsp):
    bindings = {"bind": [{"midi": "note"}, {"midi": "cc 74", "control": "loudness", "range": [-60, -10]}]}
    controls = LiveControls(ControlMap.from_dict(bindings), ddsp.tracker())
    player = LivePlayer(ddsp, controls, block=256)
    silent = [player.step() for _ in range(5)]
    controls.midi(mido.Message("note_on", note=72, velocity=110))  # what a port's callback does
    note = [player.step() for _ in range(10)]
    controls.midi(mido.Message("control_change", control=74, value=0))  # down to -60 dB
    soft = [player.step() for _ in range(30)]
    assert [m.block for m in controls.applied] == [5, 15]
    assert db(note[WITHIN_BLOCKS]) > db(np.concatenate(silent, -1)) + 40
    assert db(np.concatenate(soft[-5:], -1)) < db(np.concatenate(note[-5:], -1)) - 20


def test_a_virtual_midi_port_plays_through_the_backend(ddsp):
    """Through python-rtmidi where the machine has a MIDI system; skipped cleanly where ports cannot open."""
    try:
        out = mido.open_output("cadenza-test", virtual=True)
    except Exception as exc:  # no ALSA sequencer / CoreMIDI here
        pytest.skip(f"no virtual MIDI port: {str(exc).splitlines()[0][:80]}")
    controls = LiveControls(ControlMap.default_for(ddsp.tracker()), ddsp.tracker())
    with out, open_midi_input("cadenza-test", controls.midi) as port:
        assert port.name
        out.send(mido.Message("note_on", note=64, velocity=100))
        wait_for(lambda: controls.received == 1)
    assert controls.apply(0) == 1 and controls.tracker.held == [(64, 100)]


def test_paced_run_keeps_every_block(ddsp):
    controls = LiveControls(ControlMap.default_for(ddsp.tracker()), ddsp.tracker())
    controls.osc("/note", 60, 100)
    player = LivePlayer(ddsp, controls, block=512)
    audio = player.run(0.1)
    assert audio.shape == (1, 4 * 512) and player.blocks == 4  # ceil(0.1 s / 32 ms)
    report = player.report()
    assert report["messages"] == 1 and report["applied"] == 1 and "control_median_ms" in report
    with pytest.raises(CadenzaError, match="multiple of the model's hop"):
        LivePlayer(ddsp, controls, block=100)


# --- inputs that do not exist ---------------------------------------------------------------------------


def test_a_midi_port_that_does_not_exist_is_one_line():
    with pytest.raises(CadenzaError) as error:
        open_midi_input("No Such Keyboard", lambda message: None)
    text = str(error.value)
    assert len(text.splitlines()) == 1 and "MIDI" in text  # no MIDI system here, or no port of that name


def test_an_osc_port_in_use_is_one_line():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(CadenzaError, match=rf"cannot listen for OSC on 127.0.0.1:{taken.getsockname()[1]} \("):
            OscServer(lambda *a: None, port=taken.getsockname()[1])
    finally:
        taken.close()
    with pytest.raises(CadenzaError, match="cannot listen for OSC on 192.0.2.1"):  # not this machine's address
        OscServer(lambda *a: None, port=0, host="192.0.2.1")


# --- the command line --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_play_records_an_osc_controlled_take(ddsp, tmp_path, capsys):
    from cadenza.audio.io import read_audio

    path = write_map(tmp_path, "[[bind]]\nosc = '/level'\ncontrol = 'loudness'\nrange = [-60, -10]\n")
    port, done = free_port(), threading.Event()

    def perform():  # a fader pushed up and held, until the take is over
        client = SimpleUDPClient("127.0.0.1", port)
        while not done.is_set():
            client.send_message("/level", 0.8)
            time.sleep(0.02)

    sender = threading.Thread(target=perform, daemon=True)
    sender.start()
    try:
        code, out, err = run_cli(["play", "--model", "pretrained/ddsp-violin", "--osc", port, "--map", path,
                                  "--out", tmp_path / "take.wav", "--seconds", "0.5"], capsys)
    finally:
        done.set()
        sender.join()
    assert code == 0, err
    out = " ".join(out.split())
    assert f"OSC in: 127.0.0.1:{port}" in out and "osc /level -> loudness" in out
    audio, rate = read_audio(tmp_path / "take.wav")
    assert rate == ddsp.sample_rate and audio.shape[-1] == 32 * 256  # ceil(0.5 s / 16 ms) blocks
    received = int(out.split(" messages")[0].rsplit(" ", 1)[-1])
    assert received > 0 and "control to audio median" in out
    assert db(audio[..., -2048:]) > -40  # the fader's -20 dB reached the take


def test_cli_play_with_osc_port_zero_and_the_default_map(tmp_path, capsys):
    code, out, err = run_cli(["play", "--model", "pretrained/smf", "--osc", "0", "--out", tmp_path / "t.wav",
                              "--seconds", "0.1"], capsys)
    assert code == 0, err
    out = " ".join(out.split())
    assert "OSC in: 127.0.0.1:" in out and "osc /x -> x" in out and "midi cc 1 -> x" in out


BAD_CLI = [
    (["--midi-in", "No Such Keyboard"], "MIDI"),
    (["--port", "No Such Keyboard"], "MIDI"),
    (["--osc", "0", "--map", "MAP:[[bind]]\nosc = '/x'\ncontrol = 'x'\n"], "ddsp has no control 'x' (its controls: "),
    (["--osc", "0", "--map", "MAP:[[bind]]\nosc = 'x'\ncontrol = 'pitch'\n"], "is not an OSC address"),
    (["--osc", "0", "--map", "MAP:[[bind]\n"], "not valid TOML for a map file"),
    (["--osc", "0", "--map", "NONE"], "no such map file"),
    (["--osc", "0", "--block", "100"], "multiple of the model's hop"),
    (["--osc", "70000"], "--osc must be between 0 and 65535"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_CLI, ids=[m for _, m in BAD_CLI])
def test_cli_play_bad_input_is_one_line_before_any_audio(tmp_path, capsys, extra, message):
    args = []
    for arg in extra:
        if arg.startswith("MAP:"):
            arg = write_map(tmp_path, arg[4:])
        elif arg == "NONE":
            arg = tmp_path / "none.toml"
        args.append(arg)
    take = tmp_path / "take.wav"
    code, _, err = run_cli(["play", "--model", "pretrained/ddsp-violin", "--out", take, "--seconds", "0.2", *args],
                           capsys)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not take.exists()


def test_cli_play_out_needs_seconds_and_an_audio_suffix(tmp_path, capsys):
    code, _, err = run_cli(["play", "--model", "pretrained/ddsp-violin", "--osc", "0", "--out", tmp_path / "t.wav"],
                           capsys)
    assert code == 2 and "--seconds" in err
    code, _, err = run_cli(["play", "--model", "pretrained/ddsp-violin", "--osc", "0", "--seconds", "0.1",
                            "--out", tmp_path / "t.mp4"], capsys)
    assert code == 2 and "cannot write '.mp4' audio" in err


def test_cli_play_help_explains_the_options(capsys):
    code, out, _ = run_cli(["play", "--help"], capsys)
    assert code == 0
    for flag in ("--osc", "--midi-in", "--map", "--out", "--seconds"):
        assert flag in out
