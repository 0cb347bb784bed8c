"""Commands on campaigns: run, results, show, history, compare, export."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from mutagrad.cli_common import (
    DEFAULT_BATCHES,
    DEFAULT_DTYPES,
    STRATEGIES_HELP,
    BatchOpt,
    CasesOpt,
    CategoryOpt,
    CheckOpt,
    DbOpt,
    DtypeOpt,
    FailUnderOpt,
    JsonOpt,
    OperatorOpt,
    SeedOpt,
    SubjectOptions,
    ToleranceOpt,
    app,
    check_fail_under,
    console,
    emit_json,
    gate,
    lazy_module,
    parse_list,
    split,
    stdout,
    subject_options,
)
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.values import STATUS_ORDER, CampaignInfo, Settings, Status

if TYPE_CHECKING:
    from rich.progress import Progress

    from mutagrad import (
        analysis,
        campaign,
        config,
        engine,
        report,
        strategies,
        stryker,
        subjects,
        testreport,
        usertests,
        where,
    )
    from mutagrad import store as store_mod
else:  # each loads when a command first uses it: 'history' needs no numpy, no mutants
    analysis = lazy_module("mutagrad.analysis")
    campaign = lazy_module("mutagrad.campaign")
    config = lazy_module("mutagrad.config")
    engine = lazy_module("mutagrad.engine")
    report = lazy_module("mutagrad.report")
    strategies = lazy_module("mutagrad.strategies")
    stryker = lazy_module("mutagrad.stryker")
    subjects = lazy_module("mutagrad.subjects")
    testreport = lazy_module("mutagrad.testreport")
    usertests = lazy_module("mutagrad.usertests")
    where = lazy_module("mutagrad.where")
    store_mod = lazy_module("mutagrad.store")

DEFAULTS = Settings()  # the one place defaults live; shown in --help


@app.command()
@subject_options()
def run(
    ctx: typer.Context,
    subject: Annotated[list[str] | None, typer.Argument(
        help="One or more subjects: built-in names, .py files, or modules.")] = None,
    run_all: Annotated[bool, typer.Option(
        "--all", help="The whole built-in suite (every built-in subject except the "
                      "deliberately buggy mlp3-seedbugs), one campaign each.")] = False,
    resume: Annotated[str | None, typer.Option(
        help="Finish an interrupted campaign (id or name): runs only what is missing, with "
             "its stored plan. A subject or plan option that differs from that plan is "
             "refused; --jobs, --timeout and --scheduler may change.")] = None,
    cases: CasesOpt = DEFAULTS.cases,
    seed: SeedOpt = DEFAULTS.seed,
    batch: BatchOpt = DEFAULT_BATCHES,
    dtype: DtypeOpt = DEFAULT_DTYPES,
    epsilon: Annotated[str, typer.Option(help="Epsilons, comma-separated.")] = ",".join(
        f"{e:g}" for e in DEFAULTS.epsilons),
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference that passes [default: each strategy's own, 1e-7; "
             "allclose 1].")] = None,
    strategy: Annotated[str | None, typer.Option(
        help=f"Check strategies, comma-separated: {STRATEGIES_HELP}. "
             f"[default: {','.join(DEFAULTS.strategies)}]")] = None,
    own_check: CheckOpt = None,
    category: CategoryOpt = None,
    operator: OperatorOpt = None,
    jobs: Annotated[int | None, typer.Option(
        help="Worker processes [default: all cores; on --resume, the stored plan's].")] = None,
    timeout: Annotated[float | None, typer.Option(
        help=f"Seconds per evaluation before it is a timeout [default: {DEFAULTS.timeout:g}; "
             "on --resume, the stored plan's].")] = None,
    jitter: Annotated[bool, typer.Option(
        help="Move parameters off their initial values (gamma = 1 and zero biases hide "
             "bugs); the first seed keeps your exact initialisation.")] = DEFAULTS.jitter,
    family: Annotated[str | None, typer.Option(
        help="Also run cases of these families, comma-separated: stress (float32, 10x "
             "inputs), repeats (repeated integer indices).")] = None,
    explore: Annotated[bool, typer.Option(
        help="Try other cases on mutants no case distinguishes: a bug your cases hide, or "
             "likely equivalent.")] = DEFAULTS.explore,
    memory: Annotated[int, typer.Option(
        help="Memory cap per worker, MiB.")] = DEFAULTS.memory_mb,
    pytest: Annotated[list[str] | None, typer.Option(
        "--pytest", metavar="PATH_OR_NODEID",
        help="Your own pytest tests are the check (repeat for several: a file, a folder, "
             "or FILE::TEST): a mutant is detected when one of them fails. Survivors are "
             "split into real bugs and equivalent mutants on the subject's cases.")] = None,
    own_tests: Annotated[bool, typer.Option(
        "--own-tests", help="As --pytest, with the tests pyproject.toml's [tool.mutagrad] "
                            "names: pytest = [\"tests/test_net.py\"].")] = False,
    scheduler: Annotated[str | None, typer.Option(
        envvar="MUTAGRAD_SCHEDULER",
        help="Run the work on the Dask cluster of this scheduler, HOST:PORT, instead of "
             "local worker processes; --jobs is then the cluster's.")] = None,
    db: DbOpt = None,
    name: Annotated[str | None, typer.Option(help="A name to find the campaign by.")] = None,
    export_mutants: Annotated[bool, typer.Option(
        "--export-mutants", help="Also write the mutants to mutants/SUBJECT/.")] = False,
    fail_under: FailUnderOpt = None,
    as_json: JsonOpt = False,
    own: SubjectOptions = SubjectOptions(),
) -> None:
    """Run a mutation campaign: every mutant on every case, every difference stored.

    Computes each case's numerical gradient once, checks the original backward first (its
    differences are the false-alarm evidence), then evaluates every mutant in a process pool
    with a per-evaluation timeout and memory cap. Ctrl-C keeps every finished trial; resume
    with --resume.

    With no subject, runs the layers that pyproject.toml's [tool.mutagrad] names (see
    'mutagrad init'), as one suite.

    With --pytest, the check is your own tests instead: each worker collects them once
    and reruns them per mutant, the mutant swapped in memory into every module that holds
    the backward.

    Example: mutagrad run mlp3 --cases 5 --batch 1,6 --dtype float64,float32

    Example: mutagrad run net.py --pytest tests/test_net.py
    """
    check_fail_under(fail_under)
    tests = [*(pytest or []), *(config.tests(Path.cwd()) if own_tests else [])]
    targets = list(subject or [])
    if run_all:
        targets += subjects.SUITE
    if resume is None:
        settings = replace(
            DEFAULTS, cases=cases, seed=seed, batches=parse_list(batch, int, "--batch") or (),
            dtypes=parse_list(dtype, str, "--dtype") or (),
            epsilons=parse_list(epsilon, float, "--epsilon") or (), tolerance=tolerance,
            strategies=strategies.with_check(parse_list(strategy, str, "--strategy"),
                                             own_check, DEFAULTS.strategies),
            categories=tuple(split(category) or ()), operators=tuple(split(operator) or ()),
            jitter=jitter, families=parse_list(family, str, "--family") or (),
            explore=explore, memory_mb=memory).running(jobs, timeout)
        campaign.validate_settings(settings)  # before the database is opened: no file left
        # no subject: the layers pyproject.toml's [tool.mutagrad] names, as one suite
        specs = ([s for t in targets for s in own.specs(t)] if targets
                 else config.specs(Path.cwd()))
        if tests and (len(specs) != 1 or scheduler or own_check):
            raise InvalidInput("--pytest checks one subject with local workers, your tests "
                               "being the check: name one subject, without --scheduler or "
                               "--check", parameter="pytest")
        for warning in campaign.coverage(specs, settings):
            Console(stderr=True, highlight=False).print(f"[yellow]warning: {warning}[/yellow]")
    engine.reach(scheduler)  # before the store is created: nothing left behind when it fails
    database = store_mod.sqlite_file(db)
    new_file = database is not None and not os.path.exists(database)
    try:
        store = store_mod.Store(db, create=resume is None)
    except KeyboardInterrupt:  # while the new file was made: nothing of it is kept
        if new_file and database is not None:
            _remove_sqlite(database)
        raise
    if resume is not None:
        _refuse_changes(ctx, store.campaign(resume), own, tests)
    before = max((c.id for c in store.campaigns(limit=1)), default=0)
    try:
        with _progress() as bar:
            task = bar.add_task("mutants", total=None, detected=0)

            def on_progress(e: campaign.ProgressEvent) -> None:
                bar.update(task, description=e.subject, completed=e.done, total=e.total,
                           detected=e.detected)

            if resume is not None and store.campaign(resume).settings.pytest:
                ran = campaign.Ran((usertests.resume(store, resume, on_progress, jobs,
                                                     timeout),), None)
            elif resume is not None:
                ran = campaign.Ran((campaign.resume(store, resume, on_progress, jobs, timeout,
                                                   scheduler),), None)
            elif tests:
                ran = campaign.Ran((usertests.start(store, specs[0], settings, tests, name,
                                                    on_progress),), None)
            else:
                ran = campaign.run_all(store, specs, settings, name, on_progress,
                                       "mutants" if export_mutants else None, scheduler)
    except KeyboardInterrupt:  # before a campaign started (one that has says so itself)
        started = [c.id for c in store.campaigns() if c.id > before]
        _forget_if_empty(store, database if new_file else None)
        rest = "; the subjects after it did not run" if resume is None and len(specs) > 1 else ""
        raise campaign.CampaignInterrupted(
            f"interrupted after campaign {started[0]} finished: its results are stored "
            f"(mutagrad results {started[0]}){rest}" if started
            else "interrupted before any trial was stored") from None
    except campaign.CampaignInterrupted as e:  # resumable: kept, even with no trial yet
        if resume is None and len(specs) > 1:  # a suite: --resume finishes one campaign
            started = [c.id for c in store.campaigns() if c.id > before]
            raise campaign.CampaignInterrupted(
                f"{e}; {len(specs) - len(started)} of the suite's {len(specs)} subjects "
                "did not start (name them to run them)") from None
        raise
    except BaseException:
        _forget_if_empty(store, database if new_file else None)
        raise
    try:
        if ran.suite is not None:
            whole = analysis.suite(store, ran.suite, labels=as_json)
            if as_json:
                emit_json(report.suite_json(whole))
            else:
                console().print(report.suite_report(whole))
            raise typer.Exit(gate(whole.total.rate, fail_under, whole.alarms))
        result = analysis.report(store, ran.campaigns[-1], labels=as_json)
        _render_results(store, result, None, as_json)
    except KeyboardInterrupt:  # while the closing report was made: the campaigns are done
        what, ref = ((f"suite {ran.suite}", f"--suite {ran.suite}") if ran.suite is not None
                     else (f"campaign {ran.campaigns[-1]}", str(ran.campaigns[-1])))
        raise campaign.CampaignInterrupted(
            f"interrupted after {what} finished: its results are stored "
            f"(mutagrad results {ref})") from None
    raise typer.Exit(gate(result.total.rate, fail_under, result.alarms))


# run's options that make the plan (the library's Settings field each sets) or name the
# subject; on --resume, given with another value than the stored plan's, they are refused
_PLAN = {"cases": "cases", "seed": "seed", "batch": "batches", "dtype": "dtypes",
         "epsilon": "epsilons", "tolerance": "tolerance", "category": "categories",
         "operator": "operators", "jitter": "jitter", "family": "families",
         "explore": "explore", "memory": "memory_mb"}
_SPEC = ("forward", "backward", "params", "inputs", "grad_key", "mutate", "layer", "init",
         "shapes", "constants", "grid")


def _refuse_changes(ctx: typer.Context, info: CampaignInfo, own: SubjectOptions,
                    tests: list[str]) -> None:
    """--resume runs the stored plan: any subject or plan option given on the command line
    with another value is refused in one line (a user who asked for --cases 3 must not get
    the stored 5 silently)."""
    given = {n for n in ctx.params if getattr(ctx.get_parameter_source(n), "name", None)
             in ("COMMANDLINE", "ENVIRONMENT")}
    p, planned = ctx.params, info.settings
    asked = {"cases": p["cases"], "seed": p["seed"],
             "batches": parse_list(p["batch"], int, "--batch"),
             "dtypes": parse_list(p["dtype"], str, "--dtype"),
             "epsilons": parse_list(p["epsilon"], float, "--epsilon"),
             "tolerance": p["tolerance"], "categories": tuple(split(p["category"]) or ()),
             "operators": tuple(split(p["operator"]) or ()), "jitter": p["jitter"],
             "families": parse_list(p["family"], str, "--family") or (),
             "explore": p["explore"], "memory_mb": p["memory"]}
    differ = [(n, asked[f], getattr(planned, f)) for n, f in _PLAN.items()
              if n in given and asked[f] != getattr(planned, f)]
    if given & {"strategy", "own_check"}:
        wanted = strategies.with_check(parse_list(p["strategy"], str, "--strategy"),
                                       p["own_check"], DEFAULTS.strategies)
        if wanted != planned.strategies:
            differ.append(("strategy", wanted, planned.strategies))
    if given & {"pytest", "own_tests"}:
        wanted_tests = usertests.resolve(tests, Path.cwd())
        if wanted_tests != planned.pytest:
            differ.append(("pytest", wanted_tests, planned.pytest))
    if "name" in given and p["name"] != info.name:
        differ.append(("name", p["name"], info.name))
    for flag in ("run_all", "export_mutants"):
        if p[flag]:
            differ.append((flag, "", "new campaigns only"))
    targets = p["subject"] or []
    if targets or given & set(_SPEC):
        target = targets[0] if len(targets) == 1 else info.spec.target
        spec = own.spec(target if targets or not info.spec.select
                        else f"{target}::{info.spec.select}")
        fields = ["target", "select"] if targets else []
        fields += [f for f in _SPEC if f in given]
        if len(targets) > 1:
            differ.append(("subject", " ".join(targets), info.spec.target))
        differ += [("subject" if f == "target" else f, getattr(spec, f),
                    getattr(info.spec, f)) for f in fields
                   if getattr(spec, f) != getattr(info.spec, f)]
    if differ:
        shown = ", ".join(_change(n, a, b) for n, a, b in differ)
        raise InvalidInput(f"--resume {info.id} runs campaign {info.id}'s stored plan, and "
                           f"this differs from it: {shown}; drop that to finish the campaign "
                           "(--jobs, --timeout and --scheduler may change), or start a new "
                           "campaign without --resume")


def _change(name: str, asked: object, planned: object) -> str:
    """One refused change as the user would type it: ``--cases 3 (planned: 2)``, a switch
    as ``--no-jitter (planned: --jitter)``."""
    if isinstance(asked, bool):
        def switch(on: object) -> str:
            return _flag(name) if on else "--no-" + _flag(name)[2:]

        return f"{switch(asked)} (planned: {switch(planned)})"
    if asked == "":
        return f"{_flag(name)} ({_text(planned)})"
    return f"{_flag(name)} {_text(asked)} (planned: {_text(planned)})"


def _flag(name: str) -> str:
    if name == "subject":
        return "subject"
    return {"run_all": "--all", "own_check": "--check"}.get(name, "--" + name.replace("_", "-"))


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _forget_if_empty(store: store_mod.Store, created: str | None) -> None:
    """Remove the SQLite file ``created`` by this very command when it holds no trial (a
    run that failed before its campaign really started: red tests, a missing --check
    function). A store that existed before is never touched, nor one a campaign of
    another process is running in."""
    if created is None:
        return
    try:
        infos = store.campaigns()
        if any(c.status == Status.RUNNING or store.trial_count(c.id) for c in infos):
            return
    except MutagradError:
        return  # unreadable: not ours to judge
    store.close()
    _remove_sqlite(created)


def _remove_sqlite(database: str) -> None:
    """A SQLite file and the files SQLite keeps beside it."""
    for path in (database, f"{database}-wal", f"{database}-shm", f"{database}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    err = Console(stderr=True)
    # a terminal only: piped, a progress bar is a blank line before the report or the error
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("detected {task.fields[detected]}"), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def _render_results(store: store_mod.Store, result: analysis.Report, only: str | None,
                    as_json: bool) -> None:
    """The results; for a campaign of the user's tests, what each test killed too."""
    kills = (usertests.kills(store, result) if result.campaign.settings.pytest else None)
    if as_json:
        payload = report.results_json(result, only)
        emit_json(payload if kills is None else {**payload, "tests": testreport.kills_json(kills)})
        return
    console().print(report.results(result, only))
    if kills is not None and only is None:
        console().print(testreport.kills_report(kills))


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
    suite: Annotated[str | None, typer.Option(
        help="Summarise a suite (the campaigns run together under this name) per subject "
             "and category.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which bugs the check catches, per category, at any tolerance, from stored numbers.

    For every mutant also its kill tolerance: from that tolerance up it is missed on some
    case, so you see how close each bug is to slipping through.

    Example: mutagrad results --tolerance 1e-5 --only missed
    """
    if only is not None and only not in STATUS_ORDER:
        raise InvalidInput(f"--only takes one of {', '.join(STATUS_ORDER)}")
    if suite is not None:
        whole = analysis.suite(store_mod.Store(db, create=False, read_only=True), suite,
                               tolerance, labels=as_json)
        if as_json:
            emit_json(report.suite_json(whole))
        else:
            console().print(report.suite_report(whole))
        raise typer.Exit(gate(whole.total.rate, fail_under, whole.alarms))
    store = store_mod.Store(db, create=False, read_only=True)
    result = analysis.report(store, campaign_ref, tolerance, strategy, epsilon, by,
                             labels=as_json)
    _render_results(store, result, only, as_json)
    raise typer.Exit(gate(result.total.rate, fail_under, result.alarms))


@app.command()
def show(
    mutant_id: Annotated[str, typer.Argument(help="A mutant id or unique prefix, or 'original'.")],
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", help="Campaign id or name (default: the latest).")] = None,
    tolerance: ToleranceOpt = None,
    top: Annotated[int, typer.Option(
        help="Worst entries to list per failed check; 0 skips recomputing them.")] = 5,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One mutant in a campaign: its diff, then per case the difference, true error, outcome,
    then, for each failed check, where it disagrees most: the parameter, index, analytic and
    numerical values of its worst entries (recomputed from the stored plan: the case is
    rebuilt from its seed and the mutant run again; projection checks such as torch-fast
    report per-entry centered differences, as torch does).

    Example: mutagrad show 247a48958b --campaign 3 --top 3
    """
    if top < 0:
        raise InvalidInput(f"--top must be 0 or more, got {top}", parameter="top")
    result = analysis.mutant_report(store_mod.Store(db, create=False, read_only=True),
                                    mutant_id, campaign_ref, tolerance)
    found = where.failed_checks(result, top) if top else None
    if as_json:
        emit_json(report.mutant_json(result, found))
        return
    console().print(report.mutant_page(result, found), soft_wrap=True)


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
    store = store_mod.Store(db, create=False, read_only=True)
    rows = [(info, analysis.summarised(store, info)) for info in store.campaigns(subject, limit)]
    if as_json:
        emit_json(report.history_json(rows))
        return
    console().print(report.history_table(rows))


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
    result = analysis.compare(store_mod.Store(db, create=False, read_only=True), first,
                              second, tolerance)
    if as_json:
        emit_json(report.compare_json(result))
        return
    console().print(report.compare_report(result))


@app.command("export")
def export_cmd(
    campaign_ref: Annotated[str | None, typer.Argument(
        metavar="[CAMPAIGN]", help="Campaign id or name (default: the latest).")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv, json, jsonl (one trial per line), or stryker (the "
                         "mutation-testing-report-schema JSON that Stryker's tools read). "
                         "[default: told by the --output file's suffix (.csv, .json, "
                         ".jsonl), else csv]")] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", help="File ('-' or none: stdout); an existing file only with "
                               "--force.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
    db: DbOpt = None,
) -> None:
    """Every stored trial of a campaign, with its mutant and case, as CSV or JSON; or, with
    --format stryker, the standard mutation-testing-report-schema JSON (see the README).

    Example: mutagrad export 3 -o trials.csv
    """
    fmt = report.export_format(fmt, output)
    output = None if output == "-" else output
    if output and os.path.exists(output):
        database = store_mod.sqlite_file(db)
        if database and os.path.exists(database) and os.path.samefile(output, database):
            raise InvalidInput(f"{output} is the results database itself: write the export "
                               "to another file")
        if not force:
            raise InvalidInput(f"{output} exists: pass --force to overwrite it, or choose "
                               "another file")
    store = store_mod.Store(db, create=False, read_only=True)
    info = store.campaign(campaign_ref)  # None: the latest, as 'results'
    if fmt == "stryker":  # the mutation-testing-report-schema JSON (see mutagrad.stryker)
        text = json.dumps(stryker.report(store, info.id), indent=2) + "\n"
        chunks: Iterable[str] = [text]
    else:
        chunks = report.export_chunks(store, info.id, fmt)
    if output:
        # written beside the target and moved into place: a failure leaves no half file
        partial = f"{output}.part"
        try:
            with open(partial, "w", encoding="utf-8") as f:
                f.writelines(chunks)
            os.replace(partial, output)
        except OSError as e:  # named as the user named it, not as the hidden .part file
            raise InvalidInput(f"cannot write {output}: {e.strerror or e} (check the path "
                               "and its permissions)", parameter="output") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        shown = "the mutation report" if fmt == "stryker" else fmt.upper()  # as 'report' says
        console().print(Text(f"wrote {shown} of campaign {info.id} to {output}"),
                        soft_wrap=True)
    else:
        stdout().writelines(chunks)
