"""Methods as the code under test: ``Class.method`` mutants, made in memory, set on their class
for one evaluation only, restored after, with ids as stable as functions'."""

import dataclasses
import textwrap

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, mutation
from mutagrad.errors import InvalidInput
from mutagrad.mutation.engine import compile_functions, find_mutants
from mutagrad.mutation.methods import installed
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec
from mutagrad.trial import evaluate
from mutagrad.values import Settings

# The simplest layer, as a new user writes it, with the adapter the issue tried.
DENSE = textwrap.dedent('''
    import numpy as np


    class Base:
        def scale(self):
            return 1.0


    class Dense(Base):
        def __init__(self, W, b):
            self.W, self.b = W, b

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, dout):
            self.dW = self.x.T @ dout * super().scale()
            self.db = dout.sum(axis=0)
            return dout @ self.W.T
''')

ADAPTER = textwrap.dedent('''
    import numpy as np
    from mutagrad.subject import Case, Subject, cast
    from dense import Dense


    def _case(seed, batch, dtype):
        rng = np.random.default_rng(seed or 0)
        params = cast({"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}, dtype)
        m = batch or 2
        return Case(seed, m, dtype, params, {"x": rng.standard_normal((m, 4)),
                                            "dout": rng.standard_normal((m, 3))})


    def _cost(p, case):
        return float(np.sum(Dense(p["W"], p["b"]).forward(case.data["x"]) * case.data["dout"]))


    def _gradients(backward, case):
        layer = Dense(case.params["W"], case.params["b"])
        layer.forward(case.data["x"])
        layer.backward(case.data["dout"])  # through the class, as user code does
        return {"W": layer.dW, "b": layer.db}


    SUBJECT = Subject(name="dense", description="a class", backward=Dense.backward,
                      param_names=("W", "b"), cost=_cost, gradients=_gradients,
                      make_case=_case, forward=Dense.forward)
''')


