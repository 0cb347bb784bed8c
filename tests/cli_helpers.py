"""Run the real entry point (with its error boundary) in-process and capture what it prints.

Every ``--json`` output that any test produces is read with a strict parser (RFC 8259 has no
NaN or Infinity): a document a strict reader rejects fails the test that made it.
"""

import json
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
    if "--json" in args and "--help" not in args and captured.out.strip():
        json.loads(captured.out, parse_constant=_refuse)
    return Ran(code if isinstance(code, int) else 0, captured.out, captured.err)


def _refuse(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")
