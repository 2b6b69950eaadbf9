"""Audio commands: timbre transfer, streaming (offline and live), and rendering through a model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import typer

from cadenza.cli.app import app, console
from cadenza.errors import CadenzaError


def _instrument(run: Path):
    """A trained audio model that plays f0/loudness controls (DDSP), or one clear error."""
    from cadenza.models.base import load

    model = load(run)
    if model.domain != "audio" or not hasattr(model, "stream"):
        raise CadenzaError(f"{run}: a {model.name} run ({model.domain}); this needs a trained audio "
                           "instrument such as ddsp (cadenza train ddsp --data violin --out RUN)")
    return model


def render_with_model(source: Path, out: Path, run: Path, seed: int = 0) -> None:
    """``cadenza render IN.mid OUT.wav --model RUN``: the score played by a learned instrument."""
    from cadenza.audio.io import write_audio
    from cadenza.music.io import read_score

    model = _instrument(run)
    score = read_score(source)
    started = time.perf_counter()
    audio = model.render_score(score, seed=seed)
    elapsed = time.perf_counter() - started
    write_audio(out, audio, model.config.sample_rate)
    seconds = audio.shape[-1] / model.config.sample_rate
    console.print(f"{out}: {seconds:.1f} s of audio played by {run}, "
                  f"{seconds / max(elapsed, 1e-9):.0f}x faster than real time")


@app.command("transfer")
def transfer_command(
    source: Path = typer.Argument(..., help="Audio to transform (.wav, .flac or .ogg), ideally one melodic line."),
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained instrument run (ddsp)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    pitch_shift: float = typer.Option(0.0, help="Transpose by this many semitones."),
    loudness_shift: float = typer.Option(0.0, help="Add this many dB of loudness."),
    auto_level: bool = typer.Option(True, help="Match the input's level to the instrument's range first."),
    seed: int = typer.Option(0, help="Seed of the noise source."),
) -> None:
    """Timbre transfer: the pitch and loudness of a recording, played by a learned instrument."""
    from cadenza.audio.io import read_audio, write_audio

    model = _instrument(model_dir)
    audio, rate = read_audio(source)
    started = time.perf_counter()
    result, notes = model.transfer(audio, rate, pitch_shift, loudness_shift, seed=seed, auto_level=auto_level)
    elapsed = time.perf_counter() - started
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    write_audio(out, result, model.config.sample_rate)
    console.print(f"{out}: {result.shape[-1] / model.config.sample_rate:.1f} s in {elapsed:.1f} s")


def score_blocks(model, score, block: int):
    """The live path fed from a score: note events -> controls, ``block`` samples a step."""
    from cadenza.realtime.controls import ScoreControls

    hop = model.config.hop
    if block < hop or block % hop:
        raise CadenzaError(f"--block must be a multiple of the model's hop ({hop} samples), got {block}")
    source = ScoreControls(score, model.tracker())
    if not source.events:
        raise CadenzaError("the score has no pitched notes to play")
    per_block = block // hop

    def blocks():
        source.reset()
        done = 0
        while done < source.total_frames:
            count = min(per_block, source.total_frames - done)
            done += count
            yield source.read(count)
    return blocks()


@app.command("stream")
def stream_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained instrument run (ddsp)."),
    midi: Path = typer.Option(..., "--midi", help="Score to play (any readable format)."),
    block: int = typer.Option(256, help="Samples a block (a multiple of the model's hop)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    seed: int = typer.Option(0, help="Seed of the noise source."),
    threads: int = typer.Option(1, help="Torch threads (1: what a live audio thread gets)."),
) -> None:
    """Run the live streaming path offline, block by block, and report its latency.

    The output equals `cadenza render MIDI OUT --model RUN` for the same score."""
    import torch

    from cadenza.audio.io import write_audio
    from cadenza.music.io import read_score
    from cadenza.realtime.stream import LatencyMeter, run_blocks

    model = _instrument(model_dir)
    score = read_score(midi)
    torch.set_num_threads(max(1, threads))
    meter = LatencyMeter(model.config.sample_rate)
    audio = run_blocks(model.stream(seed), score_blocks(model, score, block), meter)
    write_audio(out, audio, model.config.sample_rate)
    r = meter.report()
    console.print(f"{out}: {audio.shape[-1] / model.config.sample_rate:.1f} s in {r['blocks']} blocks of {block}; "
                  f"latency median {r['median_ms']} ms, p99 {r['p99_ms']} ms (deadline {r['deadline_ms']} ms, "
                  f"{r['deadline_misses']} misses), {r['real_time_factor']}x real time")


@app.command("play")
def play_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained instrument run (ddsp)."),
    port: str | None = typer.Option(None, help="MIDI input port [default: the first one]."),
    block: int = typer.Option(256, help="Samples a block."),
    seconds: float | None = typer.Option(None, help="Stop after this long [default: until Ctrl-C]."),
) -> None:
    """Play a learned instrument live from a MIDI keyboard to the sound card."""
    model = _instrument(model_dir)
    sounddevice, midi_in = _live_devices(port)
    play_live(model, sounddevice, midi_in, block, seconds)


def _live_devices(port: str | None):
    """The sound card and MIDI input, or one clear error saying which is missing."""
    try:
        import sounddevice
    except ImportError:
        raise CadenzaError("cadenza play needs the sounddevice package (pip install sounddevice); "
                           "cadenza stream renders the same path to a file") from None
    except OSError:
        raise CadenzaError("no audio device: PortAudio is not installed (apt-get install libportaudio2); "
                           "cadenza stream renders the same path to a file") from None
    try:
        outputs = [d for d in sounddevice.query_devices() if d["max_output_channels"] > 0]
    except Exception:  # PortAudio raises its own error type when no host API works
        outputs = []
    if not outputs:
        raise CadenzaError("no audio output device found; cadenza stream renders the same path to a file")
    try:
        import mido

        names = mido.get_input_names()
    except Exception as exc:  # mido raises ImportError/OSError when no MIDI backend is installed
        raise CadenzaError(f"no MIDI input available ({str(exc).splitlines()[0][:120]}); "
                           "pip install python-rtmidi") from None
    if not names:
        raise CadenzaError("no MIDI input port found; connect a keyboard")
    if port is not None and port not in names:
        raise CadenzaError(f"no MIDI input port {port!r} (ports: {', '.join(names)})")
    return sounddevice, mido.open_input(port or names[0])


def play_live(model, sounddevice, midi_in, block: int, seconds: float | None) -> None:
    import torch

    from cadenza.realtime.stream import LatencyMeter

    hop, rate = model.config.hop, model.config.sample_rate
    if block < hop or block % hop:
        raise CadenzaError(f"--block must be a multiple of the model's hop ({hop} samples), got {block}")
    torch.set_num_threads(1)
    tracker, stream, meter = model.tracker(), model.stream(0), LatencyMeter(rate)
    stream.init_state()

    def callback(outdata, frames, _time, _status):
        for message in midi_in.iter_pending():
            if message.type == "note_on":
                tracker.note_on(message.note, message.velocity)
            elif message.type == "note_off":
                tracker.note_off(message.note)
        audio = meter.measure(stream.step, tracker.frames(frames // hop))
        outdata[:, 0] = np.clip(audio[0], -1, 1)

    console.print(f"playing {model.name} at {rate} Hz, {block}-sample blocks; Ctrl-C stops")
    with sounddevice.OutputStream(samplerate=rate, blocksize=block, channels=1, dtype="float32", callback=callback):
        started = time.perf_counter()
        try:
            while seconds is None or time.perf_counter() - started < seconds:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
    console.print(meter.report())
