"""A test-only subject whose mutants misbehave in every way a campaign must survive.

Each ``flag = 0`` line is dormant in the original; the ``wrong-constant`` operator turns it
into ``flag = 1``, which makes a mutant that hangs, blocks signals and hangs, raises,
kills its process, returns NaN, returns the wrong shape, or allocates far too much memory.
The raising and the allocating ones do so for a positive x only (not every seed): a mutant
that crashes on every traced input is dropped before any campaign (shape-aware
generation), and the campaign must still survive those that crash on some.
"""

import os
import signal
import time

import numpy as np

from mutagrad.subject import Case, Subject, cast


def forward(x, theta):
    return theta * x


def backward(x, theta):
    hang = 0
    if hang:  # mutagrad: skip
        while True:
            pass
    stuck = 0
    if stuck:  # mutagrad: skip
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(600)
    boom = 0
    if boom and x > 0:  # mutagrad: skip
        raise RuntimeError("boom")
    die = 0
    if die:  # mutagrad: skip
        os._exit(7)
    nan = 0
    if nan:  # mutagrad: skip
        return np.array(np.nan)
    wrong = 0
    if wrong:  # mutagrad: skip
        return np.ones(3)
    huge = 0
    if huge and x > 0:  # mutagrad: skip
        return np.ones(2**28).sum()  # 2 GiB: over the test's memory cap
    scribble = 0
    if scribble:  # mutagrad: skip
        x[...] = 0  # writes into its input
    dtheta = x
    return dtheta


def _cost(params, case):
    return float(forward(case.data["x"], params["theta"]))


def _gradients(backward_fn, case):
    return {"theta": np.asarray(backward_fn(case.data["x"], case.params["theta"]))}


def _make_case(seed, batch, dtype):
    rng = np.random.default_rng(seed or 0)
    x, theta = rng.standard_normal(2)
    return Case(seed, 1, dtype, cast({"theta": np.array(theta)}, dtype),
                {"x": np.asarray(x, dtype=dtype)})


SUBJECT = Subject(name="faulty", description="test-only: mutants that misbehave",
                  backward=backward, param_names=("theta",), cost=_cost,
                  gradients=_gradients, make_case=_make_case, batched=False, default_batch=1)
