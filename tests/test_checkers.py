"""The checker strategies against the checkers themselves, and against hand-written arithmetic.

- scipy / scipy-random: equal to ``scipy.optimize.check_grad`` on every built-in subject;
- torch, torch-fast, jax, theano, chainer: each checker's numbers rebuilt by hand in the test
  (directions, scaled tolerance, verdict) on linear1d and a 2x3 affine function, and, where
  the real package installs here (torch, jax), the real function's verdict on both sides of
  its boundary;
- the renorm story: a one-entry bug in a mostly-zero gradient that torch catches and
  torch-fast misses, in mutagrad and in torch itself.
"""

import contextlib
import math

import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

from mutagrad import gradcheck
from mutagrad import strategies as S
from mutagrad.strategies import base, scipy_check_grad, torch_gradcheck
from mutagrad.subject import Case, Subject, cast
from mutagrad.subjects import BUILTIN, load

# -- a 2x3 affine function: J(W, b) = c . (W x + b), dJ/dW = c x^T, dJ/db = c ---------------

X = np.array([1.0, -2.0, 0.5])
C = np.array([0.3, -1.2])
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B0 = np.array([0.1, -0.2])


def affine_backward(x, c):
    return {"dW": np.outer(c, x), "db": c.copy()}


def _affine_cost(params, case):
    return float(C @ (params["W"] @ X + params["b"]))


def _affine_gradients(backward, case):
    g = backward(X, C)
    return {"W": g["dW"], "b": g["db"]}


def _affine_case(seed, batch, dtype):
    return Case(seed, 1, dtype, cast({"W": W0, "b": B0}, dtype), {})


AFFINE = Subject("affine2x3", "J = c . (W x + b), W 2x3", affine_backward, ("W", "b"),
                 _affine_cost, _affine_gradients, _affine_case, batched=False,
                 default_batch=1)


def _flat(subject, case, grads=None):
    grads = grads or subject.gradients(subject.backward, case)
    return gradcheck.flatten(grads, subject.param_names).astype(np.float64)


def _ref(subject, case, name):
    return S.references(subject, case, [name], [1e-7])[(name, 1e-7)]


def _affine_flat(delta=0.0):
    """The affine gradient, flattened (W then b), with ``delta`` planted at dW[1, 2]."""
    dW = np.outer(C, X)
    dW[1, 2] += delta
    return np.concatenate([dW.ravel(), C])


# -- scipy ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_scipy_equals_scipy_check_grad(name):
    subject = load(name)
    for seed, dtype in ((None, "float64"), (1, "float64"), (2, "float32")):
        case = subject.case(seed, None, dtype)
        ctx = base.Context(subject, case)
        x0 = ctx.theta().astype(np.float64)

        def func(x, dtype=dtype, ctx=ctx, case=case):
            return subject.cost(gradcheck.unflatten(x.astype(dtype), ctx.keys, ctx.shapes), case)

        g = _flat(subject, case)
        wrong = g + 1e-3 * np.random.default_rng(0).standard_normal(g.size)
        for grad in (g, wrong):
            expected = check_grad(func, lambda x, grad=grad: grad, x0)
            assert S.difference(grad, _ref(subject, case, "scipy")) == pytest.approx(
                expected, rel=1e-12, abs=0)
            rng = np.random.default_rng(base.case_seed(case, scipy_check_grad.SALT))
            expected = check_grad(func, lambda x, grad=grad: grad, x0, direction="random",
                                  rng=rng)
            assert S.difference(grad, _ref(subject, case, "scipy-random")) == pytest.approx(
                expected, rel=1e-12, abs=0)


# -- torch ------------------------------------------------------------------------------


def test_torch_random_numbers_are_torchs_own():
    mine = torch_gradcheck.TorchRandom()
    theirs = torch.Generator()
    for n in (1, 6, 17, 1000):
        assert np.array_equal(mine.rand(n), torch.rand(n, generator=theirs).numpy())


