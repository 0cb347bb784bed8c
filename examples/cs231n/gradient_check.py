"""A cs231n-style gradient_check.py beside layers.py, as in the assignments (written in the
course's way: perturb x in place, one entry at a time, centered differences of
sum(f(x) * df)). README: ``--check gradient_check.eval_numerical_gradient_array``."""

import numpy as np


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        up = f(x)
        x[ix] = old - h
        down = f(x)
        x[ix] = old
        grad[ix] = (up - down) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def loose_error(x, y):
    """A user's own comparison: the largest absolute gap (no relative scale)."""
    return np.max(np.abs(x - y))
