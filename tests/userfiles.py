"""Small user files in the seed's style, for tests that plant one bug in the backward."""

SEED_STYLE = '''
import numpy as np

def init_params(rng):
    return {"W1": rng.standard_normal((2, 3)), "b1": np.zeros((2, 1))}

def forward_propagation_n(X, Y, parameters):
    Z = parameters["W1"] @ X + parameters["b1"]
    return float(np.sum(Z * Z)), (Z, X)

def backward_propagation_n(X, Y, cache):
    Z, X = cache
'''


def with_backward(body: str) -> str:
    """The seed-style file with ``body`` (indented lines) ending its backward."""
    return SEED_STYLE + body
