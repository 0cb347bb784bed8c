"""Commands on a subject's code: subjects, check, mutants, diff, operators."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from mutagrad.cli_common import (
    STRATEGIES_HELP,
    CategoryOpt,
    CheckOpt,
    JsonOpt,
    OperatorOpt,
    SubjectArg,
    SubjectOptions,
    app,
    console,
    emit_json,
    lazy_module,
    load_warned,
    parse_list,
    split,
    subject_options,
)
from mutagrad.errors import CheckFailed, InvalidInput
from mutagrad.values import DEFAULT_EPSILON

if TYPE_CHECKING:
    from mutagrad import checking, config, gradcheck, mutation, report, subjects
    from mutagrad import strategies as strategy_mod
else:  # each loads when a command first uses it
    checking = lazy_module("mutagrad.checking")
    config = lazy_module("mutagrad.config")
    gradcheck = lazy_module("mutagrad.gradcheck")
    mutation = lazy_module("mutagrad.mutation")
    report = lazy_module("mutagrad.report")
    subjects = lazy_module("mutagrad.subjects")
    strategy_mod = lazy_module("mutagrad.strategies")


@app.command("subjects")
def subjects_cmd(as_json: JsonOpt = False) -> None:
    """List the built-in subjects.

    Example: mutagrad subjects
    """
    rows = [(s.name, s.description) for s in subjects.all_subjects()]
    if as_json:
        emit_json([{"name": n, "description": d} for n, d in rows])
        return
    table = report.new_table()
    table.add_column("subject", style="bold", no_wrap=True)
    table.add_column("what it is")
    for name, description in rows:
        table.add_row(Text(name), Text(description))
    console().print(table)


@app.command()
@subject_options(mutate=False)
def check(
    subject: SubjectArg,
    epsilon: Annotated[float, typer.Option(
        help="Step of the centered difference.")] = DEFAULT_EPSILON,
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference that passes [default: each strategy's own; the seed's "
             "1e-7 for centered].")] = None,
    strategy: Annotated[str | None, typer.Option(
        help=f"Strategies, comma-separated: {STRATEGIES_HELP}. "
             "[default: centered]")] = None,
    own_check: CheckOpt = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of a generated case; without it, the subject's default case.")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size m of a generated case.")] = None,
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    top: Annotated[int, typer.Option(help="How many parameters to list.")] = 5,
    jitter: Annotated[bool, typer.Option(
        "--jitter", help="Move the parameters off their initial values, as a campaign does "
                         "for every seed but its first (to reproduce a campaign's case).")] = False,
    as_json: JsonOpt = False,
    own: SubjectOptions = SubjectOptions(),
) -> None:
    """Run the seed's gradient check on a subject's own backward.

    Prints the difference ||grad - gradapprox|| / (||grad|| + ||gradapprox||), the verdict at
    the tolerance, and the parameters whose gradient disagrees most. A layer file (or one
    with SUBJECTS) checks each of its subjects on each kind of case. Exit code 0 when the
    check passes, 1 when it fails (a gradient of the wrong shape, a write into an input).

    Example: mutagrad check mlp3 --epsilon 1e-6 --tolerance 2e-7
    """
    names = strategy_mod.with_check(parse_list(strategy, str, "--strategy"), own_check) \
        or ("centered",)
    checked: list[checking.SubjectCheck] = []
    for spec in own.specs(subject):
        subj = load_warned(spec)
        try:
            checked.append(checking.check_subject(subj, names, epsilon, tolerance, seed, batch,
                                                  dtype, jitter))
        except CheckFailed as e:  # a verdict on the user's backward: --json gets a document
            if not as_json:
                raise
            emit_json({"subject": subj.name, "passed": False, "error": str(e)})
            raise typer.Exit(1) from None
    passed = all(c.passed for c in checked)
    if len(checked) == 1 and len(checked[0].cases) == 1:
        one = checked[0].cases[0]
        if as_json:
            emit_json({**_check_json(one.result), "passed": one.passed,
                       "strategies": [report.asdict(o) for o in one.others]})
        else:
            _render_one(one.result, list(one.others), names, top)
        raise typer.Exit(0 if passed else 1)
    if as_json:
        emit_json({"passed": passed, "subjects": [
            {"subject": c.subject, "passed": c.passed, "warnings": list(c.warnings),
             "cases": [{**_check_json(k.result), "passed": k.passed,
                        "strategies": [report.asdict(o) for o in k.others]}
                       for k in c.cases]}
            for c in checked]})
        raise typer.Exit(0 if passed else 1)
    for c in checked:
        console().print(report.case_checks_table(
            c.subject, [(k.result.case.label, _shown_difference(k, names), k.passed, "; ".join(
                n for n in (k.result.kinks, k.result.precision) if n)) for k in c.cases],
            names[0] if names != ("centered",) else None))
        failed = [k for k in c.cases if not k.passed]
        if failed:
            _render_one(failed[0].result, list(failed[0].others), names, top)
        for warning in c.warnings:
            Console(stderr=True, highlight=False).print(f"[yellow]warning: {c.subject}: "
                                                        f"{warning}[/yellow]")
    raise typer.Exit(0 if passed else 1)


def _shown_difference(k: checking.CaseCheck, names: tuple[str, ...]) -> float | None:
    """The seed's difference when it ran, else the first strategy's (your own check's)."""
    if "centered" in names or not k.others:
        return k.result.difference
    return k.others[0].difference


def _render_one(result: gradcheck.CheckResult, others: list[strategy_mod.StrategyCheck],
                names: tuple[str, ...], top: int) -> None:
    if "centered" in names:
        _render_check(result, top)
    if others:
        console().print(report.strategy_checks_table(others))
        for o in others:
            if o.worst:
                console().print(report.worst_table(o))
            if o.note:
                console().print(o.note)


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
        "kinks": result.kinks,
        "precision": result.precision,
        "parameters": [
            {"gradient": "d" + d.name, "difference": d.difference, "index": list(d.index),
             "analytic": d.analytic, "numerical": d.numerical}
            for d in result.comparison.parameters
        ],
    }


