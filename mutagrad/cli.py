"""The `mutagrad` command: parse, call the library, render. No logic of its own."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.syntax import Syntax

from mutagrad import analysis, campaign, gradcheck, mutation, report, subjects, sweep
from mutagrad import strategy as strategy_mod
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.store import Store
from mutagrad.subject import Subject, validate

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


def _subject(target: str, forward: str | None = None, backward: str | None = None,
             params: str | None = None, inputs: str | None = None,
             grad_key: str | None = None,
             mutate: list[str] | None = None) -> tuple[subjects.SubjectSpec, Subject]:
    spec = subjects.SubjectSpec.parse(target, forward=forward, backward=backward, params=params,
                                      inputs=inputs, grad_key=grad_key, mutate=_split(mutate))
    return spec, subjects.load(spec)
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
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference that passes [default: each strategy's own; the seed's "
             "1e-7 for centered].")] = None,
    strategy: Annotated[str, typer.Option(
        help="Strategies, comma-separated: centered, forward, max-relerr, allclose, "
             "directional, complex-step.")] = "centered",
    seed: Annotated[int | None, typer.Option(
        help="Seed of a generated case; without it, the subject's default case.")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size m of a generated case.")] = None,
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    top: Annotated[int, typer.Option(help="How many parameters to list.")] = 5,
    as_json: JsonOpt = False,
    forward: ForwardOpt = None,
    backward: BackwardOpt = None,
    params: ParamsOpt = None,
    inputs: InputsOpt = None,
    grad_key: GradKeyOpt = None,
) -> None:
    """Run the seed's gradient check on a subject's own backward.

    Prints the difference ||grad - gradapprox|| / (||grad|| + ||gradapprox||), the verdict at
    the tolerance, and the parameters whose gradient disagrees most. Exit code 0 when the
    check passes, 1 when it fails.

    Example: mutagrad check mlp3 --epsilon 1e-6 --tolerance 2e-7
    """
    _, subj = _subject(subject, forward, backward, params, inputs, grad_key)
    case = subj.case(seed, batch, dtype)
    validate(subj, case)
    names = _list(strategy, str, "--strategy") or ("centered",)
    others = strategy_mod.check_all(subj, case, names, epsilon, tolerance) if (
        names != ("centered",)) else []
    if "centered" not in names and all(o.passed is None for o in others):
        raise InvalidInput("; ".join(o.note or o.strategy for o in others)
                           + ": nothing was checked")
    result = gradcheck.check(subj, case, epsilon, gradcheck.DEFAULT_TOLERANCE
                             if tolerance is None else tolerance)
    passed = all(o.passed is not False for o in others) and (
        "centered" not in names or result.passed)
    if as_json:
        _emit_json({**_check_json(result), "passed": passed,
                    "strategies": [report.asdict(o) for o in others]})
    else:
        if "centered" in names:
            _render_check(result, top)
        if others:
            _out().print(report.strategy_checks_table(others))
            for o in others:
                if o.note:
                    _out().print(o.note)
    raise typer.Exit(0 if passed else 1)


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
    table = report.new_table("Parameters whose gradient disagrees most")
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
    forward: ForwardOpt = None,
    backward: BackwardOpt = None,
    params: ParamsOpt = None,
    inputs: InputsOpt = None,
    grad_key: GradKeyOpt = None,
    mutate: MutateOpt = None,
) -> None:
    """List the mutants of a subject's backward, then the count per category.

    Each mutant has a stable id (a hash of the code it changes, not of line numbers), a
    category, an operator and the one place it changes. The subject's file is never written.

    Example: mutagrad mutants mlp3 --category factor,activation --export
    """
    if directory is not None and not export:
        raise InvalidInput(f"{directory!r}: a folder is only taken with --export "
                           f"(mutagrad mutants {subject} --export {directory})")
    _, subj = _subject(subject, forward, backward, params, inputs, grad_key, mutate)
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
    table = report.new_table(f"Mutants of {subj.name} ({subj.backward.__name__})")
    for column in ("id", "category", "operator", "line", "original -> replacement"):
        table.add_column(column, overflow="fold")
    for m in found:
        table.add_row(m.id, m.category, m.operator, str(m.line),
                      f"{m.original} [bold]->[/bold] {m.replacement}")
    out.print(table)
    summary = report.new_table("Per category")
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
    forward: ForwardOpt = None,
    backward: BackwardOpt = None,
    params: ParamsOpt = None,
    inputs: InputsOpt = None,
    grad_key: GradKeyOpt = None,
    mutate: MutateOpt = None,
) -> None:
    """Show one mutant as a coloured unified diff against the subject's source.

    Example: mutagrad diff mlp3 247a48958b
    """
    _, subj = _subject(subject, forward, backward, params, inputs, grad_key, mutate)
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
    table = report.new_table()
    for column in ("category", "operator", "on", "what it does"):
        table.add_column(column, overflow="fold")
    for op in sorted(mutation.OPERATORS, key=lambda o: mutation.CATEGORIES.index(o.category)):
        table.add_row(op.category, op.name, "yes" if op.default else "off", op.description)
    _out().print(table)


DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite file (env MUTAGRAD_DB; default results.db).")]
ToleranceOpt = Annotated[float | None, typer.Option(
    help="Judge at this tolerance (default: the campaign's); recomputed from stored numbers.")]
FailUnderOpt = Annotated[float | None, typer.Option(
    "--fail-under", help="Exit 1 when the detection rate is below RATE (0.9 or 90 both mean 90%).")]


def _list(text: str | None, kind: type, flag: str) -> tuple[Any, ...] | None:
    if text is None:
        return None
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"{flag} takes a comma-separated list of {kind.__name__}s, "
                           f"got {text!r}") from None


def _gate(rate: float | None, fail_under: float | None) -> int:
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


@app.command()
def run(
    subject: Annotated[str | None, typer.Argument(
        help="A built-in subject, or a .py file defining SUBJECT.")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Finish an interrupted campaign (id or name): runs only what is missing.")] = None,
    cases: Annotated[int, typer.Option(help="Number of seeds; cases = seeds x batches x dtypes.")] = 5,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1,6",
    dtype: Annotated[str, typer.Option(help="float64 and/or float32, comma-separated.")] = "float64",
    epsilon: Annotated[str, typer.Option(help="Epsilons, comma-separated.")] = "1e-7",
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference that passes [default: each strategy's own, 1e-7; "
             "allclose 1].")] = None,
    strategy: Annotated[str, typer.Option(
        help="Check strategies, comma-separated: centered, forward, max-relerr, allclose, "
             "directional, complex-step.")] = "centered",
    category: CategoryOpt = None,
    operator: OperatorOpt = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per evaluation before it is a timeout [default: 10].")] = None,
    memory: Annotated[int, typer.Option(help="Memory cap per worker, MiB.")] = 2048,
    db: DbOpt = None,
    name: Annotated[str | None, typer.Option(help="A name to find the campaign by.")] = None,
    export_mutants: Annotated[bool, typer.Option(
        "--export-mutants", help="Also write the mutants to mutants/<subject>/.")] = False,
    fail_under: FailUnderOpt = None,
    as_json: JsonOpt = False,
    forward: ForwardOpt = None,
    backward: BackwardOpt = None,
    params: ParamsOpt = None,
    inputs: InputsOpt = None,
    grad_key: GradKeyOpt = None,
    mutate: MutateOpt = None,
) -> None:
    """Run a mutation campaign: every mutant on every case, every difference stored.

    Computes each case's numerical gradient once, checks the original backward first (its
    differences are the false-alarm evidence), then evaluates every mutant in a process pool
    with a per-evaluation timeout and memory cap. Ctrl-C keeps every finished trial; resume
    with --resume.

    Example: mutagrad run mlp3 --cases 5 --batch 1,6 --dtype float64,float32
    """
    store = Store(db)
    events: list[campaign.ProgressEvent] = []
    with _progress() as bar:
        task = bar.add_task("mutants", total=None, detected=0)

        def on_progress(e: campaign.ProgressEvent) -> None:
            events.append(e)
            bar.update(task, completed=e.done, total=e.total, detected=e.detected)

        if resume is not None:
            campaign_id = campaign.resume(store, resume, on_progress, jobs, timeout)
        else:
            if subject is None:
                raise InvalidInput("name a subject (mutagrad run mlp3) or pass --resume CAMPAIGN")
            settings = campaign.Settings(
                cases=cases, seed=seed, batches=_list(batch, int, "--batch") or (),
                dtypes=_list(dtype, str, "--dtype") or (),
                epsilons=_list(epsilon, float, "--epsilon") or (), tolerance=tolerance,
                strategies=_list(strategy, str, "--strategy") or (),
                categories=tuple(_split(category) or ()), operators=tuple(_split(operator) or ()),
                jobs=jobs or campaign.Settings().jobs, timeout=timeout or 10.0, memory_mb=memory)
            spec, _ = _subject(subject, forward, backward, params, inputs, grad_key, mutate)
            campaign_id = campaign.start(store, spec, settings, name, on_progress,
                                         "mutants" if export_mutants else None)
    result = analysis.report(store, campaign_id)
    _render_results(result, None, as_json)
    raise typer.Exit(_gate(result.total.rate, fail_under))


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("detected {task.fields[detected]}"), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


def _render_results(result: analysis.Report, only: str | None, as_json: bool) -> None:
    if as_json:
        _emit_json(report.results_json(result, only))
    else:
        _out().print(report.results(result, only))


@app.command()
def results(
    campaign_ref: Annotated[str | None, typer.Argument(
        metavar="[CAMPAIGN]", help="Campaign id or name (default: the latest).")] = None,
    tolerance: ToleranceOpt = None,
    by: Annotated[str, typer.Option(help="Group by category or operator.")] = "category",
    only: Annotated[str | None, typer.Option(
        help="List the mutants with this status: missed, detected, equivalent, crashed, "
             "timeout, nonfinite, shape.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Which check (default: the first run).")] = None,
    epsilon: Annotated[float | None, typer.Option(help="Which epsilon (default: the first run).")] = None,
    fail_under: FailUnderOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which bugs the check catches, per category, at any tolerance, from stored numbers.

    For every mutant also its kill tolerance: from that tolerance up it is missed on some
    case, so you see how close each bug is to slipping through.

    Example: mutagrad results --tolerance 1e-5 --only missed
    """
    if only is not None and only not in analysis.STATUS_ORDER:
        raise InvalidInput(f"--only takes one of {', '.join(analysis.STATUS_ORDER)}")
    result = analysis.report(Store(db, create=False), campaign_ref, tolerance, strategy,
                             epsilon, by)
    _render_results(result, only, as_json)
    raise typer.Exit(_gate(result.total.rate, fail_under))


