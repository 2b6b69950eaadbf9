"""The studio's Sound model tab: an smf run played at the sliders' x, y and pitch, gliding to a
second point; bad input is one line and writes nothing."""

from __future__ import annotations

import os
import re
import socket

import numpy as np
import pytest

pytest.importorskip("gradio")

from cadenza.audio.io import Audio
from cadenza.data.audio_sets import single_notes
from cadenza.errors import CadenzaError
from cadenza.models.audio.gan import GAN
from cadenza.models.audio.smf import SMF


@pytest.fixture(scope="module")
def root(tmp_path_factory, one_torch_thread):
    """A runs folder with a tiny smf (over a tiny GAN) and a GAN run that is not a sound model."""
    root = tmp_path_factory.mktemp("sound-model")
    notes = single_notes(programs=(0,), pitches=(60, 64, 67), velocities=(100,), seconds=0.2)["train"]
    gan = GAN(**dict(GAN.tiny_config, label="pitch", layers=3, max_steps=4)).fit(notes).save(root / "runs" / "gan")
    SMF(**dict(SMF.tiny_config, gan=str(gan), grid=3, som_factor=2, n_pitches=2, sequences=8, sounds_per_sequence=3,
               example_seconds=0.128, max_steps=3)).fit(notes).save(root / "runs" / "tiny-smf")
    (root / "no-shipped").mkdir()
    return root


@pytest.fixture
def studio(root, tmp_path):
    from cadenza.studio.service import Studio

    studio = Studio(runs=root / "runs", references={}, session_root=tmp_path / "sessions", corpora={},
                    pretrained=root / "no-shipped")
    yield studio
    studio.sessions.close()


def test_only_smf_runs_are_sound_models(studio):
    assert studio.sound_model_runs() == ["tiny-smf"]


def test_play_renders_the_notes_and_the_sliders_move_the_sound(studio):
    import cadenza

    model = cadenza.load(studio.runs / "tiny-smf")
    path, remarks = studio.sound_model_play("s1", "tiny-smf", 0.0, 0.0, 64, notes=2, seed=3)
    audio = Audio.read(path)
    assert audio.samples.shape[-1] == 2 * model.sound_frames_ * model.hop and remarks == []
    frames = np.zeros((2 * model.sound_frames_, 4), np.float32)  # what the tab asked of the model
    frames[:, 2], frames[::model.sound_frames_, 3] = 64, 1.0
    np.testing.assert_allclose(audio.samples[0], model.render_controls(frames, 3).samples[0], atol=1e-4)
    moved = Audio.read(studio.sound_model_play("s1", "tiny-smf", 1.0, 1.0, 64, notes=2, seed=3)[0])
    assert not np.allclose(moved.samples, audio.samples, atol=1e-4)  # x and y reach the sound
    glide = Audio.read(studio.sound_model_play("s1", "tiny-smf", 0.0, 0.0, 64, notes=2, to_x=1.0, to_y=1.0,
                                               seed=3)[0])
    assert not np.allclose(glide.samples, audio.samples, atol=1e-4)
    _, remarks = studio.sound_model_play("s1", "tiny-smf", 0.5, 0.5, 90, notes=1)
    assert remarks and "outside the keys it learned (60-67)" in remarks[0]


@pytest.mark.parametrize("args, message", [
    (("", 0.5, 0.5, 60), "choose a sound model"),
    (("gan", 0.5, 0.5, 60), "gan is not a sound model (smf) run here"),
    (("tiny-smf", 1.5, 0.5, 60), "x must be between 0 and 1, got 1.5"),
    (("tiny-smf", 0.5, "up", 60), "x, y and pitch must be numbers"),
    (("tiny-smf", 0.5, 0.5, 130), "pitch must be between 0 and 127"),
])
def test_bad_input_is_one_line_and_writes_nothing(studio, args, message):
    with pytest.raises(CadenzaError, match=re.escape(message)) as caught:
        studio.sound_model_play("s1", *args)
    assert "\n" not in str(caught.value)
    with pytest.raises(CadenzaError, match="notes: choose a whole number from 1 to 16"):
        studio.sound_model_play("s1", "tiny-smf", 0.5, 0.5, 60, notes=40)
    folder = studio.sessions.folder("s1")
    assert not [p for p in folder.rglob("*") if p.is_file()]


def test_the_sound_model_tab_through_the_api(root, tmp_path):
    gradio_client = pytest.importorskip("gradio_client")
    from cadenza.studio import launch

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo, url = launch("127.0.0.1", port, root / "runs", block=False, session_root=tmp_path / "sessions",
                       references={"bach": "bach"}, corpora={"bach": "bach"}, pretrained=root / "no-shipped")
    client = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    try:
        audio, status = client.predict("tiny-smf", 0.2, 0.8, 64, 2, 0.9, 0.1, 0, api_name="/sound_model")
        assert status == "Played." and Audio.read(audio).seconds > 0
        audio, status = client.predict("tiny-smf", 0.2, 0.8, 64, 2, 0.9, 0.1, -1, api_name="/sound_model")
        assert audio is None and status.startswith("**Error:** seed: choose a whole number") and "\n" not in status
    finally:
        client.close()
        demo.close()
