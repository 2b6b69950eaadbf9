"""Audio commands: timbre transfer, streaming (offline and live), and rendering through a model."""

from __future__ import annotations

import time
from pathlib import Path

import click
import typer
from rich.markup import escape

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


OSC_HELP = ("Listen for OSC on this UDP port of 127.0.0.1 (0: any free port, printed) [default: the map's [osc] "
            "port, else none].")
MIDI_IN_HELP = ("MIDI input port by name (--port is the same) [default: the map's [midi] port; without OSC, "
                "the first port].")
MAP_HELP = ("TOML file binding OSC addresses and MIDI notes, velocities and controllers to the model's controls "
            "(docs/realtime.md) [default: every control at /NAME, MIDI notes as notes].")


@app.command("play")
def play_command(
    model_dir: Path = typer.Option(..., "--model", "-m", help="Trained instrument run (ddsp, wavenet, smf)."),
    osc: int | None = number_option(None, "--osc", help=escape(OSC_HELP), min=0, max=65_535),
    midi_in: str | None = typer.Option(None, "--midi-in", "--port", help=escape(MIDI_IN_HELP)),
    map_file: Path | None = typer.Option(None, "--map", help=escape(MAP_HELP)),
    out: Path | None = typer.Option(None, "--out", "-o", help="Record the take to this audio file instead of "
                                    "playing it (paced at real time; needs --seconds)."),
    block: int = number_option(256, help="Samples a block (a multiple of the model's hop).", min=1, max=65_536),
    seconds: float | None = number_option(None, help=escape("Stop after this long [default: until Ctrl-C]."),
                                          above=0, max=86_400),
    seed: int = seed_option("Seed of the model's noise."),
) -> None:
    """Play a learned instrument live: MIDI and OSC controls in, audio to the sound card (or a file).

    Everything is checked before audio starts: the map file, that each control it binds is one
    the model has (a wrong one lists those it has), the MIDI port and the OSC port."""
    from cadenza.audio.io import AUDIO_SUFFIXES
    from cadenza.realtime.live import LivePlayer
    from cadenza.realtime.mapping import ControlMap, LiveControls

    control_map = ControlMap.load(map_file) if map_file is not None else None
    if out is not None and seconds is None:
        raise CadenzaError("--out records a take of --seconds; give both")
    if out is not None and out.suffix.lower() not in AUDIO_SUFFIXES:
        raise CadenzaError(f"{out}: cannot write {out.suffix!r} audio (use {', '.join(AUDIO_SUFFIXES)})")
    model = _instrument(model_dir)
    tracker = model.tracker()
    if control_map is None:
        control_map = ControlMap.default_for(tracker)
    control_map.check(tracker, model.name)
    osc_port = osc if osc is not None else control_map.osc_port
    midi_port = midi_in if midi_in is not None else control_map.midi_port
    controls = LiveControls(control_map, tracker)
    player = LivePlayer(model, controls, block, seed)
    sounddevice = _sound_card() if out is None else None
    _play(player, controls, control_map, sounddevice, out, seconds, osc_port, midi_port)


def _sound_card():
    """The sounddevice module with an output device, or one clear error saying what is missing."""
    try:
        import sounddevice
    except ImportError:
        raise CadenzaError("cadenza play needs the sounddevice package (pip install sounddevice); "
                           "--out FILE --seconds S records the take to a file instead") from None
    except OSError:
        raise CadenzaError("no audio device: PortAudio is not installed (apt-get install libportaudio2); "
                           "--out FILE --seconds S records the take to a file instead") from None
    try:
        outputs = [d for d in sounddevice.query_devices() if d["max_output_channels"] > 0]
    except Exception:  # PortAudio raises its own error type when no host API works
        outputs = []
    if not outputs:
        raise CadenzaError("no audio output device found; --out FILE --seconds S records the take to a file")
    return sounddevice


def _play(player, controls, control_map, sounddevice, out: Path | None, seconds: float | None,
          osc_port: int | None, midi_port: str | None) -> None:
    """Open the inputs (MIDI when asked for, or when there is no OSC), then play until done."""
    from contextlib import ExitStack

    import numpy as np

    from cadenza.audio.io import write_audio
    from cadenza.realtime.live import open_midi_input
    from cadenza.realtime.osc import OscServer

    with ExitStack() as inputs:
        if midi_port is not None or osc_port is None:
            port = open_midi_input(midi_port, controls.midi)
            inputs.callback(port.close)
            console.print(f"MIDI in: {escape(port.name)}", highlight=False)
        if osc_port is not None:
            server = inputs.enter_context(OscServer(controls.osc, osc_port, control_map.osc_host))
            console.print(f"OSC in: {server.host}:{server.port}", highlight=False)
        console.print(f"controls: {escape(control_map.describe())}", highlight=False, soft_wrap=True)
        rate = player.sample_rate
        with one_thread():
            if out is not None:
                audio = player.run(seconds)
                write_audio(out, np.clip(audio, -1, 1), rate)
            else:
                _play_to_card(player, sounddevice, seconds)
    r = player.report()
    where = f"{out}: " if out is not None else ""
    latency = (f"control to audio median {r['control_median_ms']} ms, max {r['control_max_ms']} ms"
               if "control_median_ms" in r else "no control applied")
    console.print(f"{escape(where)}{r['blocks'] * player.block / rate:.1f} s in {r['blocks']} blocks of "
                  f"{player.block}; "
                  f"{r['messages']} messages ({r['unknown']} unbound, {r['malformed']} malformed); {latency}; "
                  f"{r['late_blocks']} blocks late; block median {r['median_ms']} ms, p99 {r['p99_ms']} ms "
                  f"(deadline {r['deadline_ms']} ms)", highlight=False, soft_wrap=True)


def _play_to_card(player, sounddevice, seconds: float | None) -> None:
    import numpy as np

    def callback(outdata, frames, _time, _status):
        outdata[:, 0] = np.clip(player.step()[0], -1, 1)

    console.print(f"playing at {player.sample_rate} Hz, {player.block}-sample blocks; Ctrl-C stops")
    with sounddevice.OutputStream(samplerate=player.sample_rate, blocksize=player.block, channels=1,
                                  dtype="float32", callback=callback):
        started = time.perf_counter()
        try:
            while seconds is None or time.perf_counter() - started < seconds:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
