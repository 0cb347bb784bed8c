"""Commands that choose a check: tolerance, epsilon, strategies."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer

from mutagrad.cli_common import (
    STRATEGIES_HELP,
    CheckOpt,
    DbOpt,
    JsonOpt,
    SubjectArg,
    SubjectOptions,
    app,
    console,
    emit_json,
    lazy_module,
    parse_list,
    subject_options,
)
from mutagrad.errors import InvalidInput

if TYPE_CHECKING:
    from mutagrad import report, strategies, sweep
    from mutagrad import store as store_mod
else:  # each loads when a command first uses it
    report = lazy_module("mutagrad.report")
    strategies = lazy_module("mutagrad.strategies")
    sweep = lazy_module("mutagrad.sweep")
    store_mod = lazy_module("mutagrad.store")


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
    info, curves = sweep.tolerance_curves(store_mod.Store(db, create=False, read_only=True),
                                          campaign_ref, strategy, lo, hi)
    if epsilon is not None:
        curves = [c for c in curves if math.isclose(c.epsilon, epsilon, rel_tol=1e-9)]
        if not curves:
            raise InvalidInput(f"campaign {info.id} ran no epsilon {epsilon:g}: it ran "
                               f"{', '.join(f'{e:g}' for e in info.settings.epsilons)}")
    if plot:
        from mutagrad import plot as plots

        shown = epsilon if epsilon is not None else info.settings.epsilons[0]
        plots.tolerance_plot([c for c in curves if math.isclose(c.epsilon, shown)],
                             f"campaign {info.id} ({info.subject})", plot)
    if as_json:
        emit_json(report.tolerance_json(info, curves))
        return
    console().print(report.tolerance_report(info, curves))
    if plot:
        console().print(f"plot written to {plot}")


@app.command("epsilon")
@subject_options(mutate=False)
def epsilon_cmd(
    subject: SubjectArg,
    span: Annotated[str, typer.Option("--range", help="Epsilons LOW:HIGH.")] = "1e-12:1e-1",
    dtype: Annotated[str, typer.Option(help="dtypes, comma-separated.")] = "float64,float32",
    strategy: Annotated[str | None, typer.Option(
        help="centered or forward. [default: centered]")] = None,
    own_check: CheckOpt = None,
    plot: Annotated[str | None, typer.Option(help="Write a PNG of the V curve here.")] = None,
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", help="Also show detection against epsilon from this campaign.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    own: SubjectOptions = SubjectOptions(),
) -> None:
    """The correct backward's difference against epsilon (the V curve), per dtype.

    Truncation error grows with epsilon, round-off as machine-epsilon / epsilon; prints the
    best epsilon per dtype next to theory's (cube root of machine epsilon for centered
    differences, square root for forward). With --campaign, detection against epsilon too.

    Example: mutagrad epsilon mlp3 --plot epsilon.png
    """
    lo, hi = sweep.parse_range(span, "--range")
    dtypes = parse_list(dtype, str, "--dtype") or ("float64",)
    names = strategies.with_check(None if strategy is None else (strategy,), own_check)
    if len(names) > 1:
        raise InvalidInput("the epsilon sweep takes one check: --strategy or --check")
    strategy = names[0]
    _, subj = own.load(subject)
    for d in dtypes:
        subj.case(None, None, d)  # validates the dtype
    curves = sweep.epsilon_curves(subj, dtypes, strategy, lo, hi)
    detection = None
    if campaign_ref is not None:
        _, everything = sweep.detection_by_epsilon(
            store_mod.Store(db, create=False, read_only=True), campaign_ref)
        detection = {k: v for k, v in everything.items() if k.split()[0] == strategy}
    if plot:
        from mutagrad import plot as plots

        plots.epsilon_plot(curves, f"{subj.name}: {strategy} differences", plot, detection)
    if as_json:
        emit_json({"subject": subj.name, "curves": [
            {"dtype": c.dtype, "strategy": c.strategy, "epsilons": c.epsilons.tolist(),
             "difference": c.difference.tolist(), "best": c.best, "theory": c.theory}
            for c in curves], "detection": detection})
        return
    console().print(report.epsilon_report(subj.name, curves))
    if detection:
        table = report.new_table("Detection against epsilon (at the run's tolerance)")
        for column in ("check", "epsilon", "detected", "false alarms"):
            table.add_column(column)
        for label, points in detection.items():
            for eps, det, alarm in sorted(points):
                table.add_row(label, f"{eps:g}", f"{det:.1%}", f"{alarm:.1%}")
        console().print(table)
    if plot:
        console().print(f"plot written to {plot}")


@app.command("strategies")
def strategies_cmd(
    target: Annotated[str | None, typer.Argument(
        metavar="[SUBJECT|CAMPAIGN]",
        help="A subject (built-in name or .py file): run every strategy on it first; or a "
             "campaign id or name (default: the latest).")] = None,
    run_all: Annotated[bool, typer.Option(
        "--all", help="Run every strategy on the whole built-in suite (as 'run --all'), "
                      "then add the subjects' rows up.")] = False,
    suite: Annotated[str | None, typer.Option(
        help="A stored suite's name: add up the rows of its campaigns.")] = None,
    cases: Annotated[int, typer.Option(help="Seeds, when running a subject or --all.")] = 3,
    dtype: Annotated[str, typer.Option(
        help="dtypes, comma-separated, when running a subject or --all.")] = "float64,float32",
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every strategy side by side on the same mutants and cases, at its own tolerance.

    Per strategy and dtype: mutants detected (rate, 95% Wilson CI), the share of single
    checks that catch a bug, the original's false alarms, forwards per case and bugs caught
    per 1,000 forwards; then the mutants some strategies catch and others miss. With
    --all (or --suite NAME) the subjects' counts are added up into one row per strategy
    and dtype.
    Strategies: {names}.

    Example: mutagrad strategies mlp3 --cases 2

    Example: mutagrad strategies --all --cases 1
    """
    dtypes = parse_list(dtype, str, "--dtype") or ("float64",)
    if run_all or suite is not None:
        if target is not None or (run_all and suite is not None):
            raise InvalidInput("give a subject or campaign, --all, or --suite NAME: one of them")
        store = store_mod.Store(db, create=run_all, read_only=not run_all)
        name, rows, splits = sweep.suite_side_by_side(store, suite, cases, dtypes, jobs)
        head: dict[str, object] = {"suite": name}
        title, epsilon = f"suite {name!r}", store.campaign(name).settings.epsilons[0]
    else:
        store = store_mod.Store(db, create=sweep.is_subject(target),
                      read_only=not sweep.is_subject(target))
        info, rows, splits = sweep.side_by_side(store, target, cases, dtypes, jobs)
        head = {"campaign": info.id, "subject": info.subject}
        title, epsilon = f"campaign {info.id} ({info.subject})", info.settings.epsilons[0]
    if as_json:
        emit_json({**head, "strategies": [report.asdict(r) for r in rows],
                   "splits": [report.asdict(x) for x in splits]})
        return
    console().print(report.strategies_table(title, epsilon, rows))
    console().print(report.splits_table(splits))


strategies_cmd.__doc__ = (strategies_cmd.__doc__ or "").replace(
    "{names}", STRATEGIES_HELP)
