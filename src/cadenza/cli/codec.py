"""Codec commands: audio to a token file and back."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cadenza.cli.app import app, console, number_option
from cadenza.cli.audio import MAX_TRANSFER_MINUTES
from cadenza.errors import CadenzaError

DEFAULT_CODEC = "pretrained/codec"


def _codec(run: str | Path):
    """A trained run whose model declares the Codec ability, or one clear error."""
    from cadenza.cli.audio import _model_with
    from cadenza.models.abilities import Codec

    return _model_with(Path(run), Codec, "a codec", "codec (cadenza train codec --data violin --out RUN)")


@app.command("encode")
def encode_command(
    source: Path = typer.Argument(..., help="Audio file (.wav, .flac, .ogg); resampled and mixed down as needed."),
    out: Path = typer.Option(..., "--out", "-o", help="Token file to write (.npz)."),
    model_dir: str = typer.Option(DEFAULT_CODEC, "--model", "-m", help="Trained codec run."),
    bitrate: float = number_option(None, "--bitrate", "-b", help="kbps: fewer codebooks at a lower bitrate "
                                   "(default: all of them).", above=0, max=10_000),
    max_minutes: float = number_option(MAX_TRANSFER_MINUTES, "--max-minutes", help="Longest recording taken.",
                                       above=0),
) -> None:
    """Encode a recording into codec tokens: a few integers a frame (50 frames a second for
    pretrained/codec). The token file records which codec made it; only that one decodes it."""
    from cadenza.audio.io import Audio
    from cadenza.models.audio.codec import write_tokens

    if out.suffix != ".npz":
        raise CadenzaError(f"{out}: a token file is written as .npz")
    model = _codec(model_dir)
    audio = Audio.read(source, max_seconds=max_minutes * 60)
    codebooks = model.codebooks_for(bitrate)
    started = time.perf_counter()
    samples, notes = model.prepare(audio)
    tokens = model.encode_samples(samples)[:codebooks]
    elapsed = time.perf_counter() - started
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    write_tokens(out, tokens, model, len(samples), run=str(model_dir))
    seconds = len(samples) / model.sample_rate
    console.print(f"{out}: {tokens.shape[0]} codebooks x {tokens.shape[1]} frames "
                  f"({model.bitrates()[codebooks - 1]:g} kbps) from {seconds:.1f} s, "
                  f"{seconds / max(elapsed, 1e-9):.0f}x faster than real time")


@app.command("decode")
def decode_command(
    source: Path = typer.Argument(..., help="Token file written by `cadenza encode`."),
    out: Path = typer.Option(..., "--out", "-o", help="Audio file to write."),
    model_dir: str = typer.Option(None, "--model", "-m", help="Codec run (default: the one the file names)."),
) -> None:
    """Decode a token file back to audio with the codec that made it."""
    from cadenza.models.audio.codec import decode_tokens, read_tokens

    tokens, header = read_tokens(source)
    run = model_dir or header.get("run")
    if not run:
        raise CadenzaError(f"{source}: the file does not name its codec; pass --model RUN")
    model = _codec(run)
    started = time.perf_counter()
    audio = decode_tokens(tokens, header, model, source)
    elapsed = time.perf_counter() - started
    audio.write(out)
    console.print(f"{out}: {audio.seconds:.1f} s decoded by {run}, "
                  f"{audio.seconds / max(elapsed, 1e-9):.0f}x faster than real time")
