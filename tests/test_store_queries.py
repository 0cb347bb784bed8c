"""The reports judged in the database (``Store.tally_mutants`` and friends) and over the
trials' arrays (``mutagrad.tally``, what a stopped campaign keeps) give exactly the numbers
an independent recomputation from the raw trials gives, field by field, on SQLite and
PostgreSQL, for finished, interrupted and resumed campaigns, at several tolerances.

The recomputation here is written from the rules in ``mutagrad.analysis``'s docstring, with
no code of the package's judging: it reads ``Store.trials`` (every raw row) and decides.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from test_live_state import GLOBAL

from mutagrad import analysis, campaign, tally
from mutagrad.store import Store
from mutagrad.subjects import parse_spec
from mutagrad.values import OWN_COST_NOTE, Settings, Status

ORDER = ("detected", "missed", "shape", "nonfinite", "aliasing", "crashed", "timeout",
         "indeterminate", "equivalent")
FIXED = {"crashed", "timeout", "nonfinite", "shape", "aliasing"}
# Subjects with kinks (pool, conv's relu), alarms at a small tolerance (mlp3), float32
# floors, crashes and shape failures; two checks, two epsilons, two dtypes.
SUBJECTS = ("linear1d", "mlp3", "pool", "softmax", "batchnorm")
PLAN = Settings(cases=1, dtypes=("float64", "float32"), strategies=("centered", "forward"),
                epsilons=(1e-6, 1e-4), jobs=2, explore=False)
TOLERANCES = (None, 1e-9, 1e-6, 1e-3, 0.5)


def _interrupted(store: Store, subject: str, after: int) -> int:
    """A campaign stopped (as by Ctrl-C) once ``after`` mutants are done."""
    def progress(e: campaign.ProgressEvent) -> None:
        if e.done >= after:
            raise KeyboardInterrupt

    with pytest.raises(campaign.CampaignInterrupted):
        campaign.start(store, subject, PLAN, on_progress=progress)
    return store.campaign().id


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Campaigns of the built-in subjects and of a subject whose parameters live in module
    globals; mlp3 also interrupted (kept as it was, in a copy of the file) and then
    resumed; a second mlp3 campaign on other seeds for ``compare``."""
    folder = tmp_path_factory.mktemp("queries")
    store = Store(f"sqlite:///{folder / 'suite.db'}")
    ids = {name: campaign.start(store, name, PLAN) for name in SUBJECTS}
    (folder / "on_globals.py").write_text(GLOBAL)
    ids["globals"] = campaign.start(store, parse_spec(str(folder / "on_globals.py")), PLAN)
    ids["mlp3 seeds 0-1"] = campaign.start(store, "mlp3", Settings(
        **{**PLAN.config(), "cases": 2, "dtypes": ("float64",)}))
    cut = _interrupted(store, "mlp3", after=30)
    assert store.campaign(cut).status == Status.INTERRUPTED
    ids["interrupted"] = cut
    store.close()
    snapshot = folder / "interrupted.db"
    snapshot.write_bytes((folder / "suite.db").read_bytes())
    store = Store(f"sqlite:///{folder / 'suite.db'}")
    campaign.resume(store, cut)
    ids["resumed"] = cut
    store.close()
    return folder, ids


def _copy(source: Store, target: Store, only: set[int] | None = None) -> dict[int, int]:
    """The campaigns of ``source`` (those in ``only``) written into ``target`` through the
    store's API."""
    from mutagrad.values import plan_config

    moved = {}
    for info in sorted(source.campaigns(), key=lambda i: i.id):
        if only is not None and info.id not in only:
            continue
        new = target.create_campaign(
            name=info.name, subject=info.subject, source_hash=info.source_hash,
            config=plan_config(info.settings, info.spec, info.unsupported),
            tool_version=info.tool_version, mutants=source.mutants(info.id),
            cases=source.cases(info.id))
        target.add_trials(new, source.trials(info.id))
        for m in source.mutants(info.id):
            if m.hidden_by is not None:
                target.set_hidden_by(new, m.mutant_id, m.hidden_by)
        target.set_status(new, info.status, original_alarms=info.original_alarms,
                          finished=info.finished_at is not None)
        moved[info.id] = new
    return moved


# -- the independent recomputation -------------------------------------------------------

def _doubtful(note):
    return note is not None and any(not p.startswith(OWN_COST_NOTE) for p in note.split("; "))


