"""The `mutagrad` command: parse, call the library, render. No logic of its own."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mutagrad import gradcheck, subjects
from mutagrad.errors import MutagradError

app = typer.Typer(
    help="Which bugs in your backward pass would your gradient check catch?",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
)

SubjectArg = Annotated[str, typer.Argument(help="A built-in subject (see 'mutagrad subjects').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _out() -> Console:
    return Console(highlight=False)


def _emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


@app.command("subjects")
def subjects_cmd(as_json: JsonOpt = False) -> None:
    """List the built-in subjects.

    Example: mutagrad subjects
    """
    rows = [(s.name, s.description) for s in subjects.all_subjects()]
    if as_json:
        _emit_json([{"name": n, "description": d} for n, d in rows])
        return
    out = _out()
    for name, description in rows:
        out.print(f"[bold]{name:<15}[/bold] {description}")


@app.command()
def check(
    subject: SubjectArg,
    epsilon: Annotated[float, typer.Option(help="Step of the centered difference.")] = (
        gradcheck.DEFAULT_EPSILON),
    tolerance: Annotated[float, typer.Option(
        help="Largest difference that passes.")] = gradcheck.DEFAULT_TOLERANCE,
    seed: Annotated[int | None, typer.Option(
        help="Seed of a generated case; without it, the subject's default case.")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size m of a generated case.")] = None,
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    top: Annotated[int, typer.Option(help="How many parameters to list.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Run the seed's gradient check on a subject's own backward.

    Prints the difference ||grad - gradapprox|| / (||grad|| + ||gradapprox||), the verdict at
    the tolerance, and the parameters whose gradient disagrees most. Exit code 0 when the
    check passes, 1 when it fails.

    Example: mutagrad check mlp3 --epsilon 1e-6 --tolerance 2e-7
    """
    subj = subjects.load(subject)
    result = gradcheck.check(subj, subj.case(seed, batch, dtype), epsilon, tolerance)
    if as_json:
        _emit_json(_check_json(result))
    else:
        _render_check(result, top)
    raise typer.Exit(0 if result.passed else 1)


def _check_json(result: gradcheck.CheckResult) -> dict[str, Any]:
    case = result.case
    return {
        "subject": result.subject,
        "case": {"seed": case.seed, "batch": case.batch, "dtype": case.dtype},
        "epsilon": result.epsilon,
        "tolerance": result.tolerance,
        "difference": result.difference,
        "passed": result.passed,
        "message": result.message,
        "parameters": [
            {"gradient": "d" + d.name, "difference": d.difference, "index": list(d.index),
             "analytic": d.analytic, "numerical": d.numerical}
            for d in result.comparison.parameters
        ],
    }


def _render_check(result: gradcheck.CheckResult, top: int) -> None:
    out = _out()
    out.print(f"{result.subject}: case {result.case.label}, epsilon {result.epsilon:g}, "
              f"tolerance {result.tolerance:g}")
    out.print(f"difference = {result.difference!r}")
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{result.message}[/{colour}]")
    table = Table(title="Parameters whose gradient disagrees most", title_justify="left")
    for column in ("gradient", "difference", "worst entry", "analytic", "numerical"):
        table.add_column(column, justify="left" if column == "gradient" else "right")
    for d in result.comparison.parameters[:top]:
        mark = "" if gradcheck.passes(d.difference, result.tolerance) else " [red]✗[/red]"
        index = ", ".join(map(str, d.index))
        table.add_row(f"d{d.name}{mark}", f"{d.difference:.3e}", f"[{index}]",
                      f"{d.analytic:.10g}", f"{d.numerical:.10g}")
    out.print(table)


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
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    Console(stderr=True, highlight=False).print(f"[red]mutagrad: error:[/red] {message}",
                                                 soft_wrap=True)
    sys.exit(code)
