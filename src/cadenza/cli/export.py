"""Export command: a trained model as a file a live host loads (nn~ in Max/Pd, onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.cli.app import app, console
from cadenza.errors import CadenzaError

EXPORTABLE = ("vae",)  # models whose network converts (cadenza.models.audio.vae_export)
SUFFIXES = {"torchscript": (".ts", ".pt"), "onnx": (".onnx",)}


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


@app.command("export")
def export_command(
    run: Path = typer.Argument(..., help="A trained run directory (vae for now)."),
    format: str = typer.Option(..., "--format", "-f", help="torchscript (nn~ in Max/Pd: a .ts file) or onnx "
                               "(onnxruntime: NAME.onnx, NAME.encode.onnx, NAME.decode.onnx)."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (.ts or .pt for torchscript, .onnx for onnx)."),
    noise: bool = typer.Option(True, "--noise/--no-noise", help="The decoder's filtered noise (TorchScript: "
                               "switchable later with set_noise)."),
) -> None:
    """Export a trained model for live use: stateful streams that continue block by block (nn~'s
    encode, decode and forward methods), or ONNX graphs whose states are inputs and outputs."""
    from cadenza.models.base import load, run_class

    if format not in SUFFIXES:
        raise CadenzaError(f"--format must be torchscript or onnx, got {format!r}")
    if out.suffix not in SUFFIXES[format]:
        article = "an" if format == "onnx" else "a"
        raise CadenzaError(f"{out}: {article} {format} export is written as {' or '.join(SUFFIXES[format])}")
    cls = run_class(run)  # before loading any weights
    if cls.name not in EXPORTABLE:
        raise CadenzaError(f"{run}: a {cls.name} run; export takes a {' or '.join(EXPORTABLE)} run for now "
                           "(cadenza train vae --data violin --out RUN)")
    model = load(run)

    from cadenza.models.audio.vae_export import export_onnx, export_torchscript

    if format == "torchscript":
        written = [export_torchscript(model, out, noise=noise)]
        methods = "encode, decode, forward"
    else:
        written = export_onnx(model, out, noise=noise)
        methods = "forward, encode, decode (one file each)"
    frame = model.frame_samples
    console.print(f"{', '.join(map(str, written))}: {format}, methods {methods}; block size {frame} samples "
                  f"({1000 * frame / model.sample_rate:.1f} ms, one latent frame), latent size "
                  f"{model.latent_size}, {model.sample_rate} Hz, {', '.join(_size(p) for p in written)}",
                  highlight=False, soft_wrap=True)
