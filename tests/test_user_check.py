"""--check FUNC: the user's own gradient check as a strategy (check:FUNC), in check, in
campaigns and in the epsilon sweep; judged against the built-in strategies it reproduces,
and against the seed's check written out in tests/seedcode.py."""

import hashlib
import json
import re
import shlex
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from seedcode import gradient_check_n as seed_gradient_check_n

from mutagrad import campaign, mutation, subjects
from mutagrad import strategies as S
from mutagrad.store import Store
from mutagrad.values import ORIGINAL, Settings, Status

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
OWN = "check:gradient_check_n"
ARRAYS = "check:gradient_check.eval_numerical_gradient_array"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def exercise(tmp_path: Path) -> Path:
    """README's exercise files (the network, gc_utils and the exercise's own check) in a
    folder of their own (the tests check they stay intact)."""
    folder = tmp_path / "exercise"
    shutil.copytree(EXAMPLES / "exercise", folder)
    return folder


@pytest.fixture
def layers(tmp_path: Path) -> Path:
    """README's cs231n layers file with its config, and a gradient_check.py beside it."""
    folder = tmp_path / "cs231n"
    folder.mkdir()
    for name in ("layers.py", "gradient_check.py"):
        shutil.copy(EXAMPLES / "cs231n" / name, folder / name)
    shutil.copy(EXAMPLES / "cs231n" / "pyproject.example.toml", folder / "pyproject.toml")
    return folder


def _by_pair(store: Store, campaign_id: int) -> dict[tuple[str, int], dict[str, tuple]]:
    found: dict[tuple[str, int], dict[str, tuple]] = defaultdict(dict)
    for t in store.trials(campaign_id):
        found[(t.mutant_id, t.case_index)][t.strategy] = (t.outcome, t.difference, t.note)
    return found


def test_the_exercises_own_gradient_check_n_gives_centereds_verdict_on_every_mutant(
        exercise, tmp_path):
    """Verified as the issue asks: the exercise's gradient_check_n, copied verbatim from the
    seed text, judges every mutant of the seed network as the built-in centered strategy
    does at the same epsilon and tolerance."""
    before = _digests(exercise)
    store = Store(f"sqlite:///{tmp_path / 'own.db'}")
    spec = subjects.parse_spec(str(exercise / "gradient_checking.py"))
    cid = campaign.start(store, spec, Settings(cases=2, strategies=("centered", OWN), jobs=1,
                                               explore=False))
    assert store.campaign(cid).status == Status.FINISHED
    pairs = _by_pair(store, cid)
    subject = subjects.load(spec)
    every = {m.id for m in mutation.mutants_of(subject)}
    assert {m for m, _ in pairs} == every | {ORIGINAL}  # every mutant, every case
    outcomes = {o for v in pairs.values() for o, _, _ in v.values()}
    assert {"detected", "equivalent", "passed"} <= outcomes  # a verdict worth comparing
    for key, by in pairs.items():
        assert by["centered"][0] == by[OWN][0], key
        assert by["centered"][2] == by[OWN][2], key  # the same kink notes
        if by["centered"][1] is not None:
            assert by[OWN][1] == pytest.approx(by["centered"][1], rel=1e-9, abs=1e-300), key
    # the original's stored difference is the seed's check written out independently
    cases = campaign.build_cases(subject, store.campaign(cid).settings)
    for index, case in enumerate(cases):
        grads = subject.module.backward_propagation_n(
            case.data["X"], case.data["Y"],
            subject.module.forward_propagation_n(case.data["X"], case.data["Y"],
                                                 case.params)[1])
        expected = seed_gradient_check_n(case.params, grads, case.data["X"], case.data["Y"],
                                         subject.module.forward_propagation_n, 1e-7)
        assert pairs[(ORIGINAL, index)][OWN][1] == pytest.approx(float(expected), rel=1e-9)
    assert _digests(exercise) == before


def test_check_with_the_users_check_prints_its_difference_and_verdict(exercise, capsys):
    before = _digests(exercise)
    target = str(exercise / "gradient_checking.py")
    ran = run_cli(capsys, "check", target, "--check", "gradient_check_n", "--json")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    [own] = data["strategies"]
    assert own["strategy"] == OWN and own["passed"] is True
    assert own["difference"] == pytest.approx(data["difference"], rel=1e-9)  # the seed's
    # a tolerance under the correct code's difference: the user's check fails it (exit 1)
    ran = run_cli(capsys, "check", target, "--check", "gradient_check_n", "--tolerance",
                  f"{own['difference'] / 2:g}")
    assert ran.code == 1
    assert "check:gradient_check_n" in ran.out and "FAIL" in ran.out
    assert _digests(exercise) == before


