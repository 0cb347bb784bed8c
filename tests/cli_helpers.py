"""Run the real entry point (with its error boundary) in-process and capture what it prints."""

from dataclasses import dataclass

import pytest

from mutagrad.cli import main


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return Ran(code if isinstance(code, int) else 0, captured.out, captured.err)
