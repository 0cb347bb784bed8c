"""``mutagrad couple FIXED BUGGY`` on pairs of the real-bug corpus (benchmarks/realbugs/).

What couple reports is compared with computations that do not go through it: the cases on
which the check catches the real bug come from ``gradcheck.check`` on the buggy file itself;
the reproducing mutant is the one whose mutated function is, as a syntax tree, the buggy
file's backward; and both files are byte-identical afterwards.
"""

import ast
import hashlib
import inspect
import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run_cli

from mutagrad import campaign, gradcheck, mutation, subjects
from mutagrad.values import Settings

CORPUS = Path(__file__).parents[1] / "benchmarks" / "realbugs"
PLAN = ("--cases", "2", "--jobs", "1")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _function_tree(source: str, name: str) -> str:
    tree = ast.parse(textwrap.dedent(source))
    return ast.dump(next(n for n in tree.body if isinstance(n, ast.FunctionDef)
                         and n.name == name))


def _caught_by_the_check(fixed: Path, buggy: Path) -> list[int]:
    """Independently: the cases (as a couple plan of 2 seeds builds them) on which the
    seed's check of the buggy file fails, with its own gradient and the numerical one."""
    subject, bug = subjects.load(str(fixed)), subjects.load(str(buggy))
    cases = campaign.build_cases(subject, replace(Settings(), cases=2))
    return [i for i, case in enumerate(cases)
            if not gradcheck.check(bug, case, gradcheck.DEFAULT_EPSILON,
                                   gradcheck.DEFAULT_TOLERANCE).passed]


def _the_mutant_that_is_the_bug(fixed: Path, buggy: Path) -> str:
    subject, bug = subjects.load(str(fixed)), subjects.load(str(buggy))
    name = subject.backward.__name__
    want = _function_tree(inspect.getsource(bug.backward), name)
    found = [m.id for m in mutation.mutants_of(subject)
             if _function_tree(m.function_source, name) == want]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("pair, mutant_id", [("batchnorm_gamma", "d4fdd9f828"),
                                             ("embedding_repeats", "fe26bad0d4")])
def test_couple_names_the_cases_and_the_reproducing_mutant(capsys, pair, mutant_id):
    fixed, buggy = CORPUS / pair / "fixed.py", CORPUS / pair / "buggy.py"
    before = {p: _digest(p) for p in (fixed, buggy)}
    ran = run_cli(capsys, "couple", str(fixed), str(buggy), *PLAN, "--json")
    assert {p: _digest(p) for p in (fixed, buggy)} == before
    assert not list((CORPUS / pair).glob("__pycache__"))
    doc = json.loads(ran.out)
    caught = _caught_by_the_check(fixed, buggy)
    assert caught  # the pair shows its bug on these cases
    assert ran.code == 0
    assert doc["caught_on"] == caught
    # the mutant whose code is the buggy backward, and its id is stable (no line numbers)
    assert doc["reproduced_by"] == [_the_mutant_that_is_the_bug(fixed, buggy)] == [mutant_id]
    # coupled: caught somewhere, and only where the real bug is
    for m in doc["mutants"]:
        if m["coupled"]:
            assert m["caught_on"] and set(m["caught_on"]) <= set(caught)
    reproducing = next(m for m in doc["mutants"] if m["reproduces"])
    assert reproducing["caught_on"] == caught


def test_batchnorm_gamma_is_caught_only_off_gamma_one_and_over_a_batch(capsys):
    """The first seed keeps gamma = 1 (no jitter) and batch 1 normalises to zero: the bug
    shows only on the jittered cases with m = 6."""
    fixed, buggy = CORPUS / "batchnorm_gamma" / "fixed.py", CORPUS / "batchnorm_gamma" / "buggy.py"
    doc = json.loads(run_cli(capsys, "couple", str(fixed), str(buggy), *PLAN,
                                           "--json").out)
    labels = [doc["cases"][i]["label"] for i in doc["caught_on"]]
    assert labels == ["seed=1 m=6 float64 jittered"]
    outcomes = [t["outcome"] for t in doc["real_bug"]]
    assert outcomes == ["equivalent", "equivalent", "equivalent", "detected"]


def test_couple_text_and_a_bug_the_check_never_sees(capsys, tmp_path):
    """A 'buggy' file equal to the fixed one: nothing caught, nothing reproduced, exit 1."""
    fixed = CORPUS / "batchnorm_gamma" / "fixed.py"
    same = tmp_path / "same.py"
    same.write_bytes(fixed.read_bytes())
    ran = run_cli(capsys, "couple", str(fixed), str(same), *PLAN)
    assert ran.code == 1
    assert "does not change the gradient on any of these cases" in ran.out
    assert "No mutant of fixed.py reproduces" in ran.out


def test_couple_refuses_two_checks(capsys):
    fixed = CORPUS / "batchnorm_gamma" / "fixed.py"
    ran = run_cli(capsys, "couple", str(fixed), str(fixed), "--strategy", "all")
    assert ran.code == 2
    assert "one strategy" in ran.err and "Traceback" not in ran.err