def test_torch_slow_on_linear1d_by_hand():
    subject = load("linear1d")
    case = subject.case()  # J = theta x, x = 2, theta = 4
    ref = _ref(subject, case, "torch")
    n = ((4 + 1e-6) * 2 - (4 - 1e-6) * 2) / 2e-6
    assert ref.vector[0] == n
    for g in (2.0, 2.0021, 2.01):
        expected = abs(g - n) / (1e-5 + 1e-3 * abs(n))
        got = S.difference(np.array([g]), ref)
        assert got == pytest.approx(expected, rel=1e-12)
        assert S.get("torch").passes(got, 1.0) == (g - n <= 1e-5 + 1e-3 * n)
    assert S.get("torch").passes(S.difference(np.array([2.0]), ref), 1.0)
    assert not S.get("torch").passes(S.difference(np.array([2.01]), ref), 1.0)


def _torch_affine(dW_wrong, fast):
    x, c = torch.tensor(X), torch.tensor(C)

    class Affine(torch.autograd.Function):
        @staticmethod
        def forward(ctx, W, b):
            return c @ (W @ x + b)

        @staticmethod
        def backward(ctx, grad):
            return grad * torch.tensor(dW_wrong), grad * c

    W = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    return torch.autograd.gradcheck(Affine.apply, (W, b), fast_mode=fast,
                                    raise_exception=False)


def test_torch_fast_on_the_affine_function_by_hand_and_against_torch():
    case = AFFINE.case()
    ref = _ref(AFFINE, case, "torch-fast")
    g = torch.Generator()  # torch's own vectors: u for W, u for b, then v for J
    u_W = torch.rand(6, generator=g).double().numpy()
    u_b = torch.rand(2, generator=g).double().numpy()
    u_W, u_b = u_W / np.linalg.norm(u_W), u_b / np.linalg.norm(u_b)
    np.testing.assert_allclose(ref.directions, [np.r_[u_W, 0, 0], np.r_[np.zeros(6), u_b]],
                               rtol=1e-15)
    U = u_W.reshape(2, 3)
    n_W = C @ U @ X  # J is affine: the central difference along u_W is exact up to round-off
    atol_W = 1e-5 * u_W.sum() * 1.0  # sum(v) = 1: one scalar output
    assert ref.data["atol"][0] == pytest.approx(atol_W, rel=1e-15)
    assert ref.vector[0] == pytest.approx(n_W, rel=1e-8)
    boundary = (atol_W + 1e-3 * abs(n_W)) / U[1, 2]  # the smallest planted error it sees
    for factor in (0.5, 2.0):
        delta = factor * boundary
        flat = _affine_flat(delta)
        expected = abs(delta * U[1, 2]) / (atol_W + 1e-3 * abs(n_W))
        got = S.difference(flat, ref)
        assert got == pytest.approx(expected, rel=1e-4)
        ours = S.get("torch-fast").passes(got, 1.0)
        assert ours == (factor < 1)
        dW = flat[:6].reshape(2, 3)
        assert _torch_affine(dW, fast=True) == ours
        # slow mode sees the entry itself: delta against 1e-5 + 1e-3 |c_1 x_2|
        slow = S.difference(flat, _ref(AFFINE, case, "torch"))
        assert slow == pytest.approx(delta / (1e-5 + 1e-3 * abs(C[1] * X[2])), rel=1e-4)
        assert _torch_affine(dW, fast=False) == S.get("torch").passes(slow, 1.0)


def _dead_relu_net(delta, dead=118, live=2, inputs=30):
    """J = v . relu(W x + b) with most units dead (b = -100): dJ/dW is mostly zero. The
    planted bug: dJ/dW[0, 0] of a dead unit reads ``delta`` instead of 0."""
    rng = np.random.default_rng(5)
    units = dead + live
    W = rng.standard_normal((units, inputs))
    x = rng.standard_normal(inputs)
    v = rng.standard_normal(units)
    b = np.r_[np.full(dead, -100.0), np.full(live, 100.0)]

    def backward(x_, v_):
        mask = (W @ x_ + b > 0).astype(float)
        dW = np.outer(v_ * mask, x_)
        dW[0, 0] += delta
        return {"dW": dW}

    def cost(params, case):
        return float(v @ np.maximum(params["W"] @ x + b, 0.0))

    subject = Subject("deadrelu", "mostly dead relu layer", backward, ("W",), cost,
                      lambda bw, case: {"W": bw(x, v)["dW"]},
                      lambda s, m, d: Case(s, 1, d, cast({"W": W}, d), {}), batched=False)
    return subject, (W, x, v, b)


