"""The mutation engine on the seed's subjects: valid, stable, and making the bugs people make."""

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mutagrad import mutation
from mutagrad.errors import InvalidInput
from mutagrad.mutation import find_mutants, mutant_backward, mutants_of
from mutagrad.subjects import load, mlp3

BUILTINS = ["linear1d", "mlp3", "mlp3-seedbugs"]


def _line_of(text: str, source: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if line.strip().startswith(text))


@pytest.fixture(scope="module")
def mlp3_mutants():
    # every mutant the engine makes (nothing dropped): what the id tests compare
    return mutants_of(load("mlp3"), operators=[op.name for op in mutation.OPERATORS],
                      shape_aware=False)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_mutant_parses_compiles_and_differs(name):
    subject = load(name)
    path, source = mutation.source_of(subject.backward)
    func_name = subject.backward.__name__
    original = ast.dump(next(n for n in ast.parse(source).body
                             if isinstance(n, ast.FunctionDef) and n.name == func_name))
    found = find_mutants(source, [func_name], path, mutation.OPERATORS, strict=True)
    assert found
    dumps = set()
    for m in found:
        tree = ast.parse(m.source)
        func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func_name)
        assert ast.dump(func) != original
        dumps.add(ast.dump(func))
        assert callable(mutant_backward(subject, m))
    assert len(dumps) == len(found), "two mutants are the same program"
    assert len({m.id for m in found}) == len(found)


def test_ids_are_stable_across_runs_and_processes(mlp3_mutants):
    again = [m.id for m in mutants_of(load("mlp3"), operators=[op.name for op in mutation.OPERATORS],
                                      shape_aware=False)]
    assert again == [m.id for m in mlp3_mutants]
    script = ("from mutagrad import mutation; from mutagrad.subjects import load; "
              "print(' '.join(m.id for m in mutation.mutants_of(load('mlp3'), "
              "operators=[o.name for o in mutation.OPERATORS], shape_aware=False)))")
    # the same source tree in the child (a checkout run with PYTHONPATH, not installed)
    tree = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345", "PATH": "", **tree})
    assert other.stdout.split() == [m.id for m in mlp3_mutants]


def test_ids_survive_unrelated_edits(mlp3_mutants):
    _, source = mutation.source_of(mlp3.backward_propagation_n)
    edited = source.replace(
        "def backward_propagation_n(X, Y, cache):",
        "def helper(z):\n    return z  # an unrelated new function\n\n\n"
        "# a new comment\ndef backward_propagation_n(X, Y, cache):",
    ).replace("    dZ3 = A3 - Y\n", "\n\n    dZ3 = A3-Y   # reformatted, moved down\n")
    assert edited != source
    moved = find_mutants(edited, ["backward_propagation_n"], "edited.py", mutation.OPERATORS)
    before = {m.id: (m.operator, m.original.replace(" ", ""), m.replacement.replace(" ", ""))
              for m in mlp3_mutants}
    after = {m.id: (m.operator, m.original.replace(" ", ""), m.replacement.replace(" ", ""))
             for m in moved}
    assert after == before
    assert {m.line for m in moved} != {m.line for m in mlp3_mutants}  # they really moved


def _grads(subject, backward, seed=2, batch=5):
    case = subject.case(seed, batch)
    return subject.gradients(backward, case)


def _only_changed(mutant, subject, name, factor):
    """The mutant's gradients equal the original's except ``name``, which is ``factor`` x."""
    want = _grads(subject, subject.backward)
    try:
        got = _grads(subject, mutant_backward(subject, mutant))
    except Exception:  # noqa: BLE001 - a crashing mutant is simply not this bug
        return False
    for key in want:
        expected = want[key] * (factor if key == name else 1)
        if got[key].shape != expected.shape or not np.allclose(got[key], expected, rtol=1e-12,
                                                               atol=0):
            return False
    return True


def test_mlp3_mutants_include_the_seed_bugs(mlp3_mutants):
    subject = load("mlp3")
    dW2_line = _line_of("dW2 =", mutation.source_of(mlp3.backward_propagation_n)[1])
    db1_line = _line_of("db1 =", mutation.source_of(mlp3.backward_propagation_n)[1])
    doubled = [m for m in mlp3_mutants if m.line == dW2_line and _only_changed(m, subject, "W2", 2)]
    # dW2 * 2 (the seed's bug), and 1./m -> 2./m, which is the same bug written differently.
    assert sorted((m.operator, m.replacement) for m in doubled) == [
        ("double-term", "1. / m * np.dot(dZ2, A1.T) * 2"), ("wrong-constant", "2.0")]
    four = [m for m in mlp3_mutants if m.line == db1_line and _only_changed(m, subject, "b1", 4)]
    assert [(m.operator, m.original, m.replacement) for m in four] == [
        ("wrong-constant", "1.", "4.0")]


