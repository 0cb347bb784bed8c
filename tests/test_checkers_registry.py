"""The strategy registry, the Taylor test, the side-by-side table and the 'where' report."""

import json
import re

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, gradcheck
from mutagrad import strategies as S
from mutagrad.store import Store
from mutagrad.subjects import load
from mutagrad.trial import ORIGINAL
from mutagrad.values import STRATEGY_NAMES

CHECKERS = ("torch", "torch-fast", "jax", "scipy", "scipy-random", "cs231n", "cs231n-sparse",
            "theano", "chainer")


def _flat(subject, case):
    return gradcheck.flatten(subject.gradients(subject.backward, case),
                             subject.param_names).astype(np.float64)


def test_every_strategy_is_one_registry_entry_that_describes_itself():
    assert set(CHECKERS) | {"centered", "forward", "max-relerr", "allclose", "directional",
                            "complex-step"} <= set(S.STRATEGIES)
    for name, strategy in S.STRATEGIES.items():
        assert strategy.name == name and strategy.summary and strategy.tolerance > 0
        assert strategy.cost(47, 6) > 0
        for dtype in ("float64", "float32"):
            theory = strategy.theory_epsilon(dtype)
            assert theory is None or 0 < theory < 1
            assert strategy.step(1e-7, dtype) > 0
    for name in CHECKERS:
        module = type(S.STRATEGIES[name]).__module__
        doc = __import__(module, fromlist=["_"]).__doc__
        # each port cites the checker's file and version
        assert re.search(r"\w+/\w+\.py", doc) and re.search(r"\d+\.\d+|v\d|commit [0-9a-f]{7}", doc), name
        assert S.STRATEGIES[name].own_step is not None  # a checker takes its own step


def test_help_lists_the_registry(capsys):
    assert STRATEGY_NAMES == tuple(S.STRATEGIES)  # what help lists without loading numpy
    for command in ("check", "run", "strategies"):
        ran = run_cli(capsys, command, "--help")
        text = " ".join((ran.out + ran.err).split())
        for name in S.STRATEGIES:
            assert name in text, (command, name)


def test_costs_are_counted_forward_evaluations():
    import dataclasses

    subject = load("mlp3")
    case = subject.case(1, 4)
    P, A = 47, 6
    for name in (*(s for s in S.STRATEGIES if S.STRATEGIES[s].cost(P, A) < P), "scipy"):
        calls = []

        def counting(p, c, calls=calls):
            calls.append(1)
            return subject.cost(p, c)

        counted = dataclasses.replace(subject, cost=counting)
        S.references(counted, case, [name], [1e-7])
        spent = len(calls)
        # jax's third forward is its primal check f(*args), which our port needs not redo
        assert spent == S.cost(name, P, A) - (1 if name == "jax" else 0), name


def test_a_failed_check_says_where(capsys):
    subject = load("mlp3-seedbugs")
    case = subject.case()
    flat = _flat(subject, case)
    centered = gradcheck.centered_from(gradcheck.perturbed_costs(
        lambda p: subject.cost(p, case), case.params, subject.param_names, 1e-6))
    checks = {c.strategy: c for c in S.check_all(subject, case, CHECKERS, 1e-7)}
    for name in ("torch", "torch-fast", "chainer"):
        worst = checks[name].worst
        assert checks[name].passed is False and len(worst) == 5
        # torch ranks by its own per-entry ratio; the projections fall back to the gap
        scores = [e.gap / (1e-5 + 1e-3 * abs(e.numerical)) if name == "torch" else e.gap
                  for e in worst]
        assert scores == sorted(scores, reverse=True)
        offsets = dict(zip(subject.param_names,
                           np.cumsum([0, *(np.size(case.params[k]) for k in subject.param_names)])))
        for e in worst:
            i = offsets[e.parameter] + np.ravel_multi_index(e.index, case.params[e.parameter].shape)
            assert e.analytic == flat[i]
            if name != "chainer":  # torch's steps are 1e-6; chainer's fallback steps 1e-3
                assert e.numerical == pytest.approx(centered[i], rel=1e-12)
        # the exercise's two bugs: dW2 twice too big, db1 four times
        assert {e.parameter for e in worst} <= {"W2", "b1"}
    assert "slow mode fails too" in checks["torch-fast"].note
    ran = run_cli(capsys, "check", "mlp3-seedbugs", "--strategy", "torch,jax", "--json")
    data = json.loads(ran.out)
    assert ran.code == 1
    torch_json = next(s for s in data["strategies"] if s["strategy"] == "torch")
    assert torch_json["worst"][0]["parameter"] in ("W2", "b1")
    assert set(torch_json["worst"][0]) >= {"parameter", "index", "analytic", "numerical"}
    ran = run_cli(capsys, "check", "mlp3-seedbugs", "--strategy", "torch")
    assert "worst entries" in ran.out and ran.code == 1


