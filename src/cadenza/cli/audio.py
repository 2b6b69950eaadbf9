"""Audio commands: timbre transfer, streaming (offline and live), and rendering through a model."""

from __future__ import annotations

import time
from pathlib import Path

import click
import typer

from cadenza.cli.app import app, check_range, console, number_option, seed_option
from cadenza.config import SEED, Range
from cadenza.errors import CadenzaError
from cadenza.utils import one_thread

MAX_TRANSFER_MINUTES = 20.0  # a longer recording is refused from its header (--max-minutes)


def _model_with(run: Path, ability: type, what: str, example: str):
    """A trained run whose model declares ``ability``, or one clear error."""
    from cadenza.models.base import load, run_class

    cls = run_class(run)
    if not issubclass(cls, ability):
        raise CadenzaError(f"{run}: a {cls.name} run ({cls.domain}); this needs {what} "
                           f"such as {example}")
    return load(run)


def _instrument(run: Path):
    """A trained model that plays notes in real time (DDSP, WaveNet, ...), or one clear error."""
    from cadenza.models.abilities import Streaming

    return _model_with(run, Streaming, "a trained audio instrument that streams",
                       "ddsp (cadenza train ddsp --data violin --out RUN)")


def render_with_model(source: Path, out: Path, run: Path, seed: int = 0) -> None:
    """``cadenza render IN.mid OUT.wav --model RUN``: the score played by a learned instrument."""
    from cadenza.music.io import read_score

    model = _instrument(run)
    score = read_score(source)
    started = time.perf_counter()
    with one_thread():
        audio = model.render_score(score, seed=seed)
    elapsed = time.perf_counter() - started
    audio.write(out)
    console.print(f"{out}: {audio.seconds:.1f} s of audio played by {run}, "
                  f"{audio.seconds / max(elapsed, 1e-9):.0f}x faster than real time")


class TransferCommand(click.Command):
    """``cadenza transfer IN --model RUN --out OUT [model options]``: the options after the
    common ones are the model's own (its ``TransferOptions``), found from ``--model``."""

    def parse_args(self, ctx, args):
        from cadenza.cli.core import options_from
        from cadenza.models.abilities import Transfer
        from cadenza.models.base import run_class

        run = _option_value(args, ("--model", "-m"))
        if run is not None:
            cls = run_class(run)
            if not issubclass(cls, Transfer):
                raise CadenzaError(f"{run}: a {cls.name} run ({cls.domain}); transfer needs a model that "
                                   "transforms audio, such as ddsp (cadenza train ddsp --data violin --out RUN)")
            known = {p.name for p in self.params}
            self.params += [o for o in options_from(cls.TransferOptions) if o.name not in known]
        return super().parse_args(ctx, args)


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def transfer_command() -> click.Command:
    def callback(source: Path, model_dir: Path, out: Path, seed: int, max_minutes: float, **options):
        from cadenza.audio.io import Audio
        from cadenza.models.abilities import Transfer

        model = _model_with(model_dir, Transfer, "a model that transforms audio", "ddsp")
        audio = Audio.read(source, max_seconds=max_minutes * 60)
        started = time.perf_counter()
        with one_thread():
            result, notes = model.transfer(audio, seed=seed, **{k: v for k, v in options.items() if v is not None})
        elapsed = time.perf_counter() - started
        for note in notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        result.write(out)
        console.print(f"{out}: {result.seconds:.1f} s in {elapsed:.1f} s")

    params = [
        click.Argument(["source"], type=click.Path(path_type=Path)),
        click.Option(["--model", "-m", "model_dir"], type=click.Path(path_type=Path), required=True,
                     help="Trained run of a model that transforms audio (ddsp, ...)."),
        click.Option(["--out", "-o"], type=click.Path(path_type=Path), required=True, help="Audio file to write."),
        click.Option(["--seed"], type=int, default=0, show_default=True, callback=check_range(SEED),
                     help=f"Seed of the model's noise.  [{SEED}]"),
        click.Option(["--max-minutes"], type=float, default=MAX_TRANSFER_MINUTES, show_default=True,
                     callback=check_range(Range(above=0)),
                     help="Longest recording taken; a longer one is refused before it is decoded.  [above 0]"),
    ]
    return TransferCommand("transfer", params=params, callback=callback,
                           help="Transform a recording with a trained model (timbre transfer: its pitch and "
                                "loudness played by a learned instrument). SOURCE is a .wav, .flac or .ogg "
                                "file. `cadenza transfer --model RUN --help` lists that model's options.")


@app.command("stream")
def stream_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained run of a model that streams (ddsp, ...)."),
    midi: Path = typer.Option(..., "--midi", help="Score to play (any readable format)."),
    block: int = number_option(256, help="Samples a block (a multiple of the model's hop).", min=1, max=65_536),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    seed: int = seed_option("Seed of the noise source."),
    threads: int = number_option(1, help="Torch threads (1: what a live audio thread gets).", min=1, max=256),
) -> None:
    """Run the live streaming path offline, block by block, and report its latency.

    The output equals `cadenza render MIDI OUT --model RUN` for the same score."""
    import torch

    from cadenza.audio.io import write_audio
    from cadenza.music.io import read_score
    from cadenza.realtime.stream import LatencyMeter, run_blocks

    model = _instrument(model_dir)
    score = read_score(midi)
    meter = LatencyMeter(model.sample_rate)
    with one_thread():
        if threads != 1:
            torch.set_num_threads(max(1, threads))  # asked for: the stream measured on more threads
        audio = run_blocks(model.stream(seed), model.score_blocks(score, block), meter)
    write_audio(out, audio, model.sample_rate)
    r = meter.report()
    console.print(f"{out}: {audio.shape[-1] / model.sample_rate:.1f} s in {r['blocks']} blocks of {block}; "
                  f"latency median {r['median_ms']} ms, p99 {r['p99_ms']} ms (deadline {r['deadline_ms']} ms, "
                  f"{r['deadline_misses']} misses), {r['real_time_factor']}x real time")


@app.command("play")
def play_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained instrument run (ddsp, smf)."),
    port: str | None = typer.Option(None, help="MIDI input port [default: the first one]."),
    block: int = number_option(256, help="Samples a block.", min=1, max=65_536),
    seconds: float | None = number_option(None, help="Stop after this long [default: until Ctrl-C].",
                                          above=0, max=86_400),
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
    import numpy as np

    from cadenza.realtime.stream import LatencyMeter

    hop, rate = model.hop, model.sample_rate
    if block < hop or block % hop:
        raise CadenzaError(f"--block must be a multiple of the model's hop ({hop} samples), got {block}")
    tracker, stream, meter = model.tracker(), model.stream(0), LatencyMeter(rate)
    stream.init_state()

    def callback(outdata, frames, _time, _status):
        for message in midi_in.iter_pending():
            if message.type == "note_on":
                tracker.note_on(message.note, message.velocity)
            elif message.type == "note_off":
                tracker.note_off(message.note)
            elif message.type == "control_change":  # the controllers the model follows (smf: x, y)
                tracker.control_change(message.control, message.value)
        audio = meter.measure(stream.step, tracker.frames(frames // hop))
        outdata[:, 0] = np.clip(audio[0], -1, 1)

    console.print(f"playing {model.name} at {rate} Hz, {block}-sample blocks; Ctrl-C stops")
    with one_thread(), sounddevice.OutputStream(samplerate=rate, blocksize=block, channels=1, dtype="float32",
                                                callback=callback):
        started = time.perf_counter()
        try:
            while seconds is None or time.perf_counter() - started < seconds:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
    console.print(meter.report())
