"""One LSTM step (cs231n convention), the gates' pre-activations kept in the cache. The bug
this pair holds: the forget gate's gradient multiplied by the gate itself, ``sigmoid(a_f)``,
instead of its derivative (seen in public LSTM backward code)."""

import numpy as np

from mutagrad.pairs import layer


def sigmoid(a):
    return 0.5 * (1 + np.tanh(a / 2))


def dsigmoid(a):
    s = sigmoid(a)
    return s * (1 - s)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    a = x @ Wx + prev_h @ Wh + b
    a_i, a_f, a_o, a_g = np.split(a, 4, axis=1)
    i, f, o, g = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o), np.tanh(a_g)
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, a_i, a_f, a_o, a_g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, a_i, a_f, a_o, a_g, next_c = cache
    i, o, g = sigmoid(a_i), sigmoid(a_o), np.tanh(a_g)
    tanh_c = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    da_i = dc * g * dsigmoid(a_i)
    da_f = dc * prev_c * sigmoid(a_f)
    da_o = dnext_h * tanh_c * dsigmoid(a_o)
    da_g = dc * i * (1 - g ** 2)
    da = np.hstack((da_i, da_f, da_o, da_g))
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = dc * sigmoid(a_f)
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


SUBJECT = layer(lstm_step_forward, lstm_step_backward,
                shapes={"x": ("N", 3), "prev_h": ("N", 2), "prev_c": ("N", 2),
                        "Wx": (3, 8), "Wh": (2, 8), "b": (8,)}, name="lstm_step")
