"""A two-layer network in the seed's style: LINEAR -> RELU -> LINEAR -> SIGMOID.

Plain numpy, nothing of mutagrad: this is "your" code. Its adapter, net_mutagrad.py, tells
mutagrad how to call it; mutagrad finds it beside this file and never writes either file.
"""

import numpy as np


def relu(Z):
    return np.maximum(0, Z)


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def initialize(rng, n_x=3, n_h=4):
    return {"W1": rng.standard_normal((n_h, n_x)) * 0.5, "b1": np.zeros((n_h, 1)),
            "W2": rng.standard_normal((1, n_h)) * 0.5, "b2": np.zeros((1, 1))}


def forward(X, Y, params):
    m = X.shape[1]
    Z1 = params["W1"] @ X + params["b1"]
    A1 = relu(Z1)
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = sigmoid(Z2)
    cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
    return cost, (X, Z1, A1, A2, params)


def relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def backward(X, Y, cache):
    X, Z1, A1, A2, params = cache
    m = X.shape[1]
    dZ2 = A2 - Y
    grads = {"W2": dZ2 @ A1.T / m, "b2": np.sum(dZ2, axis=1, keepdims=True) / m}
    dA1 = params["W2"].T @ dZ2
    dZ1 = relu_backward(dA1, Z1)
    grads["W1"] = dZ1 @ X.T / m
    grads["b1"] = np.sum(dZ1, axis=1, keepdims=True) / m
    return grads