def _wilson(k, n, z=1.959964):
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def recompute(store, cid, tolerance=None, strategy=None, epsilon=None, shared_with=None):
    info = store.campaign(cid)
    strategy = strategy or info.settings.strategies[0]
    epsilon = epsilon if epsilon is not None else info.settings.epsilons[0]
    if tolerance is None:
        from mutagrad.strategies import STRATEGIES

        tolerance = (info.settings.tolerance if info.settings.tolerance is not None
                     else STRATEGIES[strategy].tolerance)
    cases = {c.index: c for c in store.cases(cid)}
    if shared_with is not None:
        theirs = {(c.seed, c.batch, c.dtype) for c in store.cases(shared_with)}
        cases = {i: c for i, c in cases.items() if (c.seed, c.batch, c.dtype) in theirs}
    mine = [t for t in store.trials(cid) if t.strategy == strategy
            and math.isclose(t.epsilon, epsilon, rel_tol=1e-9) and t.case_index in cases]

    def inf(d):
        return math.inf if d is None else d

    originals = sorted((t for t in mine if t.mutant_id == "original"), key=lambda t: t.case_index)
    alarm_cases = {t.case_index for t in originals
                   if t.outcome not in FIXED and inf(t.difference) > tolerance}
    per_mutant = defaultdict(list)
    for t in mine:
        if t.mutant_id == "original":
            continue
        floor = 100 * np.finfo(cases[t.case_index].dtype).eps
        if t.outcome in FIXED:
            outcome = t.outcome
        elif t.true_error is None:
            outcome = "nonfinite"
        elif t.true_error <= floor:
            outcome = "equivalent"
        elif _doubtful(t.note) or t.case_index in alarm_cases:
            outcome = "indeterminate"
        else:
            outcome = "detected" if inf(t.difference) > tolerance else "missed"
        per_mutant[t.mutant_id].append((t, outcome))
    verdicts = {}
    for m in store.mutants(cid):
        rows = sorted(per_mutant.get(m.mutant_id, []), key=lambda x: x[0].case_index)
        present = {o for _, o in rows}
        status = next((s for s in ORDER if s in present), "equivalent") if rows else "pending"
        bugs = [inf(t.difference) for t, o in rows if o in ("detected", "missed")]
        verdicts[m.mutant_id] = {
            "status": status, "cases": len(rows),
            "detected": sum(o == "detected" for _, o in rows),
            "missed": sum(o == "missed" for _, o in rows),
            "detected_on": tuple(cases[t.case_index].label for t, o in rows if o == "detected"),
            "missed_on": tuple(cases[t.case_index].label for t, o in rows if o == "missed"),
            "kill_tolerance": min(bugs) if bugs else None,
            "error": next((t.error for t, _ in rows if t.error), None),
            "category": m.category, "hidden": m.hidden_by not in (None, "none")
            and not m.hidden_by.startswith("exploration stopped")}
    groups = defaultdict(list)
    for v in verdicts.values():
        groups[v["category"]].append(v)
    original = [(cases[t.case_index].label, t.difference,
                 t.outcome if t.outcome in FIXED else
                 ("alarm" if inf(t.difference) > tolerance else "passed"), t.note)
                for t in originals]
    return verdicts, {g: _counts(vs) for g, vs in groups.items()}, _counts(
        list(verdicts.values())), original


def _counts(vs):
    n = defaultdict(int)
    for v in vs:
        n[v["status"]] += 1
    d, m = n["detected"], n["missed"]
    low, high = _wilson(d, d + m)
    return {"mutants": len(vs), "detected": d, "missed": m, "equivalent": n["equivalent"],
            "shape": n["shape"], "crashed": n["crashed"] + n["timeout"] + n["nonfinite"],
            "rate": d / (d + m) if d + m else None, "low": low, "high": high,
            "indeterminate": n["indeterminate"], "aliasing": n["aliasing"],
            "hidden": sum(v["status"] == "equivalent" and v["hidden"] for v in vs)}


def _as_computed(r: analysis.Report):
    verdicts = {v.mutant.mutant_id: {
        "status": v.status, "cases": v.cases, "detected": v.detected, "missed": v.missed,
        "detected_on": v.detected_on, "missed_on": v.missed_on,
        "kill_tolerance": v.kill_tolerance, "error": v.error, "category": v.mutant.category,
        "hidden": analysis.hidden(v.mutant)} for v in r.verdicts}
    groups = {g.group: _row(g) for g in r.groups}
    original = [(o.case, o.difference, o.outcome, o.note) for o in r.original]
    return verdicts, groups, _row(r.total), original