def test_the_renorm_story_torch_catches_and_fast_mode_misses():
    delta = 0.05  # a completely wrong entry, next to 3,599 correct zeros and 60 live ones
    subject, (W, x, v, b) = _dead_relu_net(delta)
    case = subject.case()
    flat = _flat(subject, case)
    checks = {c.strategy: c for c in S.check_all(subject, case, ["torch", "torch-fast"], 1e-7)}
    assert checks["torch"].passed is False
    assert checks["torch"].worst[0].parameter == "W" and checks["torch"].worst[0].index == (0, 0)
    assert checks["torch-fast"].passed is True
    # why, by hand: the bad entry is weighted by u_00 ~ 1/sqrt(n), the tolerance by sum(u)
    u = torch.rand(W.size, generator=torch.Generator()).double().numpy()
    u /= np.linalg.norm(u)
    n = float((v * (W @ x + b > 0)) @ (u.reshape(W.shape) @ x))
    assert delta * u[0] < 1e-5 * u.sum() + 1e-3 * abs(n)
    assert S.difference(flat, _ref(subject, case, "torch-fast")) == pytest.approx(
        delta * u[0] / (1e-5 * u.sum() + 1e-3 * abs(n)), rel=1e-4)
    # and torch itself says the same
    xt, vt, bt = torch.tensor(x), torch.tensor(v), torch.tensor(b)
    dW = torch.tensor(flat.reshape(W.shape))

    class Layer(torch.autograd.Function):
        @staticmethod
        def forward(ctx, Wt):
            return vt @ torch.relu(Wt @ xt + bt)

        @staticmethod
        def backward(ctx, grad):
            return grad * dW

    Wt = torch.tensor(W, requires_grad=True)
    assert torch.autograd.gradcheck(Layer.apply, (Wt,), fast_mode=True, raise_exception=False)
    assert not torch.autograd.gradcheck(Layer.apply, (Wt,), raise_exception=False)


# -- jax --------------------------------------------------------------------------------


def test_jax_on_linear1d_by_hand():
    subject = load("linear1d")
    case = subject.case()
    ref = _ref(subject, case, "jax")
    rng = np.random.RandomState(0)
    t = rng.randn()        # the tangent of theta
    c = rng.randn()        # the cotangent of J
    out = ((4 + 1e-4 * t) * 2 - (4 - 1e-4 * t) * 2) * (0.5 / 1e-4)
    assert ref.vector[0] == pytest.approx(out, rel=1e-15)
    for g in (2.0, 2.00003, 2.001):
        ip, expected = t * (c * g), out * c
        got = S.difference(np.array([g]), ref)
        assert got == pytest.approx(abs(ip - expected) / (1e-5 + 1e-5 * abs(expected)),
                                    rel=1e-9)
    assert S.get("jax").passes(S.difference(np.array([2.0]), ref), 1.0)
    assert not S.get("jax").passes(S.difference(np.array([2.001]), ref), 1.0)


def _jax_affine_passes(dW_wrong):
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    jax.config.update("jax_enable_x64", True)
    x, c = jnp.asarray(X), jnp.asarray(C)

    @jax.custom_vjp
    def f(W, b):
        return c @ (W @ x + b)

    def f_fwd(W, b):
        return f(W, b), None

    def f_bwd(_, g):
        return g * jnp.asarray(dW_wrong), g * c

    f.defvjp(f_fwd, f_bwd)
    try:
        check_grads(f, (jnp.asarray(W0), jnp.asarray(B0)), order=1, modes=["rev"])
    except AssertionError:
        return False
    return True


def test_jax_on_the_affine_function_by_hand_and_against_jax():
    case = AFFINE.case()
    ref = _ref(AFFINE, case, "jax")
    rng = np.random.RandomState(0)
    t_W, t_b, c = rng.randn(2, 3), rng.randn(2), rng.randn()
    np.testing.assert_array_equal(ref.directions[0], np.r_[t_W.ravel(), t_b])
    tangent_out = C @ t_W @ X + C @ t_b  # exact for an affine J, up to round-off
    assert ref.vector[0] == pytest.approx(tangent_out, rel=1e-9)
    expected = tangent_out * c
    boundary = (1e-5 + 1e-5 * abs(expected)) / abs(c * t_W[1, 2])
    for factor in (0.5, 2.0):
        delta = factor * boundary
        got = S.difference(_affine_flat(delta), ref)
        assert got == pytest.approx(abs(c * delta * t_W[1, 2]) / (1e-5 + 1e-5 * abs(expected)),
                                    rel=1e-4)
        ours = S.get("jax").passes(got, 1.0)
        assert ours == (factor < 1)
        assert _jax_affine_passes(_affine_flat(delta)[:6].reshape(2, 3)) == ours


