"""Cases that can show every bug: jitter, case families, exploratory cases that tell a bug
the cases hide from an equivalent mutant, and loading the user's code safely."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import analysis, campaign
from mutagrad.store import Store
from mutagrad.subject import family_case, jittered
from mutagrad.subjects import load, parse_spec
from mutagrad.values import Settings

BN = Path(__file__).parent / "data" / "bn_gamma_ones.py"


def _gamma_bug(store, cid):
    return next(v for v in analysis.report(store, cid).verdicts
                if v.mutant.operator == "drop-factor" and v.mutant.original == "dout * gamma"
                and v.mutant.replacement == "dout")


def test_gamma_one_hides_the_dy_bug_and_jitter_or_exploration_shows_it(tmp_path):
    before = BN.read_bytes()
    store = Store(f"sqlite:///{tmp_path / 'bn.db'}")
    jittered_run = campaign.start(store, parse_spec(str(BN)), Settings(cases=2, jobs=1))
    assert _gamma_bug(store, jittered_run).status == "detected"
    plain = campaign.start(store, parse_spec(str(BN)), Settings(cases=2, jobs=1, jitter=False))
    bug = _gamma_bug(store, plain)
    assert bug.status == "equivalent"  # gamma = 1 on every case: dout * 1 == dout
    assert bug.mutant.hidden_by and "jittered: true error" in bug.mutant.hidden_by
    # a truly equivalent mutant is explored and found equivalent everywhere
    assert BN.read_bytes() == before


def test_results_name_the_bugs_your_cases_hide(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'bn.db'}"
    assert run_cli(capsys, "run", str(BN), "--cases", "2", "--no-jitter", "--jobs", "1",
                   "--db", db).code == 0
    out = " ".join(run_cli(capsys, "results", "--db", db).out.split())
    assert "Real bugs your cases hide (1)" in out and "dout * gamma -> dout" in out


def test_jitter_is_reproducible_and_moves_every_float_parameter():
    subject = load("mlp3")
    case = subject.case(3, 6)
    a, b = jittered(case), jittered(case)
    for name in case.params:
        assert np.array_equal(a.params[name], b.params[name])
        assert not np.array_equal(a.params[name], case.params[name])
    assert a.data["X"] is case.data["X"]  # the data are shared, not changed
    from mutagrad.subject import Case
    init = Case(4, 1, "float64", {"b": np.zeros((50, 1)), "gamma": np.ones((1, 50))}, {})
    moved = jittered(init)
    assert 0.3 < np.std(moved.params["b"]) < 0.7  # zero biases: sd 0.5
    assert 0.3 < np.std(moved.params["gamma"]) < 0.7  # gamma = 1: sd 0.5 x rms 1


def test_the_first_seed_keeps_the_exact_initialisation():
    subject = load("mlp3")
    cases = campaign.build_cases(subject, Settings(cases=2, batches=(1, 6)))
    first = [c for c in cases if c.seed == 0]
    assert all(not c.shape.endswith("jittered") for c in first)
    assert all(c.shape.endswith("jittered") for c in cases if c.seed == 1)
    exact = subject.case(0, 6)
    assert np.array_equal(first[1].params["W1"], exact.params["W1"])


def test_case_families_stress_and_repeats():
    subject = load("mlp3")
    case = subject.case(2, 6)
    stress = family_case(case, "stress")
    assert stress.dtype == "float32" and stress.params["W1"].dtype == np.float32
    assert np.allclose(stress.data["X"], 10 * case.data["X"].astype(np.float32))
    cases = campaign.build_cases(subject, Settings(cases=1, batches=(1, 6),
                                                   families=("stress", "repeats")))
    assert [c.shape for c in cases][-2:] == ["stress jittered", "repeats jittered"]
    idx = np.arange(10)
    from mutagrad.subject import Case
    repeated = family_case(Case(0, 1, "float64", {"w": np.ones(3)}, {"idx": idx}), "repeats")
    assert len(set(repeated.data["idx"].tolist())) <= 2


def test_a_square_seed_style_input_is_avoided_by_default(tmp_path):
    (tmp_path / "net3.py").write_text(textwrap.dedent('''
        import numpy as np

        def init_params(rng):
            return {"W1": rng.standard_normal((2, 3))}

        def forward_propagation_n(X, Y, parameters):
            Z = parameters["W1"] @ X
            return float(np.sum(Z * Z)), (Z, X)

        def backward_propagation_n(X, Y, cache):
            Z, X = cache
            return {"dW1": 2 * Z @ X.T}
        '''))
    subject = load(parse_spec(str(tmp_path / "net3.py")))
    X = subject.case(0).data["X"]
    assert X.shape[0] == 3 and X.shape[1] != 3  # n_x = 3: m is not 3


# -- loading the user's code -----------------------------------------------------------------

def test_a_module_that_trains_at_import_is_stopped_with_a_hint(tmp_path):
    (tmp_path / "script.py").write_text("import numpy as np\nwhile True:\n    pass\n")
    start = time.monotonic()
    ran = subprocess.run([sys.executable, "-m", "mutagrad", "check", "script.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 2
    assert "did not finish within 10 s" in ran.stderr and "__main__" in ran.stderr
    assert time.monotonic() - start < 60


def test_a_file_inside_a_package_imports_its_package(tmp_path, capsys):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("import numpy as np\n\ndef double(x):\n    return 2 * x\n")
    (package / "layer.py").write_text(textwrap.dedent('''
        import numpy as np
        from pkg import helpers

        print("hello from the user's module")

        def init_params(rng):
            return {"W1": rng.standard_normal((2, 4))}

        def forward_propagation_n(X, Y, parameters):
            Z = parameters["W1"] @ X
            return float(np.sum(Z * Z)), (Z, X)

        def backward_propagation_n(X, Y, cache):
            Z, X = cache
            return {"dW1": helpers.double(Z) @ X.T}
        '''))
    ran = run_cli(capsys, "check", str(package / "layer.py"), "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["passed"] is True  # the module's print did not land in it
    assert "hello from the user's module" in ran.err
    assert not (package / "__pycache__").exists()


@pytest.mark.parametrize("command", [["mutants"], ["check"]])
def test_the_users_prints_never_reach_json_stdout(tmp_path, capsys, command):
    (tmp_path / "loud.py").write_text(textwrap.dedent('''
        import numpy as np
        print("LOUD at import")

        def init_params(rng):
            return {"W1": rng.standard_normal((2, 4))}

        def forward_propagation_n(X, Y, parameters):
            print("LOUD in forward")
            Z = parameters["W1"] @ X
            return float(np.sum(Z * Z)), (Z, X)

        def backward_propagation_n(X, Y, cache):
            print("LOUD in backward")
            Z, X = cache
            return {"dW1": 2 * Z @ X.T}
        '''))
    ran = run_cli(capsys, *command, str(tmp_path / "loud.py"), "--json")
    json.loads(ran.out)
    assert "LOUD" not in ran.out


CLIPPED = '''
import numpy as np

def init_params(rng):
    return {"W1": 3.0 * rng.standard_normal((2, 4))}

def forward_propagation_n(X, Y, parameters):
    Z = parameters["W1"] @ X
    return float(np.sum(Z * Z)), (Z, X)

def backward_propagation_n(X, Y, cache):
    Z, X = cache
    dW1 = 2 * Z @ X.T
    np.clip(dW1, -5, 5, out=dW1)  # exploding gradients, as the char-RNN clips them
    return {"dW1": dW1}
'''


def test_a_clipped_gradient_gets_a_note_not_just_a_failure(tmp_path, capsys):
    (tmp_path / "clip.py").write_text(CLIPPED)
    ran = run_cli(capsys, "check", str(tmp_path / "clip.py"), "--batch", "5")
    assert ran.code == 1
    text = " ".join(ran.out.split())
    assert "is clipped" in text and "analytic exactly" in text
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cli(capsys, "run", str(tmp_path / "clip.py"), "--cases", "1", "--jobs", "1",
                   "--db", db, "--category", "sign").code == 0
    shown = run_cli(capsys, "show", "original", "--db", db, "--json")
    notes = [t["note"] or "" for t in json.loads(shown.out)["trials"]]
    assert any("is clipped" in n for n in notes)
