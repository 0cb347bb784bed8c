"""The gradient check reproduces the seed exactly, and the seed's subjects are right."""

import math

import numpy as np
import pytest
import seedcode

from mutagrad import gradcheck
from mutagrad.errors import GradientMismatch, InvalidInput
from mutagrad.subjects import linear1d, load, mlp3, mlp3_seedbugs


def _seed_difference(subject_module, backward, case, epsilon=1e-7):
    X, Y = case.data["X"], case.data["Y"]
    _, cache = subject_module.forward_propagation_n(X, Y, case.params)
    gradients = backward(X, Y, cache)
    return seedcode.gradient_check_n(case.params, gradients, X, Y,
                                     mlp3.forward_propagation_n, epsilon)


@pytest.mark.parametrize("name, backward", [
    ("mlp3", mlp3.backward_propagation_n),
    ("mlp3-seedbugs", mlp3_seedbugs.backward_propagation_n),
])
@pytest.mark.parametrize("seed, batch, dtype, epsilon", [
    (None, None, "float64", 1e-7),
    (7, 5, "float64", 1e-6),
    (3, 1, "float32", 1e-3),
])
def test_mlp3_difference_equals_seed_loop(name, backward, seed, batch, dtype, epsilon):
    subject = load(name)
    case = subject.case(seed, batch, dtype)
    ours = gradcheck.check(subject, case, epsilon=epsilon).difference
    theirs = _seed_difference(mlp3, backward, case, epsilon)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_exercise_published_numbers():
    # The exercise's expected outputs: 2.919335883291695e-10 for the 1-D case,
    # 0.2850931567761623 for the network with its two bugs.
    assert gradcheck.check(load("linear1d"), load("linear1d").case()).difference == (
        pytest.approx(2.919335883291695e-10, rel=1e-6))
    bugs = load("mlp3-seedbugs")
    assert gradcheck.check(bugs, bugs.case()).difference == pytest.approx(
        0.2850931567761623, rel=1e-9)


def test_linear1d_matches_seed_1d_loop():
    subject = load("linear1d")
    for seed in (None, 1, 2):
        case = subject.case(seed)
        x, theta = case.data["x"], case.params["theta"]
        theirs = seedcode.gradient_check(x, theta, linear1d.forward_propagation,
                                         linear1d.backward_propagation)
        assert gradcheck.check(subject, case).difference == pytest.approx(theirs, rel=1e-9)


def test_linear1d_closed_form():
    subject = load("linear1d")
    for seed in range(5):
        case = subject.case(seed)
        grads = subject.gradients(subject.backward, case)
        # J = theta * x  =>  dJ/dtheta = x
        assert grads["theta"] == case.data["x"]


def test_default_case_is_the_exercise_test_case():
    state = np.random.get_state()
    try:
        np.random.seed(1)
        x = np.random.randn(4, 3)
        W1, b1 = np.random.randn(5, 4), np.random.randn(5, 1)
        W2, b2 = np.random.randn(3, 5), np.random.randn(3, 1)
        W3, b3 = np.random.randn(1, 3), np.random.randn(1, 1)
    finally:
        np.random.set_state(state)
    case = load("mlp3").case()
    np.testing.assert_array_equal(case.data["X"], x)
    np.testing.assert_array_equal(case.data["Y"], np.array([1, 1, 0]))
    for name, want in {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}.items():
        np.testing.assert_array_equal(case.params[name], want)


def _hand_gradients(case):
    """dW1, db1, dW3 of mlp3 derived by hand, one example and one unit at a time.

    Per example i: dL/dz3 = a3 - y; dL/dz2[r] = W3[0, r] dL/dz3 [z2_r > 0];
    dL/dz1[k] = sum_r W2[r, k] dL/dz2[r] [z1_k > 0]; every gradient is averaged over m.
    """
    X, Y, p = case.data["X"], np.reshape(case.data["Y"], -1), case.params
    m = X.shape[1]
    dW1, db1, dW3 = np.zeros((5, 4)), np.zeros((5, 1)), np.zeros((1, 3))
    for i in range(m):
        x = X[:, i]
        z1 = [sum(p["W1"][k, j] * x[j] for j in range(4)) + p["b1"][k, 0] for k in range(5)]
        a1 = [max(0.0, v) for v in z1]
        z2 = [sum(p["W2"][r, k] * a1[k] for k in range(5)) + p["b2"][r, 0] for r in range(3)]
        a2 = [max(0.0, v) for v in z2]
        z3 = sum(p["W3"][0, r] * a2[r] for r in range(3)) + p["b3"][0, 0]
        a3 = 1.0 / (1.0 + math.exp(-z3))
        dz3 = a3 - Y[i]
        dz2 = [p["W3"][0, r] * dz3 * (z2[r] > 0) for r in range(3)]
        dz1 = [sum(p["W2"][r, k] * dz2[r] for r in range(3)) * (z1[k] > 0) for k in range(5)]
        for r in range(3):
            dW3[0, r] += dz3 * a2[r] / m
        for k in range(5):
            db1[k, 0] += dz1[k] / m
            for j in range(4):
                dW1[k, j] += dz1[k] * x[j] / m
    return {"W1": dW1, "b1": db1, "W3": dW3}


