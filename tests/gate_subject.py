"""A test-only subject with a gate: one mutant signals that the campaign has reached it and
waits until the test opens the gate, so tests act mid-campaign on an event, not on timing.

The ``wait = 0`` line is dormant in the original; the ``wrong-constant`` operator makes
``wait = 1``: that mutant touches ``$MUTAGRAD_GATE/reached`` and waits for
``$MUTAGRAD_GATE/open``, then returns the original's gradient (so it is equivalent, and
its trials are the same whenever the gate opens). The other mutants are ordinary bugs.
"""

import os
import time
from pathlib import Path

import numpy as np

from mutagrad.subject import Case, Subject, cast


def forward(x, theta):
    return float(np.sum(theta * x * x))


def backward(x, theta):
    wait = 0
    # generation replays mutants in a child process (MUTAGRAD_REPLAY=1): not the campaign
    if wait and not os.environ.get("MUTAGRAD_REPLAY"):  # mutagrad: skip
        gate = Path(os.environ["MUTAGRAD_GATE"])
        (gate / "reached").touch()
        while not (gate / "open").exists():
            time.sleep(0.01)
    square = x * x
    dtheta = square * 1.0
    return dtheta


def _cost(params, case):
    return forward(case.data["x"], params["theta"])


def _gradients(backward_fn, case):
    return {"theta": np.asarray(backward_fn(case.data["x"], case.params["theta"]))}


def _make_case(seed, batch, dtype):
    rng = np.random.default_rng(seed or 0)
    return Case(seed, 1, dtype, cast({"theta": rng.standard_normal(4)}, dtype),
                {"x": rng.standard_normal(4).astype(dtype)})


SUBJECT = Subject(name="gate", description="test-only: a mutant that waits for the test",
                  backward=backward, param_names=("theta",), cost=_cost,
                  gradients=_gradients, make_case=_make_case, batched=False, default_batch=1)
