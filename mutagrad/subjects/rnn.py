"""rnn: a vanilla RNN over T steps with backpropagation through time.

a_t = tanh(Wax x_t + Waa a_{t-1} + ba), y_t = Wya a_t + by, cost = sum_t sum(y_t * R_t) / m
for a fixed projection R (given as Y). The backward accumulates over time in reverse: the
place for accumulation bugs and a wrong time index. Waa is square: a missing transpose
there does not crash.
"""

import sys

import numpy as np

from mutagrad.seedstyle import seed_style

N_X, N_A, N_Y, T = 3, 5, 2, 4


def init_params(rng):
    return {"Wax": 0.5 * rng.standard_normal((N_A, N_X)),
            "Waa": 0.5 * rng.standard_normal((N_A, N_A)),
            "ba": 0.1 * rng.standard_normal((N_A, 1)),
            "Wya": 0.5 * rng.standard_normal((N_Y, N_A)),
            "by": 0.1 * rng.standard_normal((N_Y, 1))}


def make_inputs(rng, m):
    return rng.standard_normal((N_X, m, T)), rng.standard_normal((N_Y, m, T))


def rnn_forward(X, Y, params):
    m = X.shape[1]
    a = np.zeros((N_A, m))
    states = [a]
    cost = 0.
    for t in range(X.shape[2]):
        a = np.tanh(np.dot(params["Wax"], X[:, :, t]) + np.dot(params["Waa"], a) + params["ba"])
        y = np.dot(params["Wya"], a) + params["by"]
        cost += np.sum(y * Y[:, :, t]) / m
        states.append(a)
    return cost, (X, states, params)


def rnn_backward(X, Y, cache):
    X, states, params = cache
    m = X.shape[1]
    grads = {k: np.zeros_like(v) for k, v in (("dWax", params["Wax"]), ("dWaa", params["Waa"]),
                                              ("dba", params["ba"]), ("dWya", params["Wya"]),
                                              ("dby", params["by"]))}
    da_next = np.zeros((N_A, m))
    for t in reversed(range(X.shape[2])):
        a, a_prev = states[t + 1], states[t]
        dy = Y[:, :, t] / m
        grads["dWya"] += np.dot(dy, a.T)
        grads["dby"] += np.sum(dy, axis=1, keepdims=True)
        da = np.dot(params["Wya"].T, dy) + da_next
        dz = (1 - a ** 2) * da
        grads["dWax"] += np.dot(dz, X[:, :, t].T)
        grads["dWaa"] += np.dot(dz, a_prev.T)
        grads["dba"] += np.sum(dz, axis=1, keepdims=True)
        da_next = np.dot(params["Waa"].T, dz)
    return grads


SUBJECT = seed_style(
    sys.modules[__name__], name="rnn",
    description="a vanilla RNN over 4 steps with backpropagation through time",
    forward="rnn_forward", backward="rnn_backward", params="init_params", inputs="make_inputs",
    param_names=("Wax", "Waa", "ba", "Wya", "by"))