@app.command()
def show(
    mutant_id: Annotated[str, typer.Argument(help="A mutant id or unique prefix, or 'original'.")],
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", help="Campaign id or name (default: the latest).")] = None,
    tolerance: ToleranceOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One mutant in a campaign: its diff, then per case the difference, true error, outcome.

    Example: mutagrad show 247a48958b --campaign 3
    """
    store = Store(db, create=False)
    info = store.campaign(campaign_ref)
    mutants = store.mutants(info.id)
    if mutant_id == "original":
        mutant = None
        key = "original"
    else:
        matches = [m for m in mutants if m.mutant_id.startswith(mutant_id.lower())]
        if len(matches) != 1:
            raise InvalidInput(f"{'no' if not matches else 'more than one'} mutant {mutant_id!r} "
                               f"in campaign {info.id}: see 'mutagrad results {info.id} --only ...'")
        mutant, key = matches[0], matches[0].mutant_id
    cases = store.cases(info.id)
    tol = tolerance if tolerance is not None else analysis.run_tolerance(
        info, info.config["strategies"][0])
    dtypes = {c.index: c.dtype for c in cases}
    trials = store.trials(info.id, key)
    outcomes = [analysis.outcome_at(t, tol, dtypes[t.case_index]).value for t in trials]
    if as_json:
        _emit_json({"campaign": info.id, "tolerance": tol,
                    "mutant": None if mutant is None else report.asdict(mutant),
                    "trials": [{**report.asdict(t), "outcome_at_tolerance": o,
                                "case": next(c.label for c in cases if c.index == t.case_index)}
                               for t, o in zip(trials, outcomes)]})
        return
    out = _out()
    if mutant is not None:
        out.print(f"{mutant.mutant_id}  {mutant.category}/{mutant.operator}  {mutant.location}")
        out.print(Syntax(mutant.diff, "diff", theme="ansi_dark", background_color="default"))
    out.print(report.mutant_trials(key, cases, trials, outcomes))


@app.command()
def history(
    subject: Annotated[str | None, typer.Option(help="Only this subject's campaigns.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Past campaigns: id, name, date, subject, mutants, cases, detection rate, status.

    Example: mutagrad history --subject mlp3 --limit 5
    """
    store = Store(db, create=False)
    rows = []
    for info in store.campaigns(subject, limit):
        rows.append((info, analysis.report(store, info.id)))
    if as_json:
        _emit_json([{**report.campaign_json(c), "mutants": r.total.mutants if r else None,
                     "cases": len(r.original) if r else None,
                     "detection_rate": r.total.rate if r else None} for c, r in rows])
        return
    _out().print(report.history_table(rows))


@app.command()
def compare(
    first: Annotated[str, typer.Argument(metavar="C1", help="Campaign id or name.")],
    second: Annotated[str, typer.Argument(metavar="C2", help="Campaign id or name.")],
    tolerance: ToleranceOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mutants whose status changed between two campaigns (mutant ids are stable).

    Example: mutagrad compare 3 4
    """
    a, b, changes = analysis.compare(Store(db, create=False), first, second, tolerance)
    if as_json:
        _emit_json({"first": a.campaign.id, "second": b.campaign.id,
                    "changes": [report.asdict(c) for c in changes]})
        return
    out = _out()
    out.print(report.changes_table(changes, a.campaign.id, b.campaign.id))
    out.print(f"detection: {report._rate(a.total)} in {a.campaign.id}, "
              f"{report._rate(b.total)} in {b.campaign.id}")


@app.command("export")
def export_cmd(
    campaign_ref: Annotated[str, typer.Argument(metavar="CAMPAIGN", help="Campaign id or name.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[str | None, typer.Option("-o", "--output", help="File (default: stdout).")] = None,
    db: DbOpt = None,
) -> None:
    """Every stored trial of a campaign, with its mutant and case, as CSV or JSON.

    Example: mutagrad export 3 --format csv -o trials.csv
    """
    if fmt not in ("csv", "json"):
        raise InvalidInput(f"--format takes csv or json, not {fmt!r}")
    store = Store(db, create=False)
    text = report.export_text(store, store.campaign(campaign_ref).id, fmt)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


@app.command("tolerance")
def tolerance_cmd(
    campaign_ref: Annotated[str | None, typer.Argument(
        metavar="[CAMPAIGN]", help="Campaign id or name (default: the latest).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
    epsilon: Annotated[float | None, typer.Option(
        help="Only this epsilon (the plot shows one: default the campaign's first).")] = None,
    span: Annotated[str, typer.Option("--range", help="Tolerances LOW:HIGH.")] = "1e-12:1e2",
    plot: Annotated[str | None, typer.Option(help="Write a PNG of the curves here.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which tolerance separates correct code from buggy code, from stored numbers only.

    Over a grid of tolerances: detection over real-bug trials and false alarms over the
    original's, per dtype, strategy and epsilon; then the safe window (largest difference
    of the correct code .. smallest of a real bug) and a recommended tolerance, or, when
    there is no window, the bugs and cases that overlap.

    Example: mutagrad tolerance --plot tolerance.png
    """
    lo, hi = sweep.parse_range(span, "--range")
    info, curves = sweep.tolerance_curves(Store(db, create=False), campaign_ref, strategy, lo, hi)
    if epsilon is not None:
        curves = [c for c in curves if math.isclose(c.epsilon, epsilon, rel_tol=1e-9)]
        if not curves:
            raise InvalidInput(f"campaign {info.id} ran no epsilon {epsilon:g}: it ran "
                               f"{', '.join(f'{e:g}' for e in info.config['epsilons'])}")
    if plot:
        from mutagrad import plot as plots

        shown = epsilon if epsilon is not None else info.config["epsilons"][0]
        plots.tolerance_plot([c for c in curves if math.isclose(c.epsilon, shown)],
                             f"campaign {info.id} ({info.subject})", plot)
    if as_json:
        _emit_json(report.tolerance_json(info, curves))
        return
    _out().print(report.tolerance_report(info, curves))
    if plot:
        _out().print(f"plot written to {plot}")


@app.command("epsilon")
def epsilon_cmd(
    subject: SubjectArg,
    span: Annotated[str, typer.Option("--range", help="Epsilons LOW:HIGH.")] = "1e-12:1e-1",
    dtype: Annotated[str, typer.Option(help="dtypes, comma-separated.")] = "float64,float32",
    strategy: Annotated[str, typer.Option(help="centered or forward.")] = "centered",
    plot: Annotated[str | None, typer.Option(help="Write a PNG of the V curve here.")] = None,
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", help="Also show detection against epsilon from this campaign.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    forward: ForwardOpt = None,
    backward: BackwardOpt = None,
    params: ParamsOpt = None,
    inputs: InputsOpt = None,
    grad_key: GradKeyOpt = None,
) -> None:
    """The correct backward's difference against epsilon (the V curve), per dtype.

    Truncation error grows with epsilon, round-off as machine-epsilon / epsilon; prints the
    best epsilon per dtype next to theory's (cube root of machine epsilon for centered
    differences, square root for forward). With --campaign, detection against epsilon too.

    Example: mutagrad epsilon mlp3 --plot epsilon.png
    """
    lo, hi = sweep.parse_range(span, "--range")
    dtypes = _list(dtype, str, "--dtype") or ("float64",)
    _, subj = _subject(subject, forward, backward, params, inputs, grad_key)
    for d in dtypes:
        subj.case(None, None, d)  # validates the dtype
    curves = sweep.epsilon_curves(subj, dtypes, strategy, lo, hi)
    detection = None
    if campaign_ref is not None:
        _, everything = sweep.detection_by_epsilon(Store(db, create=False), campaign_ref)
        detection = {k: v for k, v in everything.items() if k.split()[0] == strategy}
    if plot:
        from mutagrad import plot as plots

        plots.epsilon_plot(curves, f"{subj.name}: {strategy} differences", plot, detection)
    if as_json:
        _emit_json({"subject": subj.name, "curves": [
            {"dtype": c.dtype, "strategy": c.strategy, "epsilons": c.epsilons.tolist(),
             "difference": c.difference.tolist(), "best": c.best, "theory": c.theory}
            for c in curves], "detection": detection})
        return
    _out().print(report.epsilon_report(subj.name, curves))
    if detection:
        table = report.new_table("Detection against epsilon (at the run's tolerance)")
        for column in ("check", "epsilon", "detected", "false alarms"):
            table.add_column(column)
        for label, points in detection.items():
            for eps, det, alarm in sorted(points):
                table.add_row(label, f"{eps:g}", f"{det:.1%}", f"{alarm:.1%}")
        _out().print(table)
    if plot:
        _out().print(f"plot written to {plot}")


@app.command("strategies")
def strategies_cmd(
    campaign_ref: Annotated[str | None, typer.Argument(
        metavar="[CAMPAIGN]", help="Campaign id or name (default: the latest).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per strategy: detection and false alarms at its recommended tolerance, and its cost.

    Run a campaign with several strategies first (mutagrad run mlp3 --strategy
    centered,forward,max-relerr,allclose,directional).

    Example: mutagrad strategies
    """
    info, rows = sweep.compare_strategies(Store(db, create=False), campaign_ref)
    if as_json:
        _emit_json({"campaign": info.id, "strategies": [report.asdict(r) for r in rows]})
        return
    _out().print(report.strategies_table(info, rows))


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
    except Exception as e:  # a bug of ours: still one line, the traceback on request
        if os.environ.get("MUTAGRAD_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (rerun with MUTAGRAD_DEBUG=1 for "
              "the traceback, and please report it)", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    Console(stderr=True, highlight=False).print(f"[red]mutagrad: error:[/red] {message}",
                                                 soft_wrap=True)
    sys.exit(code)
