"""The adapter of net.py: the subject protocol, spelled out.

A subject is a ``mutagrad.subject.Subject``:
- ``backward``: the function under test (the one mutagrad mutates, in memory only);
- ``param_names``: the parameters, in the order the check flattens them;
- ``cost(params, case)``: the trusted forward's cost on the case's data;
- ``gradients(backward, case)``: call a backward (the original or a mutant) and return its
  gradients keyed by parameter name;
- ``make_case(seed, batch, dtype)``: the parameters and data of one case;
- ``forward`` (optional): lets mutagrad refuse to mutate helpers the forward calls.
"""

import net
import numpy as np

from mutagrad.subject import Case, Subject, cast


def make_case(seed, batch, dtype):
    rng = np.random.default_rng(0 if seed is None else seed)
    m = batch or 5
    X = rng.standard_normal((3, m))
    Y = rng.integers(0, 2, size=(1, m))
    return Case(seed, m, dtype, cast(net.initialize(rng), dtype), {"X": X.astype(dtype), "Y": Y})


def cost(params, case):
    return float(net.forward(case.data["X"], case.data["Y"], params)[0])


def gradients(backward, case):
    X, Y = case.data["X"], case.data["Y"]
    _, cache = net.forward(X, Y, case.params)
    grads = backward(X, Y, cache)
    return {name: np.asarray(grads[name]) for name in ("W1", "b1", "W2", "b2")}


SUBJECT = Subject(
    name="twolayer",
    description="examples/twolayer: LINEAR -> RELU -> LINEAR -> SIGMOID",
    backward=net.backward,
    param_names=("W1", "b1", "W2", "b2"),
    cost=cost,
    gradients=gradients,
    make_case=make_case,
    forward=net.forward,
)
