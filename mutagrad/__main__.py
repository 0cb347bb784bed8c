"""``python -m mutagrad`` and the ``mutagrad`` command.

Loading the commands (Typer, Rich; numpy and SQLAlchemy load when a command uses them)
takes a moment: a Ctrl-C then is the same one line and exit code as a Ctrl-C later, never a
traceback of the imports."""

import os
import signal
import sys

INTERRUPTED = 130


def main() -> None:
    try:
        from mutagrad.cli import main as command
    except KeyboardInterrupt:
        stored = " before any trial was stored" if sys.argv[1:2] == ["run"] else ""
        sys.stderr.write(f"mutagrad: error: interrupted{stored}\n")
        _interrupted()
    try:
        command()
    except SystemExit as e:
        if e.code == INTERRUPTED:
            _interrupted()
        # done: a Ctrl-C while Python tears down must not turn the command's exit code
        # into a death by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise


def _interrupted() -> None:
    # Python ends a process whose Ctrl-C reached code run from C (an extension's import)
    # with SIGINT itself, whatever exit code was asked: leave with 130 as documented. What
    # must be kept is stored by then; the workers exit with this process.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)


if __name__ == "__main__":
    main()
