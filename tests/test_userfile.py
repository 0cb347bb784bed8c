"""The user's own backprop code, unmodified: files, modules, adapters, conventions, errors."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run_cli

from mutagrad import analysis, campaign, mutation
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec

ROOT = Path(__file__).parent.parent
EXERCISE = Path(__file__).parent / "data" / "exercise_net.py"
EXAMPLE = ROOT / "examples" / "twolayer" / "net.py"


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes (new files show up too)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def user_dir(tmp_path):
    folder = tmp_path / "user"
    shutil.copytree(EXAMPLE.parent, folder / "twolayer")
    shutil.copy(EXERCISE, folder / "exercise_net.py")
    return folder


def test_plain_exercise_file_equals_the_builtin(tmp_path):
    settings = campaign.Settings(cases=2, jobs=2)
    store = Store(str(tmp_path / "same.db"))
    builtin = campaign.start(store, "mlp3", settings)
    plain = campaign.start(store, str(EXERCISE), settings)
    a, b = analysis.report(store, builtin), analysis.report(store, plain)
    assert {v.mutant.mutant_id: v.status for v in a.verdicts} == {
        v.mutant.mutant_id: v.status for v in b.verdicts}
    assert [(g.group, g.detected, g.missed, g.rate) for g in a.groups] == [
        (g.group, g.detected, g.missed, g.rate) for g in b.groups]
    assert [t.difference for t in store.trials(builtin)] == [
        t.difference for t in store.trials(plain)]


def test_a_module_name_works_like_its_file(user_dir, monkeypatch):
    monkeypatch.chdir(user_dir)
    by_module = load(parse_spec("exercise_net"))
    by_file = load(parse_spec(str(user_dir / "exercise_net.py")))
    assert [m.id for m in mutation.mutants_of(by_module)] == [
        m.id for m in mutation.mutants_of(by_file)]


def test_readme_example_runs_as_written(capsys, monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    commands = ["mutagrad check examples/twolayer/net.py",
                "mutagrad run examples/twolayer/net.py --mutate relu_backward --cases 2"]
    for command in commands:
        assert command in readme
    monkeypatch.chdir(ROOT)
    before = _snapshot(ROOT / "examples")
    assert run_cli(capsys, *commands[0].split()[1:]).code == 0
    ran = run_cli(capsys, *commands[1].split()[1:])
    assert ran.code == 0 and "campaign" in ran.out
    assert _snapshot(ROOT / "examples") == before


def test_the_users_files_are_byte_identical_after_every_command(user_dir, capsys,
                                                               monkeypatch):
    monkeypatch.chdir(user_dir)
    before = _snapshot(user_dir)
    net = "twolayer/net.py"
    some = mutation.mutants_of(load(parse_spec(str(user_dir / net))))[0].id
    for args in (["check", net], ["mutants", net, "--mutate", "relu_backward"],
                 ["diff", net, some], ["run", net, "--cases", "1", "--db", "r.db"],
                 ["results", "--db", "r.db"], ["check", "exercise_net.py", "--seed", "2"],
                 ["mutants", "exercise_net"], ["run", "exercise_net.py", "--cases", "1",
                                               "--category", "sign", "--db", "r.db"]):
        ran = run_cli(capsys, *args)
        assert ran.code in (0, 1), (args, ran.err)
    after = {k: v for k, v in _snapshot(user_dir).items() if not k.startswith("r.db")}
    assert after == before  # no file changed, no __pycache__ appeared


def test_mutate_a_helper(tmp_path):
    subject = load(parse_spec(str(EXAMPLE), mutate=("relu_backward",)))
    found = mutation.mutants_of(subject)
    helper = [m for m in found if m.function == "relu_backward"]
    assert helper and {m.function for m in found} == {"backward", "relu_backward"}
    # a mutated helper is the one the backward calls
    dropped = next(m for m in helper if m.operator == "drop-mask")
    case = subject.case(1, 5)
    mutated = subject.gradients(mutation.mutant_backward(subject, dropped), case)
    original = subject.gradients(subject.backward, case)
    assert not (mutated["W1"] == original["W1"]).all()
    assert (mutated["W2"] == original["W2"]).all()
    store = Store(str(tmp_path / "h.db"))
    cid = campaign.start(store, parse_spec(str(EXAMPLE), mutate=("relu_backward",)),
                         campaign.Settings(cases=1, jobs=1))
    verdicts = {v.mutant.mutant_id: v.status for v in analysis.report(store, cid).verdicts}
    assert verdicts[dropped.id] == "detected"


def test_a_helper_the_forward_calls_is_refused(capsys):
    ran = run_cli(capsys, "mutants", str(EXAMPLE), "--mutate", "relu")
    assert ran.code == 2 and "forward -> relu" in ran.err


BROKEN = {
    "not_a_dict": ("def backward_propagation_n(X, Y, cache):\n    return [1, 2]\n",
                   "not a dict of gradients"),
    "wrong_keys": ("def backward_propagation_n(X, Y, cache):\n    return {'gW': X}\n",
                   "expected dW, db; it returned gW"),
    "wrong_shape": (("def backward_propagation_n(X, Y, cache):\n"
                     "    return {'dW': np.ones((3, 3)), 'db': np.ones((1, 1))}\n"),
                    "gradient of W has shape (3, 3), W has (1, 2)"),
}
GOOD_FORWARD = ("import numpy as np\n\n"
                "def init_params(rng):\n"
                "    return {'W': rng.standard_normal((1, 2)), 'b': np.zeros((1, 1))}\n\n"
                "def forward_propagation_n(X, Y, p):\n"
                "    Z = p['W'] @ X + p['b']\n"
                "    return float(np.sum((Z - Y) ** 2)), (X, Y, Z)\n\n")


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_backward_errors(tmp_path, capsys, kind):
    code, message = BROKEN[kind]
    path = tmp_path / f"{kind}.py"
    path.write_text(GOOD_FORWARD + code)
    ran = run_cli(capsys, "check", str(path))
    # keys that do not fit the convention are bad input (2); a wrong shape is a failed check
    assert ran.code == (1 if kind == "wrong_shape" else 2) and message in ran.err, ran.err
    assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err


def test_forward_without_a_scalar_cost(tmp_path, capsys):
    path = tmp_path / "vector_cost.py"
    path.write_text(GOOD_FORWARD.replace("float(np.sum((Z - Y) ** 2))", "(Z - Y) ** 2")
                    + "def backward_propagation_n(X, Y, cache):\n    return {}\n")
    ran = run_cli(capsys, "check", str(path), "--batch", "3")
    assert ran.code == 2 and "does not give one number as its cost" in ran.err


def test_missing_file_and_missing_function(tmp_path, capsys):
    ran = run_cli(capsys, "check", str(tmp_path / "nowhere.py"))
    assert ran.code == 2 and "no such file" in ran.err
    path = tmp_path / "partial.py"
    path.write_text(GOOD_FORWARD)
    ran = run_cli(capsys, "run", str(path))
    assert ran.code == 2
    assert ("no function 'backward_propagation_n' for the backward (functions there: "
            "forward_propagation_n, init_params): name the backward function, or write an "
            "adapter") in ran.err and ran.err.rstrip().endswith("(option --backward)")


def test_import_error_shows_the_users_own_lines(tmp_path, capsys):
    path = tmp_path / "typo.py"
    path.write_text("import numpy as np\n\n\ndef helper():\n    return 1\n\n\nx = helper() + undefined_name\n")
    ran = run_cli(capsys, "mutants", str(path))
    assert ran.code == 2
    assert "NameError: name 'undefined_name' is not defined" in ran.err
    assert f'File "{path}", line 8' in ran.err and "undefined_name" in ran.err
    assert "mutagrad/subjects" not in ran.err and "importlib" not in ran.err
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def f(:\n    pass\n")
    ran = run_cli(capsys, "check", str(syntax))
    assert ran.code == 2 and "(SyntaxError)" in ran.err and f"{syntax}:1:" in ran.err
    assert len(ran.err.strip().splitlines()) == 1


def test_flags_rename_the_convention(tmp_path, capsys):
    path = tmp_path / "renamed.py"
    path.write_text(GOOD_FORWARD.replace("forward_propagation_n", "fwd").replace(
        "init_params", "make")
        + "def bwd(X, Y, cache):\n    X, Y, Z = cache\n    m = X.shape[1]\n"
          "    return {'grad_W': 2 * (Z - Y) @ X.T, 'grad_b': 2 * np.sum(Z - Y, axis=1, "
          "keepdims=True)}\n")
    ran = run_cli(capsys, "check", str(path), "--forward", "fwd", "--backward", "bwd",
                  "--params", "make", "--grad-key", "grad_{}", "--epsilon", "1e-6",
                  "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["difference"] < 1e-8


def test_resume_finds_a_user_file_again(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "resume.db"))
    spec = parse_spec(str(EXERCISE))
    settings = campaign.Settings(cases=1, categories=("sign", "factor"), jobs=1)

    def interrupt(event):
        if event.done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(campaign.CampaignInterrupted):
        campaign.start(store, spec, settings, on_progress=interrupt)
    cid = store.campaign().id
    assert store.campaign(cid).status == "interrupted"
    assert store.campaign(cid).spec.target == str(EXERCISE.resolve())
    monkeypatch.chdir(tmp_path)  # resume from elsewhere: the stored spec is absolute
    campaign.resume(store, cid)
    assert store.campaign(cid).status == "finished"
    whole = campaign.start(store, spec, settings)
    key = lambda t: (t.mutant_id, t.case_index, t.difference, t.outcome)
    assert sorted(map(key, store.trials(cid))) == sorted(map(key, store.trials(whole)))


def test_two_folders_each_import_their_own_neighbour(tmp_path):
    """A service or a test session loads several projects: each file's ``import helpers``
    finds its own folder's helpers, not another project's cached under the same name."""
    from mutagrad.loader import import_file

    files = {}
    for project, scale in (("a", 2.0), ("b", 3.0)):
        folder = tmp_path / project
        folder.mkdir()
        (folder / "helpers.py").write_text(f"SCALE = {scale}\n")
        (folder / "net.py").write_text("import helpers\n\ndef scale():\n    return helpers.SCALE\n")
        files[project] = folder / "net.py"
    before = {p: f.read_bytes() for p, f in files.items()}
    assert import_file(files["a"]).scale() == 2.0
    assert import_file(files["b"]).scale() == 3.0
    assert import_file(files["a"]).scale() == 2.0  # a again: its own, imported afresh
    assert {p: f.read_bytes() for p, f in files.items()} == before
