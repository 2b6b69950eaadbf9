"""Command line: thin wrappers over the library, one module a group of commands.

Every ``CadenzaError`` (bad input) ends as one line on stderr and exit code 2, and
so does an ``OSError`` (a full disk: "no space left on device writing PATH"); Ctrl-C
ends as one line and exit code 130, saying how to resume an interrupted training.
"""

from __future__ import annotations

import errno
import shlex
import sys

import click
import typer

# Importing a command module adds its commands to ``app``.
from cadenza.cli import (
    audio,
    cloud,  # noqa: F401
    codec,  # noqa: F401
    compose,  # noqa: F401
    core,
    corpus,  # noqa: F401
    evaluate,  # noqa: F401
    export,  # noqa: F401
    gan,  # noqa: F401
    latent,  # noqa: F401
    neural,  # noqa: F401
    smf,  # noqa: F401
    studio,  # noqa: F401
    vamp,  # noqa: F401
)
from cadenza.cli.app import app, fail
from cadenza.errors import CadenzaError


def command() -> click.Group:
    """The whole command tree: the Typer commands plus the per-model groups."""
    group = typer.main.get_command(app)
    group.add_command(core.train_group)
    group.add_command(core.generate_group)
    group.add_command(audio.transfer_command())
    return group


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # click's main, not typer's override: outside standalone mode typer turns Ctrl-C into a
        # returned 130, losing the interrupt (what training says about it) and the exit code
        click.Group.main(command(), args=args, prog_name="cadenza", standalone_mode=False)
    except CadenzaError as exc:
        fail(str(exc))
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.ClickException, typer.TyperException) as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `cadenza` or `cadenza generate` alone: the help
            exc.show()
            sys.exit(2)
        fail(_usage_error(exc))
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C inside a command into Abort (after a newline that ends the
        # terminal's ^C), keeping the KeyboardInterrupt as its cause
        if isinstance(exc.__cause__, KeyboardInterrupt):
            fail(_interrupted(exc.__cause__, args), 130)
        fail("aborted", 130)
    except KeyboardInterrupt as exc:
        fail(_interrupted(exc, args), 130)
    except (BrokenPipeError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            sys.exit(0)
        fail(_os_error(exc))


def _usage_error(exc: click.ClickException | typer.TyperException) -> str:
    """A mistake on the command line (an unknown option, a bad value) in one line, naming the
    command whose help explains it. Typer's commands raise typer's copy of click's errors."""
    ctx = getattr(exc, "ctx", None)
    return exc.format_message() + (f" (see: {ctx.command_path} --help)" if ctx is not None else "")


def _interrupted(exc: KeyboardInterrupt, args: list[str]) -> str:
    """The line for Ctrl-C: where training stopped and the command that resumes it, when the
    interrupt is a :class:`cadenza.train.engine.TrainingInterrupted` (read by its attributes,
    so that the CLI need not import the engine and torch) that kept a checkpoint."""
    if getattr(exc, "checkpoint", None) is None:
        return str(exc) or "interrupted"
    # the same command resumes; --restart would throw the kept checkpoint away
    again = shlex.join(["cadenza", *(a for a in args if a != "--restart")])
    return f"{exc}; resume with: {again}"


def _os_error(exc: OSError) -> str:
    """One line for an error of the operating system, naming the file where it says one."""
    where = exc.filename or ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on device writing {where}".strip()
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded writing {where}".strip()
    return f"{where} {exc.strerror or exc}".strip()
