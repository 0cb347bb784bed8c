"""The `mutagrad` command: parse, call the library, render. No logic of its own.

The commands live in cli_check, cli_couple, cli_campaign and cli_sweep; this module holds the
entry point and its error boundary."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from typing import Any

import typer
from rich.console import Console

# They register the commands; each imports the library's modules when a command runs
# (cli_common.lazy_module): help and the reading commands start without the numerics.
from mutagrad import (  # noqa: F401
    cli_campaign,
    cli_check,
    cli_couple,
    cli_serve,
    cli_sweep,
)
from mutagrad.cli_common import STDOUT, app
from mutagrad.errors import MutagradError, UserCodeError

__all__ = ["app", "main"]


# Library parameters whose flag is not the parameter's own name (--cases is "cases").
_FLAGS = {"batches": "--batch", "dtypes": "--dtype", "epsilons": "--epsilon",
          "strategies": "--strategy", "categories": "--category", "operators": "--operator",
          "memory_mb": "--memory", "families": "--family"}


def flag_of(parameter: str) -> str:
    """The command-line flag that sets a library parameter."""
    return _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def message_of(error: MutagradError) -> str:
    """The one line a user reads: the library's message, with the flag it is about."""
    message = str(error)
    if error.parameter is not None:
        message += f" (option {flag_of(error.parameter)})"
    if isinstance(error, UserCodeError) and error.frames and os.environ.get("MUTAGRAD_DEBUG"):
        message += error.frames
    elif isinstance(error, UserCodeError) and error.frames:
        message += " (MUTAGRAD_DEBUG=1 shows where in your code)"
    return message


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error becomes one line on stderr and an exit code, never a traceback.

    What the user's code prints (at import, in a forward or backward) goes to stderr: stdout
    carries only mutagrad's own output, so ``--json`` documents stay parseable.
    """
    args = sys.argv[1:] if argv is None else argv
    _workers_skip_main()
    command = typer.main.get_command(app)
    token = STDOUT.set(sys.stdout)
    args = args or ["--help"]
    # Help is Typer's own output, for stdout; everything else the command runs may print
    # the user's text, which goes to stderr.
    redirect = (contextlib.nullcontext() if "--help" in args
                else contextlib.redirect_stdout(sys.stderr))
    try:
        with redirect, _ctrl_c_never_lost():
            code = command.main(args=args, prog_name="mutagrad", standalone_mode=False)
    except MutagradError as e:
        _fail(message_of(e), e.exit_code)
    except typer.TyperException as e:  # typer's usage errors: bad option, bad value, ...
        ctx = getattr(e, "ctx", None)
        where = f"mutagrad {ctx.info_name} --help" if ctx and ctx.parent else "mutagrad --help"
        _fail(f"{e.format_message()} (see '{where}')", getattr(e, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        _fail(_interrupted(args), 130)
    except OSError as e:  # the machine refused: a folder that does not exist, a permission
        if os.environ.get("MUTAGRAD_DEBUG"):
            raise
        what = f": {e.filename}" if e.filename else ""
        _fail(f"{e.strerror or e}{what} (check the path and its permissions)", 2)
    except Exception as e:  # a bug of ours: still one line, the traceback on request
        if os.environ.get("MUTAGRAD_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (rerun with MUTAGRAD_DEBUG=1 for "
              "the traceback, and please report it)", 1)
    finally:
        STDOUT.reset(token)
    if code == 130:  # Typer turns a Ctrl-C inside a command into Exit(130), without a word
        _fail(_interrupted(args), 130)
    sys.exit(code if isinstance(code, int) else 0)


@contextlib.contextmanager
def _ctrl_c_never_lost() -> Iterator[None]:
    """A Ctrl-C that lands in a destructor or a weakref callback (SQLAlchemy has some) is
    an "unraisable" exception: Python prints its traceback and drops it, and the command
    runs on. It is sent again instead, silently, once the callback has returned."""
    previous = sys.unraisablehook
    main_thread = threading.main_thread().ident

    def again() -> None:
        time.sleep(0.05)  # out of the callback (raised inside it, it would be lost again)
        if main_thread is not None and hasattr(signal, "pthread_kill"):  # POSIX
            signal.pthread_kill(main_thread, signal.SIGINT)

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            threading.Thread(target=again, daemon=True).start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _interrupted(args: list[str]) -> str:
    # a campaign, once it exists, says itself what it stored (CampaignInterrupted)
    return "interrupted before any trial was stored" if args[:1] == ["run"] else "interrupted"


def _workers_skip_main() -> None:
    """The ``mutagrad`` console script is a file run as ``__main__``: multiprocessing runs
    such a file again in every worker it starts, which imported the whole CLI there (a
    second or more of each worker's start). The workers run library functions and need
    nothing from it: naming it a package's ``__main__`` module, as ``python -m mutagrad``
    does, makes multiprocessing leave it alone."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None \
            and getattr(main, "__file__", None):
        main.__spec__ = ModuleSpec("mutagrad.__main__", None)


def _fail(message: str, code: int) -> None:
    console = Console(stderr=True, highlight=False, markup=False, emoji=False)
    console.print("mutagrad: error: ", style="red", end="")
    console.print(message, soft_wrap=True)
    sys.exit(code)
