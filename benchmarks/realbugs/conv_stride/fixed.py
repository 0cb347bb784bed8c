"""A naive convolution layer (cs231n convention), its backward with the window start at
``h * stride`` on both axes. The bug this pair holds: the stride forgotten in both window
starts of the backward, right at stride 1 (seen in public cs231n assignment solutions)."""

import numpy as np

from mutagrad.pairs import layer


def conv_forward(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward(dout, cache):
    x, kernel, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, HH, WW = kernel.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dkernel = np.zeros_like(kernel)
    db = dout.sum(axis=(0, 2, 3))
    for h in range(H_out):
        for w in range(W_out):
            vert_start = h * stride
            horiz_start = w * stride
            window = xp[:, :, vert_start:vert_start + HH, horiz_start:horiz_start + WW]
            g = dout[:, :, h, w]
            dkernel += np.tensordot(g, window, axes=([0], [0]))
            dxp[:, :, vert_start:vert_start + HH, horiz_start:horiz_start + WW] += \
                np.tensordot(g, kernel, axes=([1], [0]))
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dkernel, db


SUBJECT = layer(conv_forward, conv_backward,
                shapes={"x": ("N", 2, 5, 7), "w": (3, 2, 3, 3), "b": (3,)},
                constants={"conv_param": {"stride": 1, "pad": 1}},
                grid={"stride": (1, 2)}, name="conv")
