"""pool: max pooling and average pooling, forward/backward with loops.

Written as the deeplearning.ai exercise writes it (create_mask_from_window,
distribute_value, pool_backward). The cost is sum(A * R) for a fixed random R; the
gradient is the input's, dA_prev. Cases alternate square (4x4) and non-square (4x6)
inputs, max and average mode, stride 1 and 2; seeds 8 to 15 repeat values, so max pooling
meets ties (kinks), where the check itself is wrong and the trial says so.
"""

import numpy as np

from mutagrad.subject import Case, Params, Subject, cast

F, C = 2, 2


def pool_forward(A_prev, hparameters, mode="max"):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    f = hparameters["f"]
    stride = hparameters["stride"]
    n_H = int(1 + (n_H_prev - f) / stride)
    n_W = int(1 + (n_W_prev - f) / stride)
    n_C = n_C_prev
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    if mode == "max":
                        A[i, h, w, c] = np.max(a_prev_slice)
                    elif mode == "average":
                        A[i, h, w, c] = np.mean(a_prev_slice)
    cache = (A_prev, hparameters)
    return A, cache


def create_mask_from_window(x):
    mask = x == np.max(x)
    return mask


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    average = dz / (n_H * n_W)
    a = np.ones(shape) * average
    return a


def pool_backward(dA, cache, mode="max"):
    (A_prev, hparameters) = cache
    stride = hparameters["stride"]
    f = hparameters["f"]
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        a_prev = A_prev[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert_start = h * stride
                    vert_end = vert_start + f
                    horiz_start = w * stride
                    horiz_end = horiz_start + f
                    if mode == "max":
                        a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]
                        mask = create_mask_from_window(a_prev_slice)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += mask * dA[i, h, w, c]
                    elif mode == "average":
                        da = dA[i, h, w, c]
                        shape = (f, f)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += distribute_value(da, shape)
    return dA_prev


def _hparameters(seed: int) -> tuple[tuple[int, int], dict[str, int], str]:
    """Seed 0, 1, 2, ...: square/non-square alternate, then the mode, then the stride."""
    spatial = (4, 4) if seed % 2 == 0 else (4, 6)
    mode = "max" if (seed // 2) % 2 == 0 else "average"
    return spatial, {"f": F, "stride": 1 + (seed // 4) % 2}, mode


def make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
    seed = 0 if seed is None else seed
    m = batch or 2
    (n_H_prev, n_W_prev), hp, mode = _hparameters(seed)
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, C))
    repeated = (seed // 8) % 2 == 1
    if repeated:  # few distinct values: max ties inside windows, the kink of max pooling
        A_prev = np.round(A_prev)
    n_H = (n_H_prev - F) // hp["stride"] + 1
    n_W = (n_W_prev - F) // hp["stride"] + 1
    R = rng.standard_normal((m, n_H, n_W, C))
    shape = f"{n_H_prev}x{n_W_prev} {mode} stride {hp['stride']}" + (" repeated" if repeated else "")
    return Case(seed, m, dtype, cast({"A_prev": A_prev}, dtype),
                {"R": R.astype(dtype), "hparameters": hp, "mode": mode}, shape)


def cost(params: Params, case: Case) -> float:
    A, _ = pool_forward(params["A_prev"], case.data["hparameters"], case.data["mode"])
    return np.sum(A * case.data["R"]).item()


def gradients(backward, case: Case) -> Params:
    _, cache = pool_forward(case.params["A_prev"], case.data["hparameters"], case.data["mode"])
    return {"A_prev": np.asarray(backward(case.data["R"], cache, case.data["mode"]))}


SUBJECT = Subject(
    name="pool", description="max and average pooling with loops (square inputs hide bugs)",
    backward=pool_backward, param_names=("A_prev",), cost=cost, gradients=gradients,
    make_case=make_case, default_batch=2, forward=pool_forward)
