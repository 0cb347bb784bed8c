"""deep: an L-layer network with the layer loop written the usual way.

[LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID, layer sizes 5, 4, 3, 2, 1 (all different),
caches in a list, gradients in grads["dW" + str(l)]: the place for off-by-one layer and
cache-index bugs.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style

LAYER_DIMS = (5, 4, 3, 2, 1)


def init_params(rng):
    parameters = {}
    for l in range(1, len(LAYER_DIMS)):
        parameters["W" + str(l)] = rng.standard_normal((LAYER_DIMS[l], LAYER_DIMS[l - 1])) * 0.8
        parameters["b" + str(l)] = rng.standard_normal((LAYER_DIMS[l], 1)) * 0.1
    return parameters


def L_model_forward(X, Y, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        Z = np.dot(parameters["W" + str(l)], A_prev) + parameters["b" + str(l)]
        A = np.maximum(0, Z)
        caches.append((A_prev, parameters["W" + str(l)], Z))
    ZL = np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)]
    AL = 1 / (1 + np.exp(-ZL))
    caches.append((A, parameters["W" + str(L)], ZL))
    m = Y.shape[1]
    cost = -1. / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    return cost, (AL, caches)


def L_model_backward(X, Y, cache):
    AL, caches = cache
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    dZ = AL - Y
    A_prev, W, Z = caches[L - 1]
    grads["dW" + str(L)] = 1. / m * np.dot(dZ, A_prev.T)
    grads["db" + str(L)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    for l in reversed(range(L - 1)):
        A_prev, W, Z = caches[l]
        dZ = dA_prev * (Z > 0)
        grads["dW" + str(l + 1)] = 1. / m * np.dot(dZ, A_prev.T)
        grads["db" + str(l + 1)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        dA_prev = np.dot(W.T, dZ)
    return grads


SUBJECT = seed_style(
    sys.modules[__name__], name="deep",
    description="an L-layer network (5-4-3-2-1) with the usual layer loop (off-by-one bugs)",
    forward="L_model_forward", backward="L_model_backward", params="init_params",
    param_names=("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"), n_x=5)