def _render_check(result: gradcheck.CheckResult, top: int) -> None:
    out = console()
    out.print(f"{result.subject}: case {result.case.label}, epsilon {result.epsilon:g}, "
              f"tolerance {result.tolerance:g}")
    out.print(f"difference = {result.difference!r}")
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{result.message}[/{colour}]")
    table = report.new_table("Parameters whose gradient disagrees most")
    for column in ("gradient", "difference", "worst entry", "analytic", "numerical"):
        table.add_column(column, justify="left" if column == "gradient" else "right")
    for d in result.comparison.parameters[:top]:
        # a parameter is marked only under a failed verdict: the check is on the whole vector
        mark = "" if result.passed or gradcheck.passes(d.difference, result.tolerance) \
            else " ✗"
        index = ", ".join(map(str, d.index))
        table.add_row(Text.assemble(f"d{d.name}", (mark, "red")), f"{d.difference:.3e}",
                      Text(f"[{index}]"), f"{d.analytic:.10g}", f"{d.numerical:.10g}")
    out.print(table)
    for note in (result.kinks, result.precision):
        if note:
            out.print(Text(f"note: {note}", style="yellow"))


@app.command()
@subject_options()
def mutants(
    subject: SubjectArg,
    category: CategoryOpt = None,
    operator: OperatorOpt = None,
    directory: Annotated[str | None, typer.Argument(
        metavar="[DIR]", help="Where --export writes (default: mutants/).")] = None,
    export: Annotated[bool, typer.Option(
        "--export", help="Also write each mutant as a runnable copy to "
                         "DIR/SUBJECT/ID.py, with an index.json.")] = False,
    as_json: JsonOpt = False,
    dropped: Annotated[bool, typer.Option(
        "--dropped", help="List the mutants left out of campaigns instead, with the reason "
                          "(they crash on every traced case, return a wrong-shaped "
                          "gradient, or are equivalent by construction).")] = False,
    own: SubjectOptions = SubjectOptions(),
) -> None:
    """List the mutants of a subject's backward, then the count per category.

    Each mutant has a stable id (a hash of the code it changes, not of line numbers), a
    category, an operator and the one place it changes. The subject's file is never written.
    Mutants that cannot tell anything about a check are dropped (see --dropped).

    Example: mutagrad mutants mlp3 --category factor,activation --export
    """
    if directory is not None and not export:
        raise InvalidInput(f"{directory!r}: a folder is only taken with --export "
                           f"(mutagrad mutants {subject} --export {directory})")
    _, subj = own.load(subject)
    generation = mutation.generate(subj, split(category), split(operator))
    if dropped:
        _list_dropped(subj.name, generation.dropped, as_json)
        return
    found = generation.kept
    folder = mutation.export(subj.name, found, directory or "mutants") if export else None
    counts: dict[str, int] = {}
    for m in found:
        counts[m.category] = counts.get(m.category, 0) + 1
    if as_json:
        emit_json({"subject": subj.name, "mutants": [_mutant_json(m) for m in found],
                    "counts": counts, "exported_to": str(folder) if folder else None})
        return
    out = console()
    functions = mutation.mutated_names(subj)
    table = report.new_table(f"Mutants of {subj.name} ({', '.join(functions)})")
    several = len(functions) > 1  # then each row says which function it changes
    for column in ("id", "category", "operator", *(["function"] if several else []), "line",
                   "original -> replacement"):
        table.add_column(column, overflow="fold")
    for m in found:
        table.add_row(m.id, m.category, m.operator, *([m.function] if several else []),
                      str(m.line), Text.assemble(m.original, (" -> ", "bold"), m.replacement))
    out.print(table)
    summary = report.new_table("Per category")
    summary.add_column("category")
    summary.add_column("mutants", justify="right")
    for name, n in counts.items():
        summary.add_row(name, str(n))
    summary.add_row("[bold]total[/bold]", f"[bold]{len(found)}[/bold]")
    out.print(summary)
    if generation.dropped:
        out.print(Text(f"{len(generation.dropped)} more dropped: list them with "
                       f"'mutagrad mutants {subject} --dropped'"))
    if folder:
        out.print(f"exported {len(found)} mutants to {folder}/ (index: {folder / 'index.json'})")


