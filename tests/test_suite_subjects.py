"""The suite of real-world subjects: each backward against an independent computation."""

import json
import math

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import mutation
from mutagrad.subjects import load

SUITE = ["l2", "softmax", "deep", "batchnorm", "rnn", "conv", "pool"]


def _plain_central_differences(subject, case, eps=1e-6):
    """An independent numerical gradient: copy, perturb, evaluate, one entry at a time."""
    grads = {}
    for name in subject.param_names:
        value = case.params[name]
        g = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in case.params.items()}
            minus = {k: v.copy() for k, v in case.params.items()}
            plus[name][index] += eps
            minus[name][index] -= eps
            g[index] = (subject.cost(plus, case) - subject.cost(minus, case)) / (2 * eps)
        grads[name] = g
    return grads


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("seed, batch", [(1, 1), (2, 5)])
def test_backward_matches_plain_central_differences(name, seed, batch):
    subject = load(name)
    case = subject.case(seed, batch)
    analytic = subject.gradients(subject.backward, case)
    numerical = _plain_central_differences(subject, case)
    for key in subject.param_names:
        np.testing.assert_allclose(analytic[key], numerical[key], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SUITE)
def test_check_passes_at_float64_and_mutants_span_four_categories(name, capsys):
    ran = run_cli(capsys, "check", name, "--seed", "3", "--batch", "4", "--epsilon", "1e-6",
                  "--tolerance", "1e-7")
    assert ran.code == 0, ran.out
    # what the operators make (shape-aware generation then drops softmax's crashing swaps)
    categories = {m.category for m in mutation.mutants_of(load(name), shape_aware=False)}
    assert len(categories) >= 4, categories


def test_softmax_closed_form():
    subject = load("softmax")
    case = subject.case(4, 6)
    X, Y, W, b = case.data["X"], case.data["Y"], case.params["W"], case.params["b"]
    grads = subject.gradients(subject.backward, case)
    k, m = Y.shape
    # dJ/dz = a - y per example, a = softmax(z) computed with scalar math
    A = np.zeros((k, m))
    for j in range(m):
        z = [sum(W[i, f] * X[f, j] for f in range(X.shape[0])) + b[i, 0] for i in range(k)]
        e = [math.exp(v - max(z)) for v in z]
        A[:, j] = [v / sum(e) for v in e]
    for i in range(k):
        assert grads["b"][i, 0] == pytest.approx(sum(A[i, j] - Y[i, j] for j in range(m)) / m,
                                                 rel=1e-9)
        for f in range(X.shape[0]):
            want = sum((A[i, j] - Y[i, j]) * X[f, j] for j in range(m)) / m
            assert grads["W"][i, f] == pytest.approx(want, rel=1e-9, abs=1e-14)


def test_l2_is_mlp3_plus_lambda_over_m_w():
    l2, mlp3 = load("l2"), load("mlp3")
    case = l2.case(5, 7)
    plain = mlp3.gradients(mlp3.backward, case)
    regular = l2.gradients(l2.backward, case)
    for name in ("W1", "W2", "W3"):
        np.testing.assert_allclose(regular[name], plain[name] + 0.7 / 7 * case.params[name],
                                   rtol=1e-12)
    for name in ("b1", "b2", "b3"):
        np.testing.assert_array_equal(regular[name], plain[name])


def test_subjects_lists_the_suite(capsys):
    names = [s["name"] for s in json.loads(run_cli(capsys, "subjects", "--json").out)]
    assert set(SUITE) <= set(names)


def _statuses(store, cid):
    cases = {c.index: c for c in store.cases(cid)}
    out: dict[str, dict[str, set[str]]] = {}
    for t in store.trials(cid):
        out.setdefault(t.mutant_id, {}).setdefault(cases[t.case_index].label, set()).add(
            t.outcome)
    return out


def test_square_inputs_hide_a_pooling_bug_that_non_square_ones_show(tmp_path):
    from mutagrad import campaign
    from mutagrad.store import Store

    store = Store(str(tmp_path / "pool.db"))
    cid = campaign.start(store, "pool", campaign.Settings(cases=4, batches=(2,), jobs=2,
                                                         operators=("swap-height-width",)))
    hidden = []
    for mutant_id, by_case in _statuses(store, cid).items():
        square = [o for label, o in by_case.items() if "4x4" in label]
        wide = [o for label, o in by_case.items() if "4x6" in label]
        if all(o <= {"equivalent", "missed"} for o in square) and all(
                o == {"detected"} for o in wide):
            hidden.append(mutant_id)
    assert hidden, "no mutant hides on square inputs"
    mutants = {m.mutant_id: m for m in store.mutants(cid)}
    assert any(mutants[h].replacement in ("n_H", "n_W") for h in hidden)


