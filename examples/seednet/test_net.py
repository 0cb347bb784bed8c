"""The seed's gradient check as two pytest tests: the exercise's test case, and a batch of 6.

Centered differences and difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||),
as the exercise computes them; 2e-7 is the threshold its notebook uses for this network.
"""

import numpy as np
from net import SHAPES, backward_propagation_n, forward_propagation_n


def gradient_check_n(parameters, X, Y, epsilon=1e-7):
    keys = list(SHAPES)
    theta = np.concatenate([parameters[k].reshape(-1) for k in keys])
    sizes = np.cumsum([0] + [parameters[k].size for k in keys])

    def unflatten(vector):
        return {k: vector[sizes[i]:sizes[i + 1]].reshape(SHAPES[k]) for i, k in enumerate(keys)}

    _, cache = forward_propagation_n(X, Y, parameters)
    gradients = backward_propagation_n(X, Y, cache)
    grad = np.concatenate([gradients["d" + k].reshape(-1) for k in keys])
    gradapprox = np.zeros_like(theta)
    for i in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += epsilon
        minus[i] -= epsilon
        J_plus, _ = forward_propagation_n(X, Y, unflatten(plus))
        J_minus, _ = forward_propagation_n(X, Y, unflatten(minus))
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    return numerator / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))


def test_gradient_check_exercise_case():
    rs = np.random.RandomState(1)  # the exercise's gradient_check_n_test_case
    X = rs.randn(4, 3)
    Y = np.array([1, 1, 0])
    parameters = {name: rs.randn(*shape) for name, shape in SHAPES.items()}
    assert gradient_check_n(parameters, X, Y) < 2e-7


def test_gradient_check_batch_of_six():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((4, 6))
    Y = rng.integers(0, 2, size=(1, 6))
    parameters = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    assert gradient_check_n(parameters, X, Y) < 2e-7
