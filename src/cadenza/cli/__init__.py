"""Command line: thin wrappers over the library, one module a group of commands.

Every ``CadenzaError`` (bad input) ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import click

# Importing a command module adds its commands to ``app``.
from cadenza.cli import (
    audio,
    core,
    corpus,  # noqa: F401
    evaluate,  # noqa: F401
    neural,  # noqa: F401
    studio,  # noqa: F401
)
from cadenza.cli.app import app, fail
from cadenza.errors import CadenzaError


def command() -> click.Group:
    """The whole command tree: the Typer commands plus the per-model groups."""
    import typer

    group = typer.main.get_command(app)
    group.add_command(core.train_group)
    group.add_command(core.generate_group)
    group.add_command(audio.transfer_command())
    return group


def main(argv: list[str] | None = None) -> None:
    try:
        command().main(args=argv, prog_name="cadenza", standalone_mode=False)
    except CadenzaError as exc:
        fail(str(exc))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except (BrokenPipeError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            sys.exit(0)
        fail(f"{getattr(exc, 'filename', '') or ''} {exc.strerror or exc}".strip())
