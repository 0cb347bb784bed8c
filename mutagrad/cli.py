"""The `mutagrad` command: parse, call the library, render. No logic of its own."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from mutagrad import gradcheck, mutation, subjects
from mutagrad.errors import InvalidInput, MutagradError

app = typer.Typer(
    help="Which bugs in your backward pass would your gradient check catch?",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
)

SubjectArg = Annotated[str, typer.Argument(help="A built-in subject (see 'mutagrad subjects').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CategoryOpt = Annotated[list[str] | None, typer.Option(
    "--category", help="Only these categories (repeat, or comma-separate).")]
OperatorOpt = Annotated[list[str] | None, typer.Option(
    "--operator", help="Only these operators (repeat, or comma-separate); see 'mutagrad operators'.")]


def _split(values: list[str] | None) -> list[str] | None:
    """``--category sign,factor --category index`` -> ["sign", "factor", "index"]."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


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


@app.command()
def mutants(
    subject: SubjectArg,
    category: CategoryOpt = None,
    operator: OperatorOpt = None,
    directory: Annotated[str | None, typer.Argument(
        metavar="[DIR]", help="Where --export writes (default: mutants/).")] = None,
    export: Annotated[bool, typer.Option(
        "--export", help="Also write each mutant as a runnable copy to "
                         "DIR/<subject>/<id>.py, with an index.json.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the mutants of a subject's backward, then the count per category.

    Each mutant has a stable id (a hash of the code it changes, not of line numbers), a
    category, an operator and the one place it changes. The subject's file is never written.

    Example: mutagrad mutants mlp3 --category factor,activation --export
    """
    if directory is not None and not export:
        raise InvalidInput(f"{directory!r}: a folder is only taken with --export "
                           f"(mutagrad mutants {subject} --export {directory})")
    subj = subjects.load(subject)
    found = mutation.mutants_of(subj, _split(category), _split(operator))
    folder = mutation.export(subj.name, found, directory or "mutants") if export else None
    counts: dict[str, int] = {}
    for m in found:
        counts[m.category] = counts.get(m.category, 0) + 1
    if as_json:
        _emit_json({"subject": subj.name, "mutants": [_mutant_json(m) for m in found],
                    "counts": counts, "exported_to": str(folder) if folder else None})
        return
    out = _out()
    table = Table(title=f"Mutants of {subj.name} ({subj.backward.__name__})", title_justify="left")
    for column in ("id", "category", "operator", "line", "original -> replacement"):
        table.add_column(column, overflow="fold")
    for m in found:
        table.add_row(m.id, m.category, m.operator, str(m.line),
                      f"{m.original} [bold]->[/bold] {m.replacement}")
    out.print(table)
    summary = Table(title="Per category", title_justify="left")
    summary.add_column("category")
    summary.add_column("mutants", justify="right")
    for name, n in counts.items():
        summary.add_row(name, str(n))
    summary.add_row("[bold]total[/bold]", f"[bold]{len(found)}[/bold]")
    out.print(summary)
    if folder:
        out.print(f"exported {len(found)} mutants to {folder}/ (index: {folder / 'index.json'})")


def _mutant_json(m: mutation.Mutant) -> dict[str, Any]:
    return {"id": m.id, "category": m.category, "operator": m.operator,
            "function": m.function, "location": m.location, "line": m.line,
            "original": m.original, "replacement": m.replacement}


@app.command()
def diff(
    subject: SubjectArg,
    mutant_id: Annotated[str, typer.Argument(help="A mutant id, or a unique prefix of one.")],
) -> None:
    """Show one mutant as a coloured unified diff against the subject's source.

    Example: mutagrad diff mlp3 247a48958b
    """
    subj = subjects.load(subject)
    found = mutation.find_mutant(mutation.mutants_of(subj, operators=_all_operators()),
                                 mutant_id, subj.name)
    out = _out()
    out.print(f"{found.id}  {found.category}/{found.operator}  {found.location}")
    out.print(Syntax(found.diff, "diff", theme="ansi_dark", background_color="default"))


def _all_operators() -> list[str]:
    return [op.name for op in mutation.OPERATORS]


@app.command()
def operators(as_json: JsonOpt = False) -> None:
    """List the mutation operators by category; those marked off run only when named.

    Example: mutagrad operators
    """
    if as_json:
        _emit_json([{"name": op.name, "category": op.category, "default": op.default,
                     "description": op.description} for op in mutation.OPERATORS])
        return
    table = Table()
    for column in ("category", "operator", "on", "what it does"):
        table.add_column(column, overflow="fold")
    for op in sorted(mutation.OPERATORS, key=lambda o: mutation.CATEGORIES.index(o.category)):
        table.add_row(op.category, op.name, "yes" if op.default else "off", op.description)
    _out().print(table)


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
