"""A vanilla RNN over a whole sequence (cs231n convention). The bug this pair holds: the
backward through time never adds the gradient carried from the next step, ``dprev_h``,
to the step's own, so it is right only for a sequence of length 1 (seen in public
char-RNN and BPTT code)."""

import numpy as np

from mutagrad.pairs import layer


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t, :] @ Wx + prev @ Wh + b)
        h[:, t, :] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, h = cache
    T = x.shape[1]
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dprev_h = np.zeros_like(h0)
    for t in reversed(range(T)):
        prev = h[:, t - 1, :] if t > 0 else h0
        dh_t = dh[:, t, :]
        da = dh_t * (1 - h[:, t, :] ** 2)
        dx[:, t, :] = da @ Wx.T
        dWx += x[:, t, :].T @ da
        dWh += prev.T @ da
        db += da.sum(axis=0)
        dprev_h = da @ Wh.T
    return dx, dprev_h, dWx, dWh, db


SUBJECT = layer(rnn_forward, rnn_backward,
                shapes={"x": ("N", 3, 4), "h0": ("N", 2), "Wx": (4, 2), "Wh": (2, 2),
                        "b": (2,)}, name="rnn")