@pytest.mark.parametrize("seed, batch", [(None, None), (5, 4), (11, 1)])
def test_mlp3_backward_matches_hand_derivation(seed, batch):
    subject = load("mlp3")
    case = subject.case(seed, batch)
    grads = subject.gradients(subject.backward, case)
    for name, want in _hand_gradients(case).items():
        np.testing.assert_allclose(grads[name], want, rtol=1e-12, atol=1e-15)


def test_mlp3_backward_matches_finite_differences_at_a_good_step():
    # eps = 1e-5 balances truncation (~eps^2) and round-off (~1e-16/eps) in float64.
    subject = load("mlp3")
    for seed in (None, 2, 3):
        case = subject.case(seed)
        result = gradcheck.check(subject, case, epsilon=1e-5, tolerance=1e-9)
        assert result.passed, result.difference


def test_seedbugs_fails_and_names_dW2_and_db1():
    subject = load("mlp3-seedbugs")
    result = gradcheck.check(subject, subject.case())
    assert not result.passed
    worst = {d.name for d in result.comparison.parameters[:2]}
    assert worst == {"W2", "b1"}
    b1 = result.comparison.parameters[0]
    # db1 was computed with 4./m instead of 1./m: analytic = 4 x numerical.
    assert b1.analytic == pytest.approx(4 * b1.numerical, rel=1e-5)


def test_relative_difference_is_the_seed_formula():
    g, n = np.array([3.0, 4.0]), np.array([0.0, 0.0])
    assert gradcheck.relative_difference(g, n) == 1.0
    assert gradcheck.relative_difference(n, n) == 0.0
    g2 = np.array([1.0, 2.0, 2.0])
    assert gradcheck.relative_difference(g2, 2 * g2) == pytest.approx(3.0 / 9.0)


def test_numerical_gradient_is_computed_once_and_reused():
    subject = load("mlp3")
    case = subject.case()
    calls = []

    def counting_cost(params):
        calls.append(1)
        return subject.cost(params, case)

    numerical = gradcheck.centered_gradient(counting_cost, case.params, subject.param_names, 1e-7)
    assert len(calls) == numerical.forwards == 2 * 47
    for backward in (mlp3.backward_propagation_n, mlp3_seedbugs.backward_propagation_n):
        gradcheck.compare(subject.gradients(backward, case), numerical)
    assert len(calls) == 2 * 47
    # The case's parameters are untouched by the perturbations.
    np.testing.assert_array_equal(case.params["W1"], subject.case().params["W1"])


def test_compare_refuses_wrong_shapes_and_keys():
    subject = load("mlp3")
    case = subject.case()
    numerical = gradcheck.numerical_gradient(subject, case, 1e-7)
    grads = subject.gradients(subject.backward, case)
    with pytest.raises(GradientMismatch, match="b1"):
        gradcheck.compare({**grads, "b1": grads["b1"].ravel()}, numerical)
    with pytest.raises(GradientMismatch, match="W3"):
        gradcheck.compare({k: v for k, v in grads.items() if k != "W3"}, numerical)


@pytest.mark.parametrize("kwargs", [{"epsilon": 0.0}, {"epsilon": -1e-7},
                                    {"tolerance": 0.0}, {"epsilon": float("nan")}])
def test_bad_numbers_are_invalid_input(kwargs):
    subject = load("linear1d")
    with pytest.raises(InvalidInput):
        gradcheck.check(subject, subject.case(), **kwargs)


def test_a_backward_cannot_corrupt_its_case():
    subject = load("mlp3")
    case = subject.case(3, 4)
    before = subject.gradients(subject.backward, case)

    def scribbling(X, Y, cache):
        cache[2][0, 0] = 99.0  # W1, the case's own parameter
        return mlp3.backward_propagation_n(X, Y, cache)

    with pytest.raises(ValueError, match="read-only"):
        subject.gradients(scribbling, case)
    after = subject.gradients(subject.backward, case)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_a_case_stays_read_only_across_processes():
    import pickle

    case = pickle.loads(pickle.dumps(load("mlp3").case(1, 2)))
    assert not case.params["W1"].flags.writeable and not case.data["X"].flags.writeable