def test_the_cs231n_style_check_reproduces_the_cs231n_checker_per_mutant(layers, tmp_path,
                                                                           monkeypatch):
    """The user's eval_numerical_gradient_array with the notebooks' rel_error at h = 1e-5
    is what the built-in cs231n port computes: the same difference, the same verdict."""
    before = _digests(layers)
    monkeypatch.chdir(layers)
    store = Store(f"sqlite:///{tmp_path / 'cs.db'}")
    spec = subjects.parse_spec(str(layers / "layers.py") + "::affine")
    cid = campaign.start(store, spec, Settings(cases=1, strategies=("cs231n", ARRAYS),
                                               epsilons=(1e-5,), jobs=1, explore=False))
    pairs = _by_pair(store, cid)
    assert len({m for m, _ in pairs}) > 8
    assert {"detected", "passed"} <= {o for v in pairs.values() for o, _, _ in v.values()}
    for key, by in pairs.items():
        assert by["cs231n"][:2] == by[ARRAYS][:2], key
    assert _digests(layers) == before


def test_a_comparison_of_the_users_own_replaces_rel_error(layers, monkeypatch):
    monkeypatch.chdir(layers)
    subject = subjects.load(subjects.parse_spec(str(layers / "layers.py") + "::affine"))
    case = subject.case(0)
    name = ARRAYS + ":gradient_check.loose_error"
    [check] = S.check_all(subject, case, [name], 1e-5)
    analytic = subject.gradients(subject.backward, case)
    numerical = {k: np.zeros_like(analytic[k]) for k in subject.param_names}
    for k in subject.param_names:  # centered differences of J, written out
        for ix in np.ndindex(case.params[k].shape):
            costs = []
            for sign in (1, -1):
                moved = {**case.params, k: case.params[k].copy()}
                moved[k][ix] += sign * 1e-5
                costs.append(subject.cost(moved, case))
            numerical[k][ix] = (costs[0] - costs[1]) / 2e-5
    gap = max(float(np.max(np.abs(numerical[k] - analytic[k]))) for k in subject.param_names)
    assert check.difference == pytest.approx(gap, rel=1e-12)
    assert check.strategy == name and check.passed


def test_the_epsilon_sweep_runs_the_users_check(exercise, capsys):
    target = str(exercise / "gradient_checking.py")
    common = ("epsilon", target, "--dtype", "float64", "--range", "1e-9:1e-3", "--json")
    own = run_cli(capsys, *common, "--check", "gradient_check_n")
    ours = run_cli(capsys, *common)
    assert own.code == ours.code == 0, own.err
    [mine], [centered] = json.loads(own.out)["curves"], json.loads(ours.out)["curves"]
    assert mine["strategy"] == OWN
    assert mine["difference"] == pytest.approx(centered["difference"], rel=1e-9)


TOUCHY = '''

def touchy_check(parameters, gradients, X, Y, epsilon):
    difference = gradient_check_n(parameters, gradients, X, Y, epsilon)
    if difference > 0.5:
        raise RuntimeError("my check gives up on large differences")
    return difference


def stuck_check(parameters, gradients, X, Y, epsilon):
    difference = gradient_check_n(parameters, gradients, X, Y, epsilon)
    while difference > 0.5:
        pass
    return difference
'''


@pytest.mark.parametrize("check, message", [("touchy_check", "RuntimeError"),
                                            ("stuck_check", "ran longer than")])
def test_a_check_that_breaks_on_a_mutant_is_the_users_error_not_an_outcome(
        exercise, capsys, check, message):
    """The original passes; a mutant makes the user's check raise or hang in a worker: the
    campaign stops with one line naming their check (exit 2), marked failed with it."""
    target = exercise / "gradient_checking.py"
    target.write_text(target.read_text() + TOUCHY)
    before = _digests(exercise)
    ran = run_cli(capsys, "run", str(target), "--check", check, "--cases", "1", "--batch",
                  "6", "--jobs", "1", "--timeout", "2", "--no-explore")
    assert ran.code == 2, ran
    assert f"your check {check}" in ran.err and message in ran.err
    assert "internal error" not in ran.err and len(ran.err.strip().splitlines()) == 1
    [info] = Store(None, create=False).campaigns()
    assert info.status == Status.FAILED and f"your check {check}" in (info.note or "")
    assert _digests(exercise) == before


def test_bad_checks_are_one_line_exit_2(exercise, layers, capsys, monkeypatch):
    target = str(exercise / "gradient_checking.py")
    for args, expected in (
            (("--check", "no_such_check"), "has no function 'no_such_check'"),
            (("--check", "vector_to_dictionary"), "fits no style"),
            (("--check", "gradient_check_n:rel_error"), "computes its own difference"),
            (("--check", "bad name"), "--check takes FUNC"),
    ):
        for command in ("check", "run"):
            ran = run_cli(capsys, command, target, *args, "--jobs" if command == "run" else
                          "--seed", "1")
            assert ran.code == 2, (args, ran)
            assert expected in ran.err and len(ran.err.strip().splitlines()) == 1, ran.err
    ran = run_cli(capsys, "check", "mlp3", "--check", "gradient_check_n")
    assert ran.code == 2 and "has no function 'gradient_check_n'" in ran.err
    # the exercise's style needs cases with X and Y: a layer's have neither
    (layers / "mine.py").write_text("def whole(parameters, gradients, X, Y, epsilon):\n"
                                    "    return 0.0\n")
    monkeypatch.chdir(layers)
    ran = run_cli(capsys, "check", "layers.py::affine", "--check", "mine.whole")
    assert ran.code == 2 and "needs cases with X and Y" in ran.err, ran.err


