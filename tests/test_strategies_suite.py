"""``mutagrad strategies --suite NAME`` (and ``--all``): the subjects' rows added up into one
row per strategy and dtype (issue 10 item 5)."""

import json

import pytest
from cli_helpers import run_cli

from mutagrad import campaign, sweep
from mutagrad.store import Store
from mutagrad.subjects import parse_spec
from mutagrad.values import ORIGINAL, Settings

STRATEGIES = ("centered", "cs231n-sparse", "complex-step")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("suite") / "results.db")
    store = Store(db)
    ran = campaign.run_all(store, [parse_spec("linear1d"), parse_spec("mlp3")],
                           Settings(cases=1, jobs=1, dtypes=("float64", "float32"),
                                    strategies=STRATEGIES), name="two")
    store.close()
    return db, ran.campaigns


def _counted(store, cid, strategy, dtype):
    """From the stored trials alone: (bugs, detected, checks, caught, originals, alarms)."""
    dtype_of = {c.index: c.dtype for c in store.cases(cid)}
    trials = [t for t in store.trials(cid)
              if t.strategy == strategy and dtype_of[t.case_index] == dtype]
    alarmed = {t.case_index for t in trials if t.mutant_id == ORIGINAL and t.outcome == "alarm"}
    bug = [t for t in trials if t.mutant_id != ORIGINAL
           and t.outcome in ("detected", "missed") and t.case_index not in alarmed]
    mutants = {t.mutant_id for t in bug}
    detected = {t.mutant_id for t in bug if t.outcome == "detected"}
    originals = [t for t in trials if t.mutant_id == ORIGINAL]
    return (len(mutants), len(detected), len(bug), sum(t.outcome == "detected" for t in bug),
            len(originals), sum(t.outcome == "alarm" for t in originals))


def test_the_suite_rows_are_the_sums_of_its_campaigns(suite, capsys):
    db, ids = suite
    out = run_cli(capsys, "strategies", "--suite", "two", "--db", db, "--json")
    assert out.code == 0
    shown = json.loads(out.out)
    assert shown["suite"] == "two"
    rows = {(r["strategy"], r["dtype"]): r for r in shown["strategies"]}
    store = Store(db, create=False)
    for strategy in ("centered", "cs231n-sparse"):
        for dtype in ("float64", "float32"):
            counts = [_counted(store, cid, strategy, dtype) for cid in ids]
            bugs, detected, checks, caught, originals, alarms = map(sum, zip(*counts))
            row = rows[(strategy, dtype)]
            assert (row["bugs"], row["detected"], row["checks"], row["caught"],
                    row["original_checks"], row["alarms"]) == \
                (bugs, detected, checks, caught, originals, alarms)
            assert row["detection"] == (detected / bugs if bugs else None)
            assert row["false_alarm"] == alarms / originals
    # mlp3's forward has a relu: complex-step runs on linear1d only, and says so
    assert rows[("complex-step", "-")]["note"] == "unsupported on mlp3"
    assert rows[("complex-step", "float64")]["bugs"] == \
        _counted(store, ids[0], "complex-step", "float64")[0]
    # cost: bug checks caught per 1,000 of the forwards they cost, over both subjects
    per_subject = [r for cid in ids for r in sweep.compare_strategies(store, cid)[1]
                   if (r.strategy, r.dtype) == ("centered", "float64")]
    spent = sum(r.checks * r.forwards for r in per_subject)
    assert rows[("centered", "float64")]["per_1000"] == pytest.approx(
        1000 * sum(r.caught for r in per_subject) / spent)
    assert {x["subject"] for x in shown["splits"]} <= {"linear1d", "mlp3"}
    store.close()


def test_the_table_names_the_suite(suite, capsys):
    db, _ = suite
    out = run_cli(capsys, "strategies", "--suite", "two", "--db", db)
    assert out.code == 0
    assert "suite 'two': every strategy at its own tolerance" in out.out
    assert "complex-step: unsupported on mlp3" in out.out


def test_one_source_of_rows_at_a_time(suite, capsys):
    db, _ = suite
    assert run_cli(capsys, "strategies", "mlp3", "--all", "--db", db).code == 2
    assert run_cli(capsys, "strategies", "--all", "--suite", "two", "--db", db).code == 2
    missing = run_cli(capsys, "strategies", "--suite", "nope", "--db", db)
    assert missing.code == 2 and "no campaign named 'nope'" in missing.err
