"""A test-only subject whose backward takes 20 ms: a campaign on it lasts long enough to be
interrupted, or to lose a Dask worker, mid-chunk."""

import time

import numpy as np

from mutagrad.subject import Case, Subject, cast


def forward(x, theta):
    return np.sum(theta * theta * x)


def backward(x, theta):
    time.sleep(0.02)  # mutagrad: skip
    dtheta = 2.0 * theta * x
    return dtheta


def _cost(params, case):
    return float(forward(case.data["x"], params["theta"]))


def _gradients(backward_fn, case):
    return {"theta": np.asarray(backward_fn(case.data["x"], case.params["theta"]))}


def _make_case(seed, batch, dtype):
    rng = np.random.default_rng(seed or 0)
    return Case(seed, 1, dtype, cast({"theta": rng.standard_normal(3)}, dtype),
                {"x": rng.standard_normal(3).astype(dtype)})


SUBJECT = Subject(name="slow", description="test-only: a backward that takes 20 ms",
                  backward=backward, param_names=("theta",), cost=_cost,
                  gradients=_gradients, make_case=_make_case, batched=False, default_batch=1)
