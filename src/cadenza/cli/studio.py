"""``cadenza studio``: start the web page (Gradio) on this machine."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from cadenza.cli.app import app, console, err, number_option
from cadenza.errors import CadenzaError


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("studio")
def studio_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback opens the page "
                                               "to your network."),
    port: int = number_option(7860, help="Port to listen on.", min=1, max=65_535),
    runs: Path = typer.Option(Path("runs"), help="Folder of run directories to list, and to train into."),
) -> None:
    """Start Cadenza Studio: generate, see, hear, compare and train in a web page."""
    # Before gradio is imported: it reads this once, and would otherwise report usage.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if not is_loopback(host):
        err.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine can use "
                  "the studio (it has no login); use --host 127.0.0.1 to keep it local", highlight=False)
    try:
        from cadenza.studio import launch
    except ImportError as exc:
        raise CadenzaError(f"the studio needs gradio ({exc.name} is missing): pip install 'cadenza[studio]'") from None
    console.print(f"Cadenza Studio on http://{host}:{port} (runs folder: {runs.resolve()}); Ctrl+C stops it")
    try:
        launch(host, port, runs)
    except OSError as exc:
        raise CadenzaError(f"cannot listen on {host}:{port} ({exc})") from None
