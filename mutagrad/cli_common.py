"""What every command shares: the Typer app, option types, small helpers."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console

from mutagrad.errors import InvalidInput
from mutagrad.values import STRATEGY_NAMES, Settings, SubjectSpec


def lazy_module(name: str) -> Any:
    """The module ``name``, imported on the first access to one of its attributes.

    Every command is declared when any one runs: the command modules name the library's
    modules this way, so that a command imports what it uses when it runs ('mutagrad
    --help' loads neither numpy nor SQLAlchemy, 'mutagrad history' not the mutation
    engine). The import is an ordinary ``importlib.import_module``, under the import
    system's own lock: threads may touch a module first at once (Python 3.11's
    ``importlib.util.LazyLoader`` would let one see another's half-run module)."""
    return _Deferred(name)


class _Deferred:
    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:  # only for what is not set above
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


if TYPE_CHECKING:
    from mutagrad import subjects
    from mutagrad.subject import Subject
else:
    subjects = lazy_module("mutagrad.subjects")

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
_LAYER = "Your own layers (cs231n style: X_forward -> (out, cache), X_backward(dout, cache))"
# The options that say how to read a user's own code, defined once: ``subject_options``
# adds them to a command and hands the command one ``SubjectOptions``.
_SUBJECT_OPTIONS: dict[str, Any] = {
    "forward": Annotated[str | None, typer.Option(
        help="Forward function, (X, Y, parameters) -> (cost, cache). "
             "[default: forward_propagation_n]", rich_help_panel=_OWN)],
    "backward": Annotated[str | None, typer.Option(
        help="Backward function, (X, Y, cache) -> gradients. [default: backward_propagation_n]",
        rich_help_panel=_OWN)],
    "params": Annotated[str | None, typer.Option(
        help="Function (rng) -> parameter dict. [default: init_params]", rich_help_panel=_OWN)],
    "inputs": Annotated[str | None, typer.Option(
        help="Function (rng, m) -> (X, Y); default: X normal (n_x, m), Y 0/1 labels (1, m). "
             "With --layer: (rng, m) -> X, or (X, y) for a loss.",
        rich_help_panel=_OWN)],
    "grad_key": Annotated[str | None, typer.Option(
        help="Gradient key of a parameter, {} is its name. [default: d{}]",
        rich_help_panel=_OWN)],
    "mutate": Annotated[list[str] | None, typer.Option(
        help="Also mutate these helpers of the backward (comma-separated), functions or "
             "methods (Class.method); refused for those the forward calls.",
        rich_help_panel=_OWN)],
    "layer": Annotated[str | None, typer.Option(
        help="Layer classes, no adapter: 'Layer_Dense(4, 3)', a chain 'Layer_Dense(4, 5), "
             "Activation_ReLU, Layer_Dense(5, 3)' ending in an optional loss, or the name of "
             "a list of layers or a model in the file; or a cs231n-style pair of functions "
             "FORWARD:BACKWARD (with --shapes). --backward Class.method then picks "
             "the one method to mutate [default: every layer's backward].",
        rich_help_panel=_OWN)],
    "init": Annotated[str | None, typer.Option(
        help="Constructor arguments of a --layer class named alone: "
             "'n_inputs=4,n_neurons=3'.", rich_help_panel=_OWN)],
    "shapes": Annotated[list[str] | None, typer.Option(
        help="Shapes of the forward's array arguments: 'x=2,3,5,7 w=4,3,3,3 b=4' (N for the "
             "batch; x=2,4<10 for integers below 10); for layer classes, the input's: "
             "'inputs=N,3,8,8'.", rich_help_panel=_LAYER)],
    "constants": Annotated[list[str] | None, typer.Option(
        help="Other arguments, JSON: 'conv_param={\"stride\": 2, \"pad\": 1}'.",
        rich_help_panel=_LAYER)],
    "grid": Annotated[list[str] | None, typer.Option(
        help="Constants to vary across cases: 'pad=0,1,2 stride=1,2' (a key of a dict "
             "constant, or a constant).", rich_help_panel=_LAYER)],
}


@dataclass(frozen=True)
class SubjectOptions:
    """What the user said about their own code (all None for a built-in)."""

    forward: str | None = None
    backward: str | None = None
    params: str | None = None
    inputs: str | None = None
    grad_key: str | None = None
    mutate: list[str] | None = None
    layer: str | None = None
    init: str | None = None
    shapes: list[str] | None = None
    constants: list[str] | None = None
    grid: list[str] | None = None

    def spec(self, target: str) -> SubjectSpec:
        return subjects.parse_spec(target, forward=self.forward, backward=self.backward,
                                   params=self.params, inputs=self.inputs,
                                   grad_key=self.grad_key, mutate=split(self.mutate),
                                   layer=self.layer, init=self.init, shapes=self.shapes,
                                   constants=self.constants, grid=self.grid)

    def specs(self, target: str) -> list[SubjectSpec]:
        """Every subject the target names (a file's SUBJECTS, its configured layer pairs)."""
        return subjects.expand(self.spec(target))

    def load(self, target: str) -> tuple[SubjectSpec, Subject]:
        """The one subject the target names (a file holding several must say which); what
        makes its check doubtful is printed on stderr first."""
        found = self.specs(target)
        if len(found) > 1:
            names = ", ".join(s.select or s.target for s in found)
            raise InvalidInput(f"{target} holds several subjects ({names}): name one, e.g. "
                               f"{target}::{found[0].select}")
        spec = found[0]
        return spec, load_warned(spec)