@pytest.mark.parametrize("statement, operator, original, replacement", [
    ("dW1 =", "drop-transpose", "X.T", "X"),
    ("dA2 =", "swap-dot-operands", "np.dot(W3.T, dZ3)", "np.dot(dZ3, W3.T)"),
    ("dW3 =", "shift-layer", "A2", "A1"),
    ("dZ2 =", "drop-mask", "np.multiply(dA2, np.int64(A2 > 0))", "dA2"),
    ("dZ1 =", "drop-mask", "np.multiply(dA1, np.int64(A1 > 0))", "dA1"),
    ("db1 =", "drop-keepdims", "np.sum(dZ1, axis=1, keepdims=True)", "np.sum(dZ1, axis=1)"),
])
def test_mlp3_mutants_include_named_bugs(mlp3_mutants, statement, operator, original, replacement):
    line = _line_of(statement, mutation.source_of(mlp3.backward_propagation_n)[1])
    hits = [m for m in mlp3_mutants if (m.line, m.operator, m.original, m.replacement)
            == (line, operator, original, replacement)]
    assert len(hits) == 1
    assert statement.rstrip(" =") in hits[0].diff.split("+    ", 1)[1].split("\n")[0]


def test_every_category_makes_mutants_on_mlp3(mlp3_mutants):
    assert {m.category for m in mlp3_mutants} >= {
        "sign", "factor", "index", "activation", "reduction", "variable"}


def test_string_keys_are_not_mutated_by_default():
    found = mutants_of(load("mlp3"))
    assert not [m for m in found if m.original.startswith('"')]
    keys = mutants_of(load("mlp3"), operators=["swap-key"])
    assert keys and all(m.category == "key" for m in keys)


def test_mutant_runs_in_memory_and_leaves_module_alone(mlp3_mutants):
    subject = load("mlp3")
    original = mlp3.backward_propagation_n
    dropped = next(m for m in mlp3_mutants if m.operator == "drop-mask")
    mutant = mutant_backward(subject, dropped)
    assert mutant is not original and mlp3.backward_propagation_n is original
    compiled = inspect.unwrap(mutant)
    assert compiled.__globals__ is not vars(mlp3)
    assert compiled.__code__.co_filename == f"<mutant {dropped.id}>"


SKIPPING = '''
import numpy as np

def backward(X, Y, cache):
    A1, A2 = cache
    dZ2 = A2 - Y  # mutagrad: skip
    for i in range(3):  # mutagrad: skip
        dZ2 = dZ2 * 2
        dZ2 = dZ2 - A1
    dW = np.dot(dZ2, A1.T)
    return {"dW": dW}
'''


def test_skip_comment_excludes_a_line_and_a_block():
    found = find_mutants(SKIPPING, ["backward"], operators=mutation.OPERATORS, strict=True)
    lines = {m.line for m in found}
    assert lines == {5, 10}  # lines 6-9 are skipped: a line, then a whole loop


def test_unknown_function_lists_those_that_exist():
    with pytest.raises(InvalidInput, match="functions there: backward"):
        find_mutants(SKIPPING, ["backprop"])


def test_listing_and_exporting_leave_the_source_byte_identical(tmp_path, capsys):
    from cli_helpers import run_cli

    files = [Path(mlp3.__file__), Path(load("linear1d").backward.__code__.co_filename)]
    before = [f.read_bytes() for f in files]
    for name in ("mlp3", "linear1d"):
        assert run_cli(capsys, "mutants", name).code == 0
        assert run_cli(capsys, "mutants", name, "--export", str(tmp_path / "m")).code == 0
        assert run_cli(capsys, "diff", name, mutants_of(load(name))[0].id).code == 0
    assert [f.read_bytes() for f in files] == before
    index = json.loads((tmp_path / "m" / "mlp3" / "index.json").read_text())
    assert len(index) == len(mutants_of(load("mlp3")))
    assert all((tmp_path / "m" / "mlp3" / e["file"]).exists() for e in index)


def test_pytest_does_not_collect_an_export(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    mutation.export("mlp3", mutants_of(load("mlp3")), tmp_path / "mutants")
    # A mutant copy named like a test file would be collected without the export's conftest.
    copy = next((tmp_path / "mutants" / "mlp3").glob("*.py"))
    (tmp_path / "mutants" / "mlp3" / "test_trap.py").write_text(
        copy.read_text() + "\ndef test_trap():\n    assert False\n")
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert ran.returncode == 0, ran.stdout
    assert "1 passed" in ran.stdout


def test_exported_copy_is_runnable(tmp_path):
    subject = load("mlp3")
    found = mutants_of(subject)
    mutant = next(m for m in found if m.operator == "double-term")
    folder = mutation.export("mlp3", [mutant], tmp_path)
    ran = subprocess.run([sys.executable, "-c",
                          ("import runpy, sys; ns = runpy.run_path(sys.argv[1]); "
                           "print(ns['SUBJECT'].name)"), str(folder / f"{mutant.id}.py")],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "mlp3"


def test_windowed_diffs_equal_whole_file_diffs(mlp3_mutants):
    import difflib

    path, source = mutation.source_of(mlp3.backward_propagation_n)
    for m in mlp3_mutants:
        whole = "".join(difflib.unified_diff(
            source.splitlines(keepends=True), m.source.splitlines(keepends=True),
            fromfile=path, tofile=f"{path} (mutant {m.id})", n=2))
        assert m.diff == whole


def test_diff_json_is_the_listed_mutant_and_its_diff(capsys):
    from cli_helpers import run_cli

    some = mutants_of(load("mlp3"))[3]
    ran = run_cli(capsys, "diff", "mlp3", some.id, "--json")
    assert ran.code == 0
    listed = next(m for m in json.loads(run_cli(capsys, "mutants", "mlp3", "--json").out)
                  ["mutants"] if m["id"] == some.id)
    got = json.loads(ran.out)
    assert got["mutant"] == listed and got["diff"] == some.diff and got["subject"] == "mlp3"
