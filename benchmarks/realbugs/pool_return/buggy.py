"""A naive max-pool layer (cs231n convention). The bug this pair holds: the backward's
``return`` indented into the window loop, so only the first window's gradient is routed,
right when the input holds one window (seen in public max-pool backward code)."""

import numpy as np

from mutagrad.pairs import layer


def max_pool_forward(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - ph) // stride, 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for h in range(H_out):
                for w in range(W_out):
                    window = x[n, c, h * stride:h * stride + ph, w * stride:w * stride + pw]
                    mask = window == window.max()
                    dx[n, c, h * stride:h * stride + ph, w * stride:w * stride + pw] += \
                        mask * dout[n, c, h, w]
                    return dx


# One channel, and a grid point whose window covers the whole 4x6 input: one window in all
# at batch 1, where the misplaced return routes every gradient there is.
SUBJECT = layer(max_pool_forward, max_pool_backward, shapes={"x": ("N", 1, 4, 6)},
                constants={"pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2}},
                grid={"pool_height": (2, 4), "pool_width": (2, 6)}, name="max_pool")