def test_batch_size_one_hides_a_missing_one_over_m(tmp_path):
    from mutagrad import campaign
    from mutagrad.store import Store

    store = Store(str(tmp_path / "m.db"))
    cid = campaign.start(store, "mlp3", campaign.Settings(cases=2, batches=(1, 6), jobs=2,
                                                         operators=("drop-factor",)))
    found = []
    for mutant_id, by_case in _statuses(store, cid).items():
        one = [o for label, o in by_case.items() if " m=1 " in label]
        six = [o for label, o in by_case.items() if " m=6 " in label]
        if all(o <= {"equivalent", "missed"} for o in one) and all(o == {"detected"} for o in six):
            found.append(mutant_id)
    mutants = {m.mutant_id: m for m in store.mutants(cid)}
    assert any(mutants[f].category == "factor" and mutants[f].original.startswith("1. / m")
               for f in found)


def test_the_whole_suite_runs_with_one_command(capsys, tmp_path):
    db = str(tmp_path / "suite.db")
    ran = run_cli(capsys, "run", "--all", "--cases", "1", "--category", "sign", "--db", db,
                  "--name", "nightly", "--json")
    assert ran.code == 0, ran.err
    summary = json.loads(ran.out)
    names = [s["campaign"]["subject"] for s in summary["subjects"]]
    assert set(names) == {"linear1d", "mlp3", "l2", "softmax", "deep", "batchnorm", "rnn",
                          "conv", "pool"}
    total = summary["total"]
    assert total["mutants"] == sum(s["total"]["mutants"] for s in summary["subjects"])
    again = json.loads(run_cli(capsys, "results", "--suite", "nightly", "--json", "--db", db).out)
    assert again["total"] == total
    table = run_cli(capsys, "results", "--suite", "nightly", "--db", db).out
    assert "conv" in table and "pool" in table and "sign" in table


def _ties(A_prev, f, stride):
    """Entries equal to a window's maximum when that maximum occurs twice or more."""
    m, H, W, C = A_prev.shape
    tied = set()
    for i in range(m):
        for h in range((H - f) // stride + 1):
            for w in range((W - f) // stride + 1):
                for c in range(C):
                    window = A_prev[i, h * stride:h * stride + f, w * stride:w * stride + f, c]
                    top = window.max()
                    if (window == top).sum() > 1:
                        for dh, dw in zip(*np.nonzero(window == top)):
                            tied.add((i, h * stride + dh, w * stride + dw, c))
    return tied


def test_kinks_are_exactly_the_max_ties():
    from mutagrad import gradcheck
    from mutagrad.gradcheck import describe_kinks

    subject = load("pool")
    case = subject.case(9, 2)  # repeated values, max mode
    assert "repeated" in case.label and case.data["mode"] == "max"
    p = gradcheck.perturbed_costs(lambda q: subject.cost(q, case), case.params,
                                  subject.param_names, 1e-7, with_base=True)
    flagged = {tuple(int(i) for i in np.unravel_index(k, case.params["A_prev"].shape))
               for k in gradcheck.kinks_from(p, case.dtype)}
    ties = _ties(case.params["A_prev"], 2, case.data["hparameters"]["stride"])
    assert flagged == ties and ties
    assert "crosses a kink" in describe_kinks(gradcheck.kinks_from(p, case.dtype),
                                               p.keys, p.shapes)
    result = gradcheck.check(subject, case)
    assert not result.passed and result.kinks  # the false alarm comes with its reason


@pytest.mark.parametrize("name", ["mlp3", "deep", "softmax", "batchnorm", "rnn", "conv"])
def test_smooth_cases_report_no_kink(name):
    from mutagrad import gradcheck

    subject = load(name)
    for seed in range(4):
        assert gradcheck.check(subject, subject.case(seed), 1e-7, 1e-7).kinks is None


def test_show_explains_a_false_alarm_at_a_kink(tmp_path, capsys):
    db = str(tmp_path / "kink.db")
    assert run_cli(capsys, "run", "pool", "--seed", "8", "--cases", "2", "--category", "sign",
                   "--db", db).code == 0
    shown = json.loads(run_cli(capsys, "show", "original", "--json", "--db", db).out)
    noted = [t for t in shown["trials"] if t["note"]]
    assert noted and all("crosses a kink" in t["note"] for t in noted)
    assert all("repeated" in t["case"] for t in noted)