def _row(g):
    return {k: getattr(g, k) for k in ("mutants", "detected", "missed", "equivalent", "shape",
                                       "crashed", "rate", "low", "high", "indeterminate",
                                       "aliasing", "hidden")}


def _assert_same(store, cid, **how):
    r = analysis.report(store, cid, labels=True, **how)
    assert _as_computed(r) == recompute(store, cid, **how)
    return r


# -- the tests ---------------------------------------------------------------------------

def _fresh_postgres(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "sqlite in SQL", "postgresql",
                                        "postgresql in SQL"])
def backend(request, stored, tmp_path_factory):
    """The campaigns on each backend, judged over their arrays or in SQL: the SQLite files
    themselves (their campaigns wrote their arrays when they stopped), or copies written
    through the store's API (no arrays: judged in SQL; "postgresql": then given their
    arrays by ``build_mutant_checks``, as a stopping campaign does). Yields the store, the
    campaign ids, and the store and id of the interrupted snapshot."""
    folder, ids = stored
    source = Store(f"sqlite:///{folder / 'suite.db'}", create=False)
    snapshot = Store(f"sqlite:///{folder / 'interrupted.db'}", create=False)
    if request.param == "sqlite":
        yield source, ids, snapshot, ids["interrupted"], False
        source.close()
        snapshot.close()
        return
    if request.param.startswith("postgresql"):
        target = Store(_fresh_postgres(request.getfixturevalue("postgres_url")))
    else:
        target = Store(f"sqlite:///{tmp_path_factory.mktemp('copy') / 'copy.db'}")
    moved = _copy(source, target)
    cut = _copy(snapshot, target, only={ids["interrupted"]})[ids["interrupted"]]
    source.close()
    snapshot.close()
    if request.param == "postgresql":
        for info in target.campaigns():
            target.build_mutant_checks(info.id)
    yield target, {k: moved[v] for k, v in ids.items()}, target, cut, "in SQL" in request.param
    target.close()


def test_the_suites_reports_equal_a_recomputation_at_every_tolerance_and_check(backend):
    store, ids, _, _, _ = backend
    outcomes = set()
    for name in (*SUBJECTS, "globals"):
        for tolerance in TOLERANCES:
            for strategy in PLAN.strategies:
                for epsilon in PLAN.epsilons:
                    r = _assert_same(store, ids[name], tolerance=tolerance, strategy=strategy,
                                     epsilon=epsilon)
                    outcomes |= {v.status for v in r.verdicts}
    # the suite exercises every rule the queries encode
    assert {"detected", "missed", "equivalent", "indeterminate", "crashed",
            "shape"} <= outcomes


def test_each_backend_judges_where_it_is_meant_to(backend):
    """Every campaign is judged over current arrays, or (copies without them) in SQL; the
    interrupted snapshot's arrays were written when it stopped."""
    store, ids, snapshot, cut, in_sql = backend
    for cid in {*ids.values()}:
        for strategy in PLAN.strategies:
            for epsilon in PLAN.epsilons:
                arrays = tally.load(store, cid, strategy, epsilon)
                assert (arrays is None) == in_sql
                if arrays is not None:  # one row per mutant, each trial once
                    assert len(arrays.checks) == len(store.mutants(cid))
                    assert arrays.cases.size == sum(
                        t.mutant_id != "original" and t.strategy == strategy
                        and t.epsilon == epsilon for t in store.trials(cid))
    assert (tally.load(snapshot, cut, "centered", 1e-6) is None) == in_sql


