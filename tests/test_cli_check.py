"""`mutagrad check` and `mutagrad subjects` as a user runs them."""

import json

import pytest
import seedcode
from cli_helpers import run_cli

from mutagrad.subjects import load, mlp3


def test_check_linear1d_passes_and_prints_seed_difference(capsys):
    ran = run_cli(capsys, "check", "linear1d")
    assert ran.code == 0
    case = load("linear1d").case()
    from mutagrad.subjects import linear1d
    want = seedcode.gradient_check(case.data["x"], case.params["theta"],
                                   linear1d.forward_propagation, linear1d.backward_propagation)
    assert f"difference = {float(want)!r}" in ran.out
    assert "Your backward propagation works perfectly fine!" in ran.out


def test_check_mlp3_json_difference_is_the_seeds(capsys):
    ran = run_cli(capsys, "check", "mlp3", "--json", "--epsilon", "1e-6", "--tolerance", "1e-6")
    payload = json.loads(ran.out)
    case = load("mlp3").case()
    X, Y = case.data["X"], case.data["Y"]
    _, cache = mlp3.forward_propagation_n(X, Y, case.params)
    want = seedcode.gradient_check_n(case.params, mlp3.backward_propagation_n(X, Y, cache),
                                     X, Y, mlp3.forward_propagation_n, 1e-6)
    assert payload["difference"] == pytest.approx(want, rel=1e-9)
    assert payload["passed"] == bool(want <= 1e-6)
    assert ran.code == (0 if payload["passed"] else 1)


def test_check_seedbugs_fails_naming_dW2_and_db1(capsys):
    ran = run_cli(capsys, "check", "mlp3-seedbugs")
    assert ran.code == 1
    assert "There is a mistake in the backward propagation!" in ran.out
    table = ran.out.split("disagrees most")[1].splitlines()
    rows = [line.split()[0] for line in table if line[:1] == "d"]
    assert set(rows[:2]) == {"db1", "dW2"}
    payload = json.loads(run_cli(capsys, "check", "mlp3-seedbugs", "--json").out)
    assert {p["gradient"] for p in payload["parameters"][:2]} == {"dW2", "db1"}


@pytest.mark.parametrize("args, fix", [
    (["check", "nosuch"], "mutagrad subjects"),
    (["check", "mlp3", "--epsilon", "0"], "--epsilon"),
    (["check", "mlp3", "--epsilon", "-1e-7"], "--epsilon"),
    (["check", "mlp3", "--tolerance", "0"], "--tolerance"),
    (["check", "mlp3", "--batch", "0"], "--batch"),
    (["check", "mlp3", "--dtype", "float16"], "float64, float32"),
    (["check", "mlp3", "--epsilon", "tiny"], "--epsilon"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, fix):
    ran = run_cli(capsys, *args)
    assert ran.code == 2
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert "Traceback" not in ran.err + ran.out
    assert fix in ran.err


def test_subjects_lists_the_builtins(capsys):
    ran = run_cli(capsys, "subjects", "--json")
    names = [s["name"] for s in json.loads(ran.out)]
    assert names[:3] == ["linear1d", "mlp3", "mlp3-seedbugs"]
    assert ran.code == 0


@pytest.mark.parametrize("command", [["check"], ["run", "--cases", "1", "--jobs", "1"]])
def test_a_syntax_error_in_the_users_file_is_one_line_naming_file_and_line(
        tmp_path, capsys, monkeypatch, command):
    (tmp_path / "net.py").write_text("import numpy as np\n\n\ndef backward(x:\n    return x\n")
    (tmp_path / "uses.py").write_text("import helper\n")
    (tmp_path / "helper.py").write_text("x = 1\nif x\n    pass\n")
    monkeypatch.chdir(tmp_path)
    for target, where in (("net.py", "net.py:4:"), ("uses.py", "helper.py:2:")):
        ran = run_cli(capsys, *command[:1], target, *command[1:])
        # what Python's own compiler says, at the file and line it says it
        try:
            compile((tmp_path / where.split(":")[0]).read_text(), where, "exec")
        except SyntaxError as e:
            expected = f"{where} {e.msg} (SyntaxError)"
        assert ran.code == 2
        assert ran.err.strip() == f"mutagrad: error: {expected}", ran.err
    assert not (tmp_path / "results.db").exists()
