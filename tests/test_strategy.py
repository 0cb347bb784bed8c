"""Check strategies and the tolerance / epsilon sweeps, against independent computations."""

import json
import math

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, gradcheck, sweep
from mutagrad import strategies as strategy
from mutagrad.store import Store
from mutagrad.subjects import load
from mutagrad.trial import ORIGINAL

VECTOR_STRATEGIES = ("centered", "forward", "max-relerr", "allclose")


def _analytic(subject, case):
    return gradcheck.flatten(subject.gradients(subject.backward, case),
                             subject.param_names).astype(np.float64)


def test_complex_step_on_linear1d_is_exact_to_1e_14():
    subject = load("linear1d")
    for seed in (None, 1, 2, 3):
        case = subject.case(seed)
        ref = strategy.references(subject, case, ["complex-step"], [1e-20])
        g = ref[("complex-step", 1e-20)].vector
        x = float(case.data["x"])  # J = theta * x: dJ/dtheta = x exactly
        assert abs(g[0] - x) <= 1e-14 * abs(x)


@pytest.mark.parametrize("name, eps, bound, rtol", [
    ("centered", 1e-5, 1e-9, 1e-6), ("forward", 1e-8, 1e-5, 1e-3),
    ("max-relerr", 1e-5, 1e-6, 1e-6), ("allclose", 1e-6, 1e-2, 1e-6),
    ("directional", 1e-5, 1e-8, 1e-6),
])
@pytest.mark.parametrize("subject_name", ["linear1d", "mlp3"])
def test_each_strategy_agrees_with_the_analytic_gradient(subject_name, name, eps, bound, rtol):
    subject = load(subject_name)
    for seed in (None, 2):
        case = subject.case(seed)
        ref = strategy.references(subject, case, [name], [eps])[(name, eps)]
        analytic = _analytic(subject, case)
        if name in VECTOR_STRATEGIES:
            # the numerical side itself is the analytic gradient, entry by entry
            # forward differences are O(eps) off: looser, as theory says
            np.testing.assert_allclose(ref.vector, analytic, rtol=rtol, atol=rtol * 1e-2)
        else:
            np.testing.assert_allclose(ref.vector, ref.directions @ analytic, rtol=1e-6,
                                       atol=1e-9)
        assert strategy.difference(analytic, ref) < bound


def test_each_strategy_fails_the_seed_bugs():
    subject = load("mlp3-seedbugs")
    results = strategy.check_all(subject, subject.case(), list(strategy.STRATEGIES), 1e-6)
    by_name = {r.strategy: r for r in results}
    for name in ("centered", "forward", "max-relerr", "allclose", "directional"):
        assert by_name[name].passed is False, name
    assert by_name["complex-step"].passed is None
    assert "maximum" in by_name["complex-step"].note and "relu" in by_name["complex-step"].note


def test_directional_costs_2k_forwards_whatever_the_size():
    subject = load("mlp3")
    case = subject.case(1, 5)
    calls = []

    def J(p):
        calls.append(1)
        return subject.cost(p, case)

    u = gradcheck.unit_directions(strategy.DIRECTIONS, 47, np.random.default_rng(0))
    gradcheck.directional_derivatives(J, case.params, subject.param_names, 1e-6, u)
    assert len(calls) == 2 * strategy.DIRECTIONS == strategy.cost("directional", 47)
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0)


def test_finite_strategies_share_their_forward_evaluations():
    import dataclasses

    subject = load("mlp3")
    case = subject.case(3, 4)
    calls = []

    def counting(p, c):
        calls.append(1)
        return subject.cost(p, c)

    counted = dataclasses.replace(subject, cost=counting)
    strategy.references(counted, case, VECTOR_STRATEGIES, [1e-6])
    # one pass for all four, plus J(theta) for forward and kinks, plus J(theta) once more and
    # in a wider float, once per case (does the cost lose precision?)
    assert len(calls) == 2 * 47 + 3


def test_metrics_closed_forms():
    g, n = np.array([1.0, -2.0, 0.0]), np.array([1.1, -2.0, 0.0])
    assert gradcheck.max_relative_error(g, n) == pytest.approx(0.1 / 1.1)
    assert gradcheck.allclose_ratio(g, n) == pytest.approx(0.1 / (1e-5 + 1e-3 * 1.1))


@pytest.fixture(scope="module")
def float32_campaign(tmp_path_factory):
    db = tmp_path_factory.mktemp("f32") / "f32.db"
    store = Store(str(db))
    settings = campaign.Settings(cases=2, dtypes=("float64", "float32"),
                                 epsilons=(1e-7, 1e-3), categories=("factor", "sign"), jobs=2)
    cid = campaign.start(store, "mlp3", settings)
    return store, cid, db


