"""The store on every backend we support: the same tests on SQLite and PostgreSQL."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from mutagrad import analysis, campaign
from mutagrad.errors import InvalidInput
from mutagrad.store import (
    CaseInfo,
    MutantInfo,
    SchemaMismatch,
    Store,
    StoreError,
    TrialInfo,
)

MUTANT = MutantInfo("abcdef0123", "sign", "negate-result", "backward", "f.py:3:5", 3,
                    "x", "-x", "--- diff")
CASES = [CaseInfo(0, 0, 1, "float64", "seed=0 m=1 float64"),
         CaseInfo(1, 0, 6, "float32", "seed=0 m=6 float32")]


def _campaign(store: Store, name: str | None = None) -> int:
    return store.create_campaign(name=name, subject="mlp3", source_hash="h" * 64,
                                 config={"tolerance": 1e-7, "epsilons": [1e-7],
                                         "strategies": ["centered"]},
                                 tool_version="0.1.0", mutants=[MUTANT], cases=CASES)


def test_round_trip(db_url):
    store = Store(db_url)
    cid = _campaign(store, "first")
    trials = [TrialInfo("abcdef0123", 0, "centered", 1e-7, 0.1234567890123456789, 2.5e-300,
                        "detected", None, 0.001),
              TrialInfo("abcdef0123", 1, "centered", 1e-7, None, None, "crashed",
                        "ValueError: shapes (3,5) and (4,1) not aligned", 0.002),
              TrialInfo("original", 0, "centered", 1e-7, 1.19e-7, None, "alarm", None, 0.0)]
    store.add_trials(cid, trials)
    assert sorted(store.trials(cid), key=str) == sorted(trials, key=str)
    assert store.mutants(cid) == [MUTANT]
    assert store.cases(cid) == CASES
    # two cases: the mutant has both stored, the original one of them
    assert store.stored_progress(cid, 2) == ({"abcdef0123"}, {("original", 0)})
    assert store.done_count(cid) == 3
    assert store.campaign("first").id == cid == store.campaign().id == store.campaign(cid).id


def test_test_outcomes_are_stored_with_their_trials_in_one_unit(db_url):
    from mutagrad.values import TestOutcome

    store = Store(db_url)
    cid = _campaign(store)
    trial = TrialInfo("abcdef0123", 0, "pytest", 0.0, None, None, "detected",
                      "test_net.py::test_a: test_net.py:9: AssertionError", 0.01)
    kills = [TestOutcome("abcdef0123", "test_net.py::test_a", "failed",
                         "test_net.py:9: AssertionError: assert 0.3 < 2e-07"),
             TestOutcome("abcdef0123", "test_net.py::test_b[x-1]", "error", None),
             TestOutcome("original", "test_net.py::test_a", "passed", None)]
    store.add_trials(cid, [trial], kills)
    assert store.test_outcomes(cid) == kills
    assert store.trials(cid) == [trial]
    with pytest.raises(StoreError):  # stored twice: refused, and nothing half-written
        store.add_trials(cid, [replace(trial, case_index=1)], kills[:1])
    assert store.trials(cid) == [trial] and store.test_outcomes(cid) == kills


def test_status_and_history(db_url):
    store = Store(db_url)
    first, second = _campaign(store), _campaign(store, "b")
    store.set_status(first, "finished", original_alarms=3, finished=True)
    info = store.campaign(first)
    assert (info.status, info.original_alarms) == ("finished", 3) and info.finished_at
    assert [c.id for c in store.campaigns()] == [second, first]
    assert [c.id for c in store.campaigns(limit=1)] == [second]
    with pytest.raises(InvalidInput, match="mutagrad history"):
        store.campaign("nope")


def test_a_trial_is_stored_once(db_url):
    store = Store(db_url)
    cid = _campaign(store)
    trial = TrialInfo("abcdef0123", 0, "centered", 1e-7, 0.5, 0.5, "detected", None, 0.0)
    store.add_trials(cid, [trial])
    with pytest.raises(StoreError):
        store.add_trials(cid, [trial])
    assert store.trials(cid) == [trial]  # the failed batch changed nothing


def test_schema_version_is_checked(db_url):
    Store(db_url)
    engine = create_engine(db_url)
    with engine.begin() as c:
        c.execute(text("UPDATE mutagrad_schema SET version = 99"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="schema version 99"):
        Store(db_url)


def test_a_whole_campaign(db_url):
    store = Store(db_url)
    cid = campaign.start(store, "mlp3", campaign.Settings(cases=1, categories=("sign",), jobs=1))
    result = analysis.report(store, cid)
    assert result.total.mutants == 14 and result.total.detected == 14
    assert store.campaign(cid).status == "finished"
    assert len(store.trials(cid)) == (14 + 1) * 2


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
trials_strategy = st.lists(
    st.builds(TrialInfo, mutant_id=st.sampled_from(["original", "abcdef0123", "0123456789"]),
              case_index=st.integers(0, 1), strategy=st.sampled_from(["centered", "allclose"]),
              epsilon=st.sampled_from([1e-7, 1e-3]), difference=st.none() | finite,
              true_error=st.none() | finite,
              outcome=st.sampled_from(["detected", "missed", "crashed", "shape"]),
              error=st.none() | st.text(max_size=200), elapsed=finite,
              note=st.none() | st.text(max_size=50)),
    unique_by=lambda t: (t.mutant_id, t.case_index, t.strategy, t.epsilon), max_size=20)


@settings(max_examples=40, deadline=None)
@given(trials_strategy)
def test_any_trials_round_trip_exactly(trials):
    store = Store("sqlite://")
    cid = _campaign(store)
    store.add_trials(cid, trials)
    assert sorted(store.trials(cid), key=repr) == sorted(trials, key=repr)
