"""The Typer application that every command module adds its commands to."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from cadenza.config import SEED, Range

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
    from cadenza.utils import printable

    # A file name is the user's: "[x].mid" is not markup, and bytes that are not UTF-8 print escaped.
    err.print(f"[bold red]error:[/] {escape(printable(message))}", highlight=False, soft_wrap=True)
    sys.exit(code)


def flag_of(param) -> str:
    """The name a user typed for an option: its longest spelling ("--seed" rather than "-s")."""
    return max(param.opts, key=len) if param.opts else param.name


def check_range(allowed: Range):
    """A click parameter callback that refuses a number outside ``allowed`` with one line
    naming the flag, before the command does any work."""

    def check(ctx, param, value):
        return allowed.check(value, flag_of(param))

    return check


def number_option(default: Any, *names: str, help: str, min: float | None = None, max: float | None = None,
                  above: float | None = None, below: float | None = None) -> Any:
    """A typer option for a number (the typer twin of :func:`cadenza.config.option`): the range
    shows in the help and is checked before the command runs ("--seed must be between 0 and ...")."""
    allowed = Range(min, max, above, below)

    def check(param: typer.CallbackParam, value: Any) -> Any:  # typer passes what the annotations ask for
        return allowed.check(value, flag_of(param))

    # typer reads help as rich markup, where "[...]" would be a style: escape the bracket
    return typer.Option(default, *names, help=f"{help} {escape(f'[{allowed}]')}", callback=check)


def seed_option(help: str) -> Any:
    """``--seed``: the same seed, the same result."""
    return number_option(0, "--seed", help=help, min=SEED.min, max=SEED.max)