def test_jax_float32_tolerance_is_2e_3():
    case = AFFINE.case(None, None, "float32")
    ref = _ref(AFFINE, case, "jax")
    assert ref.data["atol"] == ref.data["rtol"] == 2e-3 and ref.step == 1e-4


# -- theano -----------------------------------------------------------------------------


def test_theano_on_linear1d_by_hand():
    subject = load("linear1d")
    case = subject.case()
    ref = _ref(subject, case, "theano")
    rng = np.random.RandomState(666)  # theano's unittest seed
    rs = [rng.rand() + 0.5, rng.rand() + 0.5]
    for g in (2.0, 2.0001, 2.001):
        worst = 0.0
        for r in rs:
            b = (r * ((4 + 1e-7) * 2) - r * (4 * 2)) / 1e-7  # one-sided, eps 1e-7
            a = r * g
            abs_err = abs(a - b)
            rel_err = abs_err / max(abs(a) + abs(b), 1e-8)
            worst = max(worst, min(abs_err / 1e-4, rel_err / 1e-4))
        assert S.difference(np.array([g]), ref) == pytest.approx(worst, rel=1e-9)
    assert S.get("theano").passes(S.difference(np.array([2.0]), ref), 1.0)
    assert not S.get("theano").passes(S.difference(np.array([2.001]), ref), 1.0)


def test_theano_on_the_affine_function_fails_only_when_both_errors_are_over():
    case = AFFINE.case()
    ref = _ref(AFFINE, case, "theano")
    rng = np.random.RandomState(666)
    rs = [rng.rand() + 0.5, rng.rand() + 0.5]
    a0 = _affine_flat()[5]  # dW[1, 2] = c_1 x_2 = -0.6
    for delta in (5e-5, 2e-3):
        worst = 0.0
        for r in rs:
            a, b = r * (a0 + delta), r * a0  # the numerical side is exact up to ~1e-8
            abs_err = abs(a - b)
            rel_err = abs_err / max(abs(a) + abs(b), 1e-8)
            worst = max(worst, min(abs_err / 1e-4, rel_err / 1e-4))
        got = S.difference(_affine_flat(delta), ref)
        assert got == pytest.approx(worst, rel=1e-2)
        assert S.get("theano").passes(got, 1.0) == (delta < 1e-4)


# -- chainer ----------------------------------------------------------------------------


def test_chainer_on_the_affine_function_by_hand():
    case = AFFINE.case()
    ref = _ref(AFFINE, case, "chainer")
    rng = np.random.RandomState(base.legacy_seed(case, 2018))
    d_W, d_b = rng.normal(size=(2, 3)), rng.normal(size=(2,))
    norm = math.sqrt(np.square(d_W).sum() + np.square(d_b).sum())
    d_W, d_b = d_W / norm, d_b / norm
    np.testing.assert_allclose(ref.directions[0], np.r_[d_W.ravel(), d_b], rtol=1e-15)
    numerical = C @ d_W @ X + C @ d_b  # eps 1e-3 along d: exact for an affine J
    assert ref.vector[0] == pytest.approx(numerical, rel=1e-9)
    for delta in (0.0, 1e-5, 1e-2):
        analytic = numerical + delta * d_W[1, 2]
        expected = abs(numerical - analytic) / (1e-5 + 1e-4 * abs(analytic))
        got = S.difference(_affine_flat(delta), ref)
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert S.get("chainer").passes(S.difference(_affine_flat(1e-5), ref), 1.0)
    assert not S.get("chainer").passes(S.difference(_affine_flat(1e-2), ref), 1.0)


def test_chainer_on_linear1d_by_hand():
    subject = load("linear1d")
    case = subject.case()
    ref = _ref(subject, case, "chainer")
    d = 1.0 if np.random.RandomState(base.legacy_seed(case, 2018)).normal() > 0 else -1.0
    assert ref.directions[0][0] == d  # one entry: the unit direction is its sign
    numerical = ((4 + 1e-3 * d) * 2 - (4 - 1e-3 * d) * 2) / 2e-3
    for g in (2.0, 2.0001, 2.01):
        expected = abs(numerical - g * d) / (1e-5 + 1e-4 * abs(g * d))
        assert S.difference(np.array([g]), ref) == pytest.approx(expected, rel=1e-9)


