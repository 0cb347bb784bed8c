"""Each real-bug operator makes the real bug: on a subject where that bug was shipped, its
mutant gives the same result as a hand-written buggy copy of the code, case by case (the
same gradients bit for bit, or the same exception), and it is a bug on some case.

The buggy copies are the subject's own source with the bug typed in as text
(``_buggy``), compiled beside the original: nothing here goes through the operators.
"""

import dataclasses
import inspect
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from mutagrad import mutation
from mutagrad.subjects import conv, load, pool

sys.path.insert(0, str(Path(__file__).parent / "data"))
import realbug_layers as layers


def _buggy(func, old, new, helper=None, *more):
    """``func`` with the text ``old`` replaced by ``new`` in its source (or in ``helper``'s,
    which ``func`` then calls), compiled in a copy of its module's namespace; ``more``
    holds further (old, new) pairs."""
    target = helper or func
    source = textwrap.dedent(inspect.getsource(target))
    for a, b in ((old, new), *more):
        assert source.count(a) == 1, f"{a!r} is not once in {target.__name__}"
        source = source.replace(a, b)
    namespace = dict(func.__globals__)
    exec(compile(source, f"<buggy {target.__name__}>", "exec"), namespace)  # noqa: S102
    if helper is None:
        return namespace[func.__name__]
    return types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__)


def _outcome(subject, backward, case):
    try:
        return subject.gradients(backward, case)
    except Exception as e:  # noqa: BLE001 - the same crash is the same outcome
        return type(e).__name__


def _mutant(subject, operator, original, replacement):
    found = [m for m in mutation.mutants_of(subject, operators=[operator], shape_aware=False)
             if original in m.original and replacement in m.replacement]
    assert len(found) == 1, [(m.original, m.replacement) for m in found]
    return found[0]


def _reproduces(subject, mutant, buggy, cases):
    """The mutant and the hand-written bug agree on every case; the bug shows on one."""
    backward = mutation.mutant_backward(subject, mutant)
    shows = False
    for case in cases:
        got, want = _outcome(subject, backward, case), _outcome(subject, buggy, case)
        right = _outcome(subject, subject.backward, case)
        if isinstance(want, str):
            assert got == want, case.label
            shows = True
            continue
        assert not isinstance(got, str), (case.label, got)
        assert all(np.array_equal(got[k], want[k], equal_nan=True) for k in want), case.label
        shows |= any(not np.allclose(want[k], right[k]) for k in right)
    assert shows, "the hand-written bug never shows on these cases"


def _cases(subject, seeds, batches=(1, 3)):
    return [subject.case(s, b) for s in seeds for b in batches]


CONV, POOL, RNN = load("conv"), load("pool"), load("rnn")


def test_slice_pad_form_is_the_pad_zero_bug():
    """dA_prev from da_prev_pad[pad:-pad, pad:-pad]: right for pad 1, empty for pad 0."""
    m = _mutant(CONV, "pair-slice-bound", "pad:pad + n_H_prev", "pad:-pad | pad:-pad")
    bug = _buggy(conv.conv_backward, "da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]",
                 "da_prev_pad[pad:-pad, pad:-pad, :]")
    _reproduces(CONV, m, bug, _cases(CONV, range(8)))


def test_stride_dropped_on_both_axes_is_one_mutant():
    m = _mutant(CONV, "pair-drop-factor", "h * stride | w * stride", "h | w")
    bug = _buggy(conv.conv_backward, "vert_start = h * stride", "vert_start = h", None,
                 ("horiz_start = w * stride", "horiz_start = w"))
    _reproduces(CONV, m, bug, _cases(CONV, range(8)))


def test_unpack_order_swaps_height_and_width():
    m = _mutant(POOL, "unpack-order", "m, n_H, n_W, n_C = dA.shape", "m, n_W, n_H, n_C")
    bug = _buggy(pool.pool_backward, "m, n_H, n_W, n_C = dA.shape", "m, n_W, n_H, n_C = dA.shape")
    _reproduces(POOL, m, bug, _cases(POOL, range(8)))


def test_return_inside_the_window_loop():
    """The max-pool backward whose return sits in the innermost loop (right for one window)."""
    m = _mutant(POOL, "move-into-loop", "return dA_prev", "(4 levels)")
    source = inspect.getsource(pool.pool_backward)
    tail = source[source.index("                    elif mode == \"average\":"):]
    bug = _buggy(pool.pool_backward, tail, tail.replace("    return dA_prev",
                                                        "                    return dA_prev"))
    _reproduces(POOL, m, bug, _cases(POOL, range(8)))


def test_bptt_without_the_carried_gradient():
    m = _mutant(RNN, "drop-addend", 'np.dot(params["Wya"].T, dy) + da_next',
                'np.dot(params["Wya"].T, dy)')
    bug = _buggy(RNN.backward, 'da = np.dot(params["Wya"].T, dy) + da_next',
                 'da = np.dot(params["Wya"].T, dy)')
    _reproduces(RNN, m, bug, _cases(RNN, range(3)))


def test_accumulation_that_overwrites():
    m = _mutant(RNN, "accumulate-to-assign", 'grads["dWaa"] +=', 'grads["dWaa"] =')
    bug = _buggy(RNN.backward, 'grads["dWaa"] += np.dot', 'grads["dWaa"] = np.dot')
    _reproduces(RNN, m, bug, _cases(RNN, range(3)))


