"""The Typer application that every command module adds its commands to."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="cadenza",
    help="Cadenza: generative music, from Markov chains to transformers, on your laptop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit: the only way a command reports bad input."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)
