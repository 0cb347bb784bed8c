"""What every command shares: the Typer app, option types, small helpers."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from mutagrad import subjects
from mutagrad.errors import InvalidInput
from mutagrad.subject import Subject

app = typer.Typer(
    help="Which bugs in your backward pass would your gradient check catch?",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
)

SubjectArg = Annotated[str, typer.Argument(
    help="A built-in subject (see 'mutagrad subjects'), your .py file, or a module name.")]
_OWN = "Your own code (seed-style files need no adapter)"
ForwardOpt = Annotated[str | None, typer.Option(
    help="Forward function, (X, Y, parameters) -> (cost, cache). "
         "[default: forward_propagation_n]", rich_help_panel=_OWN)]
BackwardOpt = Annotated[str | None, typer.Option(
    help="Backward function, (X, Y, cache) -> gradients. [default: backward_propagation_n]",
    rich_help_panel=_OWN)]
ParamsOpt = Annotated[str | None, typer.Option(
    help="Function (rng) -> parameter dict. [default: init_params]", rich_help_panel=_OWN)]
InputsOpt = Annotated[str | None, typer.Option(
    help="Function (rng, m) -> (X, Y); default: X normal (n_x, m), Y 0/1 labels (1, m).",
    rich_help_panel=_OWN)]
GradKeyOpt = Annotated[str | None, typer.Option(
    help="Gradient key of a parameter, {} is its name. [default: d{}]", rich_help_panel=_OWN)]
MutateOpt = Annotated[list[str] | None, typer.Option(
    help="Also mutate these helpers of the backward (comma-separated); refused for functions "
         "the forward calls.", rich_help_panel=_OWN)]


def subject_of(target: str, forward: str | None = None, backward: str | None = None,
             params: str | None = None, inputs: str | None = None,
             grad_key: str | None = None,
             mutate: list[str] | None = None) -> tuple[subjects.SubjectSpec, Subject]:
    spec = subjects.SubjectSpec.parse(target, forward=forward, backward=backward, params=params,
                                      inputs=inputs, grad_key=grad_key, mutate=split(mutate))
    return spec, subjects.load(spec)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CategoryOpt = Annotated[list[str] | None, typer.Option(
    "--category", help="Only these categories (repeat, or comma-separate).")]
OperatorOpt = Annotated[list[str] | None, typer.Option(
    "--operator", help="Only these operators (repeat, or comma-separate); see 'mutagrad operators'.")]


def split(values: list[str] | None) -> list[str] | None:
    """``--category sign,factor --category index`` -> ["sign", "factor", "index"]."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def console() -> Console:
    return Console(highlight=False)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")



DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite file (env MUTAGRAD_DB; default results.db).")]
ToleranceOpt = Annotated[float | None, typer.Option(
    help="Judge at this tolerance (default: the campaign's); recomputed from stored numbers.")]
FailUnderOpt = Annotated[float | None, typer.Option(
    "--fail-under", help="Exit 1 when the detection rate is below RATE (0.9 or 90 both mean 90%).")]


def parse_list(text: str | None, kind: type, flag: str) -> tuple[Any, ...] | None:
    if text is None:
        return None
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"{flag} takes a comma-separated list of {kind.__name__}s, "
                           f"got {text!r}") from None


def gate(rate: float | None, fail_under: float | None) -> int:
    if fail_under is None:
        return 0
    threshold = fail_under / 100 if fail_under > 1 else fail_under
    if rate is None:
        Console(stderr=True).print("fail-under: no real bug among the mutants, nothing to gate")
        return 0
    if rate < threshold:
        Console(stderr=True).print(f"[red]detection rate {rate:.1%} is below {threshold:.1%}[/red]")
        return 1
    return 0


