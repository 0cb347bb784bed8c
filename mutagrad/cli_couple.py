"""``mutagrad couple FIXED BUGGY``: does the check catch a real bug, which mutants stand for it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mutagrad.cli_common import (
    DEFAULT_BATCHES,
    DEFAULT_DTYPES,
    BatchOpt,
    CasesOpt,
    CategoryOpt,
    DtypeOpt,
    JsonOpt,
    OperatorOpt,
    SeedOpt,
    SubjectOptions,
    app,
    console,
    emit_json,
    lazy_module,
    parse_list,
    split,
    subject_options,
)
from mutagrad.values import Settings

if TYPE_CHECKING:
    from mutagrad import couple as coupling_mod
    from mutagrad import report
else:  # each loads when the command runs
    coupling_mod = lazy_module("mutagrad.couple")
    report = lazy_module("mutagrad.report")

DEFAULTS = Settings()


@app.command()
@subject_options()
def couple(
    fixed: Annotated[str, typer.Argument(help="Your fixed file (or module, or built-in).")],
    buggy: Annotated[str, typer.Argument(help="The buggy version of the same code.")],
    cases: CasesOpt = DEFAULTS.cases,
    seed: SeedOpt = DEFAULTS.seed,
    batch: BatchOpt = DEFAULT_BATCHES,
    dtype: DtypeOpt = DEFAULT_DTYPES,
    family: Annotated[str | None, typer.Option(
        help="Also cases of these families, comma-separated: stress (float32, 10x inputs), "
             "repeats (repeated integer indices).")] = None,
    jitter: Annotated[bool, typer.Option(
        help="Move parameters off their initial values for every seed but the first.")] = (
            DEFAULTS.jitter),
    epsilon: Annotated[float, typer.Option(help="The check's epsilon.")] = DEFAULTS.epsilons[0],
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference that passes [default: the strategy's own, 1e-7].")] = None,
    strategy: Annotated[str, typer.Option(help="The check's strategy.")] = (
        DEFAULTS.strategies[0]),
    category: CategoryOpt = None,
    operator: OperatorOpt = None,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = DEFAULTS.jobs,
    timeout: Annotated[float, typer.Option(
        help="Seconds per evaluation before it is a timeout.")] = DEFAULTS.timeout,
    every: Annotated[bool, typer.Option(
        "--every", help="List every mutant with its verdict per case, not only those that "
                        "reproduce or are coupled.")] = False,
    as_json: JsonOpt = False,
    own: SubjectOptions = SubjectOptions(),
) -> None:
    """Does your check catch a real bug you made, and which mutants stand for it?

    Runs the check on FIXED and BUGGY (the same options read both) over the cases a
    campaign of FIXED would build, and says on which cases it catches the real bug
    (difference over the tolerance, or NaN/inf). Then evaluates every mutant of FIXED: it
    *reproduces* the bug when its gradient equals the buggy one on every case (to
    rounding), and is *coupled* to it when the check catches it on some case and only on
    cases where it catches the real bug too (Just et al., FSE 2014). Both files are only
    read. Exit code 0 when the check catches the real bug on some case, 1 when never.

    Example: mutagrad couple fixed.py buggy.py --family stress
    """
    settings = replace(
        DEFAULTS, cases=cases, seed=seed, batches=parse_list(batch, int, "--batch") or (),
        dtypes=parse_list(dtype, str, "--dtype") or (), epsilons=(epsilon,),
        tolerance=tolerance, strategies=(strategy,), categories=tuple(split(category) or ()),
        operators=tuple(split(operator) or ()), jitter=jitter,
        families=parse_list(family, str, "--family") or (), jobs=jobs, timeout=timeout)
    coupling_mod.validate_plan(settings)
    (fixed_spec, _), (buggy_spec, _) = own.load(fixed), own.load(buggy)
    found = coupling_mod.couple(fixed_spec, buggy_spec, settings)
    if as_json:
        emit_json(as_document(found))
    else:
        render(found, every)
    raise typer.Exit(0 if found.caught_on else 1)


def as_document(c: coupling_mod.Coupling) -> dict[str, Any]:
    """The coupling as strict-JSON-ready values."""
    def mutant(m: coupling_mod.MutantCoupling) -> dict[str, Any]:
        info = m.mutant
        return {"id": info.mutant_id, "category": info.category, "operator": info.operator,
                "function": info.function, "line": info.line, "original": info.original,
                "replacement": info.replacement, "outcomes": list(m.outcomes),
                "caught_on": list(m.caught_on), "reproduces": m.reproduces,
                "coupled": m.coupled}

    return {
        "fixed": c.fixed, "buggy": c.buggy, "strategy": c.strategy, "epsilon": c.epsilon,
        "tolerance": c.tolerance,
        "cases": [{"index": k.index, "seed": k.seed, "batch": k.batch, "dtype": k.dtype,
                   "label": k.label} for k in c.cases],
        "real_bug": [{"case": t.case_index, "outcome": t.outcome, "difference": t.difference,
                      "true_error": t.true_error, "error": t.error, "note": t.note}
                     for t in c.bug],
        "caught_on": list(c.caught_on), "shows": c.shows,
        "reproduced_by": [m.mutant.mutant_id for m in c.reproducing],
        "coupled_to": [m.mutant.mutant_id for m in c.coupled],
        "mutants": [mutant(m) for m in c.mutants],
    }


def render(c: coupling_mod.Coupling, every: bool) -> None:
    out = console()
    out.print(Text(f"real bug: {c.buggy} against {c.fixed}; check {c.strategy}, epsilon "
                   f"{c.epsilon:g}, tolerance {c.tolerance:g}"), soft_wrap=True)
    table = report.new_table("The check on the real bug, case by case")
    for column in ("case", "outcome", "difference", "true error", "note"):
        table.add_column(column, overflow="fold")
    for k, t in zip(c.cases, c.bug):
        table.add_row(Text(k.label), t.outcome, _num(t.difference), _num(t.true_error),
                      Text(t.error or t.note or ""))
    out.print(table)
    if not c.shows:
        out.print("The bug does not change the gradient on any of these cases: try other "
                  "cases (--family, --batch, --jitter).")
    elif c.caught_on:
        out.print(f"The check catches the real bug on {len(c.caught_on)} of {len(c.cases)} "
                  "cases.")
    else:
        out.print(Text("The check never catches the real bug on these cases.", style="red"))
    shown = c.mutants if every else c.reproducing + c.coupled
    title = (f"Mutants of {c.fixed} ({len(c.mutants)}): reproduce (same gradient on every "
             f"case) or coupled (caught only where the real bug is)")
    table = report.new_table(title)
    for column in ("id", "operator", "line", "change", "relation", "caught on"):
        table.add_column(column, overflow="fold")
    for m in shown:
        relation = "reproduces" if m.reproduces else "coupled" if m.coupled else ""
        table.add_row(m.mutant.mutant_id, m.mutant.operator, str(m.mutant.line),
                      Text(report.short_change(m.mutant.original, m.mutant.replacement)),
                      relation, f"{len(m.caught_on)}/{len(c.cases)}")
    out.print(table)
    if not shown:
        out.print(f"No mutant of {c.fixed} reproduces the real bug or is coupled to it.")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3e}"