def test_the_plan_keeps_the_users_check_by_name():
    settings = Settings(strategies=("centered", OWN))
    campaign.validate_settings(settings)
    assert campaign.tolerances(settings) == {"centered": 1e-7, OWN: 1e-7}
    assert S.with_check(None, "gradient_check_n") == (OWN,)
    assert S.with_check(("centered",), "gradient_check_n") == (OWN, "centered")
    assert S.with_check(None, None) == ("centered",)
    assert S.expand(("all", OWN))[-1] == OWN


def test_the_readme_section_runs_and_prints_what_it_shows(capsys, monkeypatch):
    """'Your own gradient check': every command, and the tables as printed."""
    section = (ROOT / "README.md").read_text().split("## Your own gradient check", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    commands = [line.split("  #", 1)[0].strip() for lang, b in blocks if lang == "bash"
                for line in b.splitlines()]
    shown = [b.rstrip("\n") for lang, b in blocks if lang == ""]
    assert len(commands) == 4 and len(shown) == 2
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    before = _digests(EXAMPLES / "exercise") | _digests(EXAMPLES / "cs231n")
    outputs = []
    for command in commands:
        ran = run_cli(capsys, *shlex.split(command)[1:])
        assert ran.code == 0, (command, ran.err)
        outputs.append(ran.out)
    assert shown[0] in outputs[0]
    assert shown[1] in outputs[2]
    title = outputs[3].replace("\n", "")  # the table's title wraps at its width
    assert "check:gradient_check.eval_numerical_gradient_array on each case" in title
    assert outputs[3].count("pass") == 2
    assert _digests(EXAMPLES / "exercise") | _digests(EXAMPLES / "cs231n") == before


def test_a_check_with_a_bug_of_its_own_fails_the_correct_network(exercise, capsys):
    """A student's gradient_check_n that perturbs parameters_values itself (np.copy
    forgotten): J_minus is taken at theta, so gradapprox is about half the gradient, and
    their check fails the correct backward where centered passes it."""
    target = exercise / "gradient_checking.py"
    text = target.read_text()
    assert "thetaplus = np.copy(parameters_values)" in text
    target.write_text(text.replace("thetaplus = np.copy(parameters_values)",
                                   "thetaplus = parameters_values"))
    ran = run_cli(capsys, "check", str(target), "--check", "gradient_check_n", "--strategy",
                  "centered", "--json")
    assert ran.code == 1
    data = json.loads(ran.out)
    own = next(c for c in data["strategies"] if c["strategy"] == OWN)
    assert data["passed"] is False and own["passed"] is False
    assert data["difference"] < 1e-7  # the seed's check passes the same backward
    assert own["difference"] == pytest.approx(1 / 3, rel=0.05)  # |g - g/2| / (|g| + |g/2|)
    assert own["worst"] == [] and "stays inside your function" in own["note"]


@pytest.mark.parametrize("function", ["eval_numerical_gradient_array",
                                      "eval_numerical_gradient"])
def test_both_cs231n_styles_give_the_cs231n_ports_numbers(layers, monkeypatch, function):
    """eval_numerical_gradient(f, x, verbose, h) (called quiet) and the array style agree
    with the port on every layer of the file, on a generated case."""
    monkeypatch.chdir(layers)
    for spec in subjects.expand(subjects.parse_spec(str(layers / "layers.py"))):
        subject = subjects.load(spec)
        case = subject.case(1, 2)
        port, own = S.check_all(subject, case, ["cs231n", f"check:gradient_check.{function}"],
                                1e-5)
        assert own.difference == port.difference, spec.select
        assert own.passed == port.passed


def test_the_exercise_style_gets_the_gradients_under_the_users_keys(exercise, capsys):
    """With --grad-key 'grad_{}' the backward returns grad_W1, ..., and gradient_check_n
    reads them under those keys (gradients_to_vector renamed alike)."""
    for name in ("gradient_checking.py", "gc_utils.py"):
        path = exercise / name
        path.write_text(path.read_text().replace('"dW', '"grad_W').replace('"db', '"grad_b'))
    ran = run_cli(capsys, "check", str(exercise / "gradient_checking.py"), "--grad-key",
                  "grad_{}", "--check", "gradient_check_n", "--strategy", "centered", "--json")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    own = next(c for c in data["strategies"] if c["strategy"] == OWN)
    centered = next(c for c in data["strategies"] if c["strategy"] == "centered")
    assert own["passed"] and own["difference"] == pytest.approx(centered["difference"],
                                                               rel=1e-9)
