"""The studio's Vamp tab: a maskgit run vamps an upload (or generates from nothing), with a
picture of the mask over the waveform; bad input is one line and writes nothing."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

pytest.importorskip("gradio")

import support
from cadenza.audio.io import Audio
from cadenza.errors import CadenzaError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def _threads(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A runs folder with a tiny maskgit (its codec trained inside it) and a markov run, and
    a half-second recording."""
    import cadenza
    from cadenza.data.audio_sets import from_scores
    from cadenza.models.audio.maskgit import MaskGIT

    root = tmp_path_factory.mktemp("vamp")
    data = from_scores([support.melody([67, 69, 71, 72], beats=0.5), support.melody([72, 76, 79], beats=0.5)],
                       73, "tiny")
    MaskGIT(**MaskGIT.tiny_config).fit(data).save(root / "runs" / "tiny-vamp")
    cadenza.create("markov", order=1).fit([support.melody([60, 62, 64, 65, 67] * 4)]).save(root / "runs" / "notes")
    Audio(np.asarray(data.audio[0][:int(0.5 * data.sample_rate)], np.float32)[None], data.sample_rate) \
        .write(root / "in.wav")
    (root / "no-shipped").mkdir()
    return root


@pytest.fixture
def studio(root, tmp_path):
    from cadenza.studio.service import Studio

    studio = Studio(runs=root / "runs", references={}, session_root=tmp_path / "sessions", corpora={},
                    pretrained=root / "no-shipped")
    yield studio
    studio.sessions.close()


def written(studio, session="s1") -> list[str]:
    folder = studio.sessions.folder(session)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and
                  not p.name.startswith("upload-"))


def test_vamp_runs_are_the_maskgit_runs_and_the_shipped_one(root, tmp_path):
    from cadenza.studio.service import Studio

    studio = Studio(runs=root / "runs", references={}, session_root=tmp_path / "sessions", corpora={})
    assert studio.vamp_runs() == ["tiny-vamp", "pretrained/vamp"]  # the package's pretrained/vamp
    assert studio.run_dir("pretrained/vamp").name == "vamp"
    for name in ("pretrained/../runs", "pretrained/nope", "../tiny-vamp"):
        with pytest.raises(CadenzaError, match="no run called"):
            studio.run_dir(name)


def test_vamp_an_upload_writes_audio_of_its_length_and_the_mask_picture(root, studio):
    from cadenza.models.audio.maskgit_masks import build

    result = studio.vamp("s1", "tiny-vamp", str(root / "in.wav"), "periodic:3", steps=2, seed=1)
    source, out = Audio.read(root / "in.wav"), Audio.read(result["audio"])
    assert out.sample_rate == source.sample_rate and abs(out.seconds - source.seconds) < 1e-3
    with open(result["image"], "rb") as f:
        assert f.read(8) == PNG
    # the kept share is the mask array's: periodic:3 keeps frames 0, 3, 6, ... of every codebook
    model = studio.load_run("tiny-vamp")
    frames = int(np.ceil(len(source) / model.codec.frame_samples))
    expected = build("periodic:3", model.config.codebooks, frames, model.frame_rate).mean()
    assert result["kept"] == pytest.approx(expected) and result["kept"] == pytest.approx(1 / 3, abs=0.05)
    assert result["status"].startswith("Vamped with tiny-vamp, seed 1: kept 3") and "(periodic:3)" in result["status"]
    assert "\n" not in result["status"]
    # seeded: same seed, same vamp
    again = studio.vamp("s1", "tiny-vamp", str(root / "in.wav"), "periodic:3", steps=2, seed=1)
    assert Audio.read(again["audio"]) == out
    # a longer output continues after the recording; rules joined are listed
    longer = studio.vamp("s1", "tiny-vamp", str(root / "in.wav"), "prefix:0.1, codebooks:1", steps=2, seconds=0.8)
    assert abs(Audio.read(longer["audio"]).seconds - 0.8) < 1e-3
    assert "(prefix:0.1 + codebooks:1)" in longer["status"] and "continued" in longer["status"]
    assert 0 < longer["kept"] < 1


def test_vamp_from_nothing(studio):
    from cadenza.studio.service import VAMP_SECONDS

    result = studio.vamp("s1", "tiny-vamp", None, "periodic:7", steps=2, seed=0, seconds=0.4)
    out = Audio.read(result["audio"])
    assert abs(out.seconds - 0.4) < 1e-3 and np.isfinite(out.samples).all()
    assert result["kept"] == 0 and result["status"].startswith("Generated 0.4 s from nothing with tiny-vamp")
    with open(result["image"], "rb") as f:
        assert f.read(8) == PNG
    default = studio.vamp("s1", "tiny-vamp", None, "none", steps=1, seed=0)
    assert abs(Audio.read(default["audio"]).seconds - VAMP_SECONDS) < 1e-3


