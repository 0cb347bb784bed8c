"""taylor: the Taylor-remainder test converges at rate 2 on right gradients, 1 on wrong ones."""

import dataclasses

import numpy as np
import pytest

from mutagrad import gradcheck
from mutagrad import strategies as S
from mutagrad.strategies import taylor
from mutagrad.subjects import BUILTIN, load


def _flat(subject, case):
    return gradcheck.flatten(subject.gradients(subject.backward, case),
                             subject.param_names).astype(np.float64)


@pytest.mark.parametrize("name", sorted(set(BUILTIN) - {"mlp3-seedbugs"}))
def test_taylor_rate_is_2_on_every_correct_subject_in_float64(name):
    subject = load(name)
    for seed in (None, 0, 1):
        case = subject.case(seed)
        ref = S.references(subject, case, ["taylor"], [1e-7])[("taylor", 1e-7)]
        rate = taylor.rate(_flat(subject, case), ref)
        if rate is None:
            # J is exactly linear along d (linear1d; max-pooling is piecewise linear): every
            # remainder is round-off, and the check passes
            r = np.abs(ref.vector - ref.data["J0"] - ref.directions @ _flat(subject, case))
            assert np.all(r <= ref.data["floor"])
            continue
        assert abs(rate - 2) <= 0.1, (case.label, rate)


def test_taylor_rate_is_1_on_the_exercises_buggy_network():
    subject = load("mlp3-seedbugs")
    for seed in (None, 0, 1, 2):
        case = subject.case(seed)
        ref = S.references(subject, case, ["taylor"], [1e-7])[("taylor", 1e-7)]
        rate = taylor.rate(_flat(subject, case), ref)
        assert rate is not None and abs(rate - 1) <= 0.1, (case.label, rate)
        assert not S.get("taylor").passes(S.difference(_flat(subject, case), ref), 0.5)


def test_taylor_costs_five_forwards():
    subject = load("mlp3")
    case = subject.case(1, 4)
    calls = []

    def counting(p, c):
        calls.append(1)
        return subject.cost(p, c)

    S.references(dataclasses.replace(subject, cost=counting), case, ["taylor"], [1e-7])
    assert len(calls) == S.cost("taylor", 47, 6) == 5


def test_taylor_rate_by_hand_on_a_quadratic():
    subject = load("l2")
    case = subject.case(3)
    ref = S.references(subject, case, ["taylor"], [1e-7])[("taylor", 1e-7)]
    g = _flat(subject, case)
    moved = ref.directions
    r = np.abs(ref.vector - ref.data["J0"] - moved @ g)
    np.testing.assert_allclose(np.log2(r[:-1] / r[1:]), 2.0, atol=1e-3)
    wrong = g.copy()
    wrong[0] += 0.1  # a wrong entry: the remainder's first-order term is h (0.1 d_0)
    r = np.abs(ref.vector - ref.data["J0"] - moved @ wrong)
    assert taylor.rate(wrong, ref) == pytest.approx(min(np.log2(r[:-1] / r[1:])), rel=1e-12)
    assert abs(taylor.rate(wrong, ref) - 1) < 0.1