def test_run_all_and_the_side_by_side_table(tmp_path, capsys):
    db = tmp_path / "s.db"
    store = Store(str(db))
    cid = campaign.start(store, "linear1d", campaign.Settings(
        cases=2, dtypes=("float64", "float32"), strategies=("all",), jobs=1))
    info = store.campaign(cid)
    assert info.settings.strategies == tuple(S.STRATEGIES)  # complex-step is safe here
    trials = store.trials(cid)
    assert {t.strategy for t in trials} == set(S.STRATEGIES)
    ran = run_cli(capsys, "strategies", str(cid), "--db", str(db), "--json")
    assert ran.code == 0
    data = json.loads(ran.out)
    rows = {(r["strategy"], r["dtype"]): r for r in data["strategies"]}
    cases = {c.index: c.dtype for c in store.cases(cid)}
    for (name, dtype), row in rows.items():
        mine = [t for t in trials if t.strategy == name and cases[t.case_index] == dtype]
        original = [t for t in mine if t.mutant_id == ORIGINAL]
        assert row["false_alarm"] == sum(t.outcome == "alarm" for t in original) / len(original)
        alarmed = {t.case_index for t in original if t.outcome == "alarm"}
        bugs = {t.mutant_id for t in mine if t.mutant_id != ORIGINAL
                and t.outcome in ("detected", "missed") and t.case_index not in alarmed}
        caught = {t.mutant_id for t in mine if t.mutant_id != ORIGINAL
                  and t.outcome == "detected" and t.case_index not in alarmed}
        assert (row["bugs"], row["detected"]) == (len(bugs), len(caught)), (name, dtype)
        assert row["forwards"] == S.cost(name, 1, 1)
        if row["per_check"] is not None:
            assert row["per_1000"] == pytest.approx(1000 * row["per_check"] / row["forwards"])
    label = {c.index: c.label for c in store.cases(cid)}
    outcome = {(t.mutant_id, label[t.case_index], t.strategy): t.outcome for t in trials}
    for split in data["splits"]:
        assert split["caught_by"] and split["missed_by"]
        for name in split["caught_by"]:
            assert outcome[(split["mutant_id"], split["case"], name)] == "detected"
        for name in split["missed_by"]:
            assert outcome[(split["mutant_id"], split["case"], name)] == "missed"
    ran = run_cli(capsys, "strategies", str(cid), "--db", str(db))
    assert ran.code == 0 and "/1k fwd" in ran.out and "torch-fast" in ran.out


def test_strategies_runs_a_subject(tmp_path, capsys):
    db = tmp_path / "t.db"
    ran = run_cli(capsys, "strategies", "linear1d", "--cases", "1", "--dtype", "float64",
                  "--jobs", "1", "--db", str(db), "--json")
    assert ran.code == 0
    data = json.loads(ran.out)
    assert data["subject"] == "linear1d"
    assert {r["strategy"] for r in data["strategies"]} == set(S.STRATEGIES)


def test_a_mutant_sparse_checking_misses_is_listed_with_both_verdicts(tmp_path):
    from mutagrad import sweep

    store = Store(str(tmp_path / "v.db"))
    cid = campaign.start(store, "mlp3", campaign.Settings(
        cases=3, strategies=("torch", "cs231n-sparse"), categories=("variable",), jobs=1))
    _, _, splits = sweep.compare_strategies(store, cid)
    assert splits  # 10 sampled entries per array miss a swapped variable somewhere
    label = {c.index: c.label for c in store.cases(cid)}
    outcome = {(t.mutant_id, label[t.case_index], t.strategy): t.outcome
               for t in store.trials(cid)}
    for x in splits:
        assert x.caught_by == ("torch",) and x.missed_by == ("cs231n-sparse",)
        assert outcome[(x.mutant_id, x.case, "torch")] == "detected"
        assert outcome[(x.mutant_id, x.case, "cs231n-sparse")] == "missed"


def test_cs231n_names_the_entry_whose_relative_error_fails():
    subject = load("mlp3")
    case = subject.case(2, 6)
    (check,) = S.check_all(subject, case, ["cs231n"], 1e-7)
    flat = _flat(subject, case)
    p = gradcheck.perturbed_costs(lambda q: subject.cost(q, case), case.params,
                                  subject.param_names, 1e-5)
    numerical = (p.J_plus - p.J_minus) / 2e-5
    rel = np.abs(numerical - flat) / np.maximum(1e-8, np.abs(numerical) + np.abs(flat))
    assert check.passed is False and check.difference == pytest.approx(rel.max(), rel=1e-9)
    worst = check.worst[0]
    assert worst.numerical == pytest.approx(numerical[np.argmax(rel)], rel=1e-12)
    assert abs(worst.analytic) < 1e-4  # a tiny entry: its relative error is all round-off
