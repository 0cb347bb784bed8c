"""mlp3: the seed's network LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID.

Cross-entropy cost averaged over the m examples. ``forward_propagation_n`` and
``backward_propagation_n`` are written exactly as the exercise writes them (without its two
deliberate bugs; those live in ``mlp3_seedbugs``). Shapes: X (4, m), W1 (5, 4), W2 (3, 5),
W3 (1, 3): unequal widths, so a missing transpose is a shape error or a wrong gradient.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style
from mutagrad.subject import Params


def sigmoid(x):
    s = 1 / (1 + np.exp(-x))
    return s


def relu(x):
    s = np.maximum(0, x)
    return s


def forward_propagation_n(X, Y, parameters):
    m = X.shape[1]
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]
    W3 = parameters["W3"]
    b3 = parameters["b3"]

    # LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)

    # Cost
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1. / m * np.sum(logprobs)

    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)

    return cost, cache


def backward_propagation_n(X, Y, cache):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1. / m * np.dot(dZ3, A2.T)
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)

    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1. / m * np.dot(dZ2, A1.T)
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)

    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1. / m * np.dot(dZ1, X.T)
    db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3,
                 "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
                 "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}

    return gradients


PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
LAYER_SHAPES = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}


def exercise_case() -> tuple[np.ndarray, np.ndarray, Params]:
    """The exercise's ``gradient_check_n_test_case``: np.random.seed(1), then X, Y, W1..b3.

    A private ``RandomState(1)`` draws the same numbers without touching the global RNG.
    """
    rs = np.random.RandomState(1)
    X = rs.randn(4, 3)
    Y = np.array([1, 1, 0])
    params = {name: rs.randn(*shape) for name, shape in LAYER_SHAPES.items()}
    return X, Y, params


def init_params(rng):
    """W1 (5, 4), b1, W2 (3, 5), b2, W3 (1, 3), b3: standard normal, in this order."""
    return {name: rng.standard_normal(shape) for name, shape in LAYER_SHAPES.items()}


SUBJECT = seed_style(
    sys.modules[__name__], name="mlp3",
    description="the seed's 3-layer network LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID",
    default_case=exercise_case, param_names=PARAM_NAMES, n_x=4)
