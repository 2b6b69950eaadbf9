"""End to end in real headless Chromium: open the studio, generate a Markov melody,
hear it, see it, download its MIDI (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def melody(seed: int):
    import symusic

    rng = np.random.default_rng(seed)
    score, track, pitch = symusic.Score(480), symusic.Track("Melody"), 67
    for i in range(64):
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2]), 60, 79))
        track.notes.append(symusic.Note(i * 480, 480, pitch, 90))
    score.tracks.append(track)
    return score


def train_markov(runs: Path) -> None:
    import cadenza

    cadenza.create("markov", order=2).fit([melody(i) for i in range(6)]).save(runs / "tiny-markov")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from cadenza.studio import launch

    runs = tmp_path_factory.mktemp("studio") / "runs"
    train_markov(runs)
    demo, url = launch("127.0.0.1", free_port(), runs, block=False,
                       session_root=tmp_path_factory.mktemp("sessions"))
    yield url
    demo.close()


def open_page(playwright, url: str):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
    page = browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator("#generate").wait_for(timeout=30_000)
    return browser, page


# Gradio's player draws the waveform from the file (wavesurfer), keeping its own <audio>
# element hidden: the audio has arrived when the player holds a new .wav link.
AUDIO_LINK = "document.querySelector('#audio a[download$=\".wav\"]')"


def click_to_audio(page) -> tuple[float, str]:
    """Seconds from the Generate click until the audio player has its file, and the file's URL."""
    before = page.evaluate(f"() => {{ const a = {AUDIO_LINK}; return a ? a.href : null; }}")
    started = time.perf_counter()
    page.locator("#generate").click()
    page.wait_for_function(f"before => {{ const a = {AUDIO_LINK}; return a && a.href !== before"
                           " && document.querySelector('#audio audio'); }",
                           arg=before, timeout=30_000, polling=10)
    elapsed = time.perf_counter() - started
    return elapsed, page.evaluate(f"() => {AUDIO_LINK}.href")


def test_generate_listen_see_download(studio, tmp_path):
    import soundfile
    import symusic

    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, studio)
        try:
            assert "tiny-markov" in page.locator("#source input").input_value()
            _, audio_url = click_to_audio(page)
            wav = page.request.get(audio_url).body()
            audio, rate = soundfile.read(io.BytesIO(wav))
            assert rate == 22050 and len(audio) > rate  # several seconds of rendered melody
            assert np.abs(audio).max() > 0.01
            page.locator("#roll img[src]").wait_for(timeout=15_000)
            assert "Generated tiny-markov" in page.locator("#status").inner_text()
            link = page.locator('#downloads a[download$=".mid"]').first
            link.wait_for(timeout=15_000)
            with page.expect_download() as download:
                link.click()
            path = tmp_path / "melody.mid"
            download.value.save_as(path)
            score = symusic.Score(str(path))
            notes = [n.pitch for t in score.tracks for n in t.notes]
            assert len(notes) > 4 and 60 <= min(notes) and max(notes) <= 79  # the training range
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)
        finally:
            browser.close()


def test_error_is_a_message_not_a_traceback(studio):
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, studio)
        try:
            page.locator("#source input").click()
            page.get_by_role("option", name="markov (needs training").click()
            page.locator("#generate").click()
            page.wait_for_function("() => document.querySelector('#status').innerText.includes('Error')",
                                   timeout=15_000)
            text = page.locator("#status").inner_text()
            assert "train it in the Train tab" in text and "Traceback" not in page.content()
        finally:
            browser.close()
