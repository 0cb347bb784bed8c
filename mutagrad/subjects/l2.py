"""l2: the seed network with L2 regularisation (the deeplearning.ai regularisation exercise).

cost = cross-entropy + lambd / (2m) * (||W1||^2 + ||W2||^2 + ||W3||^2); the backward adds
lambd / m * W to each dW: the place for a missing or doubled lambda/m term.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style
from mutagrad.subjects.mlp3 import PARAM_NAMES, forward_propagation_n, init_params

__all__ = ["backward_propagation_with_regularization", "forward_propagation_with_regularization",
           "init_params"]

LAMBD = 0.7


def forward_propagation_with_regularization(X, Y, parameters, lambd=LAMBD):
    m = X.shape[1]
    cross_entropy_cost, cache = forward_propagation_n(X, Y, parameters)
    W1, W2, W3 = parameters["W1"], parameters["W2"], parameters["W3"]
    L2_regularization_cost = lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2))
                                                + np.sum(np.square(W3)))
    cost = cross_entropy_cost + L2_regularization_cost
    return cost, cache


def backward_propagation_with_regularization(X, Y, cache, lambd=LAMBD):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1. / m * np.dot(dZ3, A2.T) + lambd / m * W3
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)

    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1. / m * np.dot(dZ2, A1.T) + lambd / m * W2
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)

    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1. / m * np.dot(dZ1, X.T) + lambd / m * W1
    db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2,
                 "dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1,
                 "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return gradients


SUBJECT = seed_style(
    sys.modules[__name__], name="l2",
    description="the seed network with L2 regularisation (lambd = 0.7)",
    forward="forward_propagation_with_regularization",
    backward="backward_propagation_with_regularization",
    param_names=PARAM_NAMES, n_x=4)
