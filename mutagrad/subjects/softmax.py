"""softmax: softmax regression with cross-entropy over k classes.

Z = W X + b, A = softmax(Z) over the classes (axis 0), cost = -1/m sum(Y * log A) with Y
one-hot (k, m). k = 4 classes and n = 3 features, so W is not square and an axis or
broadcasting slip shows as a wrong gradient or a wrong shape.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style

K, N = 4, 3


def init_params(rng):
    return {"W": rng.standard_normal((K, N)) * 0.5, "b": rng.standard_normal((K, 1)) * 0.1}


def make_inputs(rng, m):
    X = rng.standard_normal((N, m))
    labels = rng.integers(0, K, size=m)
    Y = np.eye(K)[:, labels]
    return X, Y


def softmax(Z):
    shifted = Z - np.max(Z, axis=0, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=0, keepdims=True)


def forward(X, Y, params):
    m = X.shape[1]
    Z = np.dot(params["W"], X) + params["b"]
    A = softmax(Z)
    cost = -1. / m * np.sum(Y * np.log(A))
    return cost, (X, A)


def backward(X, Y, cache):
    X, A = cache
    m = X.shape[1]
    dZ = A - Y
    dW = 1. / m * np.dot(dZ, X.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    return {"dW": dW, "db": db}


SUBJECT = seed_style(
    sys.modules[__name__], name="softmax",
    description="softmax regression, cross-entropy over 4 classes (axis and broadcasting bugs)",
    forward="forward", backward="backward", params="init_params", inputs="make_inputs",
    param_names=("W", "b"))
