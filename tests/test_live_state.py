"""Mutants see the module's live state: parameters kept in module globals and set per case
by the adapter (the char-RNN's style) are read at call time, never from a snapshot."""

import textwrap

import numpy as np

from mutagrad import analysis, campaign, mutation
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec
from mutagrad.values import Settings

ADAPTER = '''
from mutagrad.subject import Case, Subject, cast


def _make_case(seed, batch, dtype):
    rng = np.random.default_rng(seed or 0)
    params = cast({"W": rng.standard_normal((3, 4))}, dtype)
    return Case(seed, 1, dtype, params, {"x": rng.standard_normal(4), "r": rng.standard_normal(3)})
'''

GLOBAL = textwrap.dedent('''
    import numpy as np

    W = None


    def loss_and_grad(x, r):
        a = W @ x
        loss = np.sum(r * a)
        dW = np.outer(r, x)
        return loss, dW
    ''') + ADAPTER + textwrap.dedent('''

    def _cost(params, case):
        global W
        W = params["W"]
        return float(loss_and_grad(case.data["x"], case.data["r"])[0])


    def _gradients(backward, case):
        global W
        W = case.params["W"]
        return {"W": backward(case.data["x"], case.data["r"])[1]}


    SUBJECT = Subject("global", "W in a module global", loss_and_grad, ("W",), _cost,
                      _gradients, _make_case, batched=False)
    ''')

EXPLICIT = textwrap.dedent('''
    import numpy as np


    def loss_and_grad(x, r, W):
        a = W @ x
        loss = np.sum(r * a)
        dW = np.outer(r, x)
        return loss, dW
    ''') + ADAPTER + textwrap.dedent('''

    def _cost(params, case):
        return float(loss_and_grad(case.data["x"], case.data["r"], params["W"])[0])


    def _gradients(backward, case):
        return {"W": backward(case.data["x"], case.data["r"], case.params["W"])[1]}


    SUBJECT = Subject("explicit", "W passed in", loss_and_grad, ("W",), _cost,
                      _gradients, _make_case, batched=False)
    ''')


def _statuses(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    store = Store(f"sqlite:///{tmp_path / (name + '.db')}")
    cid = campaign.start(store, parse_spec(str(path)), Settings(cases=3, jobs=1))
    first = source.splitlines().index("def loss_and_grad" + source.split("def loss_and_grad")[1]
                                      .splitlines()[0]) + 1
    return {(v.mutant.line - first, v.mutant.operator, v.mutant.original,
             v.mutant.replacement): v.status for v in analysis.report(store, cid).verdicts}


def test_module_globals_give_the_verdicts_of_explicit_parameters(tmp_path):
    on_globals = _statuses(tmp_path, "global", GLOBAL)
    explicit = _statuses(tmp_path, "explicit", EXPLICIT)
    # the same mutants (those that do not involve the W argument), the same verdicts
    common = on_globals.keys() & explicit.keys()
    assert len(common) >= 10
    assert {k: on_globals[k] for k in common} == {k: explicit[k] for k in common}
    loss_line = [status for (line, *_), status in on_globals.items() if line == 2]
    # the loss is not the gradient: changing it is no bug of the gradient
    assert loss_line.count("equivalent") >= 3 and "detected" not in loss_line
    assert "detected" in on_globals.values()


def test_a_mutant_reads_the_global_at_call_time_and_leaks_nothing(tmp_path):
    path = tmp_path / "global.py"
    path.write_text(GLOBAL.replace("        dW = np.outer(r, x)\n",
                                   "        dW = np.outer(r, x)\n        global W\n"
                                   "        W = None\n"))
    subject = load(parse_spec(str(path)))
    module = subject.backward.__globals__
    [negated] = [m for m in mutation.mutants_of(subject)
                 if m.operator == "negate-result" and m.original == "np.outer(r, x)"]
    backward = mutation.mutant_backward(subject, negated)
    x, r = np.ones(4), np.arange(3.0)
    for W in (np.ones((3, 4)), np.full((3, 4), 2.0)):
        module["W"] = W
        loss, dW = backward(x, r)
        assert loss == np.sum(r * (W @ x))  # the W set just now, not a snapshot
        assert np.array_equal(dW, -np.outer(r, x))
        assert module["W"] is W  # its `W = None` stayed in the mutant's own namespace