def test_trials_written_after_the_arrays_put_the_campaign_back_to_sql(stored, db_url):
    """A mutant's arrays never outlive a trial written after them (a resume): the campaign
    is judged in SQL until they are built again, exactly, both ways."""
    from sqlalchemy import text

    folder, ids = stored
    source = Store(f"sqlite:///{folder / 'suite.db'}", create=False)
    target = Store(db_url)
    cid = _copy(source, target, only={ids["mlp3"]})[ids["mlp3"]]
    source.close()
    trials = target.trials(cid)
    late = max(t.mutant_id for t in trials if t.mutant_id != "original")  # comes later
    with target.engine.begin() as c:
        c.execute(text("delete from trials where campaign_id = :c and mutant_id = :m"),
                  {"c": cid, "m": late})
    checks = len(PLAN.strategies) * len(PLAN.epsilons)
    assert target.build_mutant_checks(cid) == len(target.mutants(cid)) * checks
    assert tally.load(target, cid, "centered", 1e-6) is not None
    before = _assert_same(target, cid, tolerance=1e-6)
    assert [v.status for v in before.verdicts if v.mutant.mutant_id == late] == ["pending"]
    target.add_trials(cid, [t for t in trials if t.mutant_id == late])
    for strategy in PLAN.strategies:
        for epsilon in PLAN.epsilons:
            assert tally.load(target, cid, strategy, epsilon) is None
    _assert_same(target, cid, tolerance=1e-6)  # in SQL meanwhile
    assert target.build_mutant_checks(cid) == checks  # only the mutant written to
    assert tally.load(target, cid, "centered", 1e-6) is not None
    after = _assert_same(target, cid, tolerance=1e-6)
    assert [v.status for v in after.verdicts if v.mutant.mutant_id == late] != ["pending"]
    target.close()


def test_an_interrupted_campaign_and_its_resume_equal_a_recomputation(backend):
    store, ids, snapshot, cut, _ = backend
    # the interrupted state, as it was stored before the resume
    for tolerance in TOLERANCES:
        r = _assert_same(snapshot, cut, tolerance=tolerance)
        assert "pending" in {v.status for v in r.verdicts}
    assert snapshot.campaign(cut).status == Status.INTERRUPTED
    for tolerance in TOLERANCES:
        r = _assert_same(store, ids["resumed"], tolerance=tolerance)
        assert "pending" not in {v.status for v in r.verdicts}


def test_compare_judges_the_shared_cases_as_a_recomputation_does(backend):
    store, ids, _, _, _ = backend
    a, b = ids["mlp3"], ids["mlp3 seeds 0-1"]
    for tolerance in (None, 1e-9, 1e-3):
        c = analysis.compare(store, a, b, tolerance)
        first = recompute(store, a, tolerance, shared_with=b)[0]
        second = recompute(store, b, tolerance, shared_with=a)[0]
        expected = sorted((m, first[m]["status"], second[m]["status"])
                          for m in first.keys() & second.keys()
                          if first[m]["status"] != second[m]["status"])
        assert sorted((ch.mutant_id, ch.before, ch.after) for ch in c.changes) == expected
        assert len(c.first.original) == len(recompute(store, a, tolerance, shared_with=b)[3])
        assert c.warnings  # the two ran different cases


def test_history_reads_summaries_equal_to_the_reports(backend):
    store, _, _, _, in_sql = backend
    for info in store.campaigns():
        summary = analysis.summarised(store, info)
        _, _, total, original = recompute(store, info.id)
        assert {k: v for k, v in summary["total"].items() if k != "group"} == total
        assert summary["cases"] == len(original)
    # in the SQLite files the campaigns were run: each stored its summary when it stopped
    if store.engine.dialect.name == "sqlite" and not in_sql:
        assert all(info.summary is not None for info in store.campaigns())


def _recompute_curves(store, cid, lo=1e-12, hi=100.0):
    """The tolerance sweep from the raw trials, from sweep.py's docstring."""
    cases = {c.index: c for c in store.cases(cid)}
    n = max(2, round(math.log10(hi / lo) * 10) + 1)
    grid = np.logspace(math.log10(lo), math.log10(hi), n)
    groups = defaultdict(lambda: ([], []))
    for t in store.trials(cid):
        key = (cases[t.case_index].dtype, t.strategy, t.epsilon)
        if t.mutant_id == "original":
            groups[key][0].append(t)
        elif (t.outcome not in FIXED and t.true_error is not None
              and t.outcome != "equivalent" and not _doubtful(t.note)):
            groups[key][1].append(t)  # a real bug the check can judge on its case
        else:
            groups[key]
    result = {}
    for key, (original, bugs) in groups.items():
        o = [math.inf if t.difference is None else t.difference for t in original]
        b = [math.inf if t.difference is None else t.difference for t in bugs]
        largest = max(o, default=0.0)
        smallest = min(b, default=math.inf)
        result[key] = {
            "detection": [sum(x > g for x in b) / len(b) if b else 0.0 for g in grid],
            "false_alarm": [sum(x > g for x in o) / len(o) if o else 0.0 for g in grid],
            "bug_trials": len(b), "original_trials": len(o), "largest": largest,
            "smallest": smallest,
            "overlaps": sorted((t.difference, t.mutant_id, t.case_index) for t in bugs
                                if t.difference is not None and t.difference <= largest),
            "alarms": sorted((x for x in o if x >= smallest), reverse=True)}
    return result


