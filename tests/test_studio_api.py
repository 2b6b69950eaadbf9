"""The studio through its API (gradio_client against a launched app on a free local port),
and its guards: uploads, run names, session folders, the CLI's host warning."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from cadenza.errors import CadenzaError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def melody(seed: int, low: int = 60, high: int = 79):
    import symusic

    rng = np.random.default_rng(seed)
    score, track, pitch = symusic.Score(480), symusic.Track("Melody"), (low + high) // 2
    for i in range(64):
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2]), low, high))
        track.notes.append(symusic.Note(i * 480, 480, pitch, 90))
    score.tracks.append(track)
    return score


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    import cadenza
    from cadenza.music.io import write_midi
    from cadenza.studio import launch

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    root = tmp_path_factory.mktemp("studio")
    runs = root / "runs"
    cadenza.create("markov", order=2).fit([melody(i) for i in range(6)]).save(runs / "tiny-markov")
    folder = root / "corpus"
    folder.mkdir()
    for i in range(16):
        write_midi(melody(100 + i, 62, 74), folder / f"tune{i:02d}.mid")
    demo, url = launch("127.0.0.1", free_port(), runs, block=False, session_root=root / "sessions",
                       references={"tunes": str(folder)}, corpora={"tunes": str(folder)})
    client = gradio_client.Client(url, verbose=False, download_files=str(root / "downloads"))
    yield demo, client, runs, root
    client.close()
    demo.close()


def generate(client, source, options=None, n=1, seed=0):
    out = client.predict(source, json.dumps(options or {}), n, seed, api_name="/generate")
    return {"status": out[0], "image": out[1], "audio": out[2], "files": out[3]}


def first_midi(out: dict) -> str:
    return next(f for f in out["files"] if f.endswith(".mid"))


def notes_of(path) -> list[tuple[int, int, int]]:
    import symusic

    score = symusic.Score(str(path))
    return [(n.time, n.duration, n.pitch) for t in score.tracks for n in t.notes]


def test_generate_from_a_run_gives_picture_audio_and_files(app):
    import soundfile

    _, client, _, _ = app
    out = generate(client, "run:tiny-markov", {"length": 24}, n=2, seed=3)
    assert out["status"].startswith("Generated tiny-markov")
    names = sorted(Path(f).name for f in out["files"])
    assert names == ["tiny-markov-s3-01.mid", "tiny-markov-s3-01.musicxml", "tiny-markov-s3-01.wav",
                     "tiny-markov-s3-02.mid", "tiny-markov-s3-02.musicxml", "tiny-markov-s3-02.wav"]
    assert Path(out["image"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    audio, rate = soundfile.read(out["audio"])
    assert rate == 22050 and len(audio) > rate
    midis = [f for f in out["files"] if f.endswith(".mid")]
    first = notes_of(midis[0])
    assert len(first) == 24 and all(60 <= p <= 79 for _, _, p in first)
    # the page's seed is the library's seed: same seed, same melody; another seed, another
    again = generate(client, "run:tiny-markov", {"length": 24}, n=1, seed=3)
    assert notes_of(first_midi(again)) == first
    other = generate(client, "run:tiny-markov", {"length": 24}, n=1, seed=4)
    assert notes_of(first_midi(other)) != first


def test_technique_options_come_from_its_dataclasses(app):
    _, client, _, _ = app
    out = generate(client, "model:lsystem", {"iterations": 3, "key": "D dorian"})
    assert out["status"].startswith("Generated lsystem")
    pitches = {p % 12 for _, _, p in notes_of(first_midi(out))}
    assert pitches and pitches <= {2, 4, 5, 7, 9, 11, 0}  # D dorian's pitch classes


@pytest.mark.parametrize("source, options, expected", [
    ("model:lsystem", {"iterations": -3}, "'iterations' must be between 0 and 64"),
    ("model:lsystem", {"no_such_option": 1}, "unknown lsystem option"),
    ("model:markov", {}, "train it in the Train tab"),
    ("model:genetic", {"task": "harmonize", "melody": "/etc/passwd"}, "uploaded through the page"),
    ("model:genetic", {"likelihood_model": "../runs/tiny-markov"}, "no run called"),
])
def test_bad_input_is_one_line_on_the_page(app, source, options, expected):
    _, client, _, _ = app
    out = generate(client, source, options)
    assert out["status"].startswith("**Error:**") and expected in out["status"]
    assert "Traceback" not in out["status"] and "\n" not in out["status"]


def test_a_source_outside_the_list_is_refused(app):
    _, client, _, _ = app
    with pytest.raises(gradio_client.exceptions.AppError, match="not in the list of choices"):
        generate(client, "run:../../etc")


def test_bad_json_options(app):
    _, client, _, _ = app
    status = client.predict("model:lsystem", "{not json", 1, 0, api_name="/generate")[0]
    assert status.startswith("**Error:** options: not valid JSON")


def test_takes_compared_against_a_reference(app):
    _, client, _, _ = app
    gradio_client_new = gradio_client.Client(client.src, verbose=False)  # a fresh session: no takes yet
    try:
        status = gradio_client_new.predict("tunes", api_name="/compare")[1]
        assert "nothing to compare" in status
        for seed in (0, 1):
            generate(gradio_client_new, "run:tiny-markov", {"length": 32}, n=2, seed=seed)
        table, status = gradio_client_new.predict("tunes", api_name="/compare")
    finally:
        gradio_client_new.close()
    rows = {row[0]: row for row in table["data"]}
    headers = table["headers"]
    assert {"tiny-markov, seed 0", "tiny-markov, seed 1"} <= set(rows)
    row = rows["tiny-markov, seed 0"]
    assert row[headers.index("pieces")] == 2
    assert 0 < row[headers.index("pitch_entropy")] <= np.log2(20) + 1e-6  # at most 20 pitches in 60-79
    assert 0 <= row[headers.index("mean overlap")] <= 1


def test_train_from_the_page_lands_in_the_runs_folder(app):
    _, client, runs, _ = app
    status = client.predict("markov", "tunes", "markov-tunes", "", api_name="/train")
    assert status.startswith("Trained markov-tunes"), status
    assert (runs / "markov-tunes" / "cadenza.json").is_file()
    sources = client.predict("run:tiny-markov", api_name="/refresh")
    out = generate(client, "run:markov-tunes", {"length": 16})
    assert out["status"].startswith("Generated markov-tunes"), (out, sources)
    # the run learned the tunes' range (62-74), not the other run's
    assert all(62 <= p <= 74 for _, _, p in notes_of(first_midi(out)))
    again = client.predict("markov", "tunes", "markov-tunes", "", api_name="/train")
    assert "exists already" in again
    assert "run name" in client.predict("markov", "tunes", "../escape", "", api_name="/train")
    assert "unknown corpus" in client.predict("markov", "/etc", "x", "", api_name="/train")


def test_audio_tab_without_a_timbre_model_says_how_to_get_one(app):
    _, client, _, _ = app
    _, _, note = client.predict("run:tiny-markov", api_name="/refresh")
    assert "cadenza train ddsp --data violin" in note


def test_oversized_upload_is_refused_by_the_server(app):
    import httpx

    _, client, _, _ = app
    big = b"\0" * (21 * 1024 * 1024)
    response = httpx.post(client.src.rstrip("/") + "/gradio_api/upload", files={"files": ("big.wav", big)},
                          timeout=60)
    assert response.status_code == 413


# --- the guards, directly -------------------------------------------------------------

def test_uploads_are_checked_and_copied_into_the_session(tmp_path):
    from cadenza.studio.session import Sessions, take_upload

    sessions = Sessions(tmp_path / "root")
    folder = sessions.folder("abc../../123")
    assert folder.parent == sessions.root and folder.name == "abc123"
    good = tmp_path / "tune.mid"
    good.write_bytes(b"MThd")
    copied = take_upload(str(good), folder, (".mid",), 100, "melody")
    assert copied.parent == folder and copied.read_bytes() == b"MThd"
    with pytest.raises(CadenzaError, match="not accepted"):
        take_upload(str(tmp_path / "tune.exe"), folder, (".mid",), 100, "melody") if \
            (tmp_path / "tune.exe").write_bytes(b"x") else None
    with pytest.raises(CadenzaError, match="over the"):
        take_upload(str(good), folder, (".mid",), 3, "melody")
    sessions.remove("abc123")
    assert not folder.exists()


def test_run_names_and_controls():
    from cadenza.config import fields_of
    from cadenza.models.base import available
    from cadenza.studio.session import check_run_name

    assert check_run_name(" my-run_1 ") == "my-run_1"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 65):
        with pytest.raises(CadenzaError):
            check_run_name(bad)
    # every registered model's controls build, and the file/run fields are recognised
    for cls in available().values():
        assert fields_of(cls.Config) is not None and fields_of(cls.Sampling)
    kinds = {f.name: f.kind for f in fields_of(available()["genetic"].Config)}
    assert kinds["melody"] == "file" and kinds["likelihood_model"] == "run" and kinds["task"] == "choice"


def test_cli_warns_off_loopback(monkeypatch, capsys):
    import cadenza.studio
    from cadenza.cli import main
    from cadenza.cli.studio import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    calls = []
    monkeypatch.setattr(cadenza.studio, "launch", lambda *args, **kw: calls.append(args))
    main(["studio", "--host", "0.0.0.0", "--port", "7999"])
    captured = capsys.readouterr()
    assert "warning: listening on 0.0.0.0" in " ".join(captured.err.split())
    assert calls[0][:2] == ("0.0.0.0", 7999)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_unknown_options_presets_and_models_are_refused_through_the_api(app):
    _, client, runs, _ = app
    for options, expected in [({"bogus": 1}, "unknown markov option 'bogus'"),
                              ({"order": 4}, "order: a trained run keeps the settings it was trained with"),
                              ({"sampling": {"bogus": 1}}, "unknown markov sampling option 'bogus'"),
                              ({"length": 10**6}, "length: at most 4096 in the studio")]:
        status = generate(client, "run:tiny-markov", options)["status"]
        assert status.startswith("**Error:**") and expected in status and "\n" not in status
    status = client.predict("markov", "tunes", "markov-turbo", "turbo", api_name="/train")
    assert status.startswith("**Error:** unknown preset 'turbo' for markov")
    status = client.predict("nosuch", "tunes", "nosuch-tunes", "", api_name="/train")
    assert status.startswith("**Error:** unknown model 'nosuch' (models that train: ")
    assert not (runs / "markov-turbo").exists() and not (runs / "nosuch-tunes").exists()


def test_a_shipped_prompt_model_generates_from_the_page(app):
    _, client, _, _ = app
    out = generate(client, "run:pretrained/folk-text", {"prompt": "a lively jig in D major", "bars": 2})
    assert out["status"].startswith("Generated"), out["status"]
    assert notes_of(first_midi(out))
    bad = generate(client, "run:pretrained/folk-text", {"prompt": "   "})
    assert "prompt is empty" in bad["status"]