# -- every mutant of the seed network, against torch itself -----------------------------


def _mutant_gradients(subject, case):
    """(id, gradients) of every mutant whose backward returns the right keys and shapes
    (crashes and wrong shapes have no verdict to compare)."""
    from mutagrad import mutation

    keys = subject.param_names
    shapes = tuple(np.shape(case.params[k]) for k in keys)
    for m in mutation.mutants_of(subject):
        backward = mutation.bind(subject, m.function, m.function_source, f"<mutant {m.id}>")
        with contextlib.suppress(Exception):
            grads = subject.gradients(backward, case)
            gradcheck.check_layout(grads, keys, shapes)
            yield m.id, grads


def test_torch_and_fast_mode_verdicts_equal_gradcheck_on_every_mlp3_mutant():
    """torch.autograd.gradcheck runs the subject's numpy forward (perturbed in place, in
    float64) and takes the mutant's gradient as the backward: its verdicts, slow and fast,
    are mutagrad's on every mutant that returns a gradient."""
    subject = load("mlp3")
    case = subject.case(1, 4)
    keys = subject.param_names

    def verdicts_of(grads):
        flat = gradcheck.flatten(grads, keys).astype(np.float64)

        class Net(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *params):
                p = {k: t.detach().numpy() for k, t in zip(keys, params)}
                return torch.tensor(subject.cost(p, case), dtype=torch.float64)

            @staticmethod
            def backward(ctx, grad):
                return tuple(grad * torch.tensor(np.asarray(grads[k], dtype=np.float64))
                             for k in keys)

        inputs = tuple(torch.tensor(np.array(case.params[k]), requires_grad=True) for k in keys)
        theirs = tuple(torch.autograd.gradcheck(Net.apply, inputs, fast_mode=fast,
                                                raise_exception=False) for fast in (False, True))
        ours = tuple(S.get(name).passes(S.difference(flat, _ref(subject, case, name)), 1.0)
                     for name in ("torch", "torch-fast"))
        return ours, theirs

    ours, theirs = verdicts_of(subject.gradients(subject.backward, case))
    assert ours == theirs == (True, True)
    compared = 0
    for mutant_id, grads in _mutant_gradients(subject, case):
        ours, theirs = verdicts_of(grads)
        assert ours == theirs, mutant_id
        compared += 1
    assert compared >= 50


def test_jax_verdicts_equal_check_grads_on_every_mlp3_mutant():
    """jax.test_util.check_grads (rev mode) on the subject's numpy forward (a pure callback)
    with the mutant's gradient as the VJP: its verdicts are mutagrad's."""
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    jax.config.update("jax_enable_x64", True)
    subject = load("mlp3")
    case = subject.case(2, 3)
    keys = subject.param_names

    def cost(*params):
        p = {k: np.asarray(v) for k, v in zip(keys, params)}
        return np.asarray(subject.cost(p, case), dtype=np.float64)

    def verdicts_of(grads):
        @jax.custom_vjp
        def f(*params):
            return jax.pure_callback(cost, jax.ShapeDtypeStruct((), jnp.float64), *params)

        def f_fwd(*params):
            return f(*params), None

        def f_bwd(_, g):
            return tuple(g * jnp.asarray(np.asarray(grads[k], dtype=np.float64)) for k in keys)

        f.defvjp(f_fwd, f_bwd)
        try:
            check_grads(f, tuple(jnp.asarray(case.params[k]) for k in keys), order=1,
                        modes=["rev"])
            theirs = True
        except AssertionError:
            theirs = False
        flat = gradcheck.flatten(grads, keys).astype(np.float64)
        return S.get("jax").passes(S.difference(flat, _ref(subject, case, "jax")), 1.0), theirs

    assert verdicts_of(subject.gradients(subject.backward, case)) == (True, True)
    seen = set()
    for mutant_id, grads in _mutant_gradients(subject, case):
        ours, theirs = verdicts_of(grads)
        assert ours == theirs, mutant_id
        seen.add(ours)
    assert seen == {True, False}
