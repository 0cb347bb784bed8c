"""A function under test that returns the cost with its gradients (word2vec's
``costAndGradient``, the char-RNN's ``lossFun``): a mutant of the cost line is checked
against the numerical gradient of its own cost, as the user's own check would be."""

import textwrap

import numpy as np

from mutagrad import analysis, campaign
from mutagrad.store import Store
from mutagrad.subjects import parse_spec
from mutagrad.values import OWN_COST_NOTE, Settings

COMBINED = textwrap.dedent('''
    import numpy as np

    from mutagrad.subject import Case, Subject, cast


    def cost_and_gradient(W, x, r):
        a = W @ x
        cost = np.sum(r * np.tanh(a))
        dW = np.outer(r * (1 - np.tanh(a) ** 2), x)
        return cost, dW


    def _make_case(seed, batch, dtype):
        rng = np.random.default_rng(seed or 0)
        return Case(seed, 1, dtype, cast({"W": rng.standard_normal((3, 4))}, dtype),
                    {"x": rng.standard_normal(4), "r": rng.standard_normal(3)})


    SUBJECT = Subject(
        "combined", "cost and gradient in one function", cost_and_gradient, ("W",),
        cost=lambda p, c: float(cost_and_gradient(p["W"], c.data["x"], c.data["r"])[0]),
        gradients=lambda b, c: {"W": b(c.params["W"], c.data["x"], c.data["r"])[1]},
        make_case=_make_case, batched=False,
        own_cost=lambda b, p, c: float(b(p["W"], c.data["x"], c.data["r"])[0]))
    ''')


def test_cost_line_mutants_are_checked_against_their_own_cost(tmp_path):
    path = tmp_path / "w2v.py"
    path.write_text(COMBINED)
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    cid = campaign.start(store, parse_spec(str(path)), Settings(cases=2, jobs=1))
    report = analysis.report(store, cid)
    cost_line = [v for v in report.verdicts if v.mutant.line == 9]
    assert len(cost_line) >= 3
    trials = {t.mutant_id: t for t in store.trials(cid)}
    changed = [v for v in cost_line
               if OWN_COST_NOTE in (trials[v.mutant.mutant_id].note or "")]
    assert len(changed) >= 3  # -sum, mean, * 2, ...: each changes the returned cost
    for v in changed:
        # the gradient is unchanged, the cost is not: a real bug, caught as a user's check
        # on (cost, gradient) catches it (the shared reference called these "equivalent")
        assert v.status == "detected", (v.mutant.replacement, v.status)
    for v in cost_line:
        if v not in changed:  # x.T on a vector: the cost is the same, truly equivalent
            assert v.status in ("equivalent", "crashed", "shape"), v.mutant.replacement
    # the independent computation: negating the cost flips its numerical gradient, so the
    # seed's difference between the unchanged analytic dW and it is exactly 1
    negated = next(v for v in cost_line if v.mutant.operator == "negate-result")
    diffs = [t.difference for t in store.trials(cid, negated.mutant.mutant_id)]
    assert all(abs(d - 1.0) < 1e-6 for d in diffs)
    # a mutant of the gradient line keeps the shared numerical gradient (no note)
    grad_line = [v for v in report.verdicts if v.mutant.line == 10 and v.status == "detected"]
    assert grad_line
    assert all(OWN_COST_NOTE not in (t.note or "")
               for v in grad_line for t in store.trials(cid, v.mutant.mutant_id))
    assert np.isfinite(report.total.rate or 0.0)