@pytest.fixture
def dense_dir(tmp_path, monkeypatch):
    (tmp_path / "dense.py").write_text(DENSE)
    (tmp_path / "dense_mutagrad.py").write_text(ADAPTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_methods_are_found_by_their_qualified_name():
    mutants = find_mutants(DENSE, ["Dense.backward"], "dense.py")
    assert mutants and {m.function for m in mutants} == {"Dense.backward"}
    assert all(m.function_source.count("\n") >= m.line - 1 for m in mutants)
    with pytest.raises(InvalidInput, match=r"no method Dense.forwardd .*Dense.backward"):
        find_mutants(DENSE, ["Dense.forwardd"], "dense.py")


def test_method_ids_are_stable_and_name_their_class():
    ids = [m.id for m in find_mutants(DENSE, ["Dense.backward"], "dense.py")]
    moved = "# a comment\n\nclass Other:\n    pass\n" + DENSE.replace("    def __init__",
                                                                        "    x = 1\n\n    def __init__")
    assert [m.id for m in find_mutants(moved, ["Dense.backward"], "dense.py")] == ids
    # the same method body in another class makes other ids: no collision in a model
    twin = DENSE + textwrap.dedent(DENSE[DENSE.index("class Dense"):]).replace(
        "class Dense(Base)", "class Twin(Base)")
    twin_ids = [m.id for m in find_mutants(twin, ["Twin.backward"], "dense.py")]
    assert len(twin_ids) == len(ids) and not set(twin_ids) & set(ids)


def test_a_mutated_method_compiles_alone_and_keeps_super(dense_dir):
    subject = load(parse_spec(str(dense_dir / "dense.py")))
    mutant = next(m for m in mutation.mutants_of(subject)
                  if m.original == "dout.sum(axis=0)" and m.replacement.endswith("* 2"))
    compiled = compile_functions(mutant.function_source, ["Dense.backward"], {}, "<m>")
    assert compiled["Dense.backward"].__qualname__ == "Dense.backward"
    backward = mutation.mutant_backward(subject, mutant)
    module_dense = subject.backward.__globals__["Dense"]
    layer = module_dense(np.eye(2), np.zeros(2))
    layer.forward(np.array([[1.0, 2.0]]))
    dx = backward(layer, np.array([[3.0, 4.0]]))  # called directly: super() still resolves
    assert layer.db.tolist() == [6.0, 8.0]          # the mutant's db: 2 * sum
    assert layer.dW.tolist() == [[3.0, 4.0], [6.0, 8.0]]
    assert dx.tolist() == [[3.0, 4.0]]


def test_a_mutant_is_on_the_class_for_the_evaluation_only(dense_dir):
    subject = load(parse_spec(str(dense_dir / "dense.py")))
    Dense = subject.backward.__globals__["Dense"]
    original = Dense.__dict__["backward"]
    mutant = next(m for m in mutation.mutants_of(subject)
                  if m.original == "dout.sum(axis=0)" and m.replacement.endswith("* 2"))
    backward = mutation.mutant_backward(subject, mutant)
    seen = []
    with installed(backward):
        seen.append(Dense.__dict__["backward"])
    assert seen[0] is not original and Dense.__dict__["backward"] is original
    with pytest.raises(RuntimeError), installed(backward):
        raise RuntimeError("the evaluation raised")
    assert Dense.__dict__["backward"] is original
    # the original, called by the user after all this, is the original
    layer = Dense(np.eye(2), np.zeros(2))
    layer.forward(np.ones((1, 2)))
    layer.backward(np.array([[3.0, 4.0]]))
    assert layer.db.tolist() == [3.0, 4.0]


def test_the_issue_adapter_mutates_and_runs(dense_dir, capsys, monkeypatch, tmp_path):
    """The issue's report: mutants and run failed with 'no top-level function backward'."""
    monkeypatch.chdir(dense_dir)
    before = (dense_dir / "dense.py").read_bytes()
    listed = run_cli(capsys, "mutants", "dense.py")
    assert listed.code == 0 and "Dense.backward" in listed.out
    subject = load(parse_spec(str(dense_dir / "dense.py")))
    case = subject.case(1, 3)
    [data] = campaign.prepare(subject, [case], Settings())
    x, dout = case.data["x"], case.data["dout"]
    by_hand = np.concatenate([(x.T @ dout).ravel(), dout.sum(axis=0)])  # dW, db
    data = dataclasses.replace(data, original=by_hand)
    doubled = next(m for m in mutation.mutants_of(subject)
                   if m.original == "dout.sum(axis=0)" and m.replacement.endswith("* 2"))
    [trial] = evaluate(subject, mutation.mutant_backward(subject, doubled), doubled.id,
                       [data], {"centered": 1e-7}, None)
    assert trial.outcome == "detected" and trial.true_error > 0.1
    [same] = evaluate(subject, subject.backward, "original", [data], {"centered": 1e-7}, None)
    assert same.outcome == "equivalent"  # the original equals the hand-derived gradient
    store = Store(str(tmp_path / "r.db"))
    cid = campaign.start(store, parse_spec("dense.py"), Settings(cases=1, jobs=2))
    outcomes = {t.mutant_id: t.outcome for t in store.trials(cid)}
    assert outcomes[doubled.id] == "detected"
    assert outcomes["original"] == "passed"
    assert (dense_dir / "dense.py").read_bytes() == before


def test_inherited_methods_are_mutated_where_they_are_defined(dense_dir):
    from mutagrad.mutation.methods import resolve

    subject = load(parse_spec(str(dense_dir / "dense.py")))
    module = __import__("sys").modules[subject.backward.__module__]
    assert resolve(module, "Dense.scale", "dense.py").__qualname__ == "Base.scale"
    with_helper = load(parse_spec(str(dense_dir / "dense.py"), mutate=["Dense.scale"]))
    assert mutation.mutated_names(with_helper) == ["Dense.backward", "Base.scale"]
    scale = next(m for m in mutation.mutants_of(with_helper) if m.function == "Base.scale")
    backward = mutation.mutant_backward(with_helper, scale)
    Dense = subject.backward.__globals__["Dense"]
    layer = Dense(np.eye(2), np.zeros(2))
    layer.forward(np.ones((1, 2)))
    with installed(backward):
        layer.backward(np.array([[1.0, 1.0]]))
        assert layer.scale() != 1.0  # the base class holds the mutant, the subclass sees it
    assert layer.scale() == 1.0 and vars(Dense).get("scale") is None


def test_a_method_the_forward_calls_is_refused(dense_dir):
    with pytest.raises(InvalidInput, match="forward calls"):
        load(parse_spec(str(dense_dir / "dense.py"), mutate=["Dense.forward"]))
