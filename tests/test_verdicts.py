"""Every line mutagrad prints is true: case data that cannot be corrupted (aliasing), verdicts
that know about kinks (indeterminate), honest summaries, text that is never markup."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from cli_helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from userfiles import with_backward

from mutagrad import analysis, campaign, gradcheck, mutation
from mutagrad import strategies as strategy
from mutagrad.store import Store
from mutagrad.subject import Case, Subject, cast
from mutagrad.subjects import load, parse_spec
from mutagrad.trial import CaseData, evaluate
from mutagrad.values import Outcome, Settings

# -- an LSTM step in the cs231n convention, its upstream gradients nested in a tuple --------

LSTM = textwrap.dedent('''
    import numpy as np

    from mutagrad.subject import Case, Subject, cast


    def sigmoid(x):
        return 1 / (1 + np.exp(-x))


    def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
        H = prev_h.shape[1]
        a = x @ Wx + prev_h @ Wh + b
        i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), \\
            np.tanh(a[:, 3 * H:])
        next_c = f * prev_c + i * g
        next_h = o * np.tanh(next_c)
        return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


    def lstm_step_backward(dnext_h, dnext_c, cache):
        x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
        tanh_c = np.tanh(next_c)
        dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
        do = dnext_h * tanh_c
        di, df, dg = dc * g, dc * prev_c, dc * i
        dprev_c = dc * f
        da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
        return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


    NAMES = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")


    def _cost(params, case):
        dh, dc = case.data["upstream"]
        h, c, _ = lstm_step_forward(*(params[n] for n in NAMES))
        return float(np.sum(h * dh) + np.sum(c * dc))


    def _gradients(backward, case):
        dh, dc = case.data["upstream"]
        _, _, cache = lstm_step_forward(*(case.params[n] for n in NAMES))
        return dict(zip(NAMES, backward(dh, dc, cache)))


    def _make_case(seed, batch, dtype):
        rng = np.random.default_rng(seed or 0)
        N, D, H = batch or 2, 3, 4
        shapes = {"x": (N, D), "prev_h": (N, H), "prev_c": (N, H), "Wx": (D, 4 * H),
                  "Wh": (H, 4 * H), "b": (4 * H,)}
        params = cast({k: rng.standard_normal(s) for k, s in shapes.items()}, dtype)
        upstream = (rng.standard_normal((N, H)), rng.standard_normal((N, H)))
        return Case(seed, N, dtype, params, {"upstream": upstream})


    SUBJECT = Subject("lstm", "an LSTM step", lstm_step_backward, NAMES, _cost, _gradients,
                      _make_case, default_batch=2)
    ''')


def _prepared(subject, cases):
    data = campaign.prepare(subject, cases, Settings())
    _, data = campaign.check_original(subject, data, Settings(jobs=1))
    return data


def test_a_write_into_a_nested_upstream_gradient_is_aliasing_and_corrupts_nothing(tmp_path):
    path = tmp_path / "lstm_layers.py"
    path.write_text(LSTM)
    subject = load(parse_spec(str(path)))
    data = _prepared(subject, [subject.case(s, 2) for s in range(3)])
    tol = {"centered": 1e-7}
    before = evaluate(subject, subject.backward, "original", data, tol, None)
    # the LSTM's real bug: the upstream gradient accumulated in place, then a sign slip
    source = mutation.source_of(subject.backward)[1].replace(
        "    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)\n",
        "    dnext_c -= dnext_h * o * (1 - tanh_c ** 2)\n    dc = dnext_c\n")
    assert "dnext_c -=" in source
    buggy = mutation.bind(subject, "lstm_step_backward", source, "<mutant in-place>")
    trials = evaluate(subject, buggy, "in-place", data, tol, None)
    assert {t.outcome for t in trials} == {Outcome.ALIASING}
    assert all("dnext_c" in (t.error or "") and "lstm_layers.py" not in (t.error or "")
               or "<mutant" in (t.error or "") for t in trials)
    after = evaluate(subject, subject.backward, "original", data, tol, None)
    assert [(t.difference, t.true_error) for t in before] == [
        (t.difference, t.true_error) for t in after]


def test_check_says_which_input_the_backward_writes_into(tmp_path, capsys):
    path = tmp_path / "lstm_layers.py"
    path.write_text(LSTM.replace(
        "    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)\n",
        "    dnext_c += dnext_h * o * (1 - tanh_c ** 2)\n    dc = dnext_c\n"))
    ran = run_cli(capsys, "check", str(path))
    assert ran.code == 1  # a failed check, not bad input, not an internal error
    assert "writes into its input dnext_c (lstm_layers.py:24, in lstm_step_backward)" in ran.err
    assert "internal error" not in ran.err


# -- property: whatever a backward mutates in its inputs, the next evaluation is intact ------

def _nested_subject() -> Subject:
    def cost(p, c):
        return float(p["w"] @ c.data["inputs"]["x"][0])

    def gradients(backward, c):
        return {"w": backward(c.data["inputs"])}

    def make_case(seed, batch, dtype):
        rng = np.random.default_rng(seed or 0)
        inputs = {"x": [rng.standard_normal(3), (rng.standard_normal(2), [1.0, 2.0])],
                  "meta": {"scale": np.ones(1)}}
        return Case(seed, 1, dtype, cast({"w": rng.standard_normal(3)}, dtype),
                    {"inputs": inputs})

    def backward(inputs):
        return inputs["x"][0] * inputs["meta"]["scale"][0]

    return Subject("nested", "nested inputs", backward, ("w",), cost, gradients, make_case,
                   batched=False)


def _vandals():
    """Backwards that change some part of their (nested) inputs, then return a gradient."""
    def write(path, how):
        def backward(inputs):
            target = inputs
            for key in path[:-1]:
                target = target[key]
            last = path[-1]
            if how == "add":
                target[last] += 1.0
            elif how == "assign":
                target[last] = np.zeros(3)
            elif how == "delete":
                del target[last]
            elif how == "append":
                target.append(0.0)
            elif how == "slice":
                target[last][...] = 7.0
            return inputs["x"][0] * 2.0
        return backward

    return st.sampled_from([
        write(("x", 0), "add"), write(("x", 0), "assign"), write(("x", 0), "slice"),
        write(("x", 1, 0), "slice"), write(("x", 1, 1, 0), "assign"),
        write(("x", 1, 1, 0), "append"), write(("meta", "scale"), "delete"),
        write(("meta", "scale"), "slice"), write(("x",), "append"), write(("x", 1), "add")])


@settings(max_examples=25, deadline=None)
@given(vandal=_vandals(), seed=st.integers(0, 50))
def test_no_backward_can_change_what_the_next_evaluation_sees(vandal, seed):
    subject = _nested_subject()
    case = subject.case(seed)
    refs = strategy.references(subject, case, ("centered",), (1e-7,))
    original = gradcheck.flatten(subject.gradients(subject.backward, case), ("w",))
    data = [CaseData(0, case, ("w",), ((3,),), refs, original)]
    first = evaluate(subject, subject.backward, "original", data, {"centered": 1e-7}, None)
    vandalised = evaluate(subject, vandal, "m", data, {"centered": 1e-7}, None)
    assert vandalised[0].outcome in (Outcome.ALIASING, Outcome.CRASHED)
    again = evaluate(subject, subject.backward, "original", data, {"centered": 1e-7}, None)
    assert (again[0].difference, again[0].true_error) == (first[0].difference,
                                                          first[0].true_error)
    assert np.array_equal(gradcheck.flatten(subject.gradients(subject.backward, case), ("w",)),
                          original)


# -- kinks: indeterminate, never evidence ---------------------------------------------------

RELU = textwrap.dedent('''
    import numpy as np

    from mutagrad.subject import Case, Subject, cast


    def relu_backward(dout, x):
        dx = dout * (x > 0)
        return dx


    def _cost(params, case):
        return float(np.sum(np.maximum(params["x"], 0) * case.data["dout"]))


    def _gradients(backward, case):
        return {"x": backward(case.data["dout"], case.params["x"])}


    def _make_case(seed, batch, dtype):
        rng = np.random.default_rng(seed or 0)
        x = rng.standard_normal((3, 4))
        x[0, :2] = 0.0  # exact zeros: relu's kink
        return Case(seed, 3, dtype, cast({"x": x}, dtype), {"dout": rng.standard_normal((3, 4))})


    SUBJECT = Subject("relu", "relu with exact zeros", relu_backward, ("x",), _cost,
                      _gradients, _make_case, batched=False)
    ''')


def test_a_relu_mask_boundary_at_exact_zeros_is_indeterminate(tmp_path, capsys):
    path = tmp_path / "relu.py"
    path.write_text(RELU)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    # no jitter: the exact zeros of the input are the point (jitter would move them)
    cid = campaign.start(store, parse_spec(str(path)), Settings(cases=2, jobs=1, jitter=False))
    r = analysis.report(store, cid)
    by_op = {v.mutant.operator: v for v in r.verdicts}
    boundary = by_op["mask-boundary"]  # x > 0 -> x >= 0: both valid subgradients at 0
    assert boundary.status == "indeterminate"
    assert by_op["drop-mask"].status == "indeterminate"  # every case crosses the kink
    assert r.total.indeterminate >= 2 and r.total.rate is None
    ran = run_cli(capsys, "results", "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert "No real bug slips through" not in ran.out
    assert "indeterminate and left out of the rate" in " ".join(ran.out.split())


def test_the_pool_ties_give_indeterminate_not_a_perfect_score(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    # seeds 8 to 15 of the pool subject repeat values: max pooling meets ties
    cid = campaign.start(store, "pool", Settings(seed=8, cases=4, batches=(2,), jobs=2,
                                                 categories=("index",)))
    r = analysis.report(store, cid, labels=True)
    tied = [o for o in r.original if o.note]
    assert tied, "the pool subject's repeated-value cases cross kinks"
    # no mutant counts as detected on the evidence of a tied case alone
    for v in r.verdicts:
        assert not (v.detected_on and set(v.detected_on) <= {o.case for o in tied})


def test_no_real_bug_slips_through_is_printed_only_when_bugs_were_caught(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1", "--db", db,
                   "--category", "reduction").code == 0
    ran = run_cli(capsys, "results", "--db", db)
    assert "No real bug slips through" not in ran.out
    assert "no detection rate" in ran.out


# -- exit codes: one rule ------------------------------------------------------------------

WRONG_SHAPE = with_backward('    return {"dW1": 2 * Z @ X.T, "db1": np.sum(2 * Z, axis=1)}\n')


def test_a_wrong_shape_from_the_users_backward_fails_the_check_in_every_command(
        tmp_path, capsys):
    (tmp_path / "net.py").write_text(WRONG_SHAPE)
    for command in (["check"], ["run", "--cases", "1", "--jobs", "1"]):
        ran = run_cli(capsys, *command, str(tmp_path / "net.py"))
        assert ran.code == 1, (command, ran.err)
        assert "gradient of b1 has shape (2,), b1 has (2, 1)" in ran.err


# -- rendering: user text is text -----------------------------------------------------------

SUBSCRIPTS = "\n" * 97 + textwrap.dedent('''
    import numpy as np


    def backward(x, w):
        g = np.zeros_like(w)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                g[i, j] = x[i, j] * 2.0
        return g


    def forward(x, w):
        return float(np.sum(x * w * w))
    ''')


def _run_piped(*args, cwd, columns="60"):
    env = {**os.environ, "COLUMNS": columns, "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "mutagrad", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, check=False)


def test_code_paths_and_ids_print_as_text_whole_when_piped_and_narrow(tmp_path):
    (tmp_path / "layers.py").write_text(SUBSCRIPTS + textwrap.dedent('''

        from mutagrad.subject import Case, Subject, cast


        # square: on (2, 3) x[j, i] is out of range, a crash that generation drops
        def _make_case(seed, batch, dtype):
            rng = np.random.default_rng(seed or 0)
            return Case(seed, 1, dtype, cast({"w": rng.standard_normal((3, 3))}, dtype),
                        {"x": rng.standard_normal((3, 3))})


        SUBJECT = Subject("layers", "subscripts", backward, ("w",),
                          lambda p, c: forward(c.data["x"], p["w"]),
                          lambda b, c: {"w": b(c.data["x"], c.params["w"])}, _make_case,
                          batched=False, forward=forward)
        '''))
    listed = json.loads(_run_piped("mutants", "layers.py", "--json", cwd=tmp_path).stdout)
    swap = next(m for m in listed["mutants"] if m["operator"] == "swap-subscripts"
                and m["original"].startswith("x"))
    assert swap["original"] == "x[i, j]" and swap["replacement"] == "x[j, i]"
    table = _run_piped("mutants", "layers.py", cwd=tmp_path).stdout
    squeezed = "".join(table.split())  # narrow: cells fold onto several lines, all there
    assert "x[i,j]->x[j,i]" in squeezed
    diff = _run_piped("diff", "layers.py", swap["id"], cwd=tmp_path).stdout
    assert "layers.py:106:" in diff
    assert "💯" not in diff
    minus = [line for line in diff.splitlines() if line.startswith("-  ")]
    plus = [line for line in diff.splitlines() if line.startswith("+  ")]
    assert minus == ["-            g[i, j] = x[i, j] * 2.0"]
    assert plus == ["+            g[i, j] = x[j, i] * 2.0"]
    run = _run_piped("run", "layers.py", "--cases", "1", "--jobs", "1", "--db", "r.db",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    show = _run_piped("show", swap["id"], "--db", "r.db", cwd=tmp_path).stdout
    assert "layers.py:106:" in show and "💯" not in show
    assert "+            g[i, j] = x[j, i] * 2.0" in show


def test_help_texts_keep_every_word(capsys):
    for command in ("run", "check", "results", "mutants", "show", "export"):
        ran = run_cli(capsys, command, "--help")
        assert ran.code == 0
        assert "//" not in ran.out and "<>" not in ran.out, command
    assert "mutants/SUBJECT/" in run_cli(capsys, "run", "--help").out.replace("\n", "")


def test_compare_warns_and_compares_only_common_cases(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    for extra in ([], ["--dtype", "float64,float32"]):
        assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--jobs", "1", "--db", db,
                       "--category", "factor", *extra).code == 0
    ran = run_cli(capsys, "compare", "1", "2", "--db", db)
    assert ran.code == 0
    assert "different cases" in ran.out and "2 they share" in ran.out
    payload = json.loads(run_cli(capsys, "compare", "1", "2", "--db", db, "--json").out)
    assert payload["common_cases"] == 2 and payload["changes"] == []
    assert Path(tmp_path / "c.db").exists()


def test_the_gate_fails_when_the_original_fails_the_check(capsys):
    ran = run_cli(capsys, "run", "mlp3-seedbugs", "--cases", "2", "--jobs", "1",
                  "--fail-under", "0.9")
    assert ran.code == 1
    assert "the original backward fails the check on 4 case(s)" in ran.err


NAN_BACKWARD = with_backward(
    '    dW1 = 2 * Z @ X.T\n'
    '    dW1[1, 2] = np.nan\n'
    '    return {"dW1": dW1, "db1": np.sum(2 * Z, axis=1, keepdims=True)}\n')


def test_check_json_is_strict_and_names_the_nan(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NAN_BACKWARD)
    ran = run_cli(capsys, "check", str(tmp_path / "net.py"), "--json")  # strict: cli_helpers
    assert ran.code == 1
    payload = json.loads(ran.out)
    assert payload["difference"] == "NaN"
    worst = payload["parameters"][0]
    assert worst["gradient"] == "dW1" and worst["index"] == [1, 2]


def test_no_epsilon_advice_where_a_tie_makes_the_difference(tmp_path):
    from mutagrad import sweep

    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    # seeds 8 and up of pool repeat values; max mode at stride 2 meets ties in every window
    cid = campaign.start(store, "pool", Settings(seed=8, cases=3, batches=(2,), jobs=1,
                                                 categories=("sign",)))
    _, curves = sweep.tolerance_curves(store, cid)
    [curve] = curves
    if curve.window is None:
        assert "try epsilon" not in curve.reason
        assert "no epsilon fixes it" in curve.reason
    else:  # a window despite the ties: the advice is a tolerance, never an epsilon
        assert "try epsilon" not in curve.reason


def test_a_kink_gets_no_epsilon_advice_and_the_window_is_described_as_it_is():
    from mutagrad import sweep

    pick, reason = sweep._recommend(0.28, 0.1, "centered", "float64", 1e-7, kinked=True)
    assert pick is None and "no epsilon fixes it" in reason and "try epsilon" not in reason
    pick, reason = sweep._recommend(1e-10, 1.0, "centered", "float64", 1e-7)
    assert pick is not None and "top six decades" in reason  # not "the middle" of 1e-10..1
    assert 1e-6 < pick < 1.0 and abs(pick - (1e-6 * 1.0) ** 0.5) < 1e-12


def test_a_pool_that_duplicates_the_gradient_over_ties_is_told_so(monkeypatch):
    from mutagrad.subjects import pool

    subject = load("pool")
    case = next(c for c in (subject.case(s, 2) for s in range(8, 16))
                if "max" in c.shape and "repeated" in c.shape)
    data = campaign.prepare(subject, [case], Settings())
    reference = data[0].references[("centered", 1e-7)]
    assert reference.kinks, "no tie in this case"
    trials, _ = campaign.check_original(subject, data, Settings(jobs=1))
    # the exercise's mask (x == max) sends the gradient to every tied maximum
    assert "not a valid subgradient" in (trials[0].note or "")

    def first_maximum(x):  # a valid subgradient: the gradient goes to one maximum
        mask = np.zeros(x.shape, dtype=bool)
        mask[np.unravel_index(np.argmax(x), x.shape)] = True
        return mask

    monkeypatch.setattr(pool, "create_mask_from_window", first_maximum)
    analytic = gradcheck.flatten(subject.gradients(subject.backward, case),
                                 subject.param_names).astype(np.float64)
    assert gradcheck.subgradient_at_kinks(lambda p: subject.cost(p, case), case.params,
                                          subject.param_names, reference.kinks, 1e-7,
                                          analytic) is None


def test_compare_says_at_which_tolerances_it_judged(tmp_path, capsys):
    db = str(tmp_path / "t.db")
    for tolerance in ("1e-7", "1e-5"):
        assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--jobs", "1", "--db", db,
                       "--category", "factor", "--tolerance", tolerance).code == 0
    ran = run_cli(capsys, "compare", "1", "2", "--db", db)
    assert "tolerances differ (1e-07 vs 1e-05)" in ran.out
    assert "tolerance 1e-07 in 1, 1e-05 in 2" in ran.out
    payload = json.loads(run_cli(capsys, "compare", "1", "2", "--db", db, "--json").out)
    assert payload["tolerance"] == {"first": 1e-7, "second": 1e-5}
    # the detection rows are the two campaigns' own results at those tolerances (the same
    # cases: the plans differ only by the tolerance)
    for key, cid in (("first", "1"), ("second", "2")):
        alone = json.loads(run_cli(capsys, "results", cid, "--db", db, "--json").out)
        assert payload["detection"][key]["detected"] == alone["total"]["detected"]
        assert payload["detection"][key]["mutants"] == alone["total"]["mutants"]
    at_one = json.loads(run_cli(capsys, "compare", "1", "2", "--db", db, "--json",
                                "--tolerance", "1e-3").out)
    assert at_one["tolerance"] == {"first": 1e-3, "second": 1e-3}
    assert not any("tolerances differ" in w for w in at_one["warnings"])
