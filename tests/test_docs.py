"""Every command has help text with an example, and the README names every command."""

from pathlib import Path

import pytest
import typer

from mutagrad.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_with_example(name):
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    assert command.help and "Example: mutagrad " + name in command.help


@pytest.mark.parametrize("name", COMMANDS)
def test_readme_mentions_command(name):
    assert f"mutagrad {name}" in README