def load_warned(spec: SubjectSpec) -> Subject:
    """The subject; what makes its check doubtful is printed on stderr first."""
    subject = subjects.load(spec)
    err = Console(stderr=True, highlight=False, markup=False, emoji=False)
    for warning in subject.warnings:
        err.print(f"mutagrad: warning: {warning}", style="yellow", soft_wrap=True)
    return subject


def subject_options(mutate: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the your-own-code options to a command; it receives them as ``own``."""
    names = [n for n in _SUBJECT_OPTIONS if mutate or n != "mutate"]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "own"]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=_SUBJECT_OPTIONS[n]) for n in names]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            own = SubjectOptions(**{n: kwargs.pop(n) for n in names})
            return command(*args, own=own, **kwargs)

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*kept, *added])
        wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items()
                                      if k != "own"},
                                   **{n: _SUBJECT_OPTIONS[n] for n in names}}
        return wrapper

    return decorate


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
# The case plan's options, as run and couple take them
CasesOpt = Annotated[int, typer.Option(help="Number of seeds; cases = seeds x batches x dtypes.")]
SeedOpt = Annotated[int, typer.Option(help="First seed.")]
BatchOpt = Annotated[str, typer.Option(help="Batch sizes, comma-separated.")]
DtypeOpt = Annotated[str, typer.Option(help="float64 and/or float32, comma-separated.")]
DEFAULT_BATCHES = ",".join(map(str, Settings().batches))
DEFAULT_DTYPES = ",".join(Settings().dtypes)
# The strategies, as --strategy takes them (from values: help needs no numerics loaded)
STRATEGIES_HELP = (", ".join(STRATEGY_NAMES)
                   + ", all, or check:FUNC (your own check, as --check FUNC)")
CheckOpt = Annotated[str | None, typer.Option(
    "--check", metavar="FUNC",
    help="Your own gradient check instead of ours, a function of your file: "
         "gradient_check_n(parameters, gradients, X, Y, epsilon) -> difference (the "
         "exercise's), or cs231n's eval_numerical_gradient_array[:REL_ERROR] (your "
         "rel_error, else the notebooks'). The strategy check:FUNC; with --strategy, both.",
    rich_help_panel=_OWN)]
CategoryOpt = Annotated[list[str] | None, typer.Option(
    "--category", help="Only these categories (repeat, or comma-separate).")]
OperatorOpt = Annotated[list[str] | None, typer.Option(
    "--operator", help="Only these operators (repeat, or comma-separate); see 'mutagrad operators'.")]


def split(values: list[str] | None) -> list[str] | None:
    """``--category sign,factor --category index`` -> ["sign", "factor", "index"]."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# Where mutagrad's own output goes: the stdout the command was started with (``main`` sends
# everything else, the user's prints included, to stderr while a command runs).
STDOUT: ContextVar[TextIO | None] = ContextVar("mutagrad_stdout", default=None)


def stdout() -> TextIO:
    return STDOUT.get() or sys.stdout


# Piped (a file, a pager, grep) and no COLUMNS: tables as wide as they need, never cut to
# a terminal's 80 columns that is not there.
PIPED_WIDTH = 1000


def console() -> Console:
    """Rich console for mutagrad's own output; user-controlled text must be passed as
    ``Text`` (or escaped), never as markup."""
    out = Console(file=stdout(), highlight=False, emoji=False)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH
    return out


def emit_json(payload: Any) -> None:
    """Strict JSON (no NaN or Infinity: see ``report.strict``) on mutagrad's stdout."""
    from mutagrad.report import strict

    stdout().write(json.dumps(strict(payload), indent=2, allow_nan=False) + "\n")



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


def check_fail_under(fail_under: float | None) -> None:
    """Refuse a --fail-under that can never mean anything, before any work is done."""
    if fail_under is not None and not 0 <= fail_under <= 100:
        raise InvalidInput(f"fail-under takes a rate from 0 to 1 (or a percentage up to 100), "
                           f"got {fail_under}", parameter="fail_under")


def gate(rate: float | None, fail_under: float | None, alarms: int = 0) -> int:
    """Exit code of ``--fail-under``: 1 when the detection rate is under it, or when the
    original backward itself fails the check on some case (then no rate means anything)."""
    if fail_under is None:
        return 0
    err = Console(stderr=True, highlight=False)
    check_fail_under(fail_under)
    threshold = fail_under / 100 if fail_under > 1 else fail_under
    if alarms:
        err.print(f"[red]fail-under: the original backward fails the check on {alarms} "
                  "case(s): fix it (or the tolerance) before gating on detection[/red]")
        return 1
    if rate is None:
        err.print("fail-under: no real bug among the mutants, nothing to gate")
        return 0
    if rate < threshold:
        err.print(f"[red]detection rate {rate:.1%} is below {threshold:.1%}[/red]")
        return 1
    return 0