@pytest.mark.parametrize("mask, steps, seconds, upload, match", [
    ("wobble:2", 2, None, "in.wav", "bad mask 'wobble:2'"),
    ("", 2, None, "in.wav", "bad mask"),
    ("periodic:1", 2, None, "in.wav", "keeps every token"),
    ("prefix:0", 2, None, "in.wav", "say none"),
    ("periodic:3", 0, None, "in.wav", "steps: choose a whole number from 1 to 36"),
    ("periodic:3", 2, 61, "in.wav", "seconds: choose a number above 0 and at most 60"),
    ("periodic:3", 2, None, "long.wav", "recording: "),
    ("periodic:3", 2, None, "short.wav", "recording: too short"),
    ("periodic:3", 2, None, "tune.mid", "recording: .mid is not accepted"),
])
def test_bad_input_is_one_line_and_writes_nothing(root, studio, tmp_path, mask, steps, seconds, upload, match):
    rate = 16000
    Audio(np.full((1, 61 * rate), 0.1, np.float32), rate).write(tmp_path / "long.wav")
    Audio(np.full((1, 3), 0.5, np.float32), rate).write(tmp_path / "short.wav")
    (tmp_path / "tune.mid").write_bytes(b"MThd")
    path = root / "in.wav" if upload == "in.wav" else tmp_path / upload
    with pytest.raises(CadenzaError, match=match) as caught:
        studio.vamp("s1", "tiny-vamp", str(path), mask, steps=steps, seed=0, seconds=seconds)
    assert "\n" not in str(caught.value)
    assert written(studio) == []


def test_runs_that_cannot_vamp_are_refused(root, studio, tmp_path):
    from cadenza.studio.service import NO_VAMP, Studio

    with pytest.raises(CadenzaError, match="notes is a markov run: vamping needs a maskgit run"):
        studio.vamp("s1", "notes", str(root / "in.wav"), "periodic:3")
    with pytest.raises(CadenzaError, match="no run called '../tiny-vamp'"):
        studio.vamp("s1", "../tiny-vamp", str(root / "in.wav"), "periodic:3")
    with pytest.raises(CadenzaError, match="choose a maskgit model"):
        studio.vamp("s1", "", None, "periodic:3")
    empty = Studio(runs=tmp_path / "none", references={}, session_root=tmp_path / "sessions2", corpora={},
                   pretrained=root / "no-shipped")
    assert empty.vamp_runs() == []
    with pytest.raises(CadenzaError, match="No maskgit model yet"):
        empty.vamp(None, None, None, "periodic:7")
    assert "cadenza train maskgit" in NO_VAMP and written(studio) == []


def test_the_mask_picture_shades_each_codebook_kept_differently(tmp_path):
    from cadenza.models.audio.maskgit_masks import build, kept_runs, plot_mask

    assert kept_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)).tolist() == [[0, 2], [3, 4], [6, 7]]
    assert kept_runs(np.zeros(4, bool)).shape == (0, 2)
    keep = build("periodic:4+codebooks:1", 3, 40, 50.0)
    wave = np.sin(np.linspace(0, 60, 12800))
    path = plot_mask(keep, 50.0, tmp_path / "mask.png", wave, 16000, "bands")
    assert path.read_bytes()[:8] == PNG


def test_the_vamp_tab_through_the_api(root, tmp_path):
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
        upload = gradio_client.handle_file(str(root / "in.wav"))
        status, audio, image = client.predict("tiny-vamp", upload, "periodic:3", 4, 2, 1.0, None, False,
                                              api_name="/vamp")
        assert status.startswith("Vamped with tiny-vamp, seed 2: kept 3"), status
        assert abs(Audio.read(audio).seconds - Audio.read(root / "in.wav").seconds) < 1e-3
        with open(image, "rb") as f:
            assert f.read(8) == PNG
        status, audio, image = client.predict("tiny-vamp", None, "periodic:7", 4, 0, 1.0, 0.3, False,
                                              api_name="/vamp")
        assert status.startswith("Generated 0.3 s from nothing"), status
        status, audio, image = client.predict("tiny-vamp", upload, "periodic:x", 4, 0, 1.0, None, False,
                                              api_name="/vamp")
        assert status.startswith("**Error:** bad mask 'periodic:x'") and "\n" not in status
        assert audio is None and image is None
        status, *_ = client.predict("tiny-vamp", upload, "periodic:3", 4, 0, -1, None, False, api_name="/vamp")
        assert status.startswith("**Error:** temperature: choose a number above 0")
    finally:
        client.close()
        demo.close()
