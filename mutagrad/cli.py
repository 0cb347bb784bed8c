"""The `mutagrad` command: parse, call the library, render. No logic of its own.

The commands live in cli_check, cli_campaign and cli_sweep; this module holds the
entry point and its error boundary."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from mutagrad import (  # noqa: F401 - they register the commands
    analysis,
    campaign,
    cli_campaign,
    cli_check,
    cli_sweep,
    gradcheck,
    mutation,
    report,
    subjects,
    sweep,
)
from mutagrad.cli_common import app
from mutagrad.errors import MutagradError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error becomes one line on stderr and an exit code, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args or ["--help"], prog_name="mutagrad",
                            standalone_mode=False)
    except MutagradError as e:
        _fail(str(e), e.exit_code)
    except typer.TyperException as e:  # typer's usage errors: bad option, bad value, ...
        ctx = getattr(e, "ctx", None)
        where = f"mutagrad {ctx.info_name} --help" if ctx and ctx.parent else "mutagrad --help"
        _fail(f"{e.format_message()} (see '{where}')", getattr(e, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except Exception as e:  # a bug of ours: still one line, the traceback on request
        if os.environ.get("MUTAGRAD_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (rerun with MUTAGRAD_DEBUG=1 for "
              "the traceback, and please report it)", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    Console(stderr=True, highlight=False).print(f"[red]mutagrad: error:[/red] {message}",
                                                 soft_wrap=True)
    sys.exit(code)
