"""conv: a naive convolution forward/backward with stride and padding loops.

Written as the deeplearning.ai exercise writes it (zero_pad, conv_single_step, loops over
i, h, w, c). The cost is sum(Z * R) for a fixed random R; the input activation A_prev is
checked as a parameter too, so dA_prev's bugs count. Cases vary the spatial shape (square
4x4, non-square 3x5), stride (1, 2) and padding (0, 1) with the seed.
"""

import numpy as np

from mutagrad.subject import Case, Params, Subject, cast

F, C_PREV, C = 2, 2, 2
PARAM_NAMES = ("A_prev", "W", "b")


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")


def conv_single_step(a_slice_prev, W, b):
    s = np.multiply(a_slice_prev, W)
    Z = np.sum(s)
    return Z + np.squeeze(b)


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])
    cache = (A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(dZ, cache):
    (A_prev, W, b, hparameters) = cache
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    (m, n_H, n_W, n_C) = dZ.shape
    dA_prev = np.zeros((m, n_H_prev, n_W_prev, n_C_prev))
    dW = np.zeros((f, f, n_C_prev, n_C))
    db = np.zeros((1, 1, 1, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert_start = h * stride
                    vert_end = vert_start + f
                    horiz_start = w * stride
                    horiz_end = horiz_start + f
                    a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                    da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
        dA_prev[i, :, :, :] = da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]
    return dA_prev, dW, db


def _hparameters(seed: int) -> tuple[tuple[int, int], dict[str, int]]:
    """Seed 0, 1, 2, ...: square/non-square alternate, then stride, then padding."""
    spatial = (4, 4) if seed % 2 == 0 else (3, 5)
    return spatial, {"stride": 1 + (seed // 2) % 2, "pad": (seed // 4) % 2}


def make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
    seed = 0 if seed is None else seed
    m = batch or 2
    (n_H_prev, n_W_prev), hp = _hparameters(seed)
    rng = np.random.default_rng(seed)
    params = {"A_prev": rng.standard_normal((m, n_H_prev, n_W_prev, C_PREV)),
              "W": rng.standard_normal((F, F, C_PREV, C)),
              "b": rng.standard_normal((1, 1, 1, C))}
    n_H = (n_H_prev - F + 2 * hp["pad"]) // hp["stride"] + 1
    n_W = (n_W_prev - F + 2 * hp["pad"]) // hp["stride"] + 1
    R = rng.standard_normal((m, n_H, n_W, C))
    shape = f"{n_H_prev}x{n_W_prev} stride {hp['stride']} pad {hp['pad']}"
    return Case(seed, m, dtype, cast(params, dtype), {"R": R.astype(dtype), "hparameters": hp},
                shape)


def cost(params: Params, case: Case) -> float:
    Z, _ = conv_forward(params["A_prev"], params["W"], params["b"], case.data["hparameters"])
    return np.sum(Z * case.data["R"]).item()


def gradients(backward, case: Case) -> Params:
    p = case.params
    _, cache = conv_forward(p["A_prev"], p["W"], p["b"], case.data["hparameters"])
    dA_prev, dW, db = backward(case.data["R"], cache)
    return {"A_prev": np.asarray(dA_prev), "W": np.asarray(dW), "b": np.asarray(db)}


SUBJECT = Subject(
    name="conv", description="a naive convolution with stride and padding loops",
    backward=conv_backward, param_names=PARAM_NAMES, cost=cost, gradients=gradients,
    make_case=make_case, default_batch=2, forward=conv_forward)