def _list_dropped(name: str, dropped: list[mutation.Dropped], as_json: bool) -> None:
    if as_json:
        emit_json({"subject": name, "dropped": [{**_mutant_json(d.mutant), "reason": d.reason}
                                                for d in dropped]})
        return
    table = report.new_table(f"Mutants of {name} dropped ({len(dropped)})")
    for column in ("id", "operator", "line", "original -> replacement", "reason"):
        table.add_column(column, overflow="fold")
    for d in dropped:
        m = d.mutant
        table.add_row(m.id, m.operator, str(m.line),
                      Text.assemble(m.original, (" -> ", "bold"), m.replacement), Text(d.reason))
    console().print(table)


def _mutant_json(m: mutation.Mutant) -> dict[str, Any]:
    return {"id": m.id, "category": m.category, "operator": m.operator,
            "function": m.function, "location": m.location, "line": m.line,
            "original": m.original, "replacement": m.replacement}


@app.command()
@subject_options()
def diff(
    subject: SubjectArg,
    mutant_id: Annotated[str, typer.Argument(help="A mutant id, or a unique prefix of one.")],
    own: SubjectOptions = SubjectOptions(),
    as_json: JsonOpt = False,
) -> None:
    """Show one mutant as a coloured unified diff against the subject's source.

    Example: mutagrad diff mlp3 247a48958b
    """
    _, subj = own.load(subject)
    found = mutation.find_mutant(mutation.mutants_of(subj, operators=_all_operators(),
                                                     shape_aware=False),
                                 mutant_id, subj.name)
    if as_json:  # the mutant as 'mutants --json' lists it, and its unified diff
        emit_json({"subject": subj.name, "mutant": _mutant_json(found), "diff": found.diff})
        return
    out = console()
    out.print(Text(f"{found.id}  {found.category}/{found.operator}  {found.location}"))
    out.print(report.diff_text(found.diff), soft_wrap=True)


def _all_operators() -> list[str]:
    return [op.name for op in mutation.OPERATORS]


@app.command()
def operators(as_json: JsonOpt = False) -> None:
    """List the mutation operators by category; those marked off run only when named.

    Example: mutagrad operators
    """
    if as_json:
        emit_json([{"name": op.name, "category": op.category, "default": op.default,
                     "description": op.description} for op in mutation.OPERATORS])
        return
    table = report.new_table()
    for column in ("category", "operator", "on", "what it does"):
        table.add_column(column, overflow="fold")
    for op in sorted(mutation.OPERATORS, key=lambda o: mutation.CATEGORIES.index(o.category)):
        table.add_row(op.category, op.name, "yes" if op.default else "off", Text(op.description))
    console().print(table)




@app.command()
def init(
    file: Annotated[str, typer.Argument(
        help="Your layers file (X_forward/X_backward pairs, or classes with forward and "
             "backward methods).")],
) -> None:
    """List every layer of a file in pyproject.toml's [tool.mutagrad].

    Appends one table per layer, X_forward/X_backward pair or class with forward and
    backward methods, to the pyproject.toml of the working folder (created when missing),
    shapes and constructor arguments left for you to fill; refuses when [tool.mutagrad]
    exists already. Then 'mutagrad check FILE' and 'mutagrad run' (no subject) check every
    layer it lists.

    Example: mutagrad init layers.py
    """
    path, layers = config.init(Path(file), Path("."))
    console().print(Text(f"wrote [tool.mutagrad] to {path}: {len(layers)} layers "
                         f"({', '.join(layers)}); fill in what is marked (the comment says "
                         f"how), then 'mutagrad check {file}'"), soft_wrap=True)
