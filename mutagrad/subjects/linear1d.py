"""linear1d: the seed's 1-D case, J(theta) = theta * x, dJ/dtheta = x.

The two functions are the exercise's ``forward_propagation`` / ``backward_propagation``.
"""

import numpy as np

from mutagrad.subject import Case, Params, Subject, cast


def forward_propagation(x, theta):
    J = theta * x
    return J


def backward_propagation(x, theta):
    dtheta = x
    return dtheta


def _cost(params: Params, case: Case) -> float:
    return np.asarray(forward_propagation(case.data["x"], params["theta"])).item()


def _gradients(backward, case: Case) -> Params:
    return {"theta": np.asarray(backward(case.data["x"], case.params["theta"]))}


def _make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
    if seed is None:  # the exercise's values
        x, theta = 2.0, 4.0
    else:
        rng = np.random.default_rng(seed)
        x, theta = rng.standard_normal(2)
    params = cast({"theta": np.array(theta)}, dtype)
    return Case(seed, 1, dtype, params, {"x": np.asarray(x, dtype=dtype)})


SUBJECT = Subject(
    name="linear1d",
    description="the seed's 1-D case J(theta) = theta * x (x = 2, theta = 4)",
    backward=backward_propagation,
    param_names=("theta",),
    cost=_cost,
    gradients=_gradients,
    make_case=_make_case,
    batched=False,
    default_batch=1,
    forward=forward_propagation,
)