def test_the_tolerance_sweep_equals_a_recomputation(backend):
    from mutagrad import sweep

    store, ids, _, _, _ = backend
    for name in ("mlp3", "pool", "resumed"):
        labels = {c.label: c.index for c in store.cases(ids[name])}
        _, curves = sweep.tolerance_curves(store, ids[name])
        expected = _recompute_curves(store, ids[name])
        assert {(c.dtype, c.strategy, c.epsilon) for c in curves} == expected.keys()
        for c in curves:
            e = expected[(c.dtype, c.strategy, c.epsilon)]
            assert c.detection.tolist() == e["detection"]
            assert c.false_alarm.tolist() == e["false_alarm"]
            assert (c.bug_trials, c.original_trials) == (e["bug_trials"], e["original_trials"])
            assert (c.largest_correct, c.smallest_bug) == (e["largest"], e["smallest"])
            assert [(x.difference, x.mutant_id, labels[x.case]) for x in c.overlaps] == \
                e["overlaps"]
            assert [x.difference for x in c.alarms] == e["alarms"]


def test_the_streamed_export_is_the_whole_document(backend):
    import json

    from mutagrad import report

    store, ids, _, _, _ = backend
    cid = ids["pool"]
    rows = list(report.export_rows(store, cid))
    whole = json.dumps(report.strict({"campaign": report.campaign_json(store.campaign(cid)),
                                      "trials": rows}), indent=2, allow_nan=False) + "\n"
    assert report.export_text(store, cid, "json") == whole
    assert len(rows) == len(store.trials(cid))


def _recompute_strategies(store, cid):
    """compare_strategies' counts from the raw trials, from its docstring: at the first
    epsilon, per (strategy, dtype), the stored outcomes off the cases where the original
    alarms."""
    info = store.campaign(cid)
    eps = info.settings.epsilons[0]
    dtype = {c.index: c.dtype for c in store.cases(cid)}
    label = {c.index: c.label for c in store.cases(cid)}
    trials = [t for t in store.trials(cid) if math.isclose(t.epsilon, eps, rel_tol=1e-9)]
    alarmed = {(t.strategy, t.case_index) for t in trials
               if t.mutant_id == "original" and t.outcome == "alarm"}
    rows, by_case = {}, defaultdict(dict)
    for name in info.settings.strategies:
        for d in info.settings.dtypes:
            bugs = [t for t in trials if t.mutant_id != "original" and t.strategy == name
                    and dtype[t.case_index] == d and t.outcome in ("detected", "missed")
                    and (name, t.case_index) not in alarmed]
            mutants = {t.mutant_id for t in bugs}
            caught = {t.mutant_id for t in bugs if t.outcome == "detected"}
            originals = [t for t in trials if t.mutant_id == "original" and t.strategy == name
                         and dtype[t.case_index] == d]
            rows[(name, d)] = (len(mutants), len(caught), len(bugs),
                               sum(t.outcome == "detected" for t in bugs), len(originals),
                               sum(t.outcome == "alarm" for t in originals))
            for t in bugs:
                by_case[(t.mutant_id, t.case_index)][name] = t.outcome
    splits = sorted((m, label[i]) for (m, i), v in by_case.items()
                    if "detected" in v.values() and "missed" in v.values())
    return rows, splits


def test_the_strategies_table_equals_a_recomputation(backend):
    from mutagrad import sweep

    store, ids, _, _, _ = backend
    for name in ("mlp3", "pool", "resumed"):
        _, rows, splits = sweep.compare_strategies(store, ids[name])
        expected_rows, expected_splits = _recompute_strategies(store, ids[name])
        assert {(r.strategy, r.dtype): (r.bugs, r.detected, r.checks, r.caught,
                                        r.original_checks, r.alarms)
                for r in rows if r.dtype != "-"} == expected_rows
        assert sorted((x.mutant_id, x.case) for x in splits) == expected_splits
