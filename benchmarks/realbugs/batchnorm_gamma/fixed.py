"""A linear layer, batch normalisation and a sigmoid output, in the seed's style, gamma
initialised to 1 and beta to 0 as everyone does. The bug this pair holds: the gradient
through the normalisation taken from ``dy`` instead of ``gamma * dy``, right while
gamma = 1 (seen in public batchnorm backward code)."""

import numpy as np

EPS = 1e-5


def init_params(rng):
    return {"W1": 0.5 * rng.standard_normal((3, 4)), "gamma": np.ones((3, 1)),
            "beta": np.zeros((3, 1)), "W2": 0.5 * rng.standard_normal((1, 3))}


def forward_propagation_n(X, Y, parameters):
    h = parameters["W1"] @ X
    mu = h.mean(axis=1, keepdims=True)
    var = h.var(axis=1, keepdims=True)
    xhat = (h - mu) / np.sqrt(var + EPS)
    y = parameters["gamma"] * xhat + parameters["beta"]
    a = 1 / (1 + np.exp(-parameters["W2"] @ y))
    m = X.shape[1]
    cost = -np.sum(Y * np.log(a) + (1 - Y) * np.log(1 - a)) / m
    return cost, (X, Y, h, var, xhat, y, a, parameters)


def backward_propagation_n(X, Y, cache):
    X, Y, _, var, xhat, y, a, parameters = cache
    m = X.shape[1]
    dz = (a - Y) / m
    dW2 = dz @ y.T
    dy = parameters["W2"].T @ dz
    dgamma = np.sum(dy * xhat, axis=1, keepdims=True)
    dbeta = np.sum(dy, axis=1, keepdims=True)
    dxhat = parameters["gamma"] * dy
    dh = (dxhat - dxhat.mean(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / np.sqrt(var + EPS)
    dW1 = dh @ X.T
    return {"dW1": dW1, "dgamma": dgamma, "dbeta": dbeta, "dW2": dW2}