def test_carry_computed_after_the_loop():
    m = _mutant(RNN, "move-out-of-loop", "da_next = np.dot", "moved out of")
    bug = _buggy(RNN.backward, '        da_next = np.dot(params["Waa"].T, dz)\n',
                 '    da_next = np.dot(params["Waa"].T, dz)\n')
    _reproduces(RNN, m, bug, _cases(RNN, range(3)))


def test_loop_one_step_short():
    m = _mutant(RNN, "loop-range", "range(X.shape[2])", "range(1, X.shape[2])")
    bug = _buggy(RNN.backward, "reversed(range(X.shape[2]))", "reversed(range(1, X.shape[2]))")
    _reproduces(RNN, m, bug, _cases(RNN, range(3)))


def test_tanh_derivative_replaced_by_tanh():
    m = _mutant(RNN, "activation-for-derivative", "1 - a ** 2", "a")
    bug = _buggy(RNN.backward, "dz = (1 - a ** 2) * da", "dz = a * da")
    _reproduces(RNN, m, bug, _cases(RNN, range(3)))


def test_argmax_mask_breaks_ties_differently():
    """Max pooling with the mask from argmax: the first tied entry only (seeds 8+ repeat
    values, so windows hold ties)."""
    subject = dataclasses.replace(POOL, helpers=(pool.create_mask_from_window,))
    m = _mutant(subject, "tie-break", "x == np.max(x)", "np.argmax(x)")
    bug = _buggy(pool.pool_backward, "mask = x == np.max(x)",
                 "mask = np.zeros(x.shape, dtype=bool)\n"
                 "    mask[np.unravel_index(np.argmax(x), x.shape)] = True",
                 helper=pool.create_mask_from_window)
    _reproduces(subject, m, bug, _cases(subject, range(8, 16)))


def test_add_at_written_as_fancy_index_accumulation():
    m = _mutant(layers.EMBEDDING, "add-at", "np.add.at(dW, idx, dout)", "dW[idx] += dout")
    bug = _buggy(layers.embedding_backward, "np.add.at(dW, idx, dout)", "dW[idx] += dout")
    _reproduces(layers.EMBEDDING, m, bug, _cases(layers.EMBEDDING, range(3)))


def test_dropped_copy_writes_into_the_upstream_gradient():
    m = _mutant(layers.RELU, "drop-copy", "dvalues.copy()", "dvalues")
    bug = _buggy(layers.relu_backward, "dvalues.copy()", "dvalues")
    _reproduces(layers.RELU, m, bug, _cases(layers.RELU, range(3)))


def test_upstream_gradient_updated_in_place():
    m = _mutant(layers.CELL, "in-place", "dnext_c = dnext_c + ", "dnext_c += ")
    bug = _buggy(layers.cell_backward, "dnext_c = dnext_c + ", "dnext_c += ")
    _reproduces(layers.CELL, m, bug, _cases(layers.CELL, range(3)))


def test_stored_attribute_swapped():
    """The sigmoid derivative from the stored inputs instead of the stored output."""
    found = sorted((m for m in mutation.mutants_of(layers.SIGMOID, operators=["swap-attribute"],
                                                   shape_aware=False)
                    if m.replacement == "self.inputs"), key=lambda m: m.col)
    assert len(found) == 2  # (1 - self.output) and the lone self.output
    bug = _buggy(layers.sigmoid_backward, "(1 - self.output) * self.output",
                 "(1 - self.inputs) * self.output")
    _reproduces(layers.SIGMOID, found[0], bug, _cases(layers.SIGMOID, range(3)))


@pytest.mark.parametrize("operator, old, new", [
    ("drop-regulariser", "    self.dweights += 2 * self.weight_regularizer_l2 * self.weights\n",
     ""),
    ("drop-regulariser-two", "2 * self.weight_regularizer_l2", "self.weight_regularizer_l2"),
])
def test_l2_penalty_term_or_its_two_dropped(operator, old, new):
    found = mutation.mutants_of(layers.DENSE, operators=[operator], shape_aware=False)
    assert len(found) == 1
    bug = _buggy(layers.dense_backward, old, new)
    _reproduces(layers.DENSE, found[0], bug, _cases(layers.DENSE, range(3)))


def test_seed_l2_term_dropped():
    l2 = load("l2")
    m = _mutant(l2, "drop-regulariser", "1. / m * np.dot(dZ2, A1.T) + lambd / m * W2",
                "1. / m * np.dot(dZ2, A1.T)")
    bug = _buggy(l2.backward, "dW2 = 1. / m * np.dot(dZ2, A1.T) + lambd / m * W2",
                 "dW2 = 1. / m * np.dot(dZ2, A1.T)")
    _reproduces(l2, m, bug, _cases(l2, range(3)))


def test_dropped_abs_is_the_float32_surrogate_overflow():
    """The surrogate gradient of benchmarks/realbugs/surrogate_overflow: without the abs,
    e = exp(-k z) overflows in float32 and the gradient holds NaN; in float64 it is right."""
    from mutagrad.subject import family_case

    surrogate = load(str(Path(__file__).parents[1] / "benchmarks" / "realbugs"
                         / "surrogate_overflow" / "fixed.py"))
    m = _mutant(surrogate, "drop-abs", "np.abs(z)", "z")
    bug = _buggy(surrogate.backward, "np.exp(-SLOPE * np.abs(z))", "np.exp(-SLOPE * z)")
    stress = [family_case(c, "stress") for c in _cases(surrogate, range(3), (6,))]
    _reproduces(surrogate, m, bug, _cases(surrogate, range(3)) + stress)
    backward = mutation.mutant_backward(surrogate, m)
    assert any(not np.all(np.isfinite(surrogate.gradients(backward, c)["W1"])) for c in stress)
