"""Shape-aware generation: what is dropped really says nothing about a check, and nothing
that a campaign found detected or missed is lost."""

import json
from pathlib import Path

import numpy as np
import pytest

from mutagrad import mutation
from mutagrad.errors import GradientMismatch
from mutagrad.mutation import trace
from mutagrad.subjects import load

BASELINE = json.loads((Path(__file__).parent / "data" / "suite_outcomes.json").read_text())


@pytest.fixture(scope="module")
def generations():
    return {name: mutation.generate(load(name)) for name in sorted(BASELINE)}


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_every_detected_or_missed_mutant_is_still_generated(generations, name):
    kept = {m.id for m in generations[name].kept}
    wanted = {i for i, status in BASELINE[name].items() if status in ("detected", "missed")}
    assert not sorted(wanted - kept)


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_only_crashes_shapes_and_constructed_equivalents_are_dropped(generations, name):
    for d in generations[name].dropped:
        status = BASELINE[name].get(d.mutant.id)
        if "equivalent by construction" in d.reason:
            assert status in (None, "equivalent"), (d.mutant.id, d.reason)
        else:
            assert status in (None, "crashed", "shape"), (d.mutant.id, status, d.reason)


def _outcome(subject, backward, case, reference):
    """What running a backward on a case gives: 'crashed', 'shape', or its gradients."""
    try:
        grads = subject.gradients(backward, case)
    except GradientMismatch:  # keys that do not match: a shape failure, as campaigns say
        return "shape"
    except Exception:  # noqa: BLE001 - a crash is one of the outcomes under test
        return "crashed"
    if any(np.shape(grads[k]) != np.shape(reference[k]) for k in reference):
        return "shape"
    return grads


@pytest.mark.parametrize("name", ["mlp3", "l2", "conv", "rnn", "softmax", "deep", "pool",
                                  "batchnorm"])
def test_dropped_mutants_do_what_their_reason_says_when_run(generations, name):
    """Run each dropped mutant for real on the traced cases: a crash on every one, a
    wrong-shaped gradient on every one, or the original's gradients exactly."""
    subject = load(name)
    cases = trace.default_cases(subject)
    originals = [subject.gradients(subject.backward, c) for c in cases]
    assert generations[name].dropped
    for d in generations[name].dropped:
        backward = mutation.mutant_backward(subject, d.mutant)
        got = [_outcome(subject, backward, c, o) for c, o in zip(cases, originals, strict=True)]
        if d.reason.startswith("crashes"):
            assert got == ["crashed"] * len(cases), d
        elif d.reason.startswith("returns"):
            assert got == ["shape"] * len(cases), d
        else:
            assert "equivalent by construction" in d.reason
            for g, o in zip(got, originals, strict=True):
                assert all(np.array_equal(g[k], o[k]) for k in o), d


def test_kept_ids_are_the_engines_ids():
    subject = load("mlp3")
    every = [m.id for m in mutation.mutants_of(subject, shape_aware=False)]
    g = mutation.generate(subject)
    assert sorted(m.id for m in g.kept) + sorted(d.mutant.id for d in g.dropped) != []
    assert sorted([m.id for m in g.kept] + [d.mutant.id for d in g.dropped]) == sorted(every)
    assert [m.id for m in g.kept] == [i for i in every if i in {m.id for m in g.kept}]


def test_the_tracer_keeps_the_state_before_each_line_first_runs():
    subject = load("rnn")
    case = subject.case(0, 1)
    got = trace.trace_cases(subject, [case])
    _, text = mutation.source_of(subject.backward)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "da_next = np.zeros" in t)
    before = got.state("rnn_backward", line, line)[0]
    after = got.state("rnn_backward", line + 1, line + 1)[0]
    assert before is not None and after is not None
    assert "da_next" not in before.local and after.local["da_next"].shape == (5, 1)
    assert not after.local["da_next"].any()
    assert got.failed == ()


def test_mutants_dropped_lists_them_with_their_reason(capsys):
    from cli_helpers import run_cli

    ran = run_cli(capsys, "mutants", "softmax", "--dropped", "--json")
    assert ran.code == 0
    listed = json.loads(ran.out)["dropped"]
    expected = mutation.generate(load("softmax")).dropped
    assert [d["id"] for d in listed] == [d.mutant.id for d in expected]
    assert all(d["reason"] for d in listed)
    ran = run_cli(capsys, "mutants", "softmax")
    assert f"{len(expected)} more dropped" in ran.out


def test_the_tracer_knows_which_locals_the_check_sees():
    """mlp3 returns dZ3, dA2, ... too; only the parameters' gradients are checked."""
    subject = load("mlp3")
    got = trace.trace_cases(subject, trace.default_cases(subject, seeds=2))
    assert got.checked == {"dW1", "db1", "dW2", "db2", "dW3", "db3"}
    assert got.backward == "backward_propagation_n"


def test_a_crash_at_a_later_iteration_is_found_by_replaying(generations):
    """``horiz_start = -(w * stride)`` is right at w = 0, where the statement first runs;
    the next window's slice is empty and the product with it fails: replaying the whole
    mutated backward from its traced arguments shows it, on every traced case (every one
    has two output columns or more; the same bug on h is kept: some have one row)."""
    found = [d for d in generations["conv"].dropped
             if d.mutant.operator == "negate-result" and d.mutant.original == "w * stride"]
    assert found and all("replayed" in d.reason and d.reason.startswith("crashes")
                         for d in found)


def test_a_replay_that_runs_away_says_nothing():
    """A mutated loop that never ends is stopped by the line budget, not by a clock (it
    may run in any thread), and judged as unknown: the mutant is kept."""
    from mutagrad.mutation import replay

    def spins(n):
        while n > 0:
            n += 1
        return n

    state = trace.Snapshot(0, {"n": 1}, {})
    assert replay._replay(spins, state) is replay._UNKNOWN
