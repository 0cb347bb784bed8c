"""batchnorm: batch normalisation after a linear layer, the classic hard backward.

Z = X W (m examples as rows), then per feature: xhat = (Z - mu) / sqrt(var + eps),
out = gamma * xhat + beta; cost = sum(out * R) for a fixed random projection R (given as
Y). The backward goes through mean and variance: the place for reduction and factor bugs.
At batch size 1 the normalised output is constant, so every bug in the dZ path hides there.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style

N_IN, D = 3, 4
BN_EPS = 1e-5


def init_params(rng):
    return {"W": rng.standard_normal((N_IN, D)), "gamma": 1 + 0.1 * rng.standard_normal((1, D)),
            "beta": 0.1 * rng.standard_normal((1, D))}


def make_inputs(rng, m):
    return rng.standard_normal((m, N_IN)), rng.standard_normal((m, D))


def batchnorm_forward(X, Y, params):
    Z = np.dot(X, params["W"])
    mu = np.mean(Z, axis=0, keepdims=True)
    var = np.var(Z, axis=0, keepdims=True)
    xhat = (Z - mu) / np.sqrt(var + BN_EPS)
    out = params["gamma"] * xhat + params["beta"]
    cost = np.sum(out * Y)
    return cost, (X, Z, xhat, mu, var, params["gamma"])


def batchnorm_backward(X, Y, cache):
    X, Z, xhat, mu, var, gamma = cache
    m = Z.shape[0]
    dout = Y
    dbeta = np.sum(dout, axis=0, keepdims=True)
    dgamma = np.sum(dout * xhat, axis=0, keepdims=True)
    dxhat = dout * gamma
    std_inv = 1. / np.sqrt(var + BN_EPS)
    dvar = np.sum(dxhat * (Z - mu), axis=0, keepdims=True) * -0.5 * std_inv ** 3
    dmu = np.sum(-dxhat * std_inv, axis=0, keepdims=True) + dvar * np.mean(-2. * (Z - mu), axis=0, keepdims=True)
    dZ = dxhat * std_inv + dvar * 2. * (Z - mu) / m + dmu / m
    dW = np.dot(X.T, dZ)
    return {"dW": dW, "dgamma": dgamma, "dbeta": dbeta}


SUBJECT = seed_style(
    sys.modules[__name__], name="batchnorm",
    description="batch normalisation after a linear layer (reduction and factor bugs)",
    forward="batchnorm_forward", backward="batchnorm_backward", params="init_params",
    inputs="make_inputs", param_names=("W", "gamma", "beta"))