def test_float32_at_1e_7_is_a_false_alarm_and_the_tool_says_what_to_change(float32_campaign):
    store, cid, _ = float32_campaign
    originals = [t for t in store.trials(cid) if t.mutant_id == ORIGINAL]
    cases = {c.index: c for c in store.cases(cid)}
    f32 = [t for t in originals if cases[t.case_index].dtype == "float32" and t.epsilon == 1e-7]
    assert f32 and all(t.difference > 1e-7 for t in f32)  # the correct backward fails 1e-7
    _, curves = sweep.tolerance_curves(store, cid)
    bad = next(c for c in curves if (c.dtype, c.epsilon) == ("float32", 1e-7))
    assert bad.window is None and bad.recommended is None
    assert "try epsilon 4.9e-03" in bad.reason
    good = next(c for c in curves if (c.dtype, c.epsilon) == ("float32", 1e-3))
    assert good.window is not None and good.window[0] < good.recommended < good.window[1]


def test_tolerance_curve_numbers_recomputed_from_the_trials(float32_campaign):
    store, cid, _ = float32_campaign
    _, curves = sweep.tolerance_curves(store, cid)
    cases = {c.index: c for c in store.cases(cid)}
    c = next(c for c in curves if (c.dtype, c.epsilon) == ("float64", 1e-7))
    mine = [t for t in store.trials(cid)
            if cases[t.case_index].dtype == "float64" and t.epsilon == 1e-7]
    bugs = [t.difference for t in mine if t.mutant_id != ORIGINAL
            and t.outcome in ("detected", "missed")]
    correct = [t.difference for t in mine if t.mutant_id == ORIGINAL]
    assert c.largest_correct == max(correct) and c.smallest_bug == min(bugs)
    for i in range(0, len(c.tolerances), 7):
        tol = c.tolerances[i]
        assert c.detection[i] == sum(b > tol for b in bugs) / len(bugs)
        assert c.false_alarm[i] == sum(o > tol for o in correct) / len(correct)


def test_float64_v_curve_bottom_is_near_theory():
    subject = load("mlp3")
    (f64,) = sweep.epsilon_curves(subject, ["float64"], "centered", 1e-12, 1e-1)
    theory = np.finfo(np.float64).eps ** (1 / 3)
    assert f64.theory == pytest.approx(theory)
    assert theory / 100 <= f64.best <= theory * 100
    (f32,) = sweep.epsilon_curves(subject, ["float32"], "centered", 1e-12, 1e-1)
    at_seed_step = f32.difference[np.argmin(np.abs(np.log(f32.epsilons / 1e-7)))]
    assert at_seed_step > 1e-7 and f32.best > 1e-4  # float32 needs a far larger step


def test_tolerance_epsilon_strategies_commands(float32_campaign, capsys, tmp_path):
    _, cid, db = float32_campaign
    plot = tmp_path / "tol.png"
    ran = run_cli(capsys, "tolerance", str(cid), "--db", str(db), "--plot", str(plot), "--json")
    assert ran.code == 0 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = json.loads(ran.out)["curves"]
    assert {(c["dtype"], c["epsilon"]) for c in curves} >= {("float32", 1e-7), ("float64", 1e-3)}
    eps_plot = tmp_path / "eps.png"
    ran = run_cli(capsys, "epsilon", "mlp3", "--dtype", "float64", "--plot", str(eps_plot),
                  "--campaign", str(cid), "--db", str(db), "--json")
    assert ran.code == 0 and eps_plot.exists()
    best = json.loads(ran.out)["curves"][0]["best"]
    assert math.isfinite(best)
    ran = run_cli(capsys, "strategies", str(cid), "--db", str(db), "--json")
    rows = json.loads(ran.out)["strategies"]
    assert {r["dtype"] for r in rows} == {"float32", "float64"}
    ran = run_cli(capsys, "check", "mlp3", "--strategy", "complex-step")
    assert ran.code == 2 and "unsupported" in ran.err
    ran = run_cli(capsys, "tolerance", "--range", "1:0", "--db", str(db))
    assert ran.code == 2 and "0 < LOW < HIGH" in ran.err


def test_campaign_with_complex_step_records_why_it_was_left_out(tmp_path):
    store = Store(str(tmp_path / "c.db"))
    cid = campaign.start(store, "mlp3", campaign.Settings(
        cases=1, strategies=("centered", "complex-step"), categories=("sign",), jobs=1))
    info = store.campaign(cid)
    assert info.settings.strategies == ("centered",)
    assert "maximum" in info.unsupported["complex-step"]
    on_linear = campaign.start(store, "linear1d", campaign.Settings(
        cases=2, strategies=("centered", "complex-step"), jobs=1))
    assert {t.strategy for t in store.trials(on_linear)} == {"centered", "complex-step"}
