"""A spiking unit trained with a sigmoid-shaped surrogate gradient, in the seed's style: the
forward is the smooth sigmoid(k z) of the membrane potential z = W1 X, the backward its
derivative k e / (1 + e)^2 with e = exp(-k |z|), even in z. The bug this pair holds:
``e = exp(-k z)`` without the abs, which overflows to inf for large negative k z in
float32 and makes the gradient inf / inf = NaN; right in float64 (seen in public
spiking-network surrogate-gradient code)."""

import numpy as np

SLOPE = 25.0  # k: the surrogate's steepness, a common default


def init_params(rng):
    return {"W1": 0.3 * rng.standard_normal((1, 4))}


def forward_propagation_n(X, Y, parameters):
    z = parameters["W1"] @ X
    a = 0.5 * (1 + np.tanh(SLOPE * z / 2))
    cost = np.sum((a - Y) ** 2) / X.shape[1]
    return cost, (X, Y, z, a)


def backward_propagation_n(X, Y, cache):
    X, Y, z, a = cache
    da = 2 * (a - Y) / X.shape[1]
    e = np.exp(-SLOPE * z)
    dz = da * SLOPE * e / (1 + e) ** 2
    return {"dW1": dz @ X.T}
